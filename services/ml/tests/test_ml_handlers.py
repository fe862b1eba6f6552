"""ML's use case on the in-process mesh: no broker, no database."""

from __future__ import annotations

import io
from pathlib import Path

import polars as pl
import pytest
from dsp_etl.bootstrap import service_spec as etl
from dsp_ingest.bootstrap import service_spec as ingest
from dsp_ml.bootstrap import service_spec as ml
from dsp_profile.bootstrap import service_spec as profile
from mesh_kit.memory import InMemoryArtifactStore
from mesh_kit.testing import payloads_of, run_services, upload
from shared_contracts.analysis import AnalysisResult
from shared_contracts.events import AnalysisCompleted, AnalysisOptions, DatasetIngested, DatasetTransformed

SAMPLE = Path(__file__).resolve().parents[3] / "samples" / "penguins-raw.csv"


def _stages():
    return [ingest(), profile(), etl(), ml()]


def _measurements(rows: int = 120) -> bytes:
    """Three measured quantities and a site code: nothing named like a target."""
    lines = ["width,height,depth,site"] + [
        f"{10 + (i * 7) % 13},{20 + (i * 11) % 17}.5,{(i * 3) % 5},{'ABC'[i % 3]}" for i in range(rows)
    ]
    return "\n".join(lines).encode()


async def test_an_analysis_without_target_is_stored_and_trains_no_model() -> None:
    store = InMemoryArtifactStore()
    uploaded = upload(store, _measurements(), analysis=AnalysisOptions())
    mesh, events = await run_services(_stages(), uploaded, store=store)
    (done,) = payloads_of(events, AnalysisCompleted)
    result = AnalysisResult.model_validate_json(store.read_bytes(done.analysis_result))
    assert result.task.task_type == "unsupervised" and result.model is None
    assert done.model_id is None and done.model is None
    (record,) = mesh.repositories["ml"].analyses.values()
    assert record.analysis_key == done.analysis_result.key and mesh.repositories["ml"].models == {}


async def test_the_descriptive_parts_describe_the_typed_data_the_etl_carried() -> None:
    """One width of 900 among widths of 10 to 22: the ETL caps it for the model, the anomalies see it whole."""
    store = InMemoryArtifactStore()
    data = _measurements().replace(b"\n10,", b"\n900,", 1)
    mesh, events = await run_services(_stages(), upload(store, data, analysis=AnalysisOptions()), store=store)
    (ingested,) = payloads_of(events, DatasetIngested)
    (transformed,) = payloads_of(events, DatasetTransformed)
    (done,) = payloads_of(events, AnalysisCompleted)
    assert transformed.typed_parquet == ingested.parquet and done.typed_parquet == ingested.parquet
    cleaned = pl.read_parquet(io.BytesIO(store.read_bytes(transformed.cleaned_parquet)))
    assert cleaned["width"].max() < 100  # capped for the model
    result = AnalysisResult.model_validate_json(store.read_bytes(done.analysis_result))
    assert result.anomalies is not None
    assert result.anomalies.top[0].values["width"] == 900


@pytest.mark.slow
async def test_a_trained_model_is_registered_with_its_pipeline_and_drift_baseline() -> None:
    store = InMemoryArtifactStore()
    options = AnalysisOptions(target="Species", time_budget_s=10)
    mesh, events = await run_services(_stages(), upload(store, SAMPLE, analysis=options), store=store)
    (done,) = payloads_of(events, AnalysisCompleted)
    assert done.model_id is not None and done.model is not None
    version, model = mesh.repositories["ml"].models[done.model_id]
    assert version == 1 and model.target == "Species" and model.features
    assert model.reference is not None
    baseline = pl.read_parquet(io.BytesIO(store.read_bytes(model.reference)))
    assert set(model.features) <= set(baseline.columns) and baseline.height > 0


@pytest.mark.slow
async def test_with_target_encoding_the_model_is_scored_on_the_etl_holdout() -> None:
    """The ETL's split reaches ml through the events: AutoML does not draw a holdout of its own."""
    store = InMemoryArtifactStore()
    options = AnalysisOptions(target="Species", time_budget_s=10,
                              etl_config={"columns": {"Island": {"encode": "target"}}})
    mesh, events = await run_services(_stages(), upload(store, SAMPLE, analysis=options), store=store)
    (done,) = payloads_of(events, AnalysisCompleted)
    assert done.model_id is not None
    _, model = mesh.repositories["ml"].models[done.model_id]
    assert model.config["holdout"] == "etl_split"
