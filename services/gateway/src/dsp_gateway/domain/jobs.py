"""The gateway's read model of jobs: how each event moves a job, and what the WebSocket says.

Every rule dispatches on the event's payload class (``shared_contracts.events``), never on a
routing-key string, so a renamed or retyped field fails type checks instead of reading ``None``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict
from shared_contracts import ArtifactRef, EventPayload
from shared_contracts.events import (
    AnalysisCompleted,
    AnalysisRequested,
    ComparisonCompleted,
    ComparisonRequested,
    DashboardReady,
    DashboardRequested,
    DatasetIngested,
    DatasetProfiled,
    DatasetRejected,
    DatasetsCompared,
    DatasetTransformed,
    DatasetUploaded,
    JobCancelled,
    JobProgress,
    StageFailed,
)

__all__ = [
    "JobResults",
    "JobStatus",
    "JobUpdate",
    "TERMINAL",
    "cancel_ack",
    "cancellation_record",
    "cancelled_message",
    "ingest_has_answered",
    "job_update_for",
    "ws_message_for",
]

JobStatus = Literal["queued", "running", "completed", "failed", "cancelled"]
TERMINAL: frozenset[str] = frozenset({"completed", "failed", "cancelled"})
"""A job in one of these has ended: no later event moves it (``cancelled``: its user stopped it)."""

_STAGE_AFTER: dict[type[EventPayload], tuple[str, float]] = {
    # event -> (the stage that starts next, the job's overall progress when it does)
    DatasetUploaded: ("ingest", 0.05),
    AnalysisRequested: ("profile", 0.05),
    DatasetIngested: ("profile", 0.2),
    DatasetProfiled: ("etl", 0.35),
    DatasetTransformed: ("ml", 0.5),
    AnalysisCompleted: ("dashboard", 0.85),
    DashboardRequested: ("dashboard", 0.1),
    # a comparison: profile compares, ml scores the target, dashboard draws
    ComparisonRequested: ("profile", 0.05),
    DatasetsCompared: ("ml", 0.6),
    ComparisonCompleted: ("dashboard", 0.8),
}
_STAGE_SPAN: dict[str, tuple[float, float]] = {
    "ingest": (0.05, 0.2), "profile": (0.2, 0.35), "etl": (0.35, 0.5), "ml": (0.5, 0.85), "dashboard": (0.85, 1.0),
}
_COMPARISON_SPAN: dict[str, tuple[float, float]] = {"profile": (0.05, 0.6), "ml": (0.6, 0.8), "dashboard": (0.8, 1.0)}
_REQUESTS = (DatasetUploaded, AnalysisRequested, DashboardRequested, ComparisonRequested)  # then a job waits in a queue


class JobResults(BaseModel):
    """What a job has produced so far: the artifacts a later request or export reads, and the figures
    the API shows. Kept in the job row; each event adds the fields it carries."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    parquet: ArtifactRef | None = None
    ingest_report: ArtifactRef | None = None
    profile: ArtifactRef | None = None
    quality_score: float | None = None
    cleaned_parquet: ArtifactRef | None = None
    typed_parquet: ArtifactRef | None = None
    cleaned_csv: ArtifactRef | None = None
    etl_report: ArtifactRef | None = None
    pipeline: ArtifactRef | None = None
    analysis_result: ArtifactRef | None = None
    model_id: uuid.UUID | None = None
    dashboard_id: uuid.UUID | None = None
    dashboard_html: ArtifactRef | None = None
    dashboard_pdf: ArtifactRef | None = None
    dashboard_zip: ArtifactRef | None = None
    comparison: ArtifactRef | None = None
    """A comparison's JSON ``Comparison`` (shared_contracts.compare): profile's, then ml's with the target's part."""

    def stored(self) -> dict[str, Any]:
        """The JSON merged into the job row: only the fields this update sets."""
        return self.model_dump(mode="json", exclude_none=True)


# the results an event carries under the same field name
_CARRIED = ("parquet", "ingest_report", "profile", "quality_score", "cleaned_parquet", "cleaned_csv", "etl_report",
            "pipeline", "analysis_result", "model_id", "typed_parquet", "comparison")


def _carried_results(payload: EventPayload) -> JobResults:
    return JobResults(**{name: value for name in _CARRIED if (value := getattr(payload, name, None)) is not None})


@dataclass(frozen=True)
class JobUpdate:
    """What one event changes in a job row (None: leave as is)."""

    status: JobStatus | None = None
    stage: str | None = None
    progress: float | None = None
    error_code: str | None = None
    error_message: str | None = None
    results: JobResults = field(default_factory=JobResults)


def ingest_has_answered(dataset_status: str) -> bool:
    """Whether ingest gave its verdict on an upload (accepted it, or rejected it, or gave up)."""
    return dataset_status != "uploaded"


