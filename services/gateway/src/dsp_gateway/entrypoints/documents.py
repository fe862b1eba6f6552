"""What the gateway's routes answer, as pydantic models: the OpenAPI document's response schemas.

Every JSON answer of the REST API is the envelope of ``domain.responses``: ``{status, data, meta, errors}``.
``Envelope[X]`` is a success whose ``data`` is an ``X``; ``ErrorEnvelope`` is every error (``data`` null, one
or more ``errors``), whether a route, the validation of a request, a refused body (mesh_kit.bodylimit) or an
unknown path raised it. The routes return their ``JSONResponse`` themselves, so these models document the
answers and are not used to build them; tests/integration/test_gateway_openapi_fuzz.py holds real answers
to them.

``errors(401, 404, ...)`` is the ``responses=`` of a route: each status with the error envelope and what it
means. The request bodies that the upload and predict routes read themselves (a multipart stream, CSV or
JSON rows) are described by ``UPLOAD_BODY`` and ``PREDICT_BODY`` (their ``openapi_extra``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, Literal, TypeVar, get_args

from pydantic import BaseModel, ConfigDict, Field
from shared_contracts.analysis import AnalysisResult, LeaderboardEntry
from shared_contracts.events import AnalysisTask

__all__ = [
    "PREDICT_BODY",
    "UPLOAD_BODY",
    "AnalysisStarted",
    "AnalysisView",
    "ApiKeyList",
    "ApiKeyView",
    "AuditPage",
    "ComparisonStarted",
    "DashboardMeta",
    "DashboardStarted",
    "DatasetPage",
    "DatasetView",
    "DeletionView",
    "Envelope",
    "ErrorEnvelope",
    "JobView",
    "LoggedOut",
    "MeView",
    "ModelCard",
    "ModelPage",
    "NewApiKey",
    "OAuthError",
    "ReingestStarted",
    "TokenPair",
    "UploadAccepted",
    "UploadIngested",
    "UserDeleted",
    "UserPage",
    "UserView",
    "ViewLink",
    "binary",
    "errors",
    "html",
    "json_document",
]

T = TypeVar("T")


class _Answer(BaseModel):
    """A part of an answer: it may gain fields (a client ignores those it does not know)."""

    model_config = ConfigDict(extra="allow")


class Meta(_Answer):
    timestamp: datetime
    version: str = Field(description="The API version of the envelope")
    request_id: str = Field(description="The client's X-Request-ID when it is a UUID, else a fresh one; also the "
                                        "X-Request-ID header of the answer")


class ErrorItem(_Answer):
    code: str = Field(description="Stable, machine-readable: not_found, validation_error, rate_limited, ...")
    message: str = Field(description="In plain words, for a person")
    field: str | None = Field(description="The parameter, body field or form field at fault, when one is")
    details: dict[str, Any] | None = Field(default=None, description="Figures of the error (limits, names); "
                                                                     "absent when there are none")


class Envelope(_Answer, Generic[T]):
    """A success: ``data`` is the answer, ``errors`` is empty."""

    status: Literal["success"]
    data: T
    meta: Meta
    errors: list[ErrorItem]


class ErrorEnvelope(_Answer):
    """An error: ``data`` is null, ``errors`` holds at least one."""

    status: Literal["error"]
    data: None
    meta: Meta
    errors: list[ErrorItem] = Field(min_length=1)


class OAuthError(_Answer):
    """RFC 6749 §5.2: the token endpoint's errors (wrong credentials, too many failed logins)."""

    error: str
    error_description: str


