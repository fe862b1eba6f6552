"""FastAPI dependencies that authenticate the caller (a JWT access token or an API key)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Depends, Request, WebSocket
from fastapi.security import APIKeyHeader, OAuth2PasswordBearer

from ..adapters.limits import RetryAfter
from ..domain.identity import Permission, Principal
from ..ports import GatewayPorts, ports_of
from ..service_layer import identity
from .errors import ApiError

__all__ = ["WWW_AUTHENTICATE", "authenticate_token", "client_ip", "current_principal", "requires", "too_many"]

WWW_AUTHENTICATE = 'Bearer realm="dsp"'
TOKEN_URL = "/api/v1/auth/token"

# both schemes show in OpenAPI (the "Authorize" button); neither answers by itself, current_principal does
oauth2_scheme = OAuth2PasswordBearer(tokenUrl=TOKEN_URL, auto_error=False,
                                     description="An access token from POST /api/v1/auth/token, or an API key")
api_key_scheme = APIKeyHeader(name="X-API-Key", auto_error=False, description="An API key (dsp_...)")


def not_authenticated(message: str = f"Log in first: POST {TOKEN_URL}.", *,
                      error: str | None = None) -> ApiError:
    header = WWW_AUTHENTICATE + (f', error="{error}"' if error else "")
    return ApiError(401, "not_authenticated", message, headers={"WWW-Authenticate": header})


def too_many(retry: RetryAfter, message: str = "Too many requests; try again later.") -> ApiError:
    return ApiError(429, "rate_limited", message, details={"retry_after_s": retry.seconds},
                    headers={"Retry-After": str(retry.seconds)})


async def authenticate_token(ports: GatewayPorts, token: str) -> Principal:
    """The caller behind a raw access token (JWT) or API key (``dsp_...``): for the WebSocket ``?token=``.

    Raises ``ApiError(401)``. Checks the user (or key) in the database, unless this process did so for the same
    credential within ``DSP_AUTH_CACHE_S`` (``ports.principals``, which the routes changing users or keys clear:
    a user disabled or a key revoked here fails at once, through another process within that time).
    """
    token = token.strip()
    if not token:
        raise not_authenticated()
    try:
        return await identity.authenticate_cached(ports.storage.authentication, ports.identity, ports.principals,
                                                  token)
    except identity.NotAuthenticated as exc:
        raise not_authenticated(exc.message, error="invalid_token") from None


async def current_principal(request: Request, bearer: str | None = Depends(oauth2_scheme),
                            api_key: str | None = Depends(api_key_scheme)) -> Principal:
    """The caller, from `Authorization: Bearer <jwt or api key>` or `X-API-Key`; 401 otherwise."""
    credential = bearer or api_key
    if not credential:
        raise not_authenticated()
    principal = await authenticate_token(ports_of(request), credential)
    request.state.principal = principal
    return principal


def requires(permission: Permission) -> Callable[..., Awaitable[Principal]]:
    """A dependency: the caller, who must hold `permission` (403 otherwise)."""

    async def check(principal: Principal = Depends(current_principal)) -> Principal:
        if not principal.can(permission):
            raise ApiError(403, "forbidden", f"The {principal.role} role may not do this.")
        return principal

    return check


def client_ip(request: Request | WebSocket) -> str:
    """The client's address: the TCP peer, or with DSP_TRUSTED_PROXY_HOPS=n behind n proxies of ours, the
    address the outermost of them saw (the n-th from the right in X-Forwarded-For)."""
    peer = request.client.host if request.client else "unknown"
    hops = ports_of(request).options.trusted_proxy_hops
    if hops:
        forwarded = [part.strip() for part in request.headers.get("x-forwarded-for", "").split(",") if part.strip()]
        if len(forwarded) >= hops:
            return forwarded[-hops]
    return peer
