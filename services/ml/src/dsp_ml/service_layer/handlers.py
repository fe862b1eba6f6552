"""ML's reaction to events: run the analysis on cleaned data and register the model it trained."""

from __future__ import annotations

import asyncio
import tempfile
import uuid
from pathlib import Path
from typing import Any

from mesh_kit.artifacts import artifact_key
from mesh_kit.consumer import HandlerContext, StageError
from mesh_kit.service import Runtime
from shared_contracts import Envelope
from shared_contracts.events import AnalysisCompleted, DatasetTransformed
from shared_contracts.profile import Profile

from ..adapters import repository
from ..domain import AnalysisError, analyze
from ..domain.drift import write_reference_sample

__all__ = ["when_dataset_transformed_analyze"]


async def when_dataset_transformed_analyze(envelope: Envelope[Any], ctx: HandlerContext, runtime: Runtime) -> None:
    """Analyse the cleaned dataset, store the analysis and the model, emit analysis.completed."""
    event: DatasetTransformed = envelope.payload
    options = event.analysis
    job = envelope.job_id
    profile = Profile.model_validate_json(runtime.store.read_bytes(event.profile))
    model_id = uuid.uuid5(job, "model")
    model_ref = reference_ref = None
    with tempfile.TemporaryDirectory(prefix="dsp-ml-") as tmp:
        data = runtime.store.fetch_to(event.cleaned_parquet, Path(tmp) / "cleaned.parquet")
        model_dir = Path(tmp) / "model"
        try:
            result = await asyncio.to_thread(
                analyze, data, target=options.target, time_budget_s=options.time_budget_s, model_dir=model_dir,
                keep_leaky_features=options.keep_leaky_features, keep_columns=options.keep_columns, profile=profile,
                progress=ctx.progress,
            )
        except AnalysisError as exc:
            raise StageError(exc.code, exc.message) from exc
        if result.model is not None and model_dir.exists() and any(model_dir.iterdir()):
            model_ref = runtime.store.put_dir(artifact_key("models", model_id, "model.tar.gz"), model_dir)
            sample = Path(tmp) / "reference.parquet"
            await asyncio.to_thread(write_reference_sample, data, sample, features=result.model.features)
            reference_ref = runtime.store.put_file(artifact_key("models", model_id, "reference.parquet"), sample,
                                                   media_type="application/vnd.apache.parquet")
    analysis_ref = runtime.store.put_bytes(artifact_key("jobs", job, "analysis.json"),
                                           result.model_dump_json().encode(), media_type="application/json")
    async with ctx.unit_of_work() as uow:
        if model_ref is not None and result.model is not None:
            await repository.register_model(
                uow.conn, model_id=model_id, job_id=job, dataset_id=event.dataset_id,
                task=result.model.task_type, target=result.model.target, features=result.model.features,
                metrics=result.model.metrics, training_data_hash=result.model.training_data_sha256,
                config=result.model.config, artifact=model_ref, pipeline=event.pipeline, reference=reference_ref,
                manifest_sha256=result.model.manifest_sha256,
            )
        await repository.record_analysis(
            uow.conn, job_id=job, dataset_id=event.dataset_id, analysis_key=analysis_ref.key,
            task=result.task.task_type, target=result.task.target,
            model_id=model_id if model_ref is not None else None,
        )
        await uow.emit(AnalysisCompleted(
            dataset_id=event.dataset_id, analysis_result=analysis_ref, profile=event.profile,
            etl_report=event.etl_report, cleaned_parquet=event.cleaned_parquet,
            model_id=model_id if model_ref is not None else None, options=options,
        ))
