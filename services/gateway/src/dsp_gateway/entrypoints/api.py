"""The gateway REST API under /api/v1 and the WebSocket progress stream."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import shutil
import tempfile
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Header, Query, Request, WebSocket, WebSocketDisconnect
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from mesh_kit.artifacts import ArtifactNotFound, LocalArtifactStore, artifact_key
from mesh_kit.ports import UnitOfWork
from pydantic import BaseModel, Field, ValidationError
from shared_contracts import ArtifactRef
from shared_contracts.analysis import Predictions
from shared_contracts.compare import Comparison
from shared_contracts.errors import StageError, located_problems, require_target
from shared_contracts.events import (
    AnalysisOptions,
    AnalysisRequested,
    AnalysisTask,
    ComparisonRequested,
    DashboardRequested,
    IngestOptions,
)
from shared_contracts.profile import Profile
from starlette.background import BackgroundTask
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..adapters.deletions import GatewayRepository
from ..adapters.notifier import JobSubscription, SubscriptionLost
from ..adapters.predictor import PredictorUnavailable
from ..adapters.repository import OWNED_TABLES
from ..adapters.upload import UploadRejected, receive_upload
from ..domain.datasets import display_name
from ..domain.identity import Permission, Principal
from ..domain.jobs import TERMINAL, JobResults, cancelled_message
from ..domain.responses import error_body, success_body, success_json
from ..domain.sniff import check_upload_head
from ..ports import GatewayPorts, UnstorableValue, ports_of
from ..service_layer import deletion
from ..service_layer.cancellation import JobAlreadyEnded, cancel_job
from ..service_layer.export import OwnedData, export_archive
from ..service_layer.idempotency import Idempotency, IdempotencyKeyReused, IdempotencyKeyTaken, fingerprint
from ..service_layer.uploads import start_upload, wait_for_ingest_verdict
from .access import (
    Offset,
    check_analysis_quota,
    check_rate,
    dashboard_or_404,
    dataset_or_404,
    install_token_redaction,
    job_or_404,
    parse_id,
    websocket_principal,
)
from .documents import (
    PREDICT_BODY,
    UPLOAD_BODY,
    AnalysisStarted,
    AnalysisView,
    ComparisonStarted,
    DashboardMeta,
    DashboardStarted,
    DatasetPage,
    DatasetView,
    DeletionView,
    Envelope,
    JobView,
    UploadAccepted,
    UploadIngested,
    binary,
    errors,
)
from .errors import ApiError
from .security import requires

__all__ = ["add_routes"]

log = logging.getLogger(__name__)

DASHBOARD_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
                               "img-src data: blob:; font-src data:; connect-src 'none'; frame-ancestors 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "private, max-age=300",
}


WS_PROGRESS_UNAVAILABLE = 1011
PROGRESS_UNAVAILABLE = "Progress updates are unavailable; poll GET /api/v1/jobs/{job_id}."
"""The close reason of a progress stream whose notifications stopped (a WebSocket close reason holds 123 bytes)."""


def _rid(request: Request | WebSocket) -> str:
    return getattr(request.state, "request_id", None) or str(uuid.uuid4())


def ok(request: Request, data: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(success_body(data, request_id=_rid(request)), status_code=status)


def ok_json(request: Request, data_json: str, status: int = 200) -> Response:
    """``ok`` for data that is JSON text already (built by the database): sent as it is, never parsed."""
    return Response(success_json(data_json, request_id=_rid(request)), status_code=status,
                    media_type="application/json")


def _body_of(response: JSONResponse) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(bytes(response.body))
    return body


def error_response(request: Request, exc: ApiError) -> JSONResponse:
    """The error envelope of ``exc``, as every route answers it."""
    body = error_body([{"code": exc.code, "message": exc.message, "field": exc.field, "details": exc.details}],
                      request_id=_rid(request))
    return JSONResponse(body, status_code=exc.status, headers=exc.headers)


IDEMPOTENCY_KEY = Header(
    alias="Idempotency-Key", description=(
        "Any text of 1 to 255 printable ASCII characters that you choose per request (a UUID, say). A retry with "
        "the same key, from the same user, creates nothing new and gets the first response again (same status "
        "and body, with the header `Idempotent-Replayed: true`); while the first request is still working, the "
        "retry waits for its answer. The same key with another request answers 422 `idempotency_key_reused`. "
        "A request refused before it created anything (4xx) keeps nothing: it may be retried with its key. "
        "Keys expire after DSP_IDEMPOTENCY_TTL_S (24 h)."))


def _idempotency_key(header: str | None) -> str | None:
    if header is None:
        return None
    key = header.strip()
    if not 1 <= len(key) <= 255 or not key.isascii() or not key.isprintable():
        raise ApiError(422, "invalid_idempotency_key",
                       "The Idempotency-Key must be 1 to 255 printable ASCII characters.", field="Idempotency-Key")
    return key


def _idempotency(ports: GatewayPorts, principal: Principal, key: str | None, route: str,
                 sent: dict[str, Any]) -> Idempotency | None:
    if key is None:
        return None
    return Idempotency(owner_id=principal.user_id, key=key, route=route, fingerprint=fingerprint(route, sent),
                       ttl_s=ports.options.idempotency_ttl_s)


async def _replayed(ports: GatewayPorts, idempotency: Idempotency | None, *, wait_s: float = 0.0) -> JSONResponse | None:
    """The stored first response to the request's key, if there is one."""
    if idempotency is None:
        return None
    try:
        stored = await idempotency.replay(ports.storage, wait_s=wait_s)
    except IdempotencyKeyReused as exc:
        raise ApiError(422, "idempotency_key_reused",
                       "This Idempotency-Key was sent with another request; a new request needs a new key.",
                       field="Idempotency-Key") from exc
    if stored is None:
        return None
    return JSONResponse(stored.body, status_code=stored.status_code, headers={"Idempotent-Replayed": "true"})


