"""ETL's use case on the in-process mesh: no broker, no database."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from dsp_etl.bootstrap import service_spec as etl
from dsp_ingest.bootstrap import service_spec as ingest
from dsp_profile.bootstrap import service_spec as profile
from mesh_kit.memory import InMemoryArtifactStore
from mesh_kit.testing import payloads_of, run_services, upload
from shared_contracts.etl import EtlReport
from shared_contracts.events import (
    AnalysisOptions,
    DatasetIngested,
    DatasetProfiled,
    DatasetTransformed,
    StageFailed,
)

SAMPLE = Path(__file__).resolve().parents[3] / "samples" / "penguins-raw.csv"


def _stages():
    return [ingest(), profile(), etl()]


async def test_an_analysis_job_gets_cleaned_data_a_report_and_a_pipeline() -> None:
    store = InMemoryArtifactStore()
    mesh, events = await run_services(_stages(), upload(store, SAMPLE, analysis=AnalysisOptions(target="Species")),
                                      store=store)
    (done,) = payloads_of(events, DatasetTransformed)
    report = EtlReport.model_validate_json(store.read_bytes(done.etl_report))
    cleaned = pl.read_parquet(store.objects[done.cleaned_parquet.key])
    assert cleaned.height == report.rows_out and "Species" in cleaned.columns
    # the typed data as ingested travels beside the cleaned data, for the descriptive views
    (ingested,) = payloads_of(events, DatasetIngested)
    assert done.typed_parquet == ingested.parquet and done.typed_parquet != done.cleaned_parquet
    assert done.cleaned_csv is not None and store.exists(done.pipeline.key)
    (run,) = mesh.repositories["etl"].runs
    assert (run.rows_in, run.rows_out, run.step_count) == (report.rows_in, report.rows_out, len(report.plan.steps))


async def test_an_upload_only_job_ends_at_its_profile() -> None:
    store = InMemoryArtifactStore()
    mesh, events = await run_services(_stages(), upload(store, SAMPLE), store=store)
    assert len(payloads_of(events, DatasetProfiled)) == 1
    assert payloads_of(events, DatasetTransformed) == [] and payloads_of(events, StageFailed) == []
    assert mesh.repositories["etl"].runs == []


@pytest.mark.parametrize("config, fragment", [
    ({"plugins_dir": "/tmp"}, "plugins_dir cannot be set"),
    ({"version": 2}, "version 2"),
    ({"steps": "not a list"}, "The ETL configuration is not valid:\nsteps must be a list; got 'not a list'"),
    ({"features": {"bins": 100_000_000}, "missing": {"numeric": "avg"}},
     "The ETL configuration is not valid:\nmissing.numeric must be one of 'none', 'drop_rows', 'mean', 'median', "
     "'mode', 'constant', 'ffill', 'bfill' or 'auto'; got 'avg'\nfeatures.bins must be at most 1000; got 100000000"),
])
async def test_a_bad_config_fails_the_job_before_any_work(config: dict, fragment: str) -> None:
    """The gateway refuses such options at once (422); an event that carries them anyway (built without
    validation, as by an older producer) still ends the job typed, before any work."""
    store = InMemoryArtifactStore()
    uploaded = upload(store, SAMPLE, analysis=AnalysisOptions.model_construct(target="Species", etl_config=config))
    _, events = await run_services(_stages(), uploaded, store=store)
    assert payloads_of(events, DatasetTransformed) == []
    (failed,) = payloads_of(events, StageFailed)
    assert (failed.stage, failed.code) == ("etl", "invalid_etl_config") and fragment in failed.reason
    for internal in ("pydantic", "type=", "input_value", "validation error", "Input should"):
        assert internal not in failed.reason


async def test_a_plan_the_data_cannot_give_fails_with_the_planners_sentence() -> None:
    store = InMemoryArtifactStore()
    config = {"features": {"interactions": [["Species", "No Such Column"]]}}
    uploaded = upload(store, SAMPLE, analysis=AnalysisOptions(target="Species", etl_config=config))
    _, events = await run_services(_stages(), uploaded, store=store)
    (failed,) = payloads_of(events, StageFailed)
    assert (failed.stage, failed.code) == ("etl", "etl_failed")
    assert failed.reason == "The cleaning could not be planned: interaction names unknown column 'No Such Column'"


PLUGIN = """
from etl_core import TransformPlugin

class Boom(TransformPlugin):
    name = "boom"

    def transform(self, data, columns, state):
        raise RuntimeError("secret at /srv/internal/boom.py: token=abc123")
"""


async def test_a_failing_plugin_names_itself_and_the_step_not_its_exception(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "boom.py").write_text(PLUGIN)
    monkeypatch.setenv("DSP_PLUGINS_DIR", str(tmp_path))
    store = InMemoryArtifactStore()
    for config, reason in (
            ({"plugins": [{"name": "boom", "columns": ["Island"]}]},
             "The ETL plugin 'boom' failed while the cleaning was fitting and applying its steps (the last one done: "
             "date_parts)."),
            ({"plugins": [{"name": "bom"}]},
             "The cleaning failed while planning its steps: ETL plugin 'bom': no such plugin (available: ")):
        uploaded = upload(store, SAMPLE, analysis=AnalysisOptions(target="Species", etl_config=config))
        with caplog.at_level("WARNING", logger="dsp_etl"):
            _, events = await run_services(_stages(), uploaded, store=store)
        (failed,) = payloads_of(events, StageFailed)
        assert (failed.stage, failed.code) == ("etl", "etl_failed") and failed.reason.startswith(reason), failed.reason
        assert "secret" not in failed.reason and "RuntimeError" not in failed.reason
    logged = [r for r in caplog.records if r.name.startswith("dsp_etl") and "secret at" in r.getMessage()]
    assert logged and logged[0].exc_info is not None  # the plugin's own error is in the log, with the job id


async def test_a_target_dependent_plan_forwards_its_split_to_ml() -> None:
    store = InMemoryArtifactStore()
    config = {"columns": {"Island": {"encode": "target"}}}
    uploaded = upload(store, SAMPLE, analysis=AnalysisOptions(target="Body Mass (g)", etl_config=config))
    _, events = await run_services(_stages(), uploaded, store=store)
    (done,) = payloads_of(events, DatasetTransformed)
    assert done.split is not None
    split = pl.read_parquet(store.objects[done.split.key])
    cleaned = pl.read_parquet(store.objects[done.cleaned_parquet.key])
    assert split.height == cleaned.height and 0 < split["is_train"].sum() < split.height
