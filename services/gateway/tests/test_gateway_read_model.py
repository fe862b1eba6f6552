"""The read-model rules of the gateway: what each event does to its job, its dataset and the WebSocket."""

from __future__ import annotations

import json
import uuid

import pytest
from dsp_gateway.domain.datasets import dataset_update_for
from dsp_gateway.domain.jobs import (
    TERMINAL,
    JobResults,
    JobUpdate,
    ingest_has_answered,
    job_update_for,
    ws_message_for,
)
from shared_contracts import EVENT_REGISTRY, ArtifactRef, EventPayload
from shared_contracts.events import (
    AnalysisCompleted,
    AnalysisOptions,
    AnalysisRequested,
    ColumnSummary,
    ComparisonCompleted,
    ComparisonRequested,
    DashboardReady,
    DashboardRequested,
    DatasetDeleted,
    DatasetIngested,
    DatasetProfiled,
    DatasetPurged,
    DatasetRejected,
    DatasetsCompared,
    DatasetTransformed,
    DatasetUploaded,
    JobCancelled,
    JobCancelRequested,
    JobProgress,
    StageFailed,
)

DATASET = uuid.UUID("0b5e4c1e-7f43-4d6a-9a51-2f3c9d1e0a11")
MODEL = uuid.UUID("4f0f3a2b-1c6d-4e5f-8a9b-0c1d2e3f4a5b")
DASHBOARD = uuid.UUID("9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d")
JOB = "1d2c3b4a-0000-4000-8000-00000000000f"
DATASET_B = uuid.UUID("5c6d7e8f-1a2b-4c3d-8e4f-5a6b7c8d9e0f")


def ref(name: str, media_type: str = "application/json") -> ArtifactRef:
    return ArtifactRef(key=f"datasets/{DATASET}/{name}", sha256="ab" * 32, size_bytes=1024, media_type=media_type)


OPTIONS = AnalysisOptions(target="body_mass_g", time_budget_s=15)
COLUMNS = [ColumnSummary(name="species", semantic_type="categorical", physical_type="String"),
           ColumnSummary(name="body_mass_g", semantic_type="numeric", physical_type="Int64")]
EVENTS: dict[type[EventPayload], EventPayload] = {
    DatasetUploaded: DatasetUploaded(dataset_id=DATASET, raw=ref("raw", "text/csv"), display_name="penguins.csv"),
    DatasetIngested: DatasetIngested(dataset_id=DATASET, parquet=ref("data.parquet"), ingest_report=ref("ingest.json"),
                                     row_count=344, columns=COLUMNS),
    DatasetRejected: DatasetRejected(dataset_id=DATASET, code="csv_ragged_rows",
                                     message="Row 17 has 9 fields where the header has 8.",
                                     details={"row": 17, "expected": 8, "found": 9}),
    AnalysisRequested: AnalysisRequested(dataset_id=DATASET, parquet=ref("data.parquet"),
                                         ingest_report=ref("ingest.json"), analysis=OPTIONS),
    DatasetProfiled: DatasetProfiled(dataset_id=DATASET, parquet=ref("data.parquet"), profile=ref("profile.json"),
                                     quality_score=87.5, alert_count=3),
    DatasetTransformed: DatasetTransformed(dataset_id=DATASET, cleaned_parquet=ref("clean.parquet"),
                                           cleaned_csv=ref("clean.csv", "text/csv"), etl_report=ref("etl.json"),
                                           pipeline=ref("pipeline.json"), profile=ref("profile.json"),
                                           analysis=OPTIONS, typed_parquet=ref("data.parquet")),
    AnalysisCompleted: AnalysisCompleted(dataset_id=DATASET, analysis_result=ref("analysis.json"),
                                         profile=ref("profile.json"), etl_report=ref("etl.json"),
                                         cleaned_parquet=ref("clean.parquet"), model_id=MODEL, options=OPTIONS),
    DashboardRequested: DashboardRequested(dataset_id=DATASET, analysis_result=ref("analysis.json"),
                                           profile=ref("profile.json"), cleaned_parquet=ref("clean.parquet"),
                                           pdf=True, theme="dark"),
    DashboardReady: DashboardReady(dataset_id=DATASET, dashboard_id=DASHBOARD, html=ref("dashboard.html", "text/html"),
                                   pdf=ref("report.pdf", "application/pdf")),
    StageFailed: StageFailed(stage="ml", code="target_not_found", reason="The dataset has no column 'mass'.",
                             dataset_id=DATASET),
    JobProgress: JobProgress(stage="ml", fraction=0.5, message="trial 4 of 8"),
    JobCancelRequested: JobCancelRequested(requested_at="2026-12-01T12:00:00Z", reason="asked by the user"),
    JobCancelled: JobCancelled(stage="ml", step="fitting", stopped_after_s=0.4, dataset_id=DATASET),
}
COMPARED = {"dataset_id": DATASET, "dataset_id_b": DATASET_B, "comparison_id": uuid.UUID(JOB),
            "parquet_a": ref("data.parquet"), "parquet_b": ref("b.parquet"), "name_a": "may.csv", "name_b": "june.csv"}
