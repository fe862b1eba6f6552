"""Short-lived signed links to one dashboard, for a browser that cannot send an Authorization header
(an iframe's src, a link opened in a new tab). No I/O.

A link's token names the signing key, its expiry and the organisation it was issued for; its MAC covers
those and the dashboard's id, so it opens that dashboard of that organisation only, until it expires.
The MAC key is derived from the gateway's JWT signing key (HMAC-SHA256 with a fixed label), so a link's
MAC can never pass as a JWT signature or the other way round; revoking a signing key revokes its links.

    token = "<kid>.<expires unix s>.<organisation id>.<base64url MAC>"
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
import uuid
from dataclasses import dataclass

from .tokens import KeyRing

__all__ = ["VIEW_LINK_TTL_S", "ViewLink", "ViewLinkRejected", "issue_view_token", "verify_view_token"]

VIEW_LINK_TTL_S = 300
_LABEL = b"dsp-dashboard-view-link/v1"


class ViewLinkRejected(Exception):
    """The token does not open this dashboard; ``reason`` is for logs, never shown to the caller."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class ViewLink:
    token: str
    expires_at: int
    """Unix seconds."""


def _mac(secret: str, kid: str, dashboard_id: uuid.UUID, organization_id: uuid.UUID, expires: int) -> str:
    key = hmac.new(secret.encode(), _LABEL, hashlib.sha256).digest()
    message = f"{kid}|{dashboard_id}|{organization_id}|{expires}".encode()
    digest = hmac.new(key, message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def issue_view_token(ring: KeyRing, dashboard_id: uuid.UUID, organization_id: uuid.UUID, *,
                     ttl_s: int = VIEW_LINK_TTL_S, now: float | None = None) -> ViewLink:
    """A token that opens ``dashboard_id`` of ``organization_id`` for ``ttl_s`` seconds."""
    expires = int(now if now is not None else time.time()) + ttl_s
    key = ring.active
    mac = _mac(key.secret, key.kid, dashboard_id, organization_id, expires)
    return ViewLink(token=f"{key.kid}.{expires}.{organization_id}.{mac}", expires_at=expires)


def verify_view_token(ring: KeyRing, token: str, dashboard_id: uuid.UUID, *,
                      now: float | None = None) -> uuid.UUID:
    """The organisation the token was issued for, if it opens ``dashboard_id`` now; ViewLinkRejected otherwise."""
    parts = token.rsplit(".", 3)
    if len(parts) != 4:
        raise ViewLinkRejected("malformed token")
    kid, expires_text, organization_text, mac = parts
    secret = ring.verifying_secret(kid)
    if secret is None:
        raise ViewLinkRejected("unknown or revoked key")
    try:
        expires = int(expires_text)
        organization_id = uuid.UUID(organization_text)
    except ValueError:
        raise ViewLinkRejected("malformed token") from None
    expected = _mac(secret, kid, dashboard_id, organization_id, expires)
    if not hmac.compare_digest(expected.encode(), mac.encode()):
        raise ViewLinkRejected("bad MAC")
    if (now if now is not None else time.time()) >= expires:
        raise ViewLinkRejected("expired")
    return organization_id