_MEANING = {
    400: "The request cannot be read: a body that is not JSON (or not UTF-8), a malformed multipart body, an empty "
         "file, more than one file",
    401: "Not authenticated: no, an expired or a revoked token or API key (see WWW-Authenticate)",
    403: "The caller's role may not do this",
    404: "No such object in the caller's organisation (an id that is no UUID names nothing either)",
    408: "The request body stalled longer than the body timeout",
    409: "The object is not in a state that allows this (not ready yet, ended already, a conflict)",
    410: "The stored result is no longer available",
    413: "The body, a form field or the form is larger than its limit, or has too many fields",
    415: "The body's media type or the file's format is not one this route reads",
    422: "A parameter, a body field or an option is invalid, or the data cannot be used as asked",
    429: "Too many requests (see Retry-After), or the organisation's quota of running analyses is taken",
    503: "A service this route needs does not answer; try again later",
}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` of a route: these statuses, each with the error envelope."""
    return {status: {"model": ErrorEnvelope, "description": _MEANING[status]} for status in statuses}


def binary(description: str, *media_types: str) -> dict[str, Any]:
    """A response of files in these media types."""
    return {"description": description,
            "content": {media: {"schema": {"type": "string", "format": "binary"}} for media in media_types}}


def html(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"text/html": {"schema": {"type": "string"}}}}


def json_document(description: str) -> dict[str, Any]:
    """A stored JSON document answered as it is (no envelope), of several kinds."""
    return {"description": description, "content": {"application/json": {"schema": {"type": "object"}}}}


# ---- datasets and jobs ----

class DatasetView(_Answer):
    """One dataset: ``validation_status`` is ``failed`` when a validation rule of severity error is broken (the
    dataset is analysed all the same), ``warnings``, ``passed``, or null when the upload gave no rule."""

    dataset_id: str
    display_name: str = Field(description="The dataset's name, from the uploaded file's name (as in the list)")
    name: str = Field(description="The same as display_name, kept for the clients that read it; use display_name",
                      json_schema_extra={"deprecated": True})
    status: str = Field(description="uploaded, ingested, profiled, rejected, failed, deleting")
    size_bytes: int | None
    row_count: int | None
    columns: list[dict[str, Any]] | None = Field(description="Each column's name, type and ingest findings")
    quality_score: float | None
    error: dict[str, Any] | None = Field(description="Why the dataset was rejected or failed: code, message")
    validation_status: Literal["passed", "warnings", "failed"] | None
    validation: dict[str, Any] | None = Field(description="The counts and each validation rule's result")
    upload_job_id: str | None
    created_at: datetime
    updated_at: datetime


class DatasetItem(_Answer):
    dataset_id: str
    display_name: str
    status: str
    size_bytes: int | None
    row_count: int | None
    column_count: int | None
    quality_score: float | None
    validation_status: str | None
    owner_id: str | None
    created_at: datetime
    updated_at: datetime


class _Page(_Answer):
    total: int = Field(ge=0)
    limit: int
    offset: int


class DatasetPage(_Page):
    items: list[DatasetItem]


class UploadAccepted(_Answer):
    """The upload is stored and its job started (202: ingest has not given its verdict yet, or wait=false)."""

    dataset_id: str
    job_id: str
    status: str
    analysis_id: str | None = Field(description="The job id again when the upload also starts an analysis")


class UploadIngested(UploadAccepted):
    """Ingest accepted the file (201) while the upload waited."""

    dataset: DatasetView


class JobError(_Answer):
    code: str
    message: str | None


class JobView(_Answer):
    """Any job (upload, analysis, dashboard, comparison): status, stage and progress."""

    id: str
    kind: str = Field(description="upload, analysis, dashboard or comparison")
    dataset_id: str
    dataset_id_b: str | None
    status: str = Field(description="queued, running, completed, failed or cancelled")
    stage: str | None
    progress: float | None
    options: dict[str, Any] | None
    error: JobError | None
    dashboard_id: str | None
    model_id: str | None
    quality_score: float | None
    cancellation: dict[str, Any] | None = Field(description="Who cancelled it, and each stage's acknowledgement")
    created_at: datetime
    updated_at: datetime


class AnalysisView(JobView):
    results: AnalysisResult | None = Field(default=None, description="The analysis result, once completed")


class AnalysisStarted(_Answer):
    analysis_id: str
    status: Literal["queued"]


class ComparisonStarted(_Answer):
    job_id: str
    comparison_id: str
    status: Literal["queued"]


class DashboardStarted(_Answer):
    job_id: str
    status: Literal["queued"]


class DashboardMeta(_Answer):
    dashboard_id: str
    job_id: str
    dataset_id: str
    size_bytes: int | None
    has_pdf: bool
    created_at: datetime


class ReingestStarted(_Answer):
    dataset_id: str
    job_id: str
    status: str
    source_dataset_id: str


class ViewLink(_Answer):
    url: str = Field(description="Opens the dashboard without an Authorization header")
    expires_in: int = Field(description="Seconds")
    expires_at: int = Field(description="Unix time")


class DeletionService(_Answer):
    status: Literal["pending", "purged"]


class DeletionView(_Answer):
    deletion_id: str
    status: str
    reason: str
    dataset_sha256: str | None
    requested_at: datetime
    completed_at: datetime | None
    services: dict[str, DeletionService] = Field(description="Each service's erasure of the dataset")


# ---- models ----

class Metric(_Answer):
    name: str
    value: float | None


class ModelSummary(_Answer):
    model_id: str
    analysis_id: str
    dataset_id: str
    dataset_name: str | None
    target: str | None
    task: str | None
    best_model: str | None
    metric: Metric | None
    created_at: str


class ModelPage(_Page):
    items: list[ModelSummary]


class InputColumn(_Answer):
    name: str
    type: str


class ModelCard(ModelSummary):
    eval_metric: str | None
    features: list[str]
    input_columns: list[InputColumn]
    leaderboard: list[LeaderboardEntry]
    metrics: dict[str, Any]
    confusion_matrix: dict[str, Any] | None
    train_rows: int | None
    holdout_rows: int | None
    feature_importance: list[dict[str, Any]] | None
    shap_importance: list[dict[str, Any]] | None
    class_labels: list[str] | None
    example_rows: list[dict[str, Any]]
    available: bool = Field(description="False when the analysis result is no longer in the store")


# ---- identity ----

class TokenPair(_Answer):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"]
    expires_in: int


class LoggedOut(_Answer):
    logged_out: bool


class MeView(_Answer):
    user_id: str
    email: str
    role: str
    organization_id: str
    organization: str | None
    api_key_id: str | None
    permissions: list[str]


class UserView(_Answer):
    id: str
    email: str
    role: str
    organization: str | None
    organization_id: str
    disabled: bool
    created_at: datetime
    updated_at: datetime


class UserPage(_Page):
    items: list[UserView]


class UserDeleted(_Answer):
    id: str
    deleted: bool


class ApiKeyView(_Answer):
    id: str
    name: str
    role: str
    user_id: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None
    expires_at: datetime | None
    status: str = Field(description="active, expired or revoked")


class NewApiKey(_Answer):
    id: str
    name: str
    role: str
    key: str = Field(description="The secret, shown only in this answer")
    created_at: datetime
    expires_at: datetime | None


class ApiKeyList(_Answer):
    items: list[ApiKeyView]
    total: int


class AuditRow(_Answer):
    audit_id: int
    at: datetime
    request_id: str | None
    user_id: str | None
    api_key_id: str | None
    organization_id: str | None
    subject: str | None
    action: str
    target_id: str | None
    status: int
    client_ip: str | None


class AuditPage(_Page):
    items: list[AuditRow]


# ---- request bodies the routes read themselves ----

_JSON_OBJECT_TEXT = {"type": "string", "contentMediaType": "application/json"}

UPLOAD_BODY: dict[str, Any] = {"requestBody": {"required": True, "content": {"multipart/form-data": {
    "schema": {
        "type": "object", "required": ["file"],
        "properties": {
            "target": {"type": "string", "maxLength": 65536, "description": "Column to predict: starts an analysis"},
            "task": {"type": "string", "enum": list(get_args(AnalysisTask)),
                     "description": "The analysis task; a task other than auto starts an analysis"},
            "analyze": {"type": "string", "enum": ["true", "false"],
                        "description": "true starts an analysis without a target"},
            "options": {**_JSON_OBJECT_TEXT, "description": "A JSON object of AnalysisOptions: time_budget_s, "
                                                            "exclude_columns, id_columns, keep_columns..."},
            "ingest_options": {**_JSON_OBJECT_TEXT, "description": "A JSON object of IngestOptions: "
                                                                   "type_overrides, bad_rows..."},
            "wait": {"type": "string", "enum": ["true", "false"],
                     "description": "false answers 202 at once instead of waiting (bounded) for ingest's verdict"},
            "file": {"type": "string", "format": "binary", "description": "The table: CSV, Parquet, Arrow, Excel, "
                                                                          "JSON, NDJSON, or compressed CSV/JSON"},
        },
    },
    "encoding": {"file": {"contentType": "application/octet-stream"}},
}}}}
"""The upload's multipart form; the fields come before the file, as ``receive_upload`` reads them in order."""

_ROW = {"type": "object", "additionalProperties": True, "description": "One row: column name -> value"}

PREDICT_BODY: dict[str, Any] = {"requestBody": {"required": True, "content": {
    "text/csv": {"schema": {"type": "string", "description": "A header line and one line per row"}},
    "application/json": {"schema": {"oneOf": [
        {"type": "array", "items": _ROW, "minItems": 1},
        {"type": "object", "required": ["rows"], "properties": {"rows": {"type": "array", "items": _ROW,
                                                                         "minItems": 1}}},
    ]}},
}}}
"""The rows to predict: CSV text, or JSON rows (an array of objects, or ``{"rows": [...]}``)."""