async def _keyed(ports: GatewayPorts, principal: Principal, header: str | None, route: str,
                 sent: dict[str, Any]) -> tuple[Idempotency | None, JSONResponse | None]:
    """A JSON request's Idempotency-Key (None without the header) and the first response to it, if it has one."""
    idempotency = _idempotency(ports, principal, _idempotency_key(header), route, sent)
    return idempotency, await _replayed(ports, idempotency)


async def _replay_taken(ports: GatewayPorts, idempotency: Idempotency, *, wait_s: float) -> JSONResponse:
    """The response of the request that took the key first, which this one lost to (its own work rolled back)."""
    replayed = await _replayed(ports, idempotency, wait_s=wait_s)
    if replayed is None:  # held, then expired in between: not worth a second attempt
        raise ApiError(409, "idempotency_key_in_progress", "Another request with this Idempotency-Key is under way; "
                       "retry it in a moment.", field="Idempotency-Key", headers={"Retry-After": "1"})
    return replayed


async def _create_once(ports: GatewayPorts, idempotency: Idempotency | None, job_id: uuid.UUID, accepted: JSONResponse,
                       create: Callable[[UnitOfWork[GatewayRepository]], Awaitable[None]]) -> JSONResponse:
    """Run ``create`` in one transaction of job ``job_id``, the key's claim (with ``accepted``) first in it; the
    answer is ``accepted``, or the first response when another request with the key took it meanwhile."""
    try:
        async with ports.storage.write(job_id) as uow:
            if idempotency is not None:  # first: a concurrent twin waits here, then rolls back
                await idempotency.claim(uow.repo, accepted.status_code, _body_of(accepted), completed=True)
            await create(uow)
    except IdempotencyKeyTaken:
        assert idempotency is not None
        return await _replay_taken(ports, idempotency, wait_s=5)
    return accepted


def _spool_dir(ports: GatewayPorts, name: str = "spool") -> Path:
    """Where uploads (spool) and exports (export) are staged: beside the local store, else under /tmp."""
    store = ports.store
    spool = (store.root / f".{name}") if isinstance(store, LocalArtifactStore) else Path(f"/tmp/dsp-{name}")
    spool.mkdir(parents=True, exist_ok=True)
    return spool


class AnalyzeRequest(BaseModel):
    dataset_id: uuid.UUID
    target: str | None = Field(default=None, description="Column to predict")
    task: AnalysisTask | None = Field(default=None, description="The task to run (AnalysisOptions.task); auto "
                                      "detects it from the target and the data, any other value is final")
    options: dict[str, Any] = Field(default_factory=dict, description="AnalysisOptions fields besides target "
                                    "(time_budget_s, task, exclude_columns, id_columns, keep_columns...)")


class CompareRequest(BaseModel):
    dataset_id_a: uuid.UUID = Field(description="The reference dataset (last month's, or the training data)")
    dataset_id_b: uuid.UUID = Field(description="The dataset compared with it (this month's, or production data)")
    target: str | None = Field(default=None, description="Also check whether the relation of the features to this "
                               "column moved: a model trained on A, scored on A's holdout and on B")
    theme: Literal["light", "dark"] = Field(default="light", description="Colour theme of the comparison's dashboard")


class DashboardRequest(BaseModel):
    analysis_id: uuid.UUID
    pdf: bool = False
    theme: Literal["light", "dark"] = "light"


class ExportRequest(BaseModel):
    analysis_id: uuid.UUID | None = None
    dataset_id: uuid.UUID | None = None
    format: Literal["csv", "parquet", "html", "pdf", "zip", "profile", "analysis", "etl_report", "pipeline"] = "csv"


def _dataset_view(row: dict[str, Any]) -> dict[str, Any]:
    """A dataset as the API shows it. ``validation_status`` is ``failed`` when a validation rule of severity
    error is broken (the dataset failed validation, and is analysed all the same), ``warnings``, ``passed``,
    or None when the upload gave no rule; ``validation`` holds the counts and each rule's result."""
    validation = row.get("validation")
    return {
        "dataset_id": row["dataset_id"], "display_name": row["display_name"], "name": row["display_name"],
        "status": row["status"],
        "size_bytes": row["size_bytes"], "row_count": row.get("row_count"), "columns": row.get("columns"),
        "quality_score": row.get("quality_score"), "error": row.get("error"),
        "validation_status": validation.get("status") if isinstance(validation, dict) else None,
        "validation": validation,
        "upload_job_id": row.get("upload_job_id"), "created_at": row["created_at"], "updated_at": row["updated_at"],
    }


def _results(row: dict[str, Any]) -> JobResults:
    return JobResults.model_validate(row.get("results") or {})


def _job_view(row: dict[str, Any]) -> dict[str, Any]:
    results = _results(row)
    return {
        "id": row["job_id"], "kind": row["kind"], "dataset_id": row["dataset_id"],
        "dataset_id_b": row.get("dataset_id_b"), "status": row["status"],
        "stage": row.get("stage"), "progress": row.get("progress"), "options": row.get("options"),
        "error": {"code": row["error_code"], "message": row["error_message"]} if row.get("error_code") else None,
        "dashboard_id": _text(results.dashboard_id), "model_id": _text(results.model_id),
        "quality_score": results.quality_score,
        "cancellation": row.get("cancellation"),
        "created_at": row["created_at"], "updated_at": row["updated_at"],
    }


def _text(value: uuid.UUID | None) -> str | None:
    return None if value is None else str(value)


def _parse_json_field(fields: dict[str, str], name: str) -> dict[str, Any]:
    raw = fields.get(name)
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ApiError(422, "invalid_field", f"Field {name!r} is not valid JSON: {exc.msg}", field=name) from exc
    if not isinstance(value, dict):
        raise ApiError(422, "invalid_field", f"Field {name!r} must be a JSON object.", field=name)
    return value


def _check_budget(options: AnalysisOptions | None, limit: float) -> None:
    """An analysis holds its message while it runs: its budget must end well before the broker gives up."""
    if options is not None and options.time_budget_s > limit:
        raise ApiError(422, "invalid_options", f"time_budget_s may be at most {limit:g} seconds.",
                       field="options.time_budget_s")


