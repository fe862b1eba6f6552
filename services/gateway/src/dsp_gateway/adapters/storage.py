"""The gateway's database in Postgres: one pooled connection per session, events through the outbox."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

import psycopg
from mesh_kit.consumer import PostgresUnitOfWork
from mesh_kit.outbox import OutboxRelay
from mesh_kit.ports import UnitOfWork
from psycopg_pool import AsyncConnectionPool

from ..ports import GatewayStorage, UnstorableValue
from .deletions import GatewayRepository, PostgresGatewayRepository
from .identity import IdentityRepository, PostgresIdentityRepository

__all__ = ["PostgresGatewayStorage"]


@contextmanager
def _storable() -> Iterator[None]:
    """PostgreSQL's refusal of a NUL character (in text: psycopg's DataError before sending; in jsonb: the
    server's untranslatable_character) as ``UnstorableValue``; the session's transaction is rolled back."""
    try:
        yield
    except psycopg.errors.UntranslatableCharacter as exc:
        raise UnstorableValue(f"A text holds a character that cannot be stored: {exc.diag.message_primary}") from exc
    except psycopg.DataError as exc:
        if "NUL" not in str(exc):
            raise
        raise UnstorableValue("A text holds a NUL (0x00) character, which cannot be stored.") from exc


class PostgresGatewayStorage(GatewayStorage):
    """Sessions over the service's pool; a write wakes the outbox relay once it committed."""

    def __init__(self, pool: AsyncConnectionPool, relay: OutboxRelay | None = None) -> None:
        self.pool = pool
        self.relay = relay

    @asynccontextmanager
    async def read(self) -> AsyncIterator[GatewayRepository]:
        with _storable():
            async with self.pool.connection() as conn:
                yield PostgresGatewayRepository(conn)

    @asynccontextmanager
    async def write(self, job_id: uuid.UUID) -> AsyncIterator[UnitOfWork[GatewayRepository]]:
        with _storable():
            async with self.pool.connection() as conn, conn.transaction():
                yield PostgresUnitOfWork(conn=conn, job_id=job_id, producer="gateway", repo=PostgresGatewayRepository(conn))
        if self.relay is not None:
            self.relay.notify()

    @asynccontextmanager
    async def identity(self) -> AsyncIterator[IdentityRepository]:
        with _storable():
            async with self.pool.connection() as conn, conn.transaction():
                yield PostgresIdentityRepository(conn)
