"""ML's use case: run the analysis on cleaned data and register the model it trained."""

from __future__ import annotations

import asyncio
import tempfile
import uuid
from datetime import UTC, datetime
from pathlib import Path

from mesh_kit.artifacts import artifact_key, owner_prefix
from mesh_kit.deletion import purge_dataset
from mesh_kit.ports import StageDeps
from shared_contracts.events import AnalysisCompleted, DatasetDeleted, DatasetTransformed
from shared_contracts.profile import Profile

from ..adapters.repository import Analyses, AnalysisRecord, ModelVersion
from ..domain import analyze
from ..domain.drift import write_reference_sample

__all__ = ["model_id_of", "when_dataset_deleted", "when_dataset_transformed_analyze"]


def model_id_of(job_id: uuid.UUID) -> uuid.UUID:
    """The id of the model a job trains (one per job, so a redelivery overwrites rather than adds)."""
    return uuid.uuid5(job_id, "model")


async def when_dataset_transformed_analyze(event: DatasetTransformed, deps: StageDeps[Analyses]) -> None:
    """Analyse the dataset, store the analysis, the model and its drift baseline, emit analysis.completed.

    The model learns from the cleaned data; the descriptive parts describe the typed data as ingested.
    """
    options, job, store = event.analysis, deps.job_id, deps.store
    deps.cancel.check("ml")
    profile = Profile.model_validate_json(await store.read_bytes(event.profile))
    # the budget is the job's, from its request: what ingest, profile and ETL took is spent
    spent = (datetime.now(UTC) - options.requested_at).total_seconds() if options.requested_at else 0.0
    model_id = model_id_of(job)
    model_ref = reference_ref = None
    with tempfile.TemporaryDirectory(prefix="dsp-ml-") as tmp:
        data = await store.fetch_to(event.cleaned_parquet, Path(tmp) / "cleaned.parquet")
        model_dir = Path(tmp) / "model"
        # rows the ETL fitted target-dependent steps on train the model; the others score it
        split = await store.fetch_to(event.split, Path(tmp) / "split.parquet") if event.split else None
        # the descriptive parts describe the data as ingested, before capping, filling and engineered columns
        typed = await store.fetch_to(event.typed_parquet, Path(tmp) / "typed.parquet") if event.typed_parquet else None
        result = await asyncio.to_thread(
            analyze, data, target=options.target, time_budget_s=options.time_budget_s, model_dir=model_dir,
            keep_leaky_features=options.keep_leaky_features, keep_columns=options.keep_columns, profile=profile,
            split=split, typed=typed, progress=deps.progress, spent_before_s=spent, task=options.task,
            exclude_columns=options.exclude_columns, id_columns=options.id_columns, cancel=deps.cancel,
        )
        deps.cancel.check("registering the model")  # a cancelled job writes nothing: no model, no analysis
        if result.model is not None and model_dir.exists() and any(model_dir.iterdir()):
            model_ref = await store.put_dir(artifact_key("models", model_id, "model.tar.gz"), model_dir)
            sample = Path(tmp) / "reference.parquet"
            await asyncio.to_thread(write_reference_sample, data, sample, features=result.model.features)
            reference_ref = await store.put_file(artifact_key("models", model_id, "reference.parquet"), sample,
                                                 media_type="application/vnd.apache.parquet")
    if deps.cancel.cancelled:  # cancelled while the model was stored: take it back
        await store.delete_prefix(owner_prefix("models", model_id))
        deps.cancel.check("writing the analysis")
    analysis_ref = await store.put_bytes(artifact_key("jobs", job, "analysis.json"),
                                         result.model_dump_json().encode(), media_type="application/json")
    registered = model_id if model_ref is not None else None
    async with deps.unit_of_work() as uow:
        if await uow.is_deleted(event.dataset_id) or deps.cancel.cancelled:  # take back what was written
            await store.delete(analysis_ref.key)
            await store.delete_prefix(owner_prefix("models", model_id))
            deps.cancel.check("recording the analysis")
            return
        if model_ref is not None and result.model is not None:
            m = result.model
            await uow.repo.register_model(ModelVersion(
                model_id=model_id, job_id=job, dataset_id=event.dataset_id, task=m.task_type, target=m.target,
                features=m.features, metrics=m.metrics, training_data_hash=m.training_data_sha256, config=m.config,
                artifact=model_ref, pipeline=event.pipeline, reference=reference_ref,
                manifest_sha256=m.manifest_sha256,
            ))
        await uow.repo.record_analysis(AnalysisRecord(
            job_id=job, dataset_id=event.dataset_id, analysis_key=analysis_ref.key, task=result.task.task_type,
            target=result.task.target, model_id=registered,
        ))
        await uow.emit(AnalysisCompleted(
            dataset_id=event.dataset_id, analysis_result=analysis_ref, profile=event.profile,
            etl_report=event.etl_report, cleaned_parquet=event.cleaned_parquet, model_id=registered, options=options,
            model=model_ref, typed_parquet=event.typed_parquet,
        ))


async def when_dataset_deleted(event: DatasetDeleted, deps: StageDeps[Analyses]) -> None:
    """Erase the dataset's analyses and registered models with their files (jobs/<id>/, models/<id>/), so the
    models answer 404 on predict; then emit dataset.purged."""
    await purge_dataset(event, deps, service="ml",
                        also=[owner_prefix("models", model_id_of(job)) for job in event.job_ids])
