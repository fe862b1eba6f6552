"""Routes the web UI needs besides the REST API's: signed dashboard view links, a dataset's ingest report,
and re-ingesting a stored upload with other column types.

- ``POST /api/v1/dashboard/{id}/view-link`` (authenticated) answers a URL under ``/api/v1/views/`` that opens
  that dashboard for a few minutes without an Authorization header: an iframe's src or a link opened in a
  new tab cannot send one. The link is signed (domain.view_links), scoped to the caller's organisation and
  to that dashboard; the page keeps the dashboard's own CSP and ``Referrer-Policy: no-referrer``, so the
  token never leaves in a Referer.
- ``GET /api/v1/views/dashboards/{id}?token=`` is that link; it is public (the token is the credential),
  and the token sits in the query string, which the access log redacts.
- ``GET /api/v1/datasets/{id}/ingest-report``: how the file was read, its per-column report and the results
  of its validation rules.
- ``POST /api/v1/datasets/{id}/reingest``: a new dataset from the stored raw file of this one, read again
  with the given type overrides (and the same other reading options), as a new upload job; with an
  ``Idempotency-Key`` a retry gets the same new dataset and job.
"""

from __future__ import annotations

import logging
import tempfile
import uuid
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.responses import JSONResponse, Response
from mesh_kit.artifacts import ArtifactNotFound, artifact_key
from pydantic import BaseModel, Field, ValidationError
from shared_contracts import ArtifactRef
from shared_contracts.events import IngestOptions
from shared_contracts.ingest import IngestReport, SemanticType

from ..adapters.deletions import GatewayRepository
from ..domain.identity import Permission, Principal
from ..domain.view_links import VIEW_LINK_TTL_S, ViewLinkRejected, issue_view_token, verify_view_token
from ..ports import ports_of
from ..service_layer.idempotency import IdempotencyKeyTaken
from ..service_layer.uploads import start_upload
from .access import check_rate, dashboard_or_404, dataset_or_404, parse_id
from .api import DASHBOARD_HEADERS, IDEMPOTENCY_KEY, _body_of, _keyed, _replay_taken, ok
from .documents import Envelope, ReingestStarted, ViewLink, errors, html
from .errors import ApiError
from .security import requires

__all__ = ["VIEWS_PREFIX", "add_view_routes"]

log = logging.getLogger(__name__)

VIEWS_PREFIX = "/api/v1/views/"


class ReingestRequest(BaseModel):
    type_overrides: dict[str, SemanticType] = Field(
        default_factory=dict, description="Column name -> semantic type that replaces the inferred one",
        examples=[{"Sample Number": "identifier", "Date Egg": "date"}])