def _upload_options(fields: dict[str, str]) -> tuple[IngestOptions, AnalysisOptions | None, bool]:
    try:
        ingest = IngestOptions.model_validate(_parse_json_field(fields, "ingest_options"))
        analysis_fields = _parse_json_field(fields, "options")
        if fields.get("target"):
            analysis_fields["target"] = fields["target"]
        if fields.get("task", "").strip():
            analysis_fields["task"] = fields["task"].strip()
        # naming a target or a task (other than auto) asks for the analysis as much as analyze=true does
        analyze = fields.get("analyze", "false").strip().lower() in ("1", "true", "yes", "on") or bool(
            fields.get("target")) or analysis_fields.get("task", "auto") != "auto"
        analysis = AnalysisOptions.model_validate(analysis_fields) if analyze else None
    except ValidationError as exc:
        raise _invalid_options(exc) from exc
    wait = fields.get("wait", "true").strip().lower() not in ("0", "false", "no", "off")
    return ingest, analysis, wait


def _invalid_options(exc: ValidationError, *, field: str | None = None) -> ApiError:
    """The 422 naming the first option refused (a rule across options, such as a task without a target, names none)."""
    first = exc.errors()[0]
    where = ".".join(map(str, first["loc"]))
    message = str(first["msg"]).removeprefix("Value error, ")
    return ApiError(422, "invalid_options", f"Invalid option {where}: {message}" if where else
                    f"Invalid options: {message}", field=field or where or "options")


async def _wait_for_ingest(ports: GatewayPorts, job_id: uuid.UUID, dataset_id: uuid.UUID, organization_id: uuid.UUID,
                           timeout_s: float) -> dict[str, Any] | None:
    """Wait until ingest accepted or rejected the upload; None when it is still working.

    The dataset and its event are committed by now, so nothing here may turn the answer into an error
    (a client would retry and upload a duplicate): any failure of the wait answers "still reading".
    """
    async def read_dataset() -> dict[str, Any] | None:
        async with ports.storage.read() as repo:
            return await repo.find_dataset(dataset_id, organization_id=organization_id)

    try:
        return await wait_for_ingest_verdict(ports.notifier, str(job_id), read_dataset,
                                             timeout_s=timeout_s)
    except Exception:
        log.exception("waiting for the ingest of job %s failed; answering that it is still reading", job_id)
        return None


