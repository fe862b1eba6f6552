"""An embedded SQLite database per service, for the platform on one machine (``dsp serve``).

Each service keeps its own file, as it keeps its own schema in Postgres: its outbox, its inbox, its
tombstones and its repository's tables. ``SqliteDatabase`` runs every statement on one of two
threads: the writer, which alone opens transactions (``BEGIN IMMEDIATE``, one at a time), and a
reader, which sees the last committed state (WAL mode). Foreign keys are on.

``SqliteUnitOfWork`` is ``mesh_kit.ports.UnitOfWork`` over one writer transaction: the inbox row,
the stage's records through ``repo`` and its outgoing events in the outbox commit together, as in
``mesh_kit.consumer.PostgresUnitOfWork``.

Migrations: ``migrate(package)`` applies ``mesh_kit/sql_sqlite/*.sql`` and then the package's
``migrations_sqlite/*.sql`` in name order, each file in one transaction, recorded in
``schema_migrations``.

Parameters use ``?`` or ``:name``; a ``uuid.UUID`` is stored as its text and a ``datetime`` as ISO
text. Rows are ``sqlite3.Row`` (by index or column name).

Examples
--------
>>> import asyncio, tempfile
>>> from pathlib import Path
>>> async def demo() -> int:
...     db = SqliteDatabase(Path(tempfile.mkdtemp()) / "demo.sqlite3")
...     await db.open()
...     await db.migrate(None)
...     async with db.transaction() as conn:
...         await conn.execute("INSERT INTO inbox (consumer, event_id, routing_key) VALUES (?, ?, ?)",
...                            ("demo", "e1", "x.y"))
...     async with db.read() as conn:
...         count = (await conn.execute("SELECT count(*) FROM inbox")).fetchone()[0]
...     await db.close()
...     return int(count)
>>> asyncio.run(demo())
1
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

from shared_contracts import Envelope, EventPayload

from . import deletion
from .ports import UnitOfWork

__all__ = [
    "SqliteConnection",
    "SqliteDatabase",
    "SqliteResult",
    "SqliteUnitOfWork",
    "add_to_sqlite_outbox",
    "database_path",
]

log = logging.getLogger(__name__)
T = TypeVar("T")

sqlite3.register_adapter(uuid.UUID, str)
sqlite3.register_adapter(datetime, lambda value: value.isoformat())

Params = Sequence[Any] | dict[str, Any]


def database_path(data_dir: Path, service: str) -> Path:
    """Where a service's database lives under a data directory."""
    return data_dir / "db" / f"{service}.sqlite3"


@dataclass(frozen=True)
class SqliteResult:
    """What one statement answered, read in full on the database's thread."""

    rows: list[sqlite3.Row]
    rowcount: int
    lastrowid: int | None

    def fetchone(self) -> sqlite3.Row | None:
        return self.rows[0] if self.rows else None

    def fetchall(self) -> list[sqlite3.Row]:
        return list(self.rows)


def _run(conn: sqlite3.Connection, sql: str, params: Params) -> SqliteResult:
    cur = conn.execute(sql, params)
    try:
        rows = cur.fetchall()
        return SqliteResult(rows=rows, rowcount=cur.rowcount, lastrowid=cur.lastrowid)
    finally:
        cur.close()


