"""Dashboard's use cases: build the self-contained dashboard (its zip, and the PDF when asked) of a job, or of a
comparison of two datasets."""

from __future__ import annotations

import asyncio
import tempfile
import uuid
from pathlib import Path
from typing import Literal

import polars as pl
from mesh_kit.artifacts import artifact_key, owner_prefix
from mesh_kit.deletion import purge_dataset
from mesh_kit.ports import StageDeps
from shared_contracts import ArtifactRef
from shared_contracts.analysis import AnalysisResult
from shared_contracts.compare import Comparison
from shared_contracts.etl import EtlReport
from shared_contracts.events import (
    AnalysisCompleted,
    ComparisonCompleted,
    DashboardReady,
    DashboardRequested,
    DatasetDeleted,
)
from shared_contracts.profile import Profile

from ..adapters.pdf import render_pdf
from ..adapters.repository import DashboardRecord, Dashboards
from ..domain import build_dashboard, build_zip
from ..domain.compare import build_comparison_html

__all__ = [
    "when_analysis_completed_build_dashboard",
    "when_comparison_completed_draw",
    "when_dashboard_requested_build_dashboard",
    "when_dataset_deleted",
]


def dashboard_title(profile: Profile) -> str:
    """The page title: the dataset's name when it has one."""
    return f"{profile.dataset.name}: analysis" if profile.dataset.name else "Dataset analysis"


async def _build(deps: StageDeps[Dashboards], *, dataset_id: uuid.UUID, data_ref: ArtifactRef,
                 profile_ref: ArtifactRef, etl_ref: ArtifactRef | None, analysis_ref: ArtifactRef | None, pdf: bool,
                 theme: Literal["light", "dark"], typed_ref: ArtifactRef | None = None) -> None:
    store = deps.store
    deps.cancel.check("dashboard")
    profile = Profile.model_validate_json(await store.read_bytes(profile_ref))
    etl_report = EtlReport.model_validate_json(await store.read_bytes(etl_ref)) if etl_ref else None
    analysis = AnalysisResult.model_validate_json(await store.read_bytes(analysis_ref)) if analysis_ref else None
    dashboard_id = uuid.uuid5(deps.event_id, "dashboard")
    with tempfile.TemporaryDirectory(prefix="dsp-dashboard-") as tmp:
        data = await store.fetch_to(data_ref, Path(tmp) / "data.parquet")
        # the typed data as ingested feeds the filters, cards and preview; the cleaned data the lineage's "after"
        typed = await store.fetch_to(typed_ref, Path(tmp) / "typed.parquet") if typed_ref is not None else None
        html = await asyncio.to_thread(build_dashboard, data=data, typed_data=typed, profile=profile,
                                       etl_report=etl_report, analysis=analysis, title=dashboard_title(profile),
                                       theme=theme, progress=deps.progress, cancel=deps.cancel)
    deps.cancel.check("writing the dashboard")  # a cancelled job writes nothing
    html_ref = await store.put_bytes(artifact_key("dashboards", dashboard_id, "dashboard.html"), html.encode(),
                                     media_type="text/html")
    zip_ref = await store.put_bytes(artifact_key("dashboards", dashboard_id, "dashboard.zip"), build_zip(html),
                                    media_type="application/zip")
    pdf_ref = None
    if pdf:
        if deps.cancel.cancelled:  # cancelled while the page was stored: take it back, render nothing more
            await store.delete_prefix(owner_prefix("dashboards", dashboard_id))
            deps.cancel.check("rendering the PDF report")
        deps.progress(0.9, "rendering the PDF report")
        pdf_bytes = await asyncio.to_thread(render_pdf, html)
        pdf_ref = await store.put_bytes(artifact_key("dashboards", dashboard_id, "report.pdf"), pdf_bytes,
                                        media_type="application/pdf")
    async with deps.unit_of_work() as uow:
        if await uow.is_deleted(dataset_id) or deps.cancel.cancelled:  # take back what was written
            await store.delete_prefix(owner_prefix("dashboards", dashboard_id))
            deps.cancel.check("recording the dashboard")
            return
        await uow.repo.record(DashboardRecord(
            dashboard_id=dashboard_id, job_id=deps.job_id, dataset_id=dataset_id, html_key=html_ref.key,
            html_bytes=html_ref.size_bytes, pdf_key=pdf_ref.key if pdf_ref else None,
        ))
        await uow.emit(DashboardReady(dataset_id=dataset_id, dashboard_id=dashboard_id, html=html_ref, pdf=pdf_ref,
                                      zip=zip_ref))