EVENTS |= {
    ComparisonRequested: ComparisonRequested(**COMPARED, profile_a=ref("profile.json"), profile_b=ref("profile-b.json")),
    DatasetsCompared: DatasetsCompared(**COMPARED, comparison=ref("comparison.json")),
    ComparisonCompleted: ComparisonCompleted(**COMPARED, target="price", comparison=ref("comparison-target.json")),
}


NOT_JOB_EVENTS = {DatasetDeleted, DatasetPurged}
"""A deletion is not a job: its events have their own use cases (service_layer/deletion.py)."""


def test_every_event_of_the_mesh_has_a_rule_here() -> None:
    assert set(EVENTS) == set(EVENT_REGISTRY.values()) - NOT_JOB_EVENTS


# event -> (status, stage, progress) for an analysis job and, where it differs, for an upload job
JOB_MOVES: dict[type[EventPayload], tuple[str | None, str | None, float | None]] = {
    DatasetUploaded: ("queued", "ingest", 0.05),
    AnalysisRequested: ("queued", "profile", 0.05),
    DatasetIngested: ("running", "profile", 0.2),
    DatasetProfiled: ("running", "etl", 0.35),
    DatasetTransformed: ("running", "ml", 0.5),
    AnalysisCompleted: ("running", "dashboard", 0.85),
    DashboardRequested: ("queued", "dashboard", 0.1),
    DashboardReady: ("completed", "dashboard", 1.0),
    StageFailed: ("failed", None, None),
    DatasetRejected: ("failed", None, None),
    JobProgress: ("running", "ml", 0.5 + 0.35 * 0.5),
    ComparisonRequested: ("queued", "profile", 0.05),
    DatasetsCompared: ("running", "ml", 0.6),
    ComparisonCompleted: ("running", "dashboard", 0.8),
    JobCancelRequested: (None, None, None),  # the cancel route ends the job; these change no job themselves
    JobCancelled: (None, None, None),
}


@pytest.mark.parametrize("event", list(EVENTS), ids=lambda cls: cls.__name__)
def test_each_event_moves_an_analysis_job(event: type[EventPayload]) -> None:
    update = job_update_for(EVENTS[event], analysis_job=True)
    status, stage, progress = JOB_MOVES[event]
    assert (update.status, update.stage) == (status, stage)
    assert update.progress == pytest.approx(progress) if progress is not None else update.progress is None


def test_an_upload_job_completes_with_its_profile() -> None:
    update = job_update_for(EVENTS[DatasetProfiled], analysis_job=False)
    assert (update.status, update.stage, update.progress) == ("completed", "profile", 1.0)
    assert update.results == JobResults(profile=ref("profile.json"), quality_score=87.5)
    assert update.status in TERMINAL


