"""Profile's use cases: compute the profile of an ingested dataset, for an upload or an analysis, and compare two
profiled datasets."""

from __future__ import annotations

import asyncio
import logging
import tempfile
import uuid
from pathlib import Path

import polars as pl
from mesh_kit.allocator import give_back_freed_memory
from mesh_kit.artifacts import artifact_key
from mesh_kit.deletion import purge_dataset
from mesh_kit.ports import StageDeps
from shared_contracts import ArtifactRef
from shared_contracts.compare import Comparison
from shared_contracts.errors import StageError, require_target
from shared_contracts.events import (
    AnalysisOptions,
    AnalysisRequested,
    ComparisonRequested,
    DatasetDeleted,
    DatasetIngested,
    DatasetProfiled,
    DatasetsCompared,
)
from shared_contracts.ingest import IngestReport
from shared_contracts.profile import Profile, ValidationSummary

from ..adapters.repository import ProfileRecord, Profiles
from ..domain import profile_dataset, reading_notes, with_file_labels
from ..domain.compare import compare_datasets

__all__ = [
    "check_comparable",
    "when_analysis_requested_profile",
    "when_comparison_requested_compare",
    "when_dataset_deleted",
    "when_dataset_ingested_profile",
]

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
                after_column=give_back_freed_memory,
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


def check_comparable(columns_a: list[str], columns_b: list[str], *, name_a: str, name_b: str,
                     target: str | None = None) -> None:
    """Raise the ``StageError`` of two datasets that cannot be compared: no column in common, or a target that
    is not in both.

    >>> check_comparable(["x", "y"], ["y"], name_a="a.csv", name_b="b.csv", target="y")
    >>> check_comparable(["x"], ["z"], name_a="a.csv", name_b="b.csv")
    Traceback (most recent call last):
    ...
    shared_contracts.errors.StageError: no_common_columns: a.csv and b.csv have no column in common, so nothing can be compared (a.csv: x; b.csv: z)
    """
    common = [c for c in columns_a if c in set(columns_b)]
    if not common:
        raise StageError("no_common_columns",
                         f"{name_a} and {name_b} have no column in common, so nothing can be compared "
                         f"({name_a}: {', '.join(columns_a[:20])}; {name_b}: {', '.join(columns_b[:20])})",
                         {"columns_a": columns_a[:100], "columns_b": columns_b[:100]})
    if target is not None and target not in common:
        lacking = [name for name, columns in ((name_a, columns_a), (name_b, columns_b)) if target not in columns]
        raise StageError("target_not_found",
                         f"The target column {target!r} must be in both datasets; {' and '.join(lacking)} "
                         f"{'has' if len(lacking) == 1 else 'have'} no such column",
                         {"target": target, "missing_in": lacking})


async def when_comparison_requested_compare(event: ComparisonRequested, deps: StageDeps[Profiles]) -> None:
    """Compare dataset B with dataset A (schemas, distributions, missingness, rows), store the comparison under
    the job (jobs/<id>/comparison.json) and emit datasets.compared; ml adds the target's part."""
    store = deps.store
    profile_a = Profile.model_validate_json(await store.read_bytes(event.profile_a))
    profile_b = Profile.model_validate_json(await store.read_bytes(event.profile_b))
    name_a = event.name_a or profile_a.dataset.name or "A"
    name_b = event.name_b or profile_b.dataset.name or "B"
    check_comparable([c.name for c in profile_a.columns], [c.name for c in profile_b.columns], name_a=name_a,
                     name_b=name_b, target=event.target)
    deps.cancel.check("reading")
    with tempfile.TemporaryDirectory(prefix="dsp-compare-") as tmp:
        path_a = await store.fetch_to(event.parquet_a, Path(tmp) / "a.parquet")
        path_b = await store.fetch_to(event.parquet_b, Path(tmp) / "b.parquet")

        def compare() -> Comparison:
            return compare_datasets(pl.read_parquet(path_a), pl.read_parquet(path_b), profile_a=profile_a,
                                    profile_b=profile_b, name_a=name_a, name_b=name_b, progress=deps.progress,
                                    cancel=deps.cancel)

        comparison = await asyncio.to_thread(compare)
    comparison = comparison.model_copy(update={"dataset_id_a": str(event.dataset_id),
                                               "dataset_id_b": str(event.dataset_id_b)})
    ref = await store.put_bytes(artifact_key("jobs", deps.job_id, "comparison.json"),
                                comparison.model_dump_json().encode(), media_type="application/json")
    async with deps.unit_of_work() as uow:
        # either dataset deleted meanwhile: take back what was written (the runner checks only A's tombstone)
        if await uow.is_deleted(event.dataset_id) or await uow.is_deleted(event.dataset_id_b):
            await store.delete(ref.key)
            return
        await uow.emit(DatasetsCompared(**event.carried(), comparison=ref))


async def when_dataset_deleted(event: DatasetDeleted, deps: StageDeps[Profiles]) -> None:
    """Erase the dataset's profiles and their documents (jobs/<id>/), then emit dataset.purged."""
    await purge_dataset(event, deps, service="profile")