def add_routes(app: FastAPI) -> None:
    router = APIRouter(prefix="/api/v1")
    reader = Depends(requires(Permission.READ))
    writer = Depends(requires(Permission.WRITE))
    install_token_redaction()

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return error_response(request, exc)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        # in plain words (shared_contracts.errors); a field of the body is named without "body"
        located = located_problems([{**e, "loc": e["loc"][1:] if e["loc"][:1] == ("body",) and len(e["loc"]) > 1
                                     else e["loc"]} for e in exc.errors()])
        errors = [{"code": "validation_error", "message": message, "field": field} for field, message in located]
        return JSONResponse(error_body(errors, request_id=_rid(request)), status_code=422)

    @app.exception_handler(UnstorableValue)
    async def unstorable(request: Request, exc: UnstorableValue) -> JSONResponse:
        body = error_body([{"code": "invalid_text", "message": str(exc)}], request_id=_rid(request))
        return JSONResponse(body, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONResponse(error_body([{"code": code, "message": str(exc.detail)}], request_id=_rid(request)),
                            status_code=exc.status_code)

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse(error_body([{"code": "internal_error", "message": "An internal error occurred."}],
                                       request_id=_rid(request)), status_code=500)

    @router.post("/upload", status_code=201, response_model=Envelope[UploadIngested], openapi_extra=UPLOAD_BODY,
                 responses={202: {"model": Envelope[UploadAccepted], "description": "Stored and started; ingest has "
                                  "not given its verdict yet (or wait=false)"},
                            **errors(400, 401, 403, 408, 409, 413, 415, 422, 429, 503)})
    async def upload(request: Request, principal: Principal = writer,
                     idempotency_key: Annotated[str | None, IDEMPOTENCY_KEY] = None) -> JSONResponse:
        """Stream a table (CSV, Parquet, Arrow, Excel, JSON, NDJSON, or compressed CSV/JSON) into the store and start its job. Waits (bounded) for ingest's verdict.

        The multipart form holds the part ``file`` and, before it, optional fields: ``target`` (column to
        predict), ``task`` (auto, binary, multiclass, regression, forecast or unsupervised), ``analyze``
        (true starts an analysis without a target), ``options`` (JSON AnalysisOptions: time_budget_s,
        exclude_columns, id_columns, keep_columns...), ``ingest_options`` (JSON IngestOptions:
        type_overrides, bad_rows...) and ``wait`` (false answers 202 at once). A target, or a task other
        than auto, starts an analysis after ingest.

        Answers: **201** with the dataset once ingest accepted the file within DSP_UPLOAD_WAIT_S (30 s);
        **202** with ``dataset_id`` and ``job_id`` (status ``uploaded``) when ingest has not answered by then,
        or its verdict cannot be awaited (Redis, which carries it, is down: the read model is then polled until
        the deadline), or with ``wait=false``: the upload is stored and its job runs, so do not send it again,
        poll ``GET /api/v1/jobs/{job_id}`` (or ``/datasets/{dataset_id}``) instead; **422** when ingest
        rejected the file. Once the dataset is committed the answer is one of those, never a 5xx, and with an
        ``Idempotency-Key`` a retry returns the first answer and stores nothing new.
        """
        ports = ports_of(request)
        options = ports.options
        sent_key = _idempotency_key(idempotency_key)
        await check_rate(ports, "uploads", principal, options.uploads_per_minute)
        limit = ports.max_upload_bytes
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limit + 64 * 1024:
            raise ApiError(413, "file_too_large", f"The upload is larger than the limit of {limit} bytes.",
                           field="file")
        store = ports.store
        spool = _spool_dir(ports)
        try:
            streamed = await receive_upload(request.headers.get("content-type", ""), request.stream(),
                                            spool_dir=spool, max_bytes=limit, max_fields=options.max_form_fields,
                                            max_form_bytes=options.max_form_bytes)
        except UploadRejected as exc:
            raise ApiError(exc.status, exc.code, exc.message, field=exc.field) from exc
        try:
            problem = check_upload_head(streamed.head, total_size=streamed.size)
            if problem is not None:
                raise ApiError(problem.status, problem.code, problem.message, field="file", details=problem.details)
            ingest, analysis, wait = _upload_options(streamed.fields)
            _check_budget(analysis, options.max_time_budget_s)
            idempotency = _idempotency(ports, principal, sent_key, "upload", {
                "sha256": streamed.sha256, "size": streamed.size, "filename": streamed.filename,
                "fields": streamed.fields})
            replayed = await _replayed(ports, idempotency, wait_s=options.upload_wait_s + 5)
            if replayed is not None:
                return replayed
            dataset_id, job_id = uuid.uuid4(), uuid.uuid4()
            key = artifact_key("datasets", dataset_id, "raw")
            if isinstance(store, LocalArtifactStore):
                raw = store.adopt_file(key, streamed.path, sha256=streamed.sha256,  # type: ignore[arg-type]
                                       media_type="text/csv")
            else:
                raw = await ports.async_store.put_file(key, streamed.path, media_type="text/csv")  # type: ignore[arg-type]
        finally:
            streamed.discard()
        name = display_name(streamed.filename)
        data: dict[str, Any] = {"dataset_id": str(dataset_id), "job_id": str(job_id), "status": "uploaded",
                                "analysis_id": str(job_id) if analysis else None}
        accepted = ok(request, data, 202)
        try:
            try:
                if analysis is not None:  # an upload that asks for its analysis starts one
                    await check_rate(ports, "analyses", principal, options.analyses_per_minute)

                async def first(repo: GatewayRepository) -> None:
                    if idempotency is not None:  # first: a concurrent twin waits here, then rolls back
                        await idempotency.claim(repo, 202, _body_of(accepted), completed=not wait)
                    if analysis is not None:
                        await check_analysis_quota(repo, principal, options.max_concurrent_analyses_per_org)

                await start_upload(ports.storage, dataset_id=dataset_id, job_id=job_id, raw=raw,
                                   display_name=name, ingest=ingest, analysis=analysis,
                                   organization_id=principal.organization_id, owner_id=principal.user_id, check=first)
            except Exception:
                await ports.async_store.delete(raw.key)
                raise
        except IdempotencyKeyTaken:
            assert idempotency is not None
            return await _replay_taken(ports, idempotency, wait_s=options.upload_wait_s + 5)
        if not wait:
            return accepted
        # committed: from here on every answer is 201, 202 or the ingest's 422, and it is the one a retry replays
        row = await _wait_for_ingest(ports, job_id, dataset_id, principal.organization_id, options.upload_wait_s)
        if row is None:
            response = accepted
        elif row["status"] in ("rejected", "failed"):
            error = row.get("error") or {}
            response = error_response(request, ApiError(
                422, error.get("code") or "ingest_failed", error.get("message") or "The file was rejected.",
                field="file", details={"dataset_id": str(dataset_id), **(error.get("details") or {})}))
        else:
            data.update(status=row["status"], dataset=_dataset_view(row))
            response = ok(request, data, 201)
        if idempotency is not None:
            await idempotency.complete(ports.storage, job_id, response.status_code, _body_of(response))
        return response

    @router.get("/datasets", response_model=Envelope[DatasetPage], responses=errors(401, 403, 422))
    async def list_datasets(request: Request, limit: Annotated[int, Query(ge=1, le=500)] = 50,
                            offset: Offset = 0,
                            q: Annotated[str | None, Query(max_length=255, description=(
                                "Only datasets whose name contains this text, ignoring case"))] = None,
                            principal: Principal = reader) -> Response:
        """The datasets of the caller's organisation, newest first; ``total`` counts those that match ``q``."""
        async with ports_of(request).storage.read() as repo:
            items, total = await repo.list_datasets_json(organization_id=principal.organization_id, limit=limit,
                                                         offset=offset, q=q)
        return ok_json(request, f'{{"items":{items},"total":{total},"limit":{limit},"offset":{offset}}}')

    @router.get("/datasets/{dataset_id}", response_model=Envelope[DatasetView], responses=errors(401, 403, 404, 422))
    async def get_dataset(request: Request, dataset_id: str, principal: Principal = reader) -> JSONResponse:
        """One dataset: its status, columns, quality score, or why it was rejected."""
        return ok(request, _dataset_view(await dataset_or_404(ports_of(request), dataset_id, principal)))

    @router.get("/datasets/{dataset_id}/profile", response_model=Profile,
                responses={200: {"description": "The Profile document as stored (no envelope)"},
                           **errors(401, 403, 404, 409, 422)})
    async def get_profile(request: Request, dataset_id: str, principal: Principal = reader) -> Response:
        """The dataset's latest profile document."""
        row = await dataset_or_404(ports_of(request), dataset_id, principal)
        if not row.get("profile"):
            raise ApiError(409, "not_ready", "The dataset has no profile yet.", field="dataset_id")
        body = await ports_of(request).async_store.read_bytes(ArtifactRef.model_validate(row["profile"]))
        return Response(body, media_type="application/json")

    @router.delete("/datasets/{dataset_id}", status_code=202, response_model=Envelope[DeletionView],
                   responses=errors(401, 403, 404, 422))
    async def delete_dataset(request: Request, dataset_id: str, principal: Principal = writer) -> JSONResponse:
        """Erase a dataset with its jobs, analyses, dashboards, models and exports, in every service. It answers
        404 at once; follow the erasure at /deletions/{deletion_id}."""
        started = await deletion.delete_dataset(ports_of(request), parse_id(dataset_id, "dataset_id"),
                                                reason="requested", organization_id=principal.organization_id)
        if started is None:
            raise ApiError(404, "not_found", f"No dataset has the id {dataset_id}.", field="dataset_id")
        return ok(request, started.record.view(), 202)

    @router.get("/deletions/{deletion_id}", response_model=Envelope[DeletionView], responses=errors(401, 403, 404, 422))
    async def get_deletion(request: Request, deletion_id: str, principal: Principal = reader) -> JSONResponse:
        """A deletion's progress: which services have erased the dataset, and when it completed."""
        async with ports_of(request).storage.read() as repo:
            record = await repo.get_deletion(parse_id(deletion_id, "deletion_id"),
                                             organization_id=principal.organization_id)
        if record is None:
            raise ApiError(404, "not_found", f"No deletion has the id {deletion_id}.", field="deletion_id")
        return ok(request, record.view())

    @router.post("/analyze", status_code=202, response_model=Envelope[AnalysisStarted],
                 responses=errors(400, 401, 403, 404, 408, 409, 413, 422, 429))
    async def analyze(request: Request, body: AnalyzeRequest, principal: Principal = writer,
                      idempotency_key: Annotated[str | None, IDEMPOTENCY_KEY] = None) -> JSONResponse:
        """Start an analysis of an ingested dataset; returns the analysis id to follow (202). The analysis is
        committed with its event before the answer, so 202 holds even when the broker or Redis is down (the
        event waits in the outbox); with an ``Idempotency-Key`` a retry gets the same analysis id."""
        ports = ports_of(request)
        idempotency, replayed = await _keyed(ports, principal, idempotency_key, "analyze", body.model_dump(mode="json"))
        if replayed is not None:
            return replayed
        row = await dataset_or_404(ports_of(request), str(body.dataset_id), principal)
        if row["status"] not in ("ingested", "profiled"):
            raise ApiError(409, "dataset_not_ready",
                           f"The dataset is {row['status']}; it can be analysed once it is ingested.",
                           field="dataset_id")
        try:
            require_target(body.target, [c["name"] for c in row.get("columns") or []])
        except StageError as exc:
            raise ApiError(422, exc.code, exc.message, field="target", details=exc.details) from exc
        try:
            chosen = {"task": body.task} if body.task is not None else {}
            options = AnalysisOptions.model_validate({**body.options, "target": body.target, **chosen})
        except ValidationError as exc:
            raise _invalid_options(exc, field="options") from exc
        _check_budget(options, ports.options.max_time_budget_s)
        await check_rate(ports, "analyses", principal, ports.options.analyses_per_minute)
        job_id = uuid.uuid4()

        async def create(uow: UnitOfWork[GatewayRepository]) -> None:
            await check_analysis_quota(uow.repo, principal, ports.options.max_concurrent_analyses_per_org)
            await uow.repo.insert_job(job_id=job_id, kind="analysis", dataset_id=body.dataset_id,
                                      options={"analysis": options.model_dump()},
                                      organization_id=principal.organization_id, owner_id=principal.user_id)
            await uow.emit(AnalysisRequested(
                dataset_id=body.dataset_id, parquet=ArtifactRef.model_validate(row["parquet"]),
                ingest_report=ArtifactRef.model_validate(row["ingest_report"]),
                analysis=options.model_copy(update={"requested_at": datetime.now(UTC)}),
                display_name=row.get("display_name")))

        return await _create_once(ports, idempotency, job_id,
                                  ok(request, {"analysis_id": str(job_id), "status": "queued"}, 202), create)

    @router.post("/compare", status_code=202, response_model=Envelope[ComparisonStarted],
                 responses=errors(400, 401, 403, 404, 408, 409, 413, 422, 429))
    async def compare(request: Request, body: CompareRequest, principal: Principal = writer,
                      idempotency_key: Annotated[str | None, IDEMPOTENCY_KEY] = None) -> JSONResponse:
        """Compare dataset B with dataset A (the reference): schema diff, per-column shift (PSI, KS, chi-square, new
        and missing levels), missingness, row counts and rows of B also in A, ranked findings in plain language,
        and with a target whether a model trained on A still holds on B. Both datasets must be profiled. Returns
        the job to follow; GET /jobs/{job_id}/comparison gives the document, the job's dashboard_id its dashboard.
        With an ``Idempotency-Key`` a retry gets the same comparison."""
        ports = ports_of(request)
        idempotency, replayed = await _keyed(ports, principal, idempotency_key, "compare", body.model_dump(mode="json"))
        if replayed is not None:
            return replayed
        rows: dict[str, dict[str, Any]] = {}
        for field, dataset_id in (("dataset_id_a", body.dataset_id_a), ("dataset_id_b", body.dataset_id_b)):
            async with ports.storage.read() as repo:
                row = await repo.find_dataset(dataset_id, organization_id=principal.organization_id)
            if row is None:  # another organisation's dataset reads as missing
                raise ApiError(404, "not_found", f"No dataset has the id {dataset_id}.", field=field)
            if row["status"] != "profiled" or not row.get("profile") or not row.get("parquet"):
                raise ApiError(409, "dataset_not_ready",
                               f"The dataset {row['display_name']!r} is {row['status']}; it can be compared once it "
                               "is profiled.", field=field)
            rows[field] = row
        a, b = rows["dataset_id_a"], rows["dataset_id_b"]
        if body.target is not None:
            for row in (a, b):
                columns = [c["name"] for c in row.get("columns") or []]
                if body.target not in columns:
                    raise ApiError(422, "target_not_found",
                                   f"The target column {body.target!r} must be in both datasets; "
                                   f"{row['display_name']!r} has no such column.", field="target",
                                   details={"target": body.target, "dataset_id": row["dataset_id"]})
        await check_rate(ports, "analyses", principal, ports.options.analyses_per_minute)
        job_id = uuid.uuid4()

        async def create(uow: UnitOfWork[GatewayRepository]) -> None:
            await uow.repo.insert_job(job_id=job_id, kind="comparison", dataset_id=body.dataset_id_a,
                                      dataset_id_b=body.dataset_id_b, options={"comparison": body.model_dump(mode="json")},
                                      organization_id=principal.organization_id, owner_id=principal.user_id)
            await uow.emit(ComparisonRequested(
                dataset_id=body.dataset_id_a, dataset_id_b=body.dataset_id_b, comparison_id=job_id,
                parquet_a=ArtifactRef.model_validate(a["parquet"]), parquet_b=ArtifactRef.model_validate(b["parquet"]),
                profile_a=ArtifactRef.model_validate(a["profile"]), profile_b=ArtifactRef.model_validate(b["profile"]),
                name_a=a.get("display_name"), name_b=b.get("display_name"), target=body.target, theme=body.theme))

        return await _create_once(ports, idempotency, job_id, ok(
            request, {"job_id": str(job_id), "comparison_id": str(job_id), "status": "queued"}, 202), create)

    @router.get("/jobs/{job_id}/comparison", response_model=Comparison,
                responses={200: {"description": "The Comparison document as stored (no envelope)"},
                           **errors(401, 403, 404, 409, 410, 422)})
    async def get_comparison(request: Request, job_id: str, principal: Principal = reader) -> Response:
        """A finished comparison's document (JSON ``Comparison``: schema diff, column shifts, row overlap, target
        shift, ranked findings); its dashboard is the job's dashboard_id, at /dashboard/{dashboard_id}."""
        row = await job_or_404(ports_of(request), job_id, principal, "job_id")
        if row["kind"] != "comparison":
            raise ApiError(404, "not_found", f"The job {job_id} is no comparison.", field="job_id")
        results = _results(row)
        if row["status"] != "completed" or results.comparison is None:
            raise ApiError(409, "comparison_not_ready", f"The comparison is {row['status']}; it has not completed.",
                           field="job_id")
        try:
            content = await ports_of(request).async_store.read_bytes(results.comparison)
        except ArtifactNotFound as exc:
            raise ApiError(410, "export_gone", "The stored comparison is no longer available.") from exc
        return Response(content, media_type="application/json")

    @router.get("/analysis/{analysis_id}", response_model=Envelope[AnalysisView], responses=errors(401, 403, 404, 422))
    async def get_analysis(request: Request, analysis_id: str, principal: Principal = reader) -> JSONResponse:
        """An analysis' status, stage and progress, and its results once complete."""
        row = await job_or_404(ports_of(request), analysis_id, principal)
        view = _job_view(row)
        results = _results(row)
        if row["status"] == "completed" and results.analysis_result is not None:
            view["results"] = await ports_of(request).async_store.read_json(results.analysis_result)
        return ok(request, view)

    @router.get("/jobs/{job_id}", response_model=Envelope[JobView], responses=errors(401, 403, 404, 422))
    async def get_job(request: Request, job_id: str, principal: Principal = reader) -> JSONResponse:
        """Any job (upload, analysis, dashboard): status, stage and progress."""
        return ok(request, _job_view(await job_or_404(ports_of(request), job_id, principal, "job_id")))

    @router.post("/jobs/{job_id}/cancel", status_code=202, response_model=Envelope[JobView],
                 responses=errors(401, 403, 404, 409, 422))
    async def cancel(request: Request, job_id: str, principal: Principal = writer,
                     idempotency_key: Annotated[str | None, IDEMPOTENCY_KEY] = None) -> JSONResponse:
        """Cancel one of your jobs (upload, analysis, dashboard) that has not ended: it ends at once as
        ``cancelled`` and every stage stops its work on it at its next step, recording nothing more. Each
        stage's acknowledgement (the step it stopped at, ``stopped_after_s``) then shows in the job's
        ``cancellation.stages``. An upload cancelled before its profile leaves its dataset ``failed`` with the
        code ``cancelled``. Another user's job answers 404; a job that has ended answers 409 ``job_not_running``,
        except to a retry with the ``Idempotency-Key`` of the request that cancelled it, which gets that 202 again."""
        ports = ports_of(request)
        idempotency, replayed = await _keyed(ports, principal, idempotency_key, "cancel", {"job_id": job_id})
        if replayed is not None:
            return replayed
        row = await job_or_404(ports, job_id, principal, "job_id")
        if str(row.get("owner_id")) != str(principal.user_id):
            raise ApiError(404, "not_found", f"No job has the id {job_id}.", field="job_id")

        async def claim(repo: GatewayRepository) -> None:  # the answer is the cancelled job, known at the end
            if idempotency is not None:
                await idempotency.claim(repo, 202, {}, completed=False)

        answered: list[JSONResponse] = []

        async def answer(repo: GatewayRepository, cancelled: dict[str, Any]) -> None:
            answered.append(ok(request, _job_view(cancelled), 202))
            if idempotency is not None:
                await idempotency.settle(repo, 202, _body_of(answered[0]))

        try:
            await cancel_job(ports.storage, ports.notifier, job_id=uuid.UUID(str(row["job_id"])),
                             requested_by=principal.user_id, check=claim, then=answer)
        except JobAlreadyEnded as exc:
            raise ApiError(409, "job_not_running", f"The job has ended already ({exc.status}); there is nothing "
                           "to cancel.", field="job_id", details={"status": exc.status}) from exc
        except IdempotencyKeyTaken:
            assert idempotency is not None
            return await _replay_taken(ports, idempotency, wait_s=5)
        return answered[0]

    @router.post("/dashboard", status_code=202, response_model=Envelope[DashboardStarted],
                 responses=errors(400, 401, 403, 404, 408, 409, 413, 422))
    async def request_dashboard(request: Request, body: DashboardRequest, principal: Principal = writer,
                                idempotency_key: Annotated[str | None, IDEMPOTENCY_KEY] = None) -> JSONResponse:
        """Re-render the dashboard of a finished analysis (another theme, or with its PDF); with an
        ``Idempotency-Key`` a retry gets the same dashboard job."""
        ports = ports_of(request)
        idempotency, replayed = await _keyed(ports, principal, idempotency_key, "dashboard", body.model_dump(mode="json"))
        if replayed is not None:
            return replayed
        job = await job_or_404(ports, str(body.analysis_id), principal)
        results = _results(job)
        if (job["status"] != "completed" or results.analysis_result is None or results.profile is None
                or results.cleaned_parquet is None):
            raise ApiError(409, "analysis_not_ready", "The analysis has not completed yet.", field="analysis_id")
        job_id = uuid.uuid4()
        dataset_id = uuid.UUID(job["dataset_id"])
        analysis_result, profile, cleaned = results.analysis_result, results.profile, results.cleaned_parquet

        async def create(uow: UnitOfWork[GatewayRepository]) -> None:
            await uow.repo.insert_job(job_id=job_id, kind="dashboard", dataset_id=dataset_id,
                                      options=body.model_dump(mode="json"), parent_job_id=body.analysis_id,
                                      organization_id=principal.organization_id, owner_id=principal.user_id)
            await uow.emit(DashboardRequested(
                dataset_id=dataset_id, analysis_result=analysis_result, profile=profile,
                etl_report=results.etl_report, cleaned_parquet=cleaned,
                typed_parquet=results.typed_parquet or results.parquet, pdf=body.pdf, theme=body.theme))

        return await _create_once(ports, idempotency, job_id,
                                  ok(request, {"job_id": str(job_id), "status": "queued"}, 202), create)

    @router.get("/dashboard/{dashboard_id}", response_model=Envelope[DashboardMeta],
                responses={200: {"description": "The dashboard's HTML page; its metadata (JSON) when the client "
                                 "accepts application/json and not text/html",
                                 "content": {"text/html": {"schema": {"type": "string"}}}},
                           **errors(401, 403, 404, 422)})
    async def get_dashboard(request: Request, dashboard_id: str, principal: Principal = reader) -> Response:
        """The dashboard HTML, or its metadata as JSON when the client accepts JSON."""
        row = await dashboard_or_404(ports_of(request), dashboard_id, principal.organization_id)
        accept = request.headers.get("accept", "")
        if "application/json" in accept and "text/html" not in accept:
            return ok(request, {"dashboard_id": row["dashboard_id"], "job_id": row["job_id"],
                                "dataset_id": row["dataset_id"], "size_bytes": row["html"]["size_bytes"],
                                "has_pdf": row.get("pdf") is not None, "created_at": row["created_at"]})
        html = await ports_of(request).async_store.read_bytes(ArtifactRef.model_validate(row["html"]))
        return Response(html, media_type="text/html; charset=utf-8", headers=DASHBOARD_HEADERS)

    @router.post("/export", response_class=Response,
                 responses={200: binary("The file of the format asked for", "text/csv", "application/vnd.apache.parquet",
                                        "text/html", "application/pdf", "application/zip", "application/json"),
                            **errors(400, 401, 403, 404, 408, 409, 410, 413, 422)})
    async def export(request: Request, body: ExportRequest, principal: Principal = reader) -> Response:
        """Download a result: cleaned data (csv, parquet), dashboard (html, pdf, zip) or a JSON document."""
        if body.analysis_id is None and body.dataset_id is None:
            raise ApiError(422, "validation_error", "Give analysis_id or dataset_id.", field="analysis_id")
        refs: dict[str, ArtifactRef | None] = {}
        if body.analysis_id is not None:
            job = await job_or_404(ports_of(request), str(body.analysis_id), principal)
            if job["status"] != "completed":
                raise ApiError(409, "analysis_not_ready", "The analysis has not completed yet.", field="analysis_id")
            results = _results(job)
            refs = {"csv": results.cleaned_csv, "parquet": results.cleaned_parquet, "html": results.dashboard_html,
                    "pdf": results.dashboard_pdf, "zip": results.dashboard_zip, "profile": results.profile,
                    "analysis": results.analysis_result, "etl_report": results.etl_report,
                    "pipeline": results.pipeline}
        else:
            row = await dataset_or_404(ports_of(request), str(body.dataset_id), principal)
            refs = {name: ArtifactRef.model_validate(row[name]) if row.get(name) else None
                    for name in ("parquet", "profile")}
        ref = refs.get(body.format)
        if ref is None:
            hint = " Request the dashboard again with pdf=true." if body.format == "pdf" else ""
            raise ApiError(409, "export_unavailable", f"No {body.format} export exists for this request.{hint}",
                           field="format")
        try:
            content = await ports_of(request).async_store.read_bytes(ref)
        except ArtifactNotFound as exc:
            raise ApiError(410, "export_gone", "The stored result is no longer available.") from exc
        name = {"csv": "cleaned.csv", "parquet": "cleaned.parquet", "html": "dashboard.html", "pdf": "report.pdf",
                "zip": "dashboard.zip", "profile": "profile.json", "analysis": "analysis.json",
                "etl_report": "etl-report.json", "pipeline": "pipeline.json"}[body.format]
        media = {"csv": "text/csv", "parquet": "application/vnd.apache.parquet", "html": "text/html",
                 "pdf": "application/pdf", "zip": "application/zip"}.get(body.format, "application/json")
        return Response(content, media_type=media,
                        headers={"Content-Disposition": f'attachment; filename="{name}"',
                                 "X-Content-Type-Options": "nosniff"})

    @router.post("/models/{model_id}/predict", response_model=Envelope[Predictions], openapi_extra=PREDICT_BODY,
                 responses=errors(400, 401, 403, 404, 408, 409, 410, 413, 422, 503))
    async def predict(request: Request, model_id: str, principal: Principal = writer,
                      explain: Annotated[bool, Query(description="SHAP values of every row")] = False,
                      strict: Annotated[bool, Query(description="Refuse columns the model does not take (422 "
                                                                "unknown_columns) instead of ignoring them with "
                                                                "a warning")] = False) -> Response:
        """Predict with a registered model on JSON rows or a CSV file; the ml service checks the rows (422
        missing_columns, unparseable_values; unknown columns in warnings) and applies the ETL pipeline."""
        ports = ports_of(request)
        model_uuid = parse_id(model_id, "model_id")
        async with ports.storage.read() as repo:
            model = await repo.find_model(model_uuid, organization_id=principal.organization_id)
        if model is None:  # another organisation's model reads as missing, and never reaches ml
            raise ApiError(404, "not_found", f"No model has the id {model_id}.", field="model_id")
        try:
            answer = await ports.predictor.predict(model_uuid, content_type=request.headers.get("content-type", ""),
                                                   body=await request.body(), explain=explain,
                                                   request_id=_rid(request), strict=strict)
        except PredictorUnavailable as exc:
            raise ApiError(503, "ml_unavailable", str(exc)) from exc
        payload = answer.body
        if answer.status >= 500:  # ml failed: an answer the route documents, ml's own in the log
            log.warning("the ml service answered a prediction with %s (%s)", answer.status,
                        payload.get("error", {}).get("code", "no error code"))
            raise ApiError(503, "ml_unavailable", "The ml service could not make this prediction; try again in a "
                                                  "moment.")
        if answer.status >= 400:
            error = payload.get("error", {})
            raise ApiError(answer.status, error.get("code", "prediction_failed"),
                           error.get("message", "Prediction failed."), field=error.get("field"),
                           details=error.get("details"))
        return ok(request, payload)

    @router.get("/me/export", response_class=Response,
                responses={200: binary("The caller's account, datasets, jobs, dashboards and models",
                                       "application/zip"), **errors(401, 403)})
    async def export_my_data(request: Request, principal: Principal = reader) -> Response:
        """Everything the caller owns, as one zip (data portability); the layout is in manifest.json and
        in dsp_gateway.service_layer.export."""
        ports = ports_of(request)
        owned = OwnedData()
        async with ports.storage.read() as repo:
            for table in OWNED_TABLES:
                setattr(owned, table, await repo.owned_rows(table, owner_id=principal.user_id,
                                                            organization_id=principal.organization_id))
        directory = Path(tempfile.mkdtemp(prefix="dsp-export-", dir=_spool_dir(ports, "export")))
        try:
            archive = await asyncio.to_thread(export_archive, ports.store, principal, owned, directory)
        except BaseException:
            shutil.rmtree(directory, ignore_errors=True)
            raise
        stamp = datetime.now(UTC).strftime("%Y%m%d")
        return FileResponse(archive, media_type="application/zip", filename=f"dsp-export-{stamp}.zip",
                            headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"},
                            background=BackgroundTask(shutil.rmtree, directory, ignore_errors=True))

    @router.websocket("/ws")
    async def progress_stream(websocket: WebSocket, job_id: str = "") -> None:
        """Stream one job's progress: upload.progress, analysis.started/progress/completed, dashboard.ready,
        error.occurred. The first message is a snapshot of the job.

        Authenticated with the access token (or an API key) in the ``token`` query parameter, or as the
        subprotocol pair ``bearer, <token>``. A browser ``Origin`` outside DSP_ALLOWED_ORIGINS is refused
        before the handshake (HTTP 403); a missing or bad token closes with 4401, and a job that is not
        the caller's organisation's closes with 4404, exactly like a missing one.

        When the progress notifications are unavailable (Redis down, or its connection lost while
        streaming), the stream sends the snapshot, then an ``error.occurred`` of code
        ``progress_unavailable``, and closes with 1011 and the reason "Progress updates are unavailable;
        poll GET /api/v1/jobs/{job_id}." The job itself goes on: poll it."""
        ports = ports_of(websocket)
        principal, subprotocol = await websocket_principal(websocket, ports)
        if principal is None:
            return
        await websocket.accept(subprotocol=subprotocol)
        try:
            job_uuid = uuid.UUID(job_id)
        except ValueError:
            await websocket.send_json({"type": "error.occurred", "code": "invalid_job_id",
                                       "message": "Connect with ?job_id=<id of an upload or analysis>."})
            await websocket.close(code=4400)
            return
        try:
            async with contextlib.AsyncExitStack() as stack:
                subscription: JobSubscription | None = None
                lost = SubscriptionLost(f"no subscription to job {job_id}")
                try:  # subscribed before the snapshot: nothing falls in between
                    subscription = await stack.enter_async_context(ports.notifier.subscribe(job_id))
                except SubscriptionLost as exc:
                    lost = exc  # the snapshot is still sent: the client learns where the job stands
                async with ports.storage.read() as repo:
                    job = await repo.find_job(job_uuid, organization_id=principal.organization_id)
                if job is None:
                    await websocket.send_json({"type": "error.occurred", "code": "not_found",
                                               "message": f"No job has the id {job_id}."})
                    await websocket.close(code=4404)
                    return
                await websocket.send_json({"type": "job.snapshot", **_job_view(job)})
                if job["status"] in TERMINAL:
                    await _send_terminal(websocket, job)
                    await websocket.close()
                    return
                if subscription is None:
                    raise lost
                async for message in subscription:
                    await websocket.send_json(message)
                    if message.get("status") in TERMINAL:
                        await websocket.close()
                        return
        except WebSocketDisconnect:
            return
        except SubscriptionLost as exc:
            log.warning("progress stream of job %s lost its notifications: %s", job_id, exc)
            await websocket.send_json({"type": "error.occurred", "job_id": job_id, "code": "progress_unavailable",
                                       "message": PROGRESS_UNAVAILABLE})
            await websocket.close(code=WS_PROGRESS_UNAVAILABLE, reason=PROGRESS_UNAVAILABLE)

    async def _send_terminal(websocket: WebSocket, job: dict[str, Any]) -> None:
        results = _results(job)
        if job["status"] == "cancelled":
            await websocket.send_json(cancelled_message(job))
        elif job["status"] == "failed":
            await websocket.send_json({"type": "error.occurred", "job_id": job["job_id"], "status": "failed",
                                       "code": job.get("error_code"), "message": job.get("error_message")})
        elif results.dashboard_id is not None:
            await websocket.send_json({"type": "dashboard.ready", "job_id": job["job_id"], "status": "completed",
                                       "dashboard_id": str(results.dashboard_id), "progress": 1.0})

    app.include_router(router)