def test_failures_carry_their_code_and_plain_reason() -> None:
    failed = job_update_for(EVENTS[StageFailed], analysis_job=True)
    rejected = job_update_for(EVENTS[DatasetRejected], analysis_job=False)
    assert (failed.error_code, failed.error_message) == ("target_not_found", "The dataset has no column 'mass'.")
    assert (rejected.error_code, rejected.error_message) == ("csv_ragged_rows",
                                                             "Row 17 has 9 fields where the header has 8.")
    assert failed.status in TERMINAL and rejected.status in TERMINAL


def test_progress_of_an_unknown_stage_spans_the_whole_job() -> None:
    update = job_update_for(JobProgress(stage="gateway", fraction=0.25), analysis_job=False)
    assert (update.status, update.stage, update.progress) == ("running", "gateway", 0.25)


def test_each_event_keeps_the_results_it_carries() -> None:
    carried = {event: job_update_for(payload, analysis_job=True).results.stored() for event, payload in EVENTS.items()}
    assert carried[DatasetUploaded] == {}
    assert set(carried[DatasetIngested]) == {"parquet", "ingest_report"}
    assert set(carried[AnalysisRequested]) == {"parquet", "ingest_report"}
    assert carried[DatasetProfiled]["quality_score"] == 87.5 and set(carried[DatasetProfiled]) == {
        "parquet", "profile", "quality_score"}
    assert set(carried[DatasetTransformed]) == {"cleaned_parquet", "cleaned_csv", "etl_report", "pipeline", "profile",
                                                "typed_parquet"}
    assert carried[AnalysisCompleted]["model_id"] == str(MODEL)
    assert set(carried[DashboardRequested]) == {"analysis_result", "profile", "cleaned_parquet"}
    assert carried[DashboardReady] == {"dashboard_id": str(DASHBOARD),
                                       "dashboard_html": ref("dashboard.html", "text/html").model_dump(),
                                       "dashboard_pdf": ref("report.pdf", "application/pdf").model_dump()}
    assert carried[StageFailed] == carried[DatasetRejected] == carried[JobProgress] == {}
    assert carried[ComparisonRequested] == {}
    assert carried[DatasetsCompared] == {"comparison": ref("comparison.json").model_dump()}
    assert carried[ComparisonCompleted] == {"comparison": ref("comparison-target.json").model_dump()}


def test_a_comparison_moves_through_profile_ml_and_dashboard_and_keeps_the_final_document() -> None:
    moves = [job_update_for(payload, analysis_job=True, comparison_job=True) for payload in (
        EVENTS[ComparisonRequested], JobProgress(stage="profile", fraction=0.5), EVENTS[DatasetsCompared],
        JobProgress(stage="ml", fraction=0.5), EVENTS[ComparisonCompleted], JobProgress(stage="dashboard", fraction=0.5),
        EVENTS[DashboardReady])]
    assert [(m.status, m.stage) for m in moves] == [
        ("queued", "profile"), ("running", "profile"), ("running", "ml"), ("running", "ml"), ("running", "dashboard"),
        ("running", "dashboard"), ("completed", "dashboard")]
    progress = [m.progress for m in moves]
    assert progress == sorted(progress) and progress[-1] == 1.0
    assert progress[1] == pytest.approx(0.05 + 0.55 * 0.5)  # comparing is most of a comparison's work
    stored: dict[str, object] = {}
    for move in moves:
        stored |= move.results.stored()
    results = JobResults.model_validate(stored)
    assert results.comparison == ref("comparison-target.json") and results.dashboard_id == DASHBOARD


