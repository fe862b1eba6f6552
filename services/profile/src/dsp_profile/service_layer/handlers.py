"""Profile's use cases: compute the profile of an ingested dataset, for an upload or an analysis."""

from __future__ import annotations

import asyncio
import logging
import tempfile
import uuid
from pathlib import Path

import polars as pl
from mesh_kit.artifacts import artifact_key
from mesh_kit.deletion import purge_dataset
from mesh_kit.ports import StageDeps
from shared_contracts import ArtifactRef
from shared_contracts.errors import StageError, require_target
from shared_contracts.events import (
    AnalysisOptions,
    AnalysisRequested,
    DatasetDeleted,
    DatasetIngested,
    DatasetProfiled,
)
from shared_contracts.ingest import IngestReport
from shared_contracts.profile import ValidationSummary

from ..adapters.repository import ProfileRecord, Profiles
from ..domain import profile_dataset, reading_notes, with_file_labels

__all__ = ["when_analysis_requested_profile", "when_dataset_deleted", "when_dataset_ingested_profile"]

log = logging.getLogger(__name__)


async def _profile(deps: StageDeps[Profiles], *, dataset_id: uuid.UUID, parquet_ref: ArtifactRef,
                   report_ref: ArtifactRef, analysis: AnalysisOptions | None, name: str | None) -> None:
    store = deps.store
    deps.cancel.check("profile")
    report = IngestReport.model_validate_json(await store.read_bytes(report_ref))
    target = analysis.target if analysis else None
    require_target(target, [c.name for c in report.columns])
    with tempfile.TemporaryDirectory(prefix="dsp-profile-") as tmp:
        parquet = await store.fetch_to(parquet_ref, Path(tmp) / "data.parquet")
        try:
            profile = await asyncio.to_thread(
                profile_dataset, parquet, semantic_types={c.name: c.semantic_type for c in report.columns},
                target=target, progress=deps.progress, overridden=[c.name for c in report.columns if c.overridden],
                validation=ValidationSummary.of(report.validation, rows=report.row_count), cancel=deps.cancel,
            )
        except (pl.exceptions.PolarsError, ValueError, OverflowError, ArithmeticError) as exc:
            # a value of the data the profiler cannot read fails the same way on every delivery: no retry
            log.exception("profiling dataset %s failed on its data", dataset_id)
            raise StageError("profile_failed", "The dataset could not be profiled: it holds a value the profiler "
                             "cannot read. The error was logged; ingest the file again once it is fixed.",
                             {"error_type": type(exc).__name__}) from exc
    deps.cancel.check("writing the profile")  # a cancelled job writes nothing
    # the document says how the file was read, and carries the name the user gave it
    dataset = profile.dataset.model_copy(update={"name": name}) if name else profile.dataset
    profile = profile.model_copy(update={"dataset": dataset, "reading": reading_notes(report)})
    profile = with_file_labels(profile, report)
    profile_ref = await store.put_bytes(artifact_key("jobs", deps.job_id, "profile.json"),
                                        profile.model_dump_json().encode(), media_type="application/json")
    async with deps.unit_of_work() as uow:
        if await uow.is_deleted(dataset_id) or deps.cancel.cancelled:  # take back what was written
            await store.delete(profile_ref.key)
            deps.cancel.check("recording the profile")
            return
        await uow.repo.record(ProfileRecord(
            job_id=deps.job_id, dataset_id=dataset_id, profile_key=profile_ref.key,
            quality_score=profile.quality.score, alert_count=len(profile.alerts), row_count=profile.dataset.rows,
            column_count=profile.dataset.columns, target=target,
        ))
        await uow.emit(DatasetProfiled(
            dataset_id=dataset_id, parquet=parquet_ref, profile=profile_ref,
            quality_score=profile.quality.score, alert_count=len(profile.alerts), analysis=analysis,
        ))


async def when_dataset_ingested_profile(event: DatasetIngested, deps: StageDeps[Profiles]) -> None:
    """Profile a freshly ingested dataset and emit dataset.profiled."""
    await _profile(deps, dataset_id=event.dataset_id, parquet_ref=event.parquet, report_ref=event.ingest_report,
                   analysis=event.analysis, name=event.display_name)


async def when_analysis_requested_profile(event: AnalysisRequested, deps: StageDeps[Profiles]) -> None:
    """Profile a dataset again for a new analysis (the target changes the profile's alerts)."""
    await _profile(deps, dataset_id=event.dataset_id, parquet_ref=event.parquet, report_ref=event.ingest_report,
                   analysis=event.analysis, name=event.display_name)


async def when_dataset_deleted(event: DatasetDeleted, deps: StageDeps[Profiles]) -> None:
    """Erase the dataset's profiles and their documents (jobs/<id>/), then emit dataset.purged."""
    await purge_dataset(event, deps, service="profile")
