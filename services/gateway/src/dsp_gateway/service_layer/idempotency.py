"""``Idempotency-Key`` on the requests that create or change (POST /upload, /analyze, /compare, /dashboard,
/datasets/{id}/reingest and /jobs/{id}/cancel): a retry with the key gets the first response, and nothing new is created or changed.

The route computes the request's fingerprint (what was sent: the file's SHA-256 and the form fields, or the
JSON body), asks ``replay`` for a stored response first, and otherwise ``claim``s the key as the first
statement of the transaction that creates the dataset or job, with the response known at that point. A
second request that loses the race finds the key taken (``IdempotencyKeyTaken``), so its transaction rolls
back and it replays. A response decided later (the upload's verdict after its wait) replaces the provisional
one with ``complete`` (after the commit) or ``settle`` (in the same transaction, when the answer is only known
at its end, as a cancelled job's view). A request refused before it created anything (4xx) stores nothing: its retry is
judged afresh.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from ..adapters.idempotency import IdempotencyKeys, StoredResponse
from ..ports import GatewayStorage

__all__ = ["Idempotency", "IdempotencyKeyReused", "IdempotencyKeyTaken", "fingerprint"]

log = logging.getLogger(__name__)


class IdempotencyKeyReused(Exception):
    """The key answered another request (another route, file, field or body) of the same user."""


class IdempotencyKeyTaken(Exception):
    """Raised in the creating transaction when another request holds the key: roll back, then replay."""


def fingerprint(route: str, sent: dict[str, Any]) -> str:
    """SHA-256 of what the request sent, in a canonical form."""
    text = json.dumps({"route": route, "sent": sent}, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class Idempotency:
    """One request's key, as its user sent it, and what the request was."""

    owner_id: uuid.UUID
    key: str
    route: str
    fingerprint: str
    ttl_s: float

    async def replay(self, storage: GatewayStorage, *, wait_s: float = 0.0,
                     poll_s: float = 0.2) -> StoredResponse | None:
        """The stored response to the key (None: the key is new). One the first request has not completed is
        waited for up to ``wait_s`` seconds, then given as it stands (its provisional 202). Raises
        ``IdempotencyKeyReused`` when the key answered another request."""
        deadline = asyncio.get_running_loop().time() + wait_s
        while True:
            async with storage.read() as repo:
                stored = await repo.find_idempotent(self.owner_id, self.key)
            if stored is None:
                return None
            if (stored.route, stored.fingerprint) != (self.route, self.fingerprint):
                raise IdempotencyKeyReused(self.key)
            if stored.completed or asyncio.get_running_loop().time() >= deadline:
                return stored
            await asyncio.sleep(poll_s)

    async def claim(self, repo: IdempotencyKeys, status_code: int, body: dict[str, Any], *, completed: bool) -> None:
        """Take the key in the creating transaction (call it first there); raises ``IdempotencyKeyTaken``."""
        response = StoredResponse(route=self.route, fingerprint=self.fingerprint, status_code=status_code, body=body,
                                  completed=completed)
        expires_at = datetime.now(UTC) + timedelta(seconds=self.ttl_s)
        if not await repo.claim_idempotency_key(self.owner_id, self.key, response, expires_at=expires_at):
            raise IdempotencyKeyTaken(self.key)

    async def settle(self, repo: IdempotencyKeys, status_code: int, body: dict[str, Any]) -> None:
        """Store the final response in the creating transaction itself, once the claim's was provisional."""
        await repo.complete_idempotency_key(self.owner_id, self.key, status_code, body)

    async def complete(self, storage: GatewayStorage, job_id: uuid.UUID, status_code: int,
                       body: dict[str, Any]) -> None:
        """Store the final response. Never raises: the request has committed, and a retry then gets the
        provisional response, which is true too."""
        try:
            async with storage.write(job_id) as uow:
                await uow.repo.complete_idempotency_key(self.owner_id, self.key, status_code, body)
        except Exception:
            log.exception("the final response to an Idempotency-Key was not stored; a retry gets the provisional one")