def test_job_results_round_trip_through_the_stored_json() -> None:
    """The job row merges each event's results into one JSON object; reading it back gives typed fields."""
    stored: dict[str, object] = {}
    for event in (AnalysisRequested, DatasetProfiled, DatasetTransformed, AnalysisCompleted, DashboardReady):
        stored |= json.loads(json.dumps(job_update_for(EVENTS[event], analysis_job=True).results.stored()))
    results = JobResults.model_validate(stored)
    assert results.analysis_result == ref("analysis.json")
    assert results.cleaned_csv == ref("clean.csv", "text/csv")
    assert results.typed_parquet == ref("data.parquet")  # a re-render describes the data as ingested again
    assert results.model_id == MODEL and results.dashboard_id == DASHBOARD
    assert results.quality_score == 87.5
    assert JobResults.model_validate({"dashboard_pdf": None, "a_key_of_an_older_gateway": 1}) == JobResults()


def test_an_empty_update_changes_nothing() -> None:
    assert JobUpdate() == JobUpdate(status=None, stage=None, progress=None, results=JobResults())
    assert JobUpdate().results.stored() == {}


@pytest.mark.parametrize(("event", "kind", "expected"), [
    (DatasetUploaded, "upload", {"type": "upload.progress", "stage": "ingest", "progress": 0.05, "message": "stored",
                                 "row_count": None}),
    (DatasetIngested, "upload", {"type": "upload.progress", "stage": "ingest", "progress": 0.2,
                                 "message": "ingested", "row_count": 344}),
    (DatasetProfiled, "upload", {"type": "upload.progress", "stage": "profile", "progress": 1.0,
                                 "message": "profiled", "quality_score": 87.5}),
    (DatasetProfiled, "analysis", {"type": "analysis.progress", "stage": "profile", "progress": 0.35,
                                   "message": "profiled", "quality_score": 87.5}),
    (AnalysisRequested, "analysis", {"type": "analysis.started", "progress": 0.05}),
    (DashboardRequested, "dashboard", {"type": "analysis.started", "progress": 0.1}),
    (DatasetTransformed, "analysis", {"type": "analysis.progress", "stage": "etl", "progress": 0.5,
                                      "message": "cleaned"}),
    (AnalysisCompleted, "analysis", {"type": "analysis.completed", "analysis_id": JOB, "model_id": str(MODEL),
                                     "progress": 0.85}),
    (DashboardReady, "analysis", {"type": "dashboard.ready", "dashboard_id": str(DASHBOARD), "progress": 1.0}),
    (ComparisonRequested, "comparison", {"type": "analysis.started", "progress": 0.05}),
    (DatasetsCompared, "comparison", {"type": "analysis.progress", "stage": "profile", "progress": 0.6,
                                      "message": "compared"}),
    (ComparisonCompleted, "comparison", {"type": "analysis.progress", "stage": "ml", "progress": 0.8,
                                         "message": "target scored"}),
    (JobProgress, "analysis", {"type": "analysis.progress", "stage": "ml", "progress": 0.675, "stage_progress": 0.5,
                               "message": "trial 4 of 8"}),
    (StageFailed, "analysis", {"type": "error.occurred", "stage": "ml", "code": "target_not_found",
                               "message": "The dataset has no column 'mass'.", "details": {}}),
    (DatasetRejected, "upload", {"type": "error.occurred", "stage": "ingest", "code": "csv_ragged_rows",
                                 "message": "Row 17 has 9 fields where the header has 8.",
                                 "details": {"row": 17, "expected": 8, "found": 9}}),
], ids=lambda v: v.__name__ if isinstance(v, type) else v if isinstance(v, str) else "")
def test_each_event_tells_the_progress_stream(event: type[EventPayload], kind: str, expected: dict) -> None:
    progress = None
    if event is not DashboardReady:
        progress = job_update_for(EVENTS[event], analysis_job=kind != "upload").progress
    message = ws_message_for(EVENTS[event], job_id=JOB, kind=kind, progress=progress)
    assert message == {"job_id": JOB, **expected}
    json.dumps(message)  # it goes over Redis and the WebSocket as it is


