"""The user's validation rules in the profile: carried in the document, and a broken rule lowers validity."""

from __future__ import annotations

from pathlib import Path

import pytest
from dsp_ingest.bootstrap import service_spec as ingest
from dsp_ingest.domain import ingest_csv
from dsp_profile.bootstrap import service_spec as profile
from dsp_profile.domain import profile_dataset
from mesh_kit.memory import InMemoryArtifactStore
from mesh_kit.testing import payloads_of, run_services, upload
from shared_contracts.events import DatasetProfiled, IngestOptions
from shared_contracts.profile import Profile, ValidationSummary

SAMPLE = Path(__file__).resolve().parents[3] / "samples" / "penguins-raw.csv"
DELTA_N = {"type": "not_null", "column": "Delta 15 N (o/oo)"}  # 14 of the 344 penguins have no isotope values


def _validity(profile: Profile) -> float:
    return next(c.score for c in profile.quality.components if c.name == "validity")


@pytest.fixture(scope="module")
def penguins(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    out = tmp_path_factory.mktemp("penguins") / "data.parquet"
    report = ingest_csv(SAMPLE, out, options=IngestOptions())
    return out, {c.name: c.semantic_type for c in report.columns}


def _summary(rules: list[dict[str, object]], tmp_path: Path) -> ValidationSummary:
    report = ingest_csv(SAMPLE, tmp_path / "checked.parquet", options=IngestOptions(validation_rules=rules))
    summary = ValidationSummary.of(report.validation, rows=report.row_count)
    assert summary is not None
    return summary


def test_a_broken_error_rule_lowers_validity_and_the_score(penguins, tmp_path: Path) -> None:
    parquet, types = penguins
    plain = profile_dataset(parquet, semantic_types=types)
    assert plain.validation is None
    broken = _summary([DELTA_N], tmp_path)
    checked = profile_dataset(parquet, semantic_types=types, validation=broken)

    assert checked.validation == broken and broken.status == "failed"
    rule = checked.validation.rules[0]
    assert (rule.failed_count, rule.severity, len(rule.sample_rows)) == (14, "error", 10)
    # 20 points for the broken error rule, plus 30 x 14/344 for its rows
    assert _validity(checked) == pytest.approx(_validity(plain) - 20 - 30 * 14 / 344)
    assert checked.quality.score < plain.quality.score - 4
    detail = next(c.detail for c in checked.quality.components if c.name == "validity")
    assert "Delta 15 N (o/oo) is not null (error, 14 rows)" in detail


def test_a_warning_lowers_validity_less_and_a_passing_rule_not_at_all(penguins, tmp_path: Path) -> None:
    parquet, types = penguins
    plain = _validity(profile_dataset(parquet, semantic_types=types))
    as_error = _validity(profile_dataset(parquet, semantic_types=types, validation=_summary([DELTA_N], tmp_path)))
    warning = _summary([{**DELTA_N, "severity": "warning"}], tmp_path)
    as_warning = profile_dataset(parquet, semantic_types=types, validation=warning)
    assert warning.status == "warnings"
    assert as_error < _validity(as_warning) < plain

    passing = _summary([{"type": "not_null", "column": "Species"}], tmp_path)
    assert passing.status == "passed"
    assert _validity(profile_dataset(parquet, semantic_types=types, validation=passing)) == plain


async def test_the_profile_stage_reads_the_rules_results_from_the_ingest_report() -> None:
    store = InMemoryArtifactStore()
    uploaded = upload(store, SAMPLE, ingest=IngestOptions(validation_rules=[DELTA_N]))
    _, events = await run_services([ingest(), profile()], uploaded, store=store)
    (profiled,) = payloads_of(events, DatasetProfiled)
    document = Profile.model_validate_json(store.read_bytes(profiled.profile))
    assert document.validation is not None and document.validation.status == "failed"
    assert document.validation.rules[0].failed_count == 14
    assert _validity(document) < 80 and profiled.quality_score == document.quality.score
