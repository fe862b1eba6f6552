"""Signed dashboard view links, without I/O: what opens a dashboard, and what does not."""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid

import pytest
from dsp_gateway.domain.tokens import KeyRing, SigningKey
from dsp_gateway.domain.view_links import (
    VIEW_LINK_TTL_S,
    ViewLinkRejected,
    issue_view_token,
    verify_view_token,
)

OLD = SigningKey(kid="old", secret="o" * 40)
NEW = SigningKey(kid="new", secret="n" * 40)
NOW = 1_800_000_000.0


def _ring(*, active: str = "new", revoked: tuple[str, ...] = ()) -> KeyRing:
    return KeyRing.build([OLD, NEW], active_kid=active, revoked=revoked)


def test_a_link_opens_its_dashboard_for_its_organisation_until_it_expires() -> None:
    dashboard, organization = uuid.uuid4(), uuid.uuid4()
    link = issue_view_token(_ring(), dashboard, organization, now=NOW)
    assert link.expires_at == int(NOW) + VIEW_LINK_TTL_S
    assert verify_view_token(_ring(), link.token, dashboard, now=NOW + VIEW_LINK_TTL_S - 1) == organization
    with pytest.raises(ViewLinkRejected, match="expired"):
        verify_view_token(_ring(), link.token, dashboard, now=NOW + VIEW_LINK_TTL_S)
    with pytest.raises(ViewLinkRejected, match="bad MAC"):
        verify_view_token(_ring(), link.token, uuid.uuid4(), now=NOW)


def test_every_part_of_the_token_is_covered_by_its_mac() -> None:
    dashboard, organization = uuid.uuid4(), uuid.uuid4()
    token = issue_view_token(_ring(), dashboard, organization, now=NOW).token
    kid, expires, org, mac = token.rsplit(".", 3)
    for forged in (f"{kid}.{int(expires) + 60}.{org}.{mac}", f"{kid}.{expires}.{uuid.uuid4()}.{mac}",
                   f"old.{expires}.{org}.{mac}", f"{kid}.{expires}.{org}.{mac[::-1]}"):
        with pytest.raises(ViewLinkRejected):
            verify_view_token(_ring(), forged, dashboard, now=NOW)
    for malformed in ("", "a.b", f"{kid}.soon.{org}.{mac}", f"{kid}.{expires}.not-a-uuid.{mac}"):
        with pytest.raises(ViewLinkRejected):
            verify_view_token(_ring(), malformed, dashboard, now=NOW)


def test_links_follow_key_rotation_and_die_with_a_revoked_key() -> None:
    dashboard, organization = uuid.uuid4(), uuid.uuid4()
    signed_by_old = issue_view_token(_ring(active="old"), dashboard, organization, now=NOW).token
    assert signed_by_old.startswith("old.")
    assert verify_view_token(_ring(active="new"), signed_by_old, dashboard, now=NOW) == organization
    with pytest.raises(ViewLinkRejected, match="revoked"):
        verify_view_token(_ring(active="new", revoked=("old",)), signed_by_old, dashboard, now=NOW)


def test_a_link_mac_is_not_the_jwt_signature_key() -> None:
    """The MAC key is derived from the signing key with a label: a JWT HMAC of the same text never matches."""
    dashboard, organization = uuid.uuid4(), uuid.uuid4()
    token = issue_view_token(_ring(), dashboard, organization, now=NOW).token
    kid, expires, org, mac = token.rsplit(".", 3)
    plain = hmac.new(NEW.secret.encode(), f"{kid}|{dashboard}|{org}|{expires}".encode(), hashlib.sha256).digest()
    assert mac != base64.urlsafe_b64encode(plain).rstrip(b"=").decode()