def test_ingest_progress_is_upload_progress() -> None:
    message = ws_message_for(JobProgress(stage="ingest", fraction=0.4), job_id=JOB, kind="upload", progress=0.11)
    assert message is not None and message["type"] == "upload.progress"


def test_an_event_that_is_no_payload_of_the_mesh_says_nothing() -> None:
    class Unrelated(EventPayload):
        event_type = "something.else"
        event_version = 1

    assert ws_message_for(Unrelated(), job_id=JOB, kind="analysis", progress=0.5) is None
    assert job_update_for(Unrelated(), analysis_job=True) == JobUpdate()


def test_terminal_states_are_completed_failed_and_cancelled() -> None:
    assert {"completed", "failed", "cancelled"} == TERMINAL
    # events end a job as completed or failed; only its user's request cancels it
    assert {job_update_for(p, analysis_job=True).status for p in EVENTS.values()} & TERMINAL == {"completed", "failed"}


def test_ingest_has_answered_once_the_dataset_left_uploaded() -> None:
    assert not ingest_has_answered("uploaded")
    assert all(ingest_has_answered(s) for s in ("ingested", "profiled", "rejected", "failed"))


# the dataset rules

def test_ingested_and_profiled_fill_the_dataset_row() -> None:
    ingested = dataset_update_for(EVENTS[DatasetIngested], upload_job=True, current="uploaded")
    profiled = dataset_update_for(EVENTS[DatasetProfiled], upload_job=True, current="ingested")
    assert ingested is not None and ingested.stored() == {
        "status": "ingested", "parquet": ref("data.parquet").model_dump(), "ingest_report": ref("ingest.json").model_dump(),
        "row_count": 344, "columns": [c.model_dump() for c in COLUMNS]}
    assert profiled is not None and profiled.stored() == {"status": "profiled", "profile": ref("profile.json").model_dump(),
                                                          "quality_score": 87.5}
    assert not ingested.delete_raw and not profiled.delete_raw


def test_a_rejection_marks_the_dataset_and_removes_its_raw_upload() -> None:
    update = dataset_update_for(EVENTS[DatasetRejected], upload_job=True, current="uploaded")
    assert update is not None and update.status == "rejected" and update.delete_raw
    assert update.error == {"code": "csv_ragged_rows", "message": "Row 17 has 9 fields where the header has 8.",
                            "details": {"row": 17, "expected": 8, "found": 9}}


def test_the_stage_failed_that_follows_a_rejection_does_not_hide_it() -> None:
    assert dataset_update_for(EVENTS[StageFailed], upload_job=True, current="rejected") is None
    failed = dataset_update_for(EVENTS[StageFailed], upload_job=True, current="uploaded")
    assert failed is not None and failed.status == "failed" and not failed.delete_raw
    assert failed.error == {"code": "target_not_found", "message": "The dataset has no column 'mass'.", "details": {}}


def test_a_profiled_dataset_stays_usable_whatever_fails_later() -> None:
    for event in (DatasetRejected, StageFailed):
        assert dataset_update_for(EVENTS[event], upload_job=True, current="profiled") is None


def test_only_the_upload_job_marks_its_dataset_failed() -> None:
    """An analysis started later on an ingested dataset may fail; the dataset stays as it was."""
    for event in (DatasetRejected, StageFailed):
        assert dataset_update_for(EVENTS[event], upload_job=False, current="ingested") is None


def test_events_for_no_dataset_or_with_no_dataset_rule_change_nothing() -> None:
    assert dataset_update_for(EVENTS[DatasetIngested], upload_job=True, current=None) is None
    for event in (DatasetUploaded, AnalysisRequested, DatasetTransformed, AnalysisCompleted, DashboardRequested,
                  DashboardReady, JobProgress):
        assert dataset_update_for(EVENTS[event], upload_job=True, current="ingested") is None
