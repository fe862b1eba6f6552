"""Identity over HTTP: /auth/* (tokens), /users, /api-keys, /me, /audit, and the audit-log middleware."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.responses import JSONResponse
from fastapi.security import OAuth2PasswordRequestForm
from mesh_kit.service import ResponseStatus
from pydantic import BaseModel, Field
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..adapters.identity import IdentityRepository
from ..adapters.limits import RetryAfter
from ..domain.accounts import AuditEntry, UserRecord
from ..domain.identity import Permission, Principal, Role
from ..domain.passwords import normalize_email
from ..domain.responses import success_body
from ..ports import ports_of
from ..service_layer import identity
from .access import Offset
from .documents import (
    ApiKeyList,
    ApiKeyView,
    AuditPage,
    Envelope,
    LoggedOut,
    MeView,
    NewApiKey,
    OAuthError,
    TokenPair,
    UserDeleted,
    UserPage,
    UserView,
    errors,
)
from .errors import ApiError
from .security import WWW_AUTHENTICATE, client_ip, current_principal, not_authenticated, requires

__all__ = ["add_identity_routes"]

log = logging.getLogger(__name__)
T = TypeVar("T")

STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_STATUS: dict[type[identity.IdentityFailure], int] = {
    identity.NotAuthenticated: 401, identity.InvalidCredentials: 401, identity.InvalidGrant: 401,
    identity.Forbidden: 403, identity.NotFound: 404, identity.Conflict: 409, identity.Invalid: 422,
}
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class RefreshRequest(BaseModel):
    refresh_token: str = Field(min_length=1, max_length=512)


class UserCreate(BaseModel):
    email: str = Field(max_length=254)
    password: str = Field(max_length=1024)
    role: Role
    organization: str | None = Field(default=None, description="The organization's name; only your own")


class UserUpdate(BaseModel):
    role: Role | None = None
    disabled: bool | None = None
    password: str | None = Field(default=None, max_length=1024)


class ApiKeyCreate(BaseModel):
    name: str = Field(max_length=200)
    role: Role | None = Field(default=None, description="At most your own role; yours when left out")
    expires_at: datetime | None = Field(default=None, description="When the key stops working (ISO 8601, future; "
                                                                  "UTC without a zone); never when left out")


def _ok(request: Request, data: Any, status: int = 200, headers: dict[str, str] | None = None) -> JSONResponse:
    rid = getattr(request.state, "request_id", None) or str(uuid.uuid4())
    return JSONResponse(success_body(data, request_id=rid), status_code=status, headers=headers)


def _api_error(exc: identity.IdentityFailure) -> ApiError:
    status = _STATUS.get(type(exc), 400)
    if status == 401:
        error = "invalid_token" if isinstance(exc, identity.NotAuthenticated) else None
        failure = not_authenticated(exc.message, error=error)
        failure.code = exc.code
        return failure
    return ApiError(status, exc.code, exc.message, field=exc.field)


async def _run(request: Request, use_case: Callable[[IdentityRepository], Awaitable[T]]) -> T:
    """Run a use case in one transaction; its failure becomes the HTTP answer (after committing, if it says so)."""
    failure: identity.IdentityFailure | None = None
    async with ports_of(request).storage.identity() as repo:
        try:
            return await use_case(repo)
        except identity.IdentityFailure as exc:
            if not exc.keep_changes:
                raise _api_error(exc) from None
            failure = exc
    raise _api_error(failure)


def _id(value: str, field: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise ApiError(404, "not_found", f"No {field.removesuffix('_id').replace('_', ' ')} has the id {value!r}.",
                       field=field) from None


def _oauth_error(status: int, error: str, description: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status_code=status,
                        headers={**_NO_STORE, **(headers or {})})


def _remember(request: Request, *, user: UserRecord | None = None, subject: str | None = None,
              target: str | None = None) -> None:
    """What the audit row of this request says beyond the principal (a login has none yet)."""
    if user is not None:
        request.state.audit_user = user
    if subject is not None:
        request.state.audit_subject = subject
    if target is not None:
        request.state.audit_target = target


class _Around:
    """A plain ASGI middleware that runs ``around(scope, receive, send, app)`` (``@app.middleware("http")`` would run
    every request in a task of its own, for about a millisecond of CPU each)."""

    def __init__(self, app: ASGIApp, *, around: Callable[[Scope, Receive, Send, ASGIApp], Awaitable[None]]) -> None:
        self.app, self.around = app, around

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.around(scope, receive, send, self.app)


def add_identity_routes(app: FastAPI) -> None:
    router = APIRouter(prefix="/api/v1")

    async def audit_log(scope: Scope, receive: Receive, send: Send, inner: ASGIApp) -> None:
        """Every state-changing call leaves one append-only row: who, what, when, request id, outcome. The row is
        written before the answer's last part is sent: a client that read the answer finds its row."""
        if scope["type"] != "http" or scope["method"] not in STATE_CHANGING:
            await inner(scope, receive, send)
            return
        answer = ResponseStatus(send)
        written = False

        async def send_once_audited(message: Message) -> None:
            nonlocal written
            if message["type"] == "http.response.body" and not message.get("more_body", False) and not written:
                written = True
                await _write_audit(Request(scope), answer.status)
            await answer.send(message)

        try:
            await inner(scope, receive, send_once_audited)
        finally:
            if not written:  # no answer was sent (an exception escaped)
                await _write_audit(Request(scope), answer.status)

    app.add_middleware(_Around, around=audit_log)

    async def _write_audit(request: Request, status: int) -> None:
        state = request.state
        principal: Principal | None = getattr(state, "principal", None)
        user: UserRecord | None = getattr(state, "audit_user", None)
        route = request.scope.get("route")
        path_params = request.scope.get("path_params") or {}
        target = getattr(state, "audit_target", None) or next((str(v) for v in path_params.values()), None)
        entry = AuditEntry(
            action=f"{request.method} {getattr(route, 'path', request.url.path)}"[:300], status=status,
            request_id=getattr(state, "request_id", None),
            user_id=principal.user_id if principal else user.user_id if user else None,
            api_key_id=principal.api_key_id if principal else None,
            organization_id=principal.organization_id if principal else user.organization_id if user else None,
            subject=getattr(state, "audit_subject", None) or (principal.email if principal else None),
            target_id=target[:200] if target else None, client_ip=client_ip(request))
        try:
            async with ports_of(request).storage.identity() as repo:
                await identity.record_audit(repo, entry)
        except Exception:
            log.exception("could not write the audit row of %s (status %s)", entry.action, status)

    @router.post("/auth/token", tags=["auth"], response_model=TokenPair,
                 responses={200: {"description": "RFC 6749's token answer (no envelope)"},
                            401: {"model": OAuthError, "description": "Wrong credentials"},
                            429: {"model": OAuthError, "description": "Too many failed logins (see Retry-After)"},
                            503: {"model": OAuthError, "description": "The failed-login limit cannot be checked "
                                  "(Redis down): try again (see Retry-After)"},
                            **errors(400, 408, 413, 422)})
    async def token(request: Request, form: Annotated[OAuth2PasswordRequestForm, Depends()]) -> JSONResponse:
        """OAuth2 password grant (form fields `username`, `password`). Answers RFC 6749's bare
        `{access_token, refresh_token, token_type, expires_in}`; errors are `{error, error_description}`."""
        ports = ports_of(request)
        limiter = ports.limiter
        limit = ports.options.login_limit
        email = normalize_email(form.username)[:320]
        _remember(request, subject=email[:254])
        keys = (f"login:user:{email}", f"login:ip:{client_ip(request)}")
        for key in keys:
            try:
                blocked: RetryAfter | None = await limiter.check(key, limit)
            except Exception as exc:  # the failed-login limit cannot be counted (Redis down): refuse, do not guess
                log.warning("login refused: its rate limit cannot be checked: %r", exc)
                return _oauth_error(503, "temporarily_unavailable",
                                    "Signing in is unavailable for a moment; try again shortly.", {"Retry-After": "5"})
            if blocked is not None:
                return _oauth_error(429, "too_many_requests",
                                    f"Too many failed logins; try again in {blocked.seconds} seconds.",
                                    {"Retry-After": str(blocked.seconds)})
        try:
            pair = await identity.login(ports.storage.identity, ports.identity, email=email,
                                        password=form.password)
        except identity.InvalidCredentials as failed:
            if failed.user is not None:
                _remember(request, user=failed.user)
            for key in keys:
                await limiter.hit(key, limit)
            return _oauth_error(401, "invalid_grant", "Wrong e-mail address or password.",
                                {"WWW-Authenticate": WWW_AUTHENTICATE})
        _remember(request, user=pair.user, target=str(pair.user.user_id))
        await limiter.reset(keys[0], limit)
        return JSONResponse(pair.oauth(), headers=_NO_STORE)

    @router.post("/auth/refresh", tags=["auth"], response_model=Envelope[TokenPair], responses=errors(400, 401, 408, 413, 422))
    async def refresh(request: Request, body: RefreshRequest) -> JSONResponse:
        """Rotate the pair: the refresh token is used up. Using one twice ends its whole session (401)."""
        config = ports_of(request).identity
        pair = await _run(request, lambda repo: identity.refresh(repo, config,
                                                                 refresh_token=body.refresh_token))
        _remember(request, user=pair.user)
        return _ok(request, pair.oauth(), headers=_NO_STORE)

    @router.post("/auth/logout", tags=["auth"], response_model=Envelope[LoggedOut], responses=errors(400, 401, 408, 413, 422))
    async def logout(request: Request, body: RefreshRequest) -> JSONResponse:
        """End the session of this refresh token (its whole family). Access tokens run out on their own."""
        await _run(request, lambda repo: identity.logout(repo, refresh_token=body.refresh_token))
        return _ok(request, {"logged_out": True})

    @router.get("/me", tags=["auth"], response_model=Envelope[MeView], responses=errors(401))
    async def me(request: Request, principal: Annotated[Principal, Depends(current_principal)]) -> JSONResponse:
        """Who the caller is: user, organization, role, and whether an API key speaks for them."""
        user = await _run(request, lambda repo: repo.user(principal.user_id))
        return _ok(request, {
            "user_id": str(principal.user_id), "email": principal.email, "role": principal.role,
            "organization_id": str(principal.organization_id),
            "organization": user.organization_name if user else None,
            "api_key_id": str(principal.api_key_id) if principal.api_key_id else None,
            "permissions": sorted(p.value for p in Permission if principal.can(p)),
        })

    users = Depends(requires(Permission.MANAGE_USERS))

    @router.post("/users", status_code=201, tags=["users"], response_model=Envelope[UserView],
                 responses=errors(400, 401, 403, 408, 409, 413, 422))
    async def create_user(request: Request, body: UserCreate, admin: Principal = users) -> JSONResponse:
        """Add a user to your organization (admins; `organization`, if given, must be yours)."""
        user = await _run(request, lambda repo: identity.create_user(
            repo, admin, email=body.email, password=body.password, role=body.role, organization=body.organization))
        _remember(request, target=str(user.user_id))
        return _ok(request, user.view(), 201)

    @router.get("/users", tags=["users"], response_model=Envelope[UserPage], responses=errors(401, 403, 422))
    async def list_users(request: Request, limit: Annotated[int, Query(ge=1, le=500)] = 50,
                         offset: Offset = 0, admin: Principal = users) -> JSONResponse:
        """The users of your organization, oldest first."""
        rows, total = await _run(request, lambda repo: identity.list_users(repo, admin, limit=limit, offset=offset))
        return _ok(request, {"items": [u.view() for u in rows], "total": total, "limit": limit, "offset": offset})

    @router.get("/users/{user_id}", tags=["users"], response_model=Envelope[UserView], responses=errors(401, 403, 404, 422))
    async def get_user(request: Request, user_id: str, admin: Principal = users) -> JSONResponse:
        user = await _run(request, lambda repo: identity.get_user(repo, admin, _id(user_id, "user_id")))
        return _ok(request, user.view())

    @router.patch("/users/{user_id}", tags=["users"], response_model=Envelope[UserView],
                  responses=errors(400, 401, 403, 404, 408, 409, 413, 422))
    async def update_user(request: Request, user_id: str, body: UserUpdate, admin: Principal = users) -> JSONResponse:
        """Change a user's role, disable or enable them, or set their password (which ends their sessions)."""
        user = await _run(request, lambda repo: identity.update_user(
            repo, admin, _id(user_id, "user_id"), role=body.role, disabled=body.disabled, password=body.password))
        ports_of(request).principals.clear()  # the user's role or state as of now, on their next request
        return _ok(request, user.view())

    @router.delete("/users/{user_id}", tags=["users"], response_model=Envelope[UserDeleted],
                   responses=errors(401, 403, 404, 409, 422))
    async def delete_user(request: Request, user_id: str, admin: Principal = users) -> JSONResponse:
        """Delete a user: they can no longer log in, and their sessions and API keys end."""
        uid = _id(user_id, "user_id")
        await _run(request, lambda repo: identity.delete_user(repo, admin, uid))
        ports_of(request).principals.clear()
        return _ok(request, {"id": str(uid), "deleted": True})

    keys = Depends(requires(Permission.MANAGE_KEYS))

    @router.post("/api-keys", status_code=201, tags=["api-keys"], response_model=Envelope[NewApiKey],
                 responses=errors(400, 401, 403, 408, 409, 413, 422))
    async def create_api_key(request: Request, body: ApiKeyCreate, principal: Principal = keys) -> JSONResponse:
        """A new API key for you. The `key` is shown only in this answer: send it as `X-API-Key` or
        `Authorization: Bearer`."""
        record, secret = await _run(request, lambda repo: identity.create_api_key(repo, principal, name=body.name,
                                                                                  role=body.role,
                                                                                  expires_at=body.expires_at))
        _remember(request, target=str(record.api_key_id))
        return _ok(request, {"id": str(record.api_key_id), "name": record.name, "role": record.role, "key": secret,
                             "created_at": record.created_at.isoformat(),
                             "expires_at": record.expires_at.isoformat() if record.expires_at else None}, 201, headers=_NO_STORE)

    @router.get("/api-keys", tags=["api-keys"], response_model=Envelope[ApiKeyList], responses=errors(401, 403))
    async def list_api_keys(request: Request, principal: Principal = keys) -> JSONResponse:
        """Your API keys (never their secret), with when each was last used."""
        records = await _run(request, lambda repo: identity.list_api_keys(repo, principal))
        return _ok(request, {"items": [r.view() for r in records], "total": len(records)})

    @router.delete("/api-keys/{api_key_id}", tags=["api-keys"], response_model=Envelope[ApiKeyView],
                   responses=errors(401, 403, 404, 409, 422))
    async def revoke_api_key(request: Request, api_key_id: str, principal: Principal = keys) -> JSONResponse:
        """Revoke a key: it fails from its next request on."""
        record = await _run(request, lambda repo: identity.revoke_api_key(repo, principal,
                                                                          _id(api_key_id, "api_key_id")))
        ports_of(request).principals.clear()
        return _ok(request, record.view())

    @router.get("/audit", tags=["audit"], response_model=Envelope[AuditPage], responses=errors(401, 403, 422))
    async def audit(request: Request, limit: Annotated[int, Query(ge=1, le=500)] = 50,
                    offset: Offset = 0,
                    admin: Principal = Depends(requires(Permission.READ_AUDIT))) -> JSONResponse:
        """Your organization's audit log, newest first."""
        rows, total = await _run(request, lambda repo: identity.list_audit(repo, admin, limit=limit, offset=offset))
        return _ok(request, {"items": rows, "total": total, "limit": limit, "offset": offset})

    app.include_router(router)

