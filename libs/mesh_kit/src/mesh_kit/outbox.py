"""The transactional outbox: events are written with the results, then relayed with confirms."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from opentelemetry import context as otel_context
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool
from shared_contracts import Envelope

from .metrics import OUTBOX_OLDEST_AGE, OUTBOX_PENDING
from .publisher import EventPublisher, PublishError
from .tracing import context_from, untraced

__all__ = ["OutboxRelay", "add_to_outbox", "amqp_headers"]

log = logging.getLogger(__name__)

MAX_BACKOFF_S = 5.0
"""Longest pause of the relay between two passes while the broker or the database is failing (the poll interval
when that is longer)."""


def amqp_headers(envelope: Envelope[Any]) -> dict[str, str]:
    """Message headers of an event: its type and the W3C trace context."""
    headers = {"dsp-event-type": envelope.routing_key, "dsp-job-id": str(envelope.job_id)}
    if envelope.trace.traceparent:
        headers["traceparent"] = envelope.trace.traceparent
    if envelope.trace.tracestate:
        headers["tracestate"] = envelope.trace.tracestate
    return headers


async def add_to_outbox(conn: AsyncConnection, envelope: Envelope[Any]) -> None:
    """Record an event in the caller's transaction; the relay publishes it after commit."""
    await conn.execute(
        "INSERT INTO outbox (event_id, routing_key, body, headers) VALUES (%s, %s, %s, %s)"
        " ON CONFLICT (event_id) DO NOTHING",
        (
            envelope.event_id,
            envelope.routing_key,
            envelope.model_dump_json(),
            json.dumps(amqp_headers(envelope)),
        ),
    )


class OutboxRelay:
    """Publishes pending outbox rows in order, marking each published once the broker confirms it.

    Rows are claimed with ``FOR UPDATE SKIP LOCKED``, so several replicas can relay at once
    without publishing a row twice in the normal case; after a crash between confirm and
    mark, a row is published again, which the consumers' inbox makes harmless.
    """

    def __init__(self, pool: AsyncConnectionPool, publisher: EventPublisher, *, service: str,
                 poll_s: float = 0.5, batch: int = 50) -> None:
        self.pool = pool
        self.publisher = publisher
        self.service = service
        self.poll_s = poll_s
        self.batch = batch
        self.wakeup = asyncio.Event()
        self._stopping = False
        self.failing = False
        """Whether the last pass stopped at a publish the broker did not take (it is down or not confirming)."""
        # rows written while the broker was away go out when the publisher connects (the service's first
        # attachment, a reconnect), not at the next poll
        publisher.on_connected(self.notify)

    def notify(self) -> None:
        """Wake the relay right away (called after a commit that wrote outbox rows, and by the publisher when it
        is connected)."""
        self.wakeup.set()

    async def relay_once(self) -> int:
        """Publish what is pending now. Returns the number of rows published.

        The polling makes no spans (it belongs to no job); each publish is made in the trace context of the
        span that emitted the event (the row's ``traceparent``), so that the message continues its job's trace.
        """
        with untraced():
            return await self._relay_once()

    async def _publish(self, routing_key: str, body: str, event_id: Any, headers: dict[str, Any]) -> None:
        token = otel_context.attach(context_from(headers, fresh=True))
        try:
            await self.publisher.publish(routing_key, body.encode(), message_id=str(event_id), headers=headers)
        finally:
            otel_context.detach(token)

    async def _relay_once(self) -> int:
        published = 0
        self.failing = False
        async with self.pool.connection() as conn, conn.transaction():
            rows = await (
                await conn.execute(
                    "SELECT id, event_id, routing_key, body, headers FROM outbox"
                    " WHERE published_at IS NULL ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED",
                    (self.batch,),
                )
            ).fetchall()
            for row_id, event_id, routing_key, body, headers in rows:
                try:
                    await self._publish(routing_key, body, event_id, headers)
                except PublishError as exc:
                    log.error("outbox publish failed", extra={"fields": {"routing_key": routing_key, "error": str(exc)}})
                    await conn.execute(
                        "UPDATE outbox SET attempts = attempts + 1, last_error = %s WHERE id = %s",
                        (str(exc)[:2000], row_id),
                    )
                    self.failing = True
                    break
                await conn.execute("UPDATE outbox SET published_at = now(), attempts = attempts + 1 WHERE id = %s",
                                   (row_id,))
                published += 1
            pending = await (await conn.execute(
                "SELECT count(*), coalesce(extract(epoch FROM now() - min(created_at)), 0) FROM outbox"
                " WHERE published_at IS NULL")).fetchone()
        OUTBOX_PENDING.labels(self.service).set(pending[0] if pending else 0)
        OUTBOX_OLDEST_AGE.labels(self.service).set(float(pending[1]) if pending else 0.0)
        return published

    async def run(self) -> None:
        """Relay until stopped, waking on notify() or every poll interval.

        Through an outage of the database or the broker it keeps trying, backing off from ``poll_s`` to
        ``MAX_BACKOFF_S`` (or to ``poll_s`` when that is longer: a failing relay never polls more often than a
        healthy one); the rows wait in the outbox. The publisher wakes the relay the moment it is connected (the
        service's first attachment to the broker, and each reconnect), so the backlog goes out at once rather than
        at the next poll; a broker that stays connected but does not confirm is retried on the backoff.
        """
        backoff = self.poll_s
        ceiling = max(MAX_BACKOFF_S, self.poll_s)
        while not self._stopping:
            # cleared before the pass, so that a notify() arriving during it (a commit, the publisher connecting)
            # starts the next pass at once instead of being lost
            self.wakeup.clear()
            try:
                count = await self.relay_once()
                if self.failing:
                    backoff = min(backoff * 2, ceiling)
                else:
                    backoff = self.poll_s
                    if count == self.batch:
                        continue
            except Exception:  # keep relaying through database or broker outages
                log.exception("outbox relay iteration failed")
                backoff = min(backoff * 2, ceiling)
            try:
                await asyncio.wait_for(self.wakeup.wait(), timeout=backoff)
            except TimeoutError:
                pass

    def stop(self) -> None:
        self._stopping = True
        self.wakeup.set()
