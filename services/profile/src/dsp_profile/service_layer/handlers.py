"""Profile's reaction to events: compute the profile of an ingested dataset."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any

from mesh_kit.artifacts import artifact_key
from mesh_kit.consumer import HandlerContext, StageError
from mesh_kit.service import Runtime
from shared_contracts import ArtifactRef, Envelope
from shared_contracts.events import AnalysisOptions, AnalysisRequested, DatasetIngested, DatasetProfiled
from shared_contracts.ingest import IngestReport

from ..adapters import repository
from ..domain import profile_dataset

__all__ = ["when_analysis_requested_profile", "when_dataset_ingested_profile"]


async def _profile(envelope: Envelope[Any], ctx: HandlerContext, runtime: Runtime, *, parquet_ref: ArtifactRef,
                   report_ref: ArtifactRef, analysis: AnalysisOptions | None) -> None:
    event = envelope.payload
    report = IngestReport.model_validate_json(runtime.store.read_bytes(report_ref))
    names = [c.name for c in report.columns]
    target = analysis.target if analysis else None
    if target is not None and target not in names:
        raise StageError("target_not_found",
                         f"The target column {target!r} is not in the dataset; its columns are: {', '.join(names)}",
                         details={"target": target, "columns": names})
    with tempfile.TemporaryDirectory(prefix="dsp-profile-") as tmp:
        parquet = runtime.store.fetch_to(parquet_ref, Path(tmp) / "data.parquet")
        profile = await asyncio.to_thread(
            profile_dataset, parquet, semantic_types={c.name: c.semantic_type for c in report.columns},
            target=target, progress=ctx.progress,
        )
    profile_ref = runtime.store.put_bytes(artifact_key("jobs", envelope.job_id, "profile.json"),
                                          profile.model_dump_json().encode(), media_type="application/json")
    async with ctx.unit_of_work() as uow:
        await repository.record_profile(
            uow.conn, job_id=envelope.job_id, dataset_id=event.dataset_id, profile_key=profile_ref.key,
            quality_score=profile.quality.score, alert_count=len(profile.alerts), row_count=profile.dataset.rows,
            column_count=profile.dataset.columns, target=target,
        )
        await uow.emit(DatasetProfiled(
            dataset_id=event.dataset_id, parquet=parquet_ref, profile=profile_ref,
            quality_score=profile.quality.score, alert_count=len(profile.alerts), analysis=analysis,
        ))


async def when_dataset_ingested_profile(envelope: Envelope[Any], ctx: HandlerContext, runtime: Runtime) -> None:
    """Profile a freshly ingested dataset and emit dataset.profiled."""
    event: DatasetIngested = envelope.payload
    await _profile(envelope, ctx, runtime, parquet_ref=event.parquet, report_ref=event.ingest_report,
                   analysis=event.analysis)


async def when_analysis_requested_profile(envelope: Envelope[Any], ctx: HandlerContext, runtime: Runtime) -> None:
    """Profile a dataset again for a new analysis (the target changes the profile's alerts)."""
    event: AnalysisRequested = envelope.payload
    await _profile(envelope, ctx, runtime, parquet_ref=event.parquet, report_ref=event.ingest_report,
                   analysis=event.analysis)
