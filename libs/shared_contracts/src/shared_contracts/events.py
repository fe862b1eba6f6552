"""Every event that crosses the broker.

Within one version fields are only added, with defaults; removing, renaming or
retyping a field, or adding a required one, needs a new version.
``libs/shared_contracts/tests/test_contracts_schema_compat.py`` enforces this against ``schemas/``.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .artifacts import ArtifactRef
from .envelope import EventPayload, event
from .errors import validation_problems
from .etl import MAX_CONFIG_ITEMS, EtlConfig
from .profile import ValidationSummary

__all__ = [
    "AnalysisCompleted",
    "AnalysisOptions",
    "AnalysisRequested",
    "AnalysisTask",
    "BadRowPolicy",
    "ColumnSummary",
    "ComparisonCompleted",
    "ComparisonRequested",
    "DashboardReady",
    "DashboardRequested",
    "DatasetIngested",
    "DatasetDeleted",
    "DatasetProfiled",
    "DatasetPurged",
    "DatasetRejected",
    "DatasetTransformed",
    "DatasetUploaded",
    "DatasetsCompared",
    "IngestOptions",
    "DeletionReason",
    "JobCancelRequested",
    "JobCancelled",
    "JobProgress",
    "StageFailed",
    "Stage",
]

Stage = Literal["gateway", "ingest", "profile", "etl", "ml", "dashboard"]
BadRowPolicy = Literal["reject", "skip"]
BadValuePolicy = Literal["keep", "null"]
DeletionReason = Literal["requested", "retention"]
AnalysisTask = Literal["auto", "binary", "multiclass", "regression", "forecast", "unsupervised"]


class IngestOptions(BaseModel):
    """How the user wants the upload read. Everything is optional: the reader sniffs the rest."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type_overrides: dict[str, str] = Field(
        default_factory=dict, max_length=MAX_CONFIG_ITEMS,
        description="Column name -> semantic type that replaces the inferred one",
        examples=[{"zip": "categorical", "amount": "currency"}],
    )
    bad_rows: BadRowPolicy = Field(
        default="reject",
        description="What to do with ragged or unparseable rows: reject the file, or skip them and report",
    )
    validation_rules: list[dict[str, Any]] = Field(
        default_factory=list, max_length=1000, description="Declarative validation rules (see the ingest docs)"
    )
    bad_values: BadValuePolicy = Field(
        default="keep",
        description="Values that do not fit the column type: keep them by widening the type "
        "(integer -> float -> text), or store them as null and report them",
    )
    na_tokens: list[str] = Field(
        default_factory=list, max_length=1000,
        description="Extra tokens read as missing in every column (besides empty, NA, NaN, NULL, #N/A)",
        examples=[["-999", "missing"]],
    )
    na_evidence_tokens: list[str] | None = Field(
        default=None, max_length=1000,
        description="Tokens read as missing only where the column makes it plausible (a numeric column, "
        "or rare in text); None keeps the defaults: N/A, None, -, --, ., ?",
        examples=[["none", "-"]],
    )
    block_on_validation_error: bool = Field(
        default=False,
        description="Reject the upload (code validation_failed) when a validation rule of severity error is "
        "broken; by default the dataset is only marked as failing validation and the analysis goes on",
    )
    sheet: str | int | None = Field(
        default=None,
        description="The worksheet of an Excel or OpenDocument workbook to read: its name, or its 0-based "
        "position; None reads the first sheet holding any value. Ignored for other formats",
        examples=["Sales", 0],
    )