async def when_analysis_completed_build_dashboard(event: AnalysisCompleted, deps: StageDeps[Dashboards]) -> None:
    """Build the dashboard of a finished analysis and end the job with dashboard.ready."""
    await _build(deps, dataset_id=event.dataset_id, data_ref=event.cleaned_parquet, profile_ref=event.profile,
                 etl_ref=event.etl_report, analysis_ref=event.analysis_result, pdf=event.options.pdf,
                 theme=event.options.theme, typed_ref=event.typed_parquet)


async def when_dashboard_requested_build_dashboard(event: DashboardRequested, deps: StageDeps[Dashboards]) -> None:
    """Re-render a dashboard on request (another theme, or with its PDF)."""
    await _build(deps, dataset_id=event.dataset_id, data_ref=event.cleaned_parquet, profile_ref=event.profile,
                 etl_ref=event.etl_report, analysis_ref=event.analysis_result, pdf=event.pdf, theme=event.theme,
                 typed_ref=event.typed_parquet)


async def when_comparison_completed_draw(event: ComparisonCompleted, deps: StageDeps[Dashboards]) -> None:
    """Draw the comparison's self-contained dashboard (side-by-side distributions of the most shifted columns)
    and end the job with dashboard.ready, so that it is served like any dashboard."""
    store = deps.store
    comparison = Comparison.model_validate_json(await store.read_bytes(event.comparison))
    dashboard_id = uuid.uuid5(deps.event_id, "dashboard")
    with tempfile.TemporaryDirectory(prefix="dsp-dashboard-compare-") as tmp:
        path_a = await store.fetch_to(event.parquet_a, Path(tmp) / "a.parquet")
        path_b = await store.fetch_to(event.parquet_b, Path(tmp) / "b.parquet")

        def draw() -> str:
            deps.cancel.check("reading")
            page = build_comparison_html(comparison, pl.read_parquet(path_a), pl.read_parquet(path_b),
                                         theme=event.theme)
            deps.progress(1.0, "comparison drawn")
            return page

        html = await asyncio.to_thread(draw)
    html_ref = await store.put_bytes(artifact_key("dashboards", dashboard_id, "dashboard.html"), html.encode(),
                                     media_type="text/html")
    zip_ref = await store.put_bytes(artifact_key("dashboards", dashboard_id, "dashboard.zip"), build_zip(html),
                                    media_type="application/zip")
    async with deps.unit_of_work() as uow:
        # either dataset deleted meanwhile: take back what was written (the runner checks only A's tombstone)
        if await uow.is_deleted(event.dataset_id) or await uow.is_deleted(event.dataset_id_b):
            await store.delete_prefix(owner_prefix("dashboards", dashboard_id))
            return
        await uow.repo.record(DashboardRecord(
            dashboard_id=dashboard_id, job_id=deps.job_id, dataset_id=event.dataset_id, html_key=html_ref.key,
            html_bytes=html_ref.size_bytes, pdf_key=None,
        ))
        await uow.emit(DashboardReady(dataset_id=event.dataset_id, dashboard_id=dashboard_id, html=html_ref,
                                      zip=zip_ref))


async def when_dataset_deleted(event: DatasetDeleted, deps: StageDeps[Dashboards]) -> None:
    """Erase the dataset's dashboards and their files (dashboards/<id>/), those of its jobs too (a comparison's
    names the other dataset), then emit dataset.purged."""
    await purge_dataset(event, deps, service="dashboard")