def add_view_routes(app: FastAPI) -> None:
    router = APIRouter(prefix="/api/v1")
    reader = Depends(requires(Permission.READ))
    writer = Depends(requires(Permission.WRITE))

    @router.post("/dashboard/{dashboard_id}/view-link", response_model=Envelope[ViewLink],
                 responses=errors(401, 403, 404, 422))
    async def dashboard_view_link(request: Request, dashboard_id: str, principal: Principal = reader) -> JSONResponse:
        """A URL that opens this dashboard for five minutes without an Authorization header (for an iframe or a
        new tab): signed, and valid for this dashboard of the caller's organisation only."""
        ports = ports_of(request)
        dashboard_uuid = parse_id(dashboard_id, "dashboard_id")
        await dashboard_or_404(ports, dashboard_id, principal.organization_id)
        link = issue_view_token(ports.identity.ring, dashboard_uuid, principal.organization_id)
        url = f"{VIEWS_PREFIX}dashboards/{dashboard_uuid}?token={link.token}"
        return ok(request, {"url": url, "expires_in": VIEW_LINK_TTL_S, "expires_at": link.expires_at})

    @router.get("/views/dashboards/{dashboard_id}", response_class=Response,
                responses={200: html("The dashboard's HTML page"), **errors(403, 404, 410, 422)})
    async def dashboard_view(request: Request, dashboard_id: str,
                             token: str = Query(default="", description="The token of a view link")) -> Response:
        """The dashboard page a view link opens (from POST /dashboard/{id}/view-link); no Authorization header.
        A missing, tampered, expired or other dashboard's token answers 403."""
        ports = ports_of(request)
        dashboard_uuid = parse_id(dashboard_id, "dashboard_id")
        try:
            organization_id = verify_view_token(ports.identity.ring, token, dashboard_uuid)
        except ViewLinkRejected as exc:
            log.info("dashboard view link refused: %s", exc.reason)
            raise ApiError(403, "invalid_link", "This dashboard link is invalid or has expired; open the dashboard "
                                                "again from its analysis page.", field="token") from None
        row = await dashboard_or_404(ports, dashboard_id, organization_id)
        try:
            html = await ports.async_store.read_bytes(ArtifactRef.model_validate(row["html"]))
        except ArtifactNotFound as exc:
            raise ApiError(410, "export_gone", "The stored dashboard is no longer available.") from exc
        return Response(html, media_type="text/html; charset=utf-8",
                        headers={**DASHBOARD_HEADERS, "Cache-Control": "private, no-store"})

    @router.get("/datasets/{dataset_id}/ingest-report", response_model=IngestReport,
                responses={200: {"description": "The IngestReport document as stored (no envelope)"},
                           **errors(401, 403, 404, 409, 410, 422)})
    async def ingest_report(request: Request, dataset_id: str, principal: Principal = reader) -> Response:
        """How the file was read (dialect, header, per-column types and issues, bad rows) and the results of
        its validation rules: the JSON IngestReport."""
        row = await dataset_or_404(ports_of(request), dataset_id, principal)
        if not row.get("ingest_report"):
            raise ApiError(409, "not_ready", "The dataset has no ingest report yet.", field="dataset_id")
        try:
            body = await ports_of(request).async_store.read_bytes(ArtifactRef.model_validate(row["ingest_report"]))
        except ArtifactNotFound as exc:
            raise ApiError(410, "export_gone", "The stored ingest report is no longer available.") from exc
        return Response(body, media_type="application/json")

    @router.post("/datasets/{dataset_id}/reingest", status_code=202, response_model=Envelope[ReingestStarted],
                 responses=errors(400, 401, 403, 404, 408, 409, 410, 413, 422, 429))
    async def reingest(request: Request, dataset_id: str, body: ReingestRequest, principal: Principal = writer,
                       idempotency_key: Annotated[str | None, IDEMPOTENCY_KEY] = None) -> JSONResponse:
        """Read the stored file of this dataset again, with these column types: a new dataset and upload job
        (the same reading options otherwise). Follow the job like an upload's. With an ``Idempotency-Key`` a
        retry gets the same dataset and job, and nothing new is stored."""
        ports = ports_of(request)
        idempotency, replayed = await _keyed(ports, principal, idempotency_key, "reingest",
                                             {"dataset_id": dataset_id, **body.model_dump(mode="json")})
        if replayed is not None:
            return replayed
        row = await dataset_or_404(ports_of(request), dataset_id, principal)
        known = {c["name"] for c in row.get("columns") or []}
        unknown = sorted(set(body.type_overrides) - known) if known else []
        if unknown:
            raise ApiError(422, "unknown_column", f"The dataset has no column named {', '.join(map(repr, unknown))}.",
                           field="type_overrides", details={"columns": unknown})
        await check_rate(ports, "uploads", principal, ports.options.uploads_per_minute)
        async with ports.storage.read() as repo:
            job = await repo.find_job(uuid.UUID(str(row["upload_job_id"])), organization_id=principal.organization_id)
        previous = ((job or {}).get("options") or {}).get("ingest") or {}
        try:
            ingest = IngestOptions.model_validate({**previous, "type_overrides": dict(body.type_overrides)})
        except ValidationError as exc:  # options of an older contract: keep only the overrides
            log.info("re-ingest of %s drops the upload's options that no longer validate: %s", dataset_id, exc)
            ingest = IngestOptions(type_overrides=dict(body.type_overrides))
        new_dataset, job_id = uuid.uuid4(), uuid.uuid4()
        store = ports.async_store
        source = ArtifactRef.model_validate(row["raw"])
        with tempfile.TemporaryDirectory(prefix="dsp-reingest-") as directory:
            copy = Path(directory) / "raw"
            try:
                await store.fetch_to(source, copy)
            except ArtifactNotFound as exc:
                raise ApiError(410, "export_gone", "The stored file of this dataset is no longer available.") from exc
            raw = await store.put_file(artifact_key("datasets", new_dataset, "raw"), copy,
                                       media_type=source.media_type or "text/csv")
        accepted = ok(request, {"dataset_id": str(new_dataset), "job_id": str(job_id), "status": "uploaded",
                                "source_dataset_id": str(row["dataset_id"])}, 202)

        async def claim(repo: GatewayRepository) -> None:  # first: a concurrent twin waits here, then rolls back
            if idempotency is not None:
                await idempotency.claim(repo, 202, _body_of(accepted), completed=True)

        try:
            try:
                await start_upload(ports.storage, dataset_id=new_dataset, job_id=job_id, raw=raw,
                                   display_name=row["display_name"], ingest=ingest, analysis=None,
                                   organization_id=principal.organization_id, owner_id=principal.user_id,
                                   check=claim, noted={"reingest_of": str(row["dataset_id"])})
            except Exception:
                await store.delete(raw.key)
                raise
        except IdempotencyKeyTaken:
            assert idempotency is not None
            return await _replay_taken(ports, idempotency, wait_s=5)
        return accepted

    app.include_router(router)
