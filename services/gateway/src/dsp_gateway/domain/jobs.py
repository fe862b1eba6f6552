"""The gateway's read model of jobs: how each event moves a job, and what the WebSocket says."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["JobUpdate", "TERMINAL", "job_update_for", "ws_message_for"]

JobStatus = Literal["queued", "running", "completed", "failed"]
TERMINAL: frozenset[str] = frozenset({"completed", "failed"})

_STAGE_AFTER: dict[str, tuple[str, float]] = {
    # routing key -> (the stage that starts next, the job's overall progress when it does)
    "dataset.uploaded.v1": ("ingest", 0.05),
    "analysis.requested.v1": ("profile", 0.05),
    "dataset.ingested.v1": ("profile", 0.2),
    "dataset.profiled.v1": ("etl", 0.35),
    "dataset.transformed.v1": ("ml", 0.5),
    "analysis.completed.v1": ("dashboard", 0.85),
    "dashboard.requested.v1": ("dashboard", 0.1),
}
_STAGE_SPAN: dict[str, tuple[float, float]] = {
    "ingest": (0.05, 0.2), "profile": (0.2, 0.35), "etl": (0.35, 0.5), "ml": (0.5, 0.85), "dashboard": (0.85, 1.0),
}


@dataclass(frozen=True)
class JobUpdate:
    """What one event changes in a job row (None: leave as is)."""

    status: JobStatus | None = None
    stage: str | None = None
    progress: float | None = None
    error_code: str | None = None
    error_message: str | None = None
    results: dict[str, Any] = field(default_factory=dict)


def job_update_for(routing_key: str, payload: dict[str, Any], *, analysis_job: bool) -> JobUpdate:
    """The change an event makes to its job. ``analysis_job`` is False for an upload that stops at its profile."""
    if routing_key == "stage.failed.v1":
        return JobUpdate(status="failed", error_code=payload.get("code"), error_message=payload.get("reason"))
    if routing_key == "dataset.rejected.v1":
        return JobUpdate(status="failed", error_code=payload.get("code"), error_message=payload.get("message"))
    if routing_key == "job.progress.v1":
        stage = payload.get("stage", "")
        low, high = _STAGE_SPAN.get(stage, (0.0, 1.0))
        return JobUpdate(status="running", stage=stage, progress=low + (high - low) * float(payload.get("fraction", 0)))
    if routing_key == "dashboard.ready.v1":
        return JobUpdate(status="completed", stage="dashboard", progress=1.0,
                         results={"dashboard_id": payload.get("dashboard_id"), "dashboard_html": payload.get("html"),
                                  "dashboard_pdf": payload.get("pdf"), "dashboard_zip": payload.get("zip")})
    if routing_key == "dataset.profiled.v1" and not analysis_job:
        return JobUpdate(status="completed", stage="profile", progress=1.0,
                         results={"profile": payload.get("profile"), "quality_score": payload.get("quality_score")})
    if routing_key in _STAGE_AFTER:
        stage, progress = _STAGE_AFTER[routing_key]
        results: dict[str, Any] = {}
        for key in ("parquet", "ingest_report", "profile", "quality_score", "cleaned_parquet", "cleaned_csv",
                    "etl_report", "pipeline", "analysis_result", "model_id"):
            if payload.get(key) is not None:
                results[key] = payload[key]
        status: JobStatus = "queued" if routing_key in ("dataset.uploaded.v1", "analysis.requested.v1",
                                                          "dashboard.requested.v1") else "running"
        return JobUpdate(status=status, stage=stage, progress=progress, results=results)
    return JobUpdate()


def ws_message_for(routing_key: str, payload: dict[str, Any], *, job_id: str, kind: str,
                   progress: float | None) -> dict[str, Any] | None:
    """The progress-stream message for an event, or None when the stream says nothing of it."""
    base: dict[str, Any] = {"job_id": job_id}
    if routing_key in ("stage.failed.v1", "dataset.rejected.v1"):
        return {**base, "type": "error.occurred", "stage": payload.get("stage", "ingest"),
                "code": payload.get("code"), "message": payload.get("reason") or payload.get("message"),
                "details": payload.get("details", {})}
    if routing_key == "dashboard.ready.v1":
        return {**base, "type": "dashboard.ready", "dashboard_id": payload.get("dashboard_id"), "progress": 1.0}
    if routing_key == "analysis.completed.v1":
        return {**base, "type": "analysis.completed", "analysis_id": job_id, "model_id": payload.get("model_id"),
                "progress": progress}
    if routing_key == "job.progress.v1":
        stage = payload.get("stage")
        kind_type = "upload.progress" if stage in ("gateway", "ingest") else "analysis.progress"
        return {**base, "type": kind_type, "stage": stage, "progress": progress,
                "stage_progress": payload.get("fraction"), "message": payload.get("message", "")}
    if routing_key in ("dataset.uploaded.v1", "dataset.ingested.v1"):
        return {**base, "type": "upload.progress", "stage": "ingest",
                "progress": progress, "message": "stored" if routing_key == "dataset.uploaded.v1" else "ingested",
                "row_count": payload.get("row_count")}
    if routing_key in ("analysis.requested.v1", "dashboard.requested.v1") or (
        routing_key == "dataset.profiled.v1" and kind == "analysis"
    ):
        if routing_key == "dataset.profiled.v1":
            return {**base, "type": "analysis.progress", "stage": "profile", "progress": progress,
                    "message": "profiled", "quality_score": payload.get("quality_score")}
        return {**base, "type": "analysis.started", "progress": progress}
    if routing_key == "dataset.profiled.v1":  # an upload job ends with its profile
        return {**base, "type": "upload.progress", "stage": "profile", "progress": 1.0,
                "message": "profiled", "quality_score": payload.get("quality_score")}
    if routing_key == "dataset.transformed.v1":
        return {**base, "type": "analysis.progress", "stage": "etl", "progress": progress, "message": "cleaned"}
    return None
