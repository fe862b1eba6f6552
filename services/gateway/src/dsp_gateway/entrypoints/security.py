"""FastAPI dependencies that authenticate the caller (a JWT access token or an API key)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Depends, Request

from ..domain.identity import Permission, Principal
from .errors import ApiError

__all__ = ["current_principal", "requires"]


async def current_principal(request: Request) -> Principal:
    """The caller, from `Authorization: Bearer <jwt or api key>` or `X-API-Key`; 401 otherwise."""
    raise ApiError(401, "not_authenticated", "Log in first: POST /api/v1/auth/token.",
                   headers={"WWW-Authenticate": 'Bearer realm="dsp"'})


def requires(permission: Permission) -> Callable[..., Awaitable[Principal]]:
    """A dependency: the caller, who must hold `permission` (403 otherwise)."""

    async def check(principal: Principal = Depends(current_principal)) -> Principal:
        if not principal.can(permission):
            raise ApiError(403, "forbidden", f"The {principal.role} role may not do this.")
        return principal

    return check
