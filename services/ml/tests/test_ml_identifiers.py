"""Identifiers never enter a model unless the user keeps them: ingest's type, the profile's ID_LIKE alert."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from dsp_ml.domain import analyze
from dsp_ml.domain.columns import infer_roles
from shared_contracts.profile import Alert


class _Column:
    def __init__(self, name: str, semantic_type: str) -> None:
        self.name, self.semantic_type = name, semantic_type


class _Profile:
    """The two parts of a Profile that column roles read: semantic types and alerts."""

    def __init__(self, semantic: dict[str, str], alerts: list[Alert] | None = None) -> None:
        self.columns = [_Column(name, kind) for name, kind in semantic.items()]
        self.alerts = alerts or []


def _rownames_leak(rows: int = 200) -> pl.DataFrame:
    """R row names of a subset sorted by outcome: increasing gaps, and they predict the outcome perfectly."""
    rng = np.random.default_rng(3)
    rownames = np.cumsum(rng.integers(1, 4, size=rows))
    return pl.DataFrame({
        "column_1": rownames,
        "age": rng.normal(40, 10, size=rows).round(1),
        "smoker": rng.choice(["yes", "no"], size=rows),
        "outcome": np.where(rownames > np.median(rownames), "low", "normal"),
    })


def _id_like(column: str) -> Alert:
    return Alert(type="ID_LIKE", columns=[column], severity="warning", evidence={"distinct_fraction": 1.0},
                 message=f"'{column}' looks like an identifier")


def test_without_a_profile_the_irregular_counter_is_not_caught_by_the_names_or_the_counter_check():
    # Why the profile matters: nothing in the name or the steps gives this counter away.
    assert "column_1" in infer_roles(_rownames_leak()).model_features


def test_a_column_ingest_typed_identifier_is_not_a_feature():
    frame = _rownames_leak()
    roles = infer_roles(frame, profile=_Profile({"column_1": "identifier", "age": "float"}))
    assert "column_1" not in roles.model_features
    assert roles.identifiers["column_1"] == "is typed identifier by ingest"
    assert set(roles.model_features) == {"age", "smoker", "outcome"}


def test_a_column_the_profile_flags_id_like_is_not_a_feature():
    roles = infer_roles(_rownames_leak(), profile=_Profile({"column_1": "integer"}, [_id_like("column_1")]))
    assert "column_1" not in roles.model_features
    assert roles.identifiers["column_1"].startswith("is flagged ID_LIKE by the profile (100% distinct")


def test_features_derived_from_an_identifier_are_not_features_either():
    frame = _rownames_leak().with_columns((pl.col("column_1") // 50).alias("column_1__bin"))
    roles = infer_roles(frame, profile=_Profile({"column_1": "identifier"}))
    assert "column_1__bin" not in roles.model_features
    assert "derived from 'column_1'" in roles.identifiers["column_1__bin"]


def test_a_kept_identifier_is_a_feature_and_so_is_what_derives_from_it():
    frame = _rownames_leak().with_columns((pl.col("column_1") // 50).alias("column_1__bin"))
    roles = infer_roles(frame, profile=_Profile({"column_1": "identifier"}, [_id_like("column_1")]),
                        keep=("column_1",))
    assert "column_1" in roles.numeric and "column_1__bin" in roles.derived
    assert roles.kept == ["column_1"] and not roles.identifiers


def test_a_kept_unique_text_identifier_becomes_a_category():
    frame = pl.DataFrame({"code": [f"A{i:03d}" for i in range(60)], "x": np.arange(60.0) % 7})
    assert "code" not in infer_roles(frame).model_features
    assert "code" in infer_roles(frame, keep=["code"]).categorical


@pytest.mark.parametrize("keep", [(), ("column_1",)])
def test_the_analysis_says_which_identifiers_it_left_out_and_why(write_parquet, keep):
    # 28 rows: too few for AutoML, so the analysis runs in a moment and still reports its choices.
    frame = _rownames_leak(28)
    result = analyze(write_parquet(frame), target="outcome", time_budget_s=10, keep_columns=keep,
                     profile=_Profile({"column_1": "identifier"}))
    notes = [w for w in result.warnings if "'column_1'" in w]
    if keep:
        assert notes == ["'column_1' looks like an identifier but is used as a feature, as asked (keep_columns)."]
        assert any(t.feature == "column_1" for t in result.feature_tests)
    else:
        assert notes == ["'column_1' was left out of the models: it is typed identifier by ingest. "
                         "Name it in keep_columns to use it as a feature."]
        assert all(t.feature != "column_1" for t in result.feature_tests)


def test_keep_columns_naming_an_unknown_column_is_reported(write_parquet):
    result = analyze(write_parquet(_rownames_leak(28)), target="outcome", time_budget_s=10, keep_columns=["nope"])
    assert "keep_columns names column(s) not in the data: 'nope'." in result.warnings
