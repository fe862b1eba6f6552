"""The embedded SQLite database of a service, on real files: transactions, migrations, its unit of work."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from mesh_kit.deletion import dataset_sha256
from mesh_kit.sqlite import SqliteDatabase, SqliteUnitOfWork, database_path
from shared_contracts import ArtifactRef
from shared_contracts.events import DatasetRejected, DatasetUploaded


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[SqliteDatabase]:
    database = SqliteDatabase(database_path(tmp_path, "ingest"))
    await database.open()
    await database.migrate("dsp_ingest")
    yield database
    await database.close()


async def test_the_file_is_in_wal_mode_with_foreign_keys_and_migrations_apply_once(db: SqliteDatabase,
                                                                                   tmp_path: Path) -> None:
    assert db.path == tmp_path / "db" / "ingest.sqlite3" and db.path.is_file()
    async with db.read() as conn:
        assert (await conn.execute("PRAGMA journal_mode")).fetchone()[0] == "wal"  # type: ignore[index]
        assert (await conn.execute("PRAGMA foreign_keys")).fetchone()[0] == 1  # type: ignore[index]
    names = [row[0] for row in await db.fetchall("SELECT name FROM schema_migrations ORDER BY name")]
    assert names == ["0001_datasets.sql", "mesh/0000_mesh_base.sql", "mesh/0001_cancelled_jobs.sql"]
    assert await db.migrate("dsp_ingest") == []  # applied migrations are recorded


async def test_a_transaction_commits_at_its_end_and_rolls_back_when_it_raises(db: SqliteDatabase) -> None:
    commits: list[int] = []
    db.on_commit(lambda: commits.append(1))
    async with db.transaction() as conn:
        await conn.execute("INSERT INTO inbox (consumer, event_id, routing_key) VALUES (?, ?, ?)",
                           ("ingest", uuid.uuid4(), "a.b"))
        # the reader sees committed data only
        assert (await db.fetchone("SELECT count(*) FROM inbox"))[0] == 0  # type: ignore[index]
    assert (await db.fetchone("SELECT count(*) FROM inbox"))[0] == 1  # type: ignore[index]
    assert commits == [1]
    with pytest.raises(RuntimeError):
        async with db.transaction() as conn:
            await conn.execute("INSERT INTO inbox (consumer, event_id, routing_key) VALUES (?, ?, ?)",
                               ("ingest", uuid.uuid4(), "a.b"))
            raise RuntimeError("stop")
    assert (await db.fetchone("SELECT count(*) FROM inbox"))[0] == 1  # type: ignore[index]
    assert commits == [1]


async def test_writers_take_turns(db: SqliteDatabase) -> None:
    order: list[str] = []

    async def write(name: str) -> None:
        async with db.transaction() as conn:
            order.append(f"{name} in")
            await asyncio.sleep(0.05)
            await conn.execute("INSERT INTO inbox (consumer, event_id, routing_key) VALUES (?, ?, ?)",
                               (name, uuid.uuid4(), "a.b"))
            order.append(f"{name} out")

    await asyncio.gather(write("a"), write("b"))
    assert order in (["a in", "a out", "b in", "b out"], ["b in", "b out", "a in", "a out"])


async def test_the_unit_of_work_queues_events_keeps_tombstones_and_purges_the_outbox(db: SqliteDatabase) -> None:
    dataset, job = uuid.uuid4(), uuid.uuid4()
    ref = ArtifactRef(key="datasets/x/raw", sha256="0" * 64, size_bytes=1, media_type="text/csv")
    async with db.transaction() as conn:
        uow = SqliteUnitOfWork(conn=conn, job_id=job, producer="ingest")
        sent = await uow.emit(DatasetUploaded(dataset_id=dataset, raw=ref, display_name="a.csv"))
        await uow.emit(DatasetRejected(dataset_id=uuid.uuid4(), code="c", message="m"))
    rows = await db.fetchall("SELECT event_id, routing_key, job_id, delivered_at FROM outbox ORDER BY id")
    assert [tuple(r) for r in rows][0] == (str(sent.event_id), sent.routing_key, str(job), None)
    async with db.transaction() as conn:
        uow = SqliteUnitOfWork(conn=conn, job_id=job, producer="ingest")
        assert await uow.is_deleted(dataset) is False
        assert await uow.tombstone(dataset) is True
        assert await uow.tombstone(dataset) is False
        assert await uow.is_deleted(dataset) is True
        assert await uow.purge_outbox(dataset) == 1
    assert len(await db.fetchall("SELECT 1 FROM outbox")) == 1
    stored = [row[0] for row in await db.fetchall("SELECT dataset_sha256 FROM deleted_datasets")]
    assert stored == [dataset_sha256(dataset)]  # the id itself is kept nowhere
