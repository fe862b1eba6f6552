"""ML's use cases: run the analysis on cleaned data and register the model it trained; check whether the relation of
the features to a target moved between two compared datasets."""

from __future__ import annotations

import asyncio
import tempfile
import uuid
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
from mesh_kit.artifacts import artifact_key, owner_prefix
from mesh_kit.deletion import purge_dataset
from mesh_kit.metrics import JOB_BUDGET_USED
from mesh_kit.ports import StageDeps
from shared_contracts.compare import Comparison
from shared_contracts.events import (
    AnalysisCompleted,
    ComparisonCompleted,
    DatasetDeleted,
    DatasetsCompared,
    DatasetTransformed,
)
from shared_contracts.profile import Profile

from .. import domain
from ..adapters.repository import Analyses, AnalysisRecord, ModelVersion

__all__ = ["model_id_of", "when_dataset_deleted", "when_dataset_transformed_analyze",
           "when_datasets_compared_score_target"]


def model_id_of(job_id: uuid.UUID) -> uuid.UUID:
    """The id of the model a job trains (one per job, so a redelivery overwrites rather than adds)."""
    return uuid.uuid5(job_id, "model")


async def when_dataset_transformed_analyze(event: DatasetTransformed, deps: StageDeps[Analyses]) -> None:
    """Analyse the dataset, store the analysis, the model and its drift baseline, emit analysis.completed.

    The model learns from the cleaned data; the descriptive parts describe the typed data as ingested.
    """
    options, job, store = event.analysis, deps.job_id, deps.store
    deps.cancel.check("ml")
    await asyncio.to_thread(domain.load)  # at once unless the process has just started
    from ..domain import analyze
    from ..domain.drift import write_reference_sample
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
    if options.requested_at is not None:  # the budget is the whole job's, from its request to its analysis
        used = (datetime.now(UTC) - options.requested_at).total_seconds() / options.time_budget_s
        JOB_BUDGET_USED.labels("ml").observe(used)


async def when_datasets_compared_score_target(event: DatasetsCompared, deps: StageDeps[Analyses]) -> None:
    """With a target, train a model on A and score it on A's holdout and on B, add that finding to the comparison
    (jobs/<id>/comparison-with-target.json); without one, pass the comparison on. Emits comparison.completed."""
    store, ref = deps.store, event.comparison
    written = None
    if event.target is not None:
        comparison = Comparison.model_validate_json(await store.read_bytes(event.comparison))
        target = event.target
        await asyncio.to_thread(domain.load)
        from ..domain.columns import infer_roles
        from ..domain.compare import target_shift, with_target_shift

        with tempfile.TemporaryDirectory(prefix="dsp-ml-compare-") as tmp:
            path_a = await store.fetch_to(event.parquet_a, Path(tmp) / "a.parquet")
            path_b = await store.fetch_to(event.parquet_b, Path(tmp) / "b.parquet")

            def score() -> Comparison:
                a, b = pl.read_parquet(path_a), pl.read_parquet(path_b)
                deps.progress(0.1, f"training a model of {target} on {comparison.name_a}")
                # the features the analysis would use, of those B has too (the model is scored on B)
                features = [f for f in infer_roles(a).model_features if f in set(b.columns)]
                shift = target_shift(a, b, target=target, features=features, cancel=deps.cancel,
                                     thresholds=comparison.thresholds)
                deps.progress(1.0, f"scored on {comparison.name_b}")
                return with_target_shift(comparison, shift, comparison.thresholds)

            completed = await asyncio.to_thread(score)
        ref = written = await store.put_bytes(artifact_key("jobs", deps.job_id, "comparison-with-target.json"),
                                              completed.model_dump_json().encode(), media_type="application/json")
    async with deps.unit_of_work() as uow:
        if await uow.is_deleted(event.dataset_id) or await uow.is_deleted(event.dataset_id_b):
            if written is not None:  # either dataset deleted meanwhile: take back what was written
                await store.delete(written.key)
            return
        await uow.emit(ComparisonCompleted(**event.carried(), comparison=ref))


async def when_dataset_deleted(event: DatasetDeleted, deps: StageDeps[Analyses]) -> None:
    """Erase the dataset's analyses and registered models with their files (jobs/<id>/, models/<id>/), so the
    models answer 404 on predict; then emit dataset.purged."""
    await purge_dataset(event, deps, service="ml",
                        also=[owner_prefix("models", model_id_of(job)) for job in event.job_ids])