def job_update_for(payload: EventPayload, *, analysis_job: bool, comparison_job: bool = False) -> JobUpdate:
    """The change an event makes to its job. ``analysis_job`` is False for an upload that stops at its profile;
    ``comparison_job`` is True for a comparison, whose stages share its progress otherwise."""
    match payload:
        case StageFailed():
            return JobUpdate(status="failed", error_code=payload.code, error_message=payload.reason)
        case DatasetRejected():
            return JobUpdate(status="failed", error_code=payload.code, error_message=payload.message)
        case JobProgress():
            low, high = (_COMPARISON_SPAN if comparison_job else _STAGE_SPAN).get(payload.stage, (0.0, 1.0))
            return JobUpdate(status="running", stage=payload.stage, progress=low + (high - low) * payload.fraction)
        case DashboardReady():
            return JobUpdate(status="completed", stage="dashboard", progress=1.0,
                             results=JobResults(dashboard_id=payload.dashboard_id, dashboard_html=payload.html,
                                                dashboard_pdf=payload.pdf, dashboard_zip=payload.zip))
        case DatasetProfiled() if not analysis_job:
            return JobUpdate(status="completed", stage="profile", progress=1.0,
                             results=JobResults(profile=payload.profile, quality_score=payload.quality_score))
    after = _STAGE_AFTER.get(type(payload))
    if after is None:
        return JobUpdate()
    stage, progress = after
    return JobUpdate(status="queued" if isinstance(payload, _REQUESTS) else "running", stage=stage,
                     progress=progress, results=_carried_results(payload))


def cancellation_record(*, requested_at: datetime, reason: str, requested_by: uuid.UUID) -> dict[str, Any]:
    """The ``cancellation`` of a job the user cancelled: when, why, by whom, and each stage's acknowledgement
    (``cancel_ack``) as its ``job.cancelled`` comes in."""
    return {"requested_at": requested_at.isoformat(), "reason": reason, "requested_by": str(requested_by),
            "stages": []}


def cancel_ack(event: JobCancelled, *, occurred_at: datetime) -> dict[str, Any]:
    """One stage's ``job.cancelled``, as ``cancellation.stages`` lists it: the step it stopped at ('' when it
    dropped an event of the job without starting), and how long after the request it stopped."""
    return {"stage": event.stage, "step": event.step, "stopped_after_s": event.stopped_after_s,
            "at": occurred_at.isoformat()}


def cancelled_message(job: dict[str, Any]) -> dict[str, Any]:
    """The last message of a cancelled job's progress stream."""
    return {"type": "job.cancelled", "job_id": str(job["job_id"]), "status": "cancelled", "stage": job.get("stage"),
            "progress": job.get("progress"), "message": "The job was cancelled."}


def _text(value: uuid.UUID | None) -> str | None:
    return None if value is None else str(value)


def ws_message_for(payload: EventPayload, *, job_id: str, kind: str, progress: float | None) -> dict[str, Any] | None:
    """The progress-stream message for an event, or None when the stream says nothing of it."""
    base: dict[str, Any] = {"job_id": job_id}
    match payload:
        case StageFailed():
            return {**base, "type": "error.occurred", "stage": payload.stage, "code": payload.code,
                    "message": payload.reason, "details": {}}
        case DatasetRejected():
            return {**base, "type": "error.occurred", "stage": "ingest", "code": payload.code,
                    "message": payload.message, "details": payload.details}
        case DashboardReady():
            return {**base, "type": "dashboard.ready", "dashboard_id": str(payload.dashboard_id), "progress": 1.0}
        case AnalysisCompleted():
            return {**base, "type": "analysis.completed", "analysis_id": job_id, "model_id": _text(payload.model_id),
                    "progress": progress}
        case JobProgress():
            kind_type = "upload.progress" if payload.stage in ("gateway", "ingest") else "analysis.progress"
            return {**base, "type": kind_type, "stage": payload.stage, "progress": progress,
                    "stage_progress": payload.fraction, "message": payload.message}
        case DatasetUploaded():
            return {**base, "type": "upload.progress", "stage": "ingest", "progress": progress, "message": "stored",
                    "row_count": None}
        case DatasetIngested():
            return {**base, "type": "upload.progress", "stage": "ingest", "progress": progress,
                    "message": "ingested", "row_count": payload.row_count}
        case AnalysisRequested() | DashboardRequested() | ComparisonRequested():
            return {**base, "type": "analysis.started", "progress": progress}
        case DatasetsCompared():
            return {**base, "type": "analysis.progress", "stage": "profile", "progress": progress, "message": "compared"}
        case ComparisonCompleted():
            return {**base, "type": "analysis.progress", "stage": "ml", "progress": progress,
                    "message": "target scored" if payload.target else "compared"}
        case DatasetProfiled() if kind == "analysis":
            return {**base, "type": "analysis.progress", "stage": "profile", "progress": progress,
                    "message": "profiled", "quality_score": payload.quality_score}
        case DatasetProfiled():  # an upload job ends with its profile
            return {**base, "type": "upload.progress", "stage": "profile", "progress": 1.0,
                    "message": "profiled", "quality_score": payload.quality_score}
        case DatasetTransformed():
            return {**base, "type": "analysis.progress", "stage": "etl", "progress": progress, "message": "cleaned"}
    return None
