"""Dashboard's reaction to events: build the self-contained dashboard (and PDF) of a job."""

from __future__ import annotations

import asyncio
import tempfile
import uuid
from pathlib import Path
from typing import Any, Literal

from mesh_kit.artifacts import artifact_key
from mesh_kit.consumer import HandlerContext
from mesh_kit.service import Runtime
from shared_contracts import ArtifactRef, Envelope
from shared_contracts.analysis import AnalysisResult
from shared_contracts.etl import EtlReport
from shared_contracts.events import AnalysisCompleted, DashboardReady, DashboardRequested
from shared_contracts.profile import Profile

from ..adapters import repository
from ..adapters.pdf import render_pdf
from ..domain import build_dashboard

__all__ = ["when_analysis_completed_build_dashboard", "when_dashboard_requested_build_dashboard"]


async def _build(envelope: Envelope[Any], ctx: HandlerContext, runtime: Runtime, *, dataset_id: uuid.UUID,
                 data_ref: ArtifactRef, profile_ref: ArtifactRef, etl_ref: ArtifactRef | None,
                 analysis_ref: ArtifactRef | None, pdf: bool, theme: Literal["light", "dark"]) -> None:
    store = runtime.store
    profile = Profile.model_validate_json(store.read_bytes(profile_ref))
    etl_report = EtlReport.model_validate_json(store.read_bytes(etl_ref)) if etl_ref else None
    analysis = AnalysisResult.model_validate_json(store.read_bytes(analysis_ref)) if analysis_ref else None
    dashboard_id = uuid.uuid5(envelope.event_id, "dashboard")
    with tempfile.TemporaryDirectory(prefix="dsp-dashboard-") as tmp:
        data = store.fetch_to(data_ref, Path(tmp) / "data.parquet")
        html = await asyncio.to_thread(build_dashboard, data=data, profile=profile, etl_report=etl_report,
                                       analysis=analysis, theme=theme, progress=ctx.progress)
    html_ref = store.put_bytes(artifact_key("dashboards", dashboard_id, "dashboard.html"), html.encode(),
                               media_type="text/html")
    pdf_ref = None
    if pdf:
        ctx.progress(0.9, "rendering the PDF report")
        pdf_bytes = await asyncio.to_thread(render_pdf, html)
        pdf_ref = store.put_bytes(artifact_key("dashboards", dashboard_id, "report.pdf"), pdf_bytes,
                                  media_type="application/pdf")
    async with ctx.unit_of_work() as uow:
        await repository.record_dashboard(uow.conn, dashboard_id=dashboard_id, job_id=envelope.job_id,
                                          dataset_id=dataset_id, html_key=html_ref.key,
                                          html_bytes=html_ref.size_bytes, pdf_key=pdf_ref.key if pdf_ref else None)
        await uow.emit(DashboardReady(dataset_id=dataset_id, dashboard_id=dashboard_id, html=html_ref, pdf=pdf_ref))


async def when_analysis_completed_build_dashboard(envelope: Envelope[Any], ctx: HandlerContext,
                                                  runtime: Runtime) -> None:
    """Build the dashboard of a finished analysis and end the job with dashboard.ready."""
    event: AnalysisCompleted = envelope.payload
    await _build(envelope, ctx, runtime, dataset_id=event.dataset_id,
                 data_ref=event.cleaned_parquet,
                 profile_ref=event.profile, etl_ref=event.etl_report, analysis_ref=event.analysis_result,
                 pdf=event.options.pdf, theme="light")


async def when_dashboard_requested_build_dashboard(envelope: Envelope[Any], ctx: HandlerContext,
                                                   runtime: Runtime) -> None:
    """Re-render a dashboard on request (another theme, or with its PDF)."""
    event: DashboardRequested = envelope.payload
    await _build(envelope, ctx, runtime, dataset_id=event.dataset_id, data_ref=event.cleaned_parquet,
                 profile_ref=event.profile, etl_ref=event.etl_report, analysis_ref=event.analysis_result,
                 pdf=event.pdf, theme=event.theme)