class SqliteConnection:
    """A connection bound to its thread: every call runs there."""

    def __init__(self, raw: sqlite3.Connection, executor: ThreadPoolExecutor) -> None:
        self._raw = raw
        self._executor = executor

    async def call(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` with the raw connection on its thread (for work the other methods do not cover)."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, self._raw)

    async def execute(self, sql: str, params: Params = ()) -> SqliteResult:
        return await self.call(lambda raw: _run(raw, sql, params))

    async def executemany(self, sql: str, rows: Iterable[Params]) -> int:
        batch = list(rows)

        def run(raw: sqlite3.Connection) -> int:
            cur = raw.executemany(sql, batch)
            count = cur.rowcount
            cur.close()
            return count

        return await self.call(run)


def _connect(path: Path) -> sqlite3.Connection:
    raw = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30.0)
    raw.row_factory = sqlite3.Row
    raw.execute("PRAGMA journal_mode=WAL")
    raw.execute("PRAGMA foreign_keys=ON")
    raw.execute("PRAGMA synchronous=NORMAL")
    raw.execute("PRAGMA busy_timeout=30000")
    return raw


class SqliteDatabase:
    """One SQLite file: a single writer that runs one transaction at a time, and a reader."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._writer_pool: ThreadPoolExecutor | None = None
        self._reader_pool: ThreadPoolExecutor | None = None
        self._writer: SqliteConnection | None = None
        self._reader: SqliteConnection | None = None
        self._write_lock = asyncio.Lock()
        self._on_commit: list[Callable[[], None]] = []

    async def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        loop = asyncio.get_running_loop()
        name = self.path.stem
        self._writer_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"sqlite-{name}-writer")
        self._reader_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"sqlite-{name}-reader")
        writer = await loop.run_in_executor(self._writer_pool, _connect, self.path)
        reader = await loop.run_in_executor(self._reader_pool, _connect, self.path)
        self._writer = SqliteConnection(writer, self._writer_pool)
        self._reader = SqliteConnection(reader, self._reader_pool)

    async def close(self) -> None:
        for conn in (self._reader, self._writer):
            if conn is not None:
                await conn.call(lambda raw: raw.close())
        for pool in (self._reader_pool, self._writer_pool):
            if pool is not None:
                pool.shutdown(wait=True)
        self._reader = self._writer = None
        self._reader_pool = self._writer_pool = None

    def on_commit(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` after every transaction that commits (the local bus wakes on it)."""
        self._on_commit.append(callback)

    def _conn(self, conn: SqliteConnection | None) -> SqliteConnection:
        if conn is None:
            raise RuntimeError(f"the database {self.path} is not open")
        return conn

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[SqliteConnection]:
        """One write transaction: committed when the block ends, rolled back if it raises."""
        conn = self._conn(self._writer)
        async with self._write_lock:
            await conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                await asyncio.shield(conn.execute("ROLLBACK"))
                raise
            await asyncio.shield(conn.execute("COMMIT"))
        for callback in self._on_commit:
            callback()

    @asynccontextmanager
    async def read(self) -> AsyncIterator[SqliteConnection]:
        """The reader connection: committed data only."""
        yield self._conn(self._reader)

    async def fetchall(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        async with self.read() as conn:
            return (await conn.execute(sql, params)).fetchall()

    async def fetchone(self, sql: str, params: Params = ()) -> sqlite3.Row | None:
        async with self.read() as conn:
            return (await conn.execute(sql, params)).fetchone()

    async def migrate(self, package: str | None) -> list[str]:
        """Apply the shared and the package's pending SQLite migrations; returns the names applied."""
        conn = self._conn(self._writer)
        files = _migration_files(package)
        async with self._write_lock:
            return await conn.call(lambda raw: _apply(raw, files))


def _migration_files(package: str | None) -> list[tuple[str, str]]:
    files: list[tuple[str, str]] = []
    shared = resources.files("mesh_kit").joinpath("sql_sqlite")
    for entry in sorted(shared.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".sql"):
            files.append((f"mesh/{entry.name}", entry.read_text()))
    if package is not None:
        own = resources.files(package).joinpath("migrations_sqlite")
        if own.is_dir():
            for entry in sorted(own.iterdir(), key=lambda e: e.name):
                if entry.name.endswith(".sql"):
                    files.append((entry.name, entry.read_text()))
    return files


def _apply(raw: sqlite3.Connection, files: list[tuple[str, str]]) -> list[str]:
    raw.execute("CREATE TABLE IF NOT EXISTS schema_migrations ("
                " name TEXT PRIMARY KEY, applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')))")
    done = {row[0] for row in raw.execute("SELECT name FROM schema_migrations")}
    applied = []
    for name, text in files:
        if name in done:
            continue
        escaped = name.replace("'", "''")
        # executescript runs the whole file; BEGIN/COMMIT make it one transaction with its record
        raw.executescript(f"BEGIN IMMEDIATE;\n{text}\n;INSERT INTO schema_migrations (name) VALUES ('{escaped}');\n"
                          "COMMIT;")
        applied.append(name)
    if applied:
        log.info("sqlite migrations applied: %s", applied)
    return applied


async def add_to_sqlite_outbox(conn: SqliteConnection, envelope: Envelope[Any]) -> None:
    """Record an event in the caller's transaction; the local bus delivers it after commit."""
    from .outbox import amqp_headers

    await conn.execute(
        "INSERT INTO outbox (event_id, routing_key, job_id, body, headers) VALUES (?, ?, ?, ?, ?)"
        " ON CONFLICT (event_id) DO NOTHING",
        (envelope.event_id, envelope.routing_key, envelope.job_id, envelope.model_dump_json(),
         json.dumps(amqp_headers(envelope))),
    )


@dataclass
class SqliteUnitOfWork(UnitOfWork[Any]):
    """The unit of work over one SQLite write transaction: results through ``repo``, events into the outbox.

    The transaction holds the database's only writer, so ``is_deleted`` cannot race a deletion.
    """

    conn: SqliteConnection
    job_id: uuid.UUID
    producer: str
    repo: Any = None

    async def emit(self, payload: EventPayload) -> Envelope[Any]:
        envelope = Envelope.wrap(payload, job_id=self.job_id, producer=self.producer)
        await add_to_sqlite_outbox(self.conn, envelope)
        return envelope

    async def is_deleted(self, dataset_id: uuid.UUID) -> bool:
        return await is_tombstoned(self.conn, dataset_id)

    async def tombstone(self, dataset_id: uuid.UUID) -> bool:
        result = await self.conn.execute(
            "INSERT INTO deleted_datasets (dataset_sha256) VALUES (?) ON CONFLICT DO NOTHING",
            (deletion.dataset_sha256(dataset_id),))
        return result.rowcount > 0

    async def purge_outbox(self, dataset_id: uuid.UUID) -> int:
        result = await self.conn.execute("DELETE FROM outbox WHERE instr(body, ?) > 0", (str(dataset_id),))
        return result.rowcount

    async def cancel_job(self, job_id: uuid.UUID, *, requested_at: datetime, reason: str = "") -> None:
        await self.conn.execute("INSERT INTO cancelled_jobs (job_id, requested_at, reason) VALUES (?, ?, ?)"
                                " ON CONFLICT DO NOTHING", (job_id, requested_at, reason[:1000]))


async def cancelled_job(conn: SqliteConnection, job_id: uuid.UUID) -> tuple[datetime, str] | None:
    """When and why the job was cancelled, as the service recorded it (``cancelled_jobs``)."""
    row = (await conn.execute("SELECT requested_at, reason FROM cancelled_jobs WHERE job_id = ?",
                              (job_id,))).fetchone()
    return None if row is None else (datetime.fromisoformat(row[0]), str(row[1]))


async def is_tombstoned(conn: SqliteConnection, dataset_id: uuid.UUID) -> bool:
    row = (await conn.execute("SELECT 1 FROM deleted_datasets WHERE dataset_sha256 = ?",
                              (deletion.dataset_sha256(dataset_id),))).fetchone()
    return row is not None