class AnalysisOptions(BaseModel):
    """What the user asked the analysis to do."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    target: str | None = Field(default=None, description="Column to predict; none runs only unsupervised analysis")
    time_budget_s: float = Field(default=60.0, gt=0, le=24 * 3600,
                                 description="Wall-clock budget of the whole job, from its request to its analysis: "
                                 "the analysis gets what reading, profiling and cleaning left, AutoML what remains "
                                 "after the analysis' fixed steps")
    etl_config: dict[str, Any] | None = Field(default=None, description="ETL config overriding the auto plan")
    keep_leaky_features: bool = Field(default=False)
    keep_columns: list[str] = Field(
        default_factory=list, max_length=MAX_CONFIG_ITEMS,
        description="Columns to use as model features even though they look like identifiers (typed identifier "
        "by ingest, flagged ID_LIKE by the profile); identifiers are otherwise left out of every model",
        examples=[["customer_id"]],
    )
    pdf: bool = Field(default=False, description="Also render the dashboard as a PDF report")
    theme: Literal["light", "dark"] = Field(default="light", description="Colour theme of the dashboard")
    task: AnalysisTask = Field(
        default="auto",
        description="The task to run. auto detects it from the target and the data; any other value is final: "
        "binary, multiclass and regression train that model (a target the task cannot fit fails with "
        "task_not_supported), forecast forecasts the target (or the measures) over the time column, "
        "unsupervised predicts nothing",
        examples=["regression"],
    )
    exclude_columns: list[str] = Field(
        default_factory=list, max_length=MAX_CONFIG_ITEMS,
        description="Columns the analysis leaves out entirely: no statistics, no model feature",
        examples=[["notes"]],
    )
    id_columns: list[str] = Field(
        default_factory=list, max_length=MAX_CONFIG_ITEMS,
        description="Columns that identify rows: described as identifiers and never used as model features",
        examples=[["house_id"]],
    )
    requested_at: datetime | None = Field(
        default=None, description="When the job was asked for (UTC), stamped by the gateway or the command; the "
        "time the stages before the analysis took counts against time_budget_s (at most half of it)")

    @field_validator("etl_config")
    @classmethod
    def _etl_config_within_bounds(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        """The ETL config is checked (its bounds too) when the request is read, not when a worker plans it."""
        if value is None:
            return None
        try:
            EtlConfig.model_validate(value)
        except ValidationError as exc:
            raise ValueError("; ".join(validation_problems(exc, value, prefix="etl_config"))) from None
        return value

    @model_validator(mode="after")
    def _task_fits_target(self) -> AnalysisOptions:
        if self.task == "unsupervised" and self.target is not None:
            raise ValueError(f"the unsupervised task predicts nothing: leave the target ({self.target!r}) out, "
                             "or choose another task")
        if self.target is not None and self.target in (*self.exclude_columns, *self.id_columns):
            raise ValueError(f"the target {self.target!r} cannot also be excluded or an identifier")
        return self


class ColumnSummary(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    semantic_type: str
    physical_type: str


class _DatasetEvent(EventPayload):
    dataset_id: uuid.UUID


@event
class DatasetUploaded(_DatasetEvent):
    """A user uploaded a file; it sits raw in the artifact store."""

    event_type = "dataset.uploaded"
    event_version = 1

    raw: ArtifactRef
    display_name: str = Field(description="The user's file name, for display only; never used as a key")
    ingest: IngestOptions = Field(default_factory=IngestOptions)
    analysis: AnalysisOptions | None = Field(
        default=None, description="When set, the job goes on to ETL, ML and dashboard after profiling"
    )


@event
class DatasetIngested(_DatasetEvent):
    """The upload was read, typed and written as Parquet."""

    event_type = "dataset.ingested"
    event_version = 1

    parquet: ArtifactRef
    ingest_report: ArtifactRef = Field(description="JSON IngestReport: dialect, schema, bad rows, validation")
    row_count: int = Field(ge=0)
    columns: list[ColumnSummary]
    analysis: AnalysisOptions | None = None
    display_name: str | None = Field(default=None, description="The user's file name, for display only")
    validation: ValidationSummary | None = Field(
        default=None, description="What the upload's validation rules found; None when it gave none"
    )


@event
class DatasetRejected(_DatasetEvent):
    """The upload could not be accepted (bad encoding, ragged rows under the reject policy, ...)."""

    event_type = "dataset.rejected"
    event_version = 1

    code: str = Field(examples=["csv_ragged_rows"])
    message: str
    details: dict[str, Any] = Field(default_factory=dict)


@event
class AnalysisRequested(_DatasetEvent):
    """A user asked to analyse an already ingested dataset."""

    event_type = "analysis.requested"
    event_version = 1

    parquet: ArtifactRef
    ingest_report: ArtifactRef
    analysis: AnalysisOptions
    display_name: str | None = Field(default=None, description="The user's file name, for display only")


@event
class DatasetProfiled(_DatasetEvent):
    """The profile of a dataset is ready."""

    event_type = "dataset.profiled"
    event_version = 1

    parquet: ArtifactRef
    profile: ArtifactRef
    quality_score: float = Field(ge=0, le=100)
    alert_count: int = Field(ge=0)
    analysis: AnalysisOptions | None = None


@event
class DatasetTransformed(_DatasetEvent):
    """ETL cleaned the dataset; the fitted pipeline is stored as data."""

    event_type = "dataset.transformed"
    event_version = 1

    cleaned_parquet: ArtifactRef
    cleaned_csv: ArtifactRef | None = None
    etl_report: ArtifactRef
    pipeline: ArtifactRef
    profile: ArtifactRef
    analysis: AnalysisOptions
    split: ArtifactRef | None = Field(
        default=None, description="Parquet of is_train per cleaned row, when target-dependent steps were fitted "
                                  "on a training split: ml trains on those rows and scores on the others")
    typed_parquet: ArtifactRef | None = Field(
        default=None, description="The typed data as ingested (ingest's Parquet, before any cleaning), which the "
                                  "descriptive views use; None: they use the cleaned data")


@event
class AnalysisCompleted(_DatasetEvent):
    """The ML analysis is ready."""

    event_type = "analysis.completed"
    event_version = 1

    analysis_result: ArtifactRef
    profile: ArtifactRef
    etl_report: ArtifactRef
    cleaned_parquet: ArtifactRef
    model_id: uuid.UUID | None = None
    options: AnalysisOptions
    model: ArtifactRef | None = Field(default=None, description="The trained model bundle (tar.gz), if any")
    typed_parquet: ArtifactRef | None = Field(
        default=None, description="The typed data as ingested (ingest's Parquet, before any cleaning), which the "
                                  "descriptive views use; None: they use the cleaned data")


@event
class DashboardRequested(_DatasetEvent):
    """A user asked for a (re-)render of a dashboard."""

    event_type = "dashboard.requested"
    event_version = 1

    analysis_result: ArtifactRef | None = None
    profile: ArtifactRef
    etl_report: ArtifactRef | None = None
    cleaned_parquet: ArtifactRef
    pdf: bool = False
    theme: Literal["light", "dark"] = "light"
    typed_parquet: ArtifactRef | None = Field(
        default=None, description="The typed data as ingested (ingest's Parquet, before any cleaning), which the "
                                  "descriptive views use; None: they use the cleaned data")


@event
class DashboardReady(_DatasetEvent):
    """The dashboard is built. This ends a job."""

    event_type = "dashboard.ready"
    event_version = 1

    dashboard_id: uuid.UUID
    html: ArtifactRef
    pdf: ArtifactRef | None = None
    zip: ArtifactRef | None = Field(default=None, description="The static dashboard with its notices, as a zip")


@event
class StageFailed(EventPayload):
    """A stage gave up on a job. This ends the job as failed."""

    event_type = "stage.failed"
    event_version = 1

    stage: Stage
    code: str = Field(examples=["poison_message", "retries_exhausted", "target_not_found"])
    reason: str = Field(description="Plain-language reason shown to the user")
    failed_event_id: uuid.UUID | None = None
    failed_routing_key: str | None = None
    attempts: int = Field(default=1, ge=0)
    dataset_id: uuid.UUID | None = None


@event
class JobProgress(EventPayload):
    """Progress of long work inside a stage. Informational: it may be lost without harm."""

    event_type = "job.progress"
    event_version = 1

    stage: Stage
    fraction: float = Field(ge=0, le=1)
    message: str = ""


@event
class DatasetDeleted(_DatasetEvent):
    """A dataset is to be erased everywhere: every service deletes its rows and artifacts, then acknowledges.

    The envelope's ``job_id`` is the deletion's id. After it, events naming the dataset are discarded.
    """

    event_type = "dataset.deleted"
    event_version = 1

    reason: DeletionReason = Field(description="Asked by a user, or the retention period ran out")
    requested_at: datetime
    job_ids: list[uuid.UUID] = Field(
        default_factory=list,
        description="The dataset's jobs the gateway knows, so that artifacts under jobs/<id>/ go as well")


@event
class DatasetPurged(EventPayload):
    """One service erased a dataset: its acknowledgement of ``dataset.deleted``.

    It names the dataset only by its SHA-256, so that no outbox keeps the id after the deletion.
    """

    event_type = "dataset.purged"
    event_version = 1

    deletion_id: uuid.UUID = Field(description="The job_id of the dataset.deleted event it answers")
    dataset_sha256: str = Field(description="SHA-256 (hex) of the dataset id as text")
    service: Stage
    rows_deleted: int = Field(ge=0, description="Rows removed from the service's own tables (outbox included)")
    artifacts_deleted: int = Field(ge=0, description="Objects removed from the artifact store")


@event
class JobCancelRequested(EventPayload):
    """A user cancelled the envelope's job. The gateway ends it as cancelled at once; every stage stops its
    work on it at the next step, starts none, records nothing and acknowledges with ``job.cancelled``."""

    event_type = "job.cancel_requested"
    event_version = 1

    requested_at: datetime
    reason: str = Field(default="", description="Why, for the logs (e.g. 'asked by the user')")


@event
class JobCancelled(EventPayload):
    """A stage stopped its work on a cancelled job, or dropped an event of it, and recorded nothing."""

    event_type = "job.cancelled"
    event_version = 1

    stage: Stage
    step: str = Field(default="", description="The step it was at, '' when it had not started")
    stopped_after_s: float | None = Field(
        default=None, ge=0, description="Seconds from the cancellation's request to the stage stopping")
    dataset_id: uuid.UUID | None = None


class _ComparisonEvent(_DatasetEvent):
    """The envelope's job compares dataset B against dataset A; ``dataset_id`` is A, the reference."""

    comparison_id: uuid.UUID
    dataset_id_b: uuid.UUID
    parquet_a: ArtifactRef = Field(description="A's typed data as ingested (ingest's Parquet)")
    parquet_b: ArtifactRef = Field(description="B's typed data as ingested")
    name_a: str | None = Field(default=None, description="A's file name, for display only")
    name_b: str | None = Field(default=None, description="B's file name, for display only")
    target: str | None = Field(default=None, description="Also check whether the features' relation to it moved")
    theme: Literal["light", "dark"] = "light"

    def carried(self) -> dict[str, Any]:
        """The fields every event of the comparison carries on to the next, for building it.

        >>> import uuid
        >>> from shared_contracts import ArtifactRef
        >>> ref = ArtifactRef(key="jobs/x/a.parquet", sha256="0" * 64, size_bytes=1, media_type="x")
        >>> asked = ComparisonRequested(dataset_id=uuid.uuid4(), dataset_id_b=uuid.uuid4(), comparison_id=uuid.uuid4(),
        ...                             parquet_a=ref, parquet_b=ref, profile_a=ref, profile_b=ref, target="y")
        >>> DatasetsCompared(**asked.carried(), comparison=ref).target
        'y'
        """
        return {name: getattr(self, name) for name in _ComparisonEvent.model_fields}


@event
class ComparisonRequested(_ComparisonEvent):
    """A user asked to compare two profiled datasets; profile compares them."""

    event_type = "comparison.requested"
    event_version = 1

    profile_a: ArtifactRef
    profile_b: ArtifactRef


@event
class DatasetsCompared(_ComparisonEvent):
    """Profile compared the two datasets' schemas, distributions, missingness and rows; ml adds the target's part."""

    event_type = "datasets.compared"
    event_version = 1

    comparison: ArtifactRef = Field(description="JSON Comparison (shared_contracts.compare), without the target part")


@event
class ComparisonCompleted(_ComparisonEvent):
    """The comparison document is complete; the dashboard service draws it (and answers ``dashboard.ready``)."""

    event_type = "comparison.completed"
    event_version = 1

    comparison: ArtifactRef = Field(description="JSON Comparison (shared_contracts.compare)")
