"""Erasing a dataset from one service: its tombstone, its outbox rows, its rows and its artifacts.

``dataset.deleted`` reaches every service; each runs ``purge_dataset`` from its ``when_dataset_deleted``
use case, in one unit of work:

1. the tombstone: the SHA-256 of the dataset id in ``deleted_datasets``, under a transaction lock on
   the dataset, which the use cases also take (``uow.is_deleted``) before they record results, so a
   job still running when the deletion lands records nothing and removes what it wrote;
2. the service's rows, through its repository's ``purge_dataset``, which answers how many it removed
   and the artifact prefixes (``<kind>/<id>/``) they pointed at;
3. the outbox rows whose event names the dataset;
4. the artifacts under those prefixes and under ``jobs/<id>/`` of every job the gateway listed;
5. the acknowledgement ``dataset.purged``, which names the dataset by its hash only.

A second ``dataset.deleted`` for the same dataset finds nothing and still acknowledges. Once the
tombstone is there, the runner discards any other event naming the dataset (``mesh_kit.consumer``,
``mesh_kit.memory``; a comparison names two, see ``datasets_named_by``), so a redelivery or a late stage cannot recreate anything.

Why a tombstone rather than checks of the rows in each handler: a deleted dataset leaves no row to
check, and a job in flight carries its ids in its events; the hash keeps the id itself out of the
schema, so "no row holds the dataset id" stays true.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, cast

from shared_contracts import EventPayload
from shared_contracts.events import DatasetDeleted, DatasetPurged, Stage

from .artifacts import owner_prefix
from .ports import StageDeps

if TYPE_CHECKING:  # the local paths run without PostgreSQL and need not import its driver
    from psycopg import AsyncConnection

__all__ = [
    "Purged",
    "PurgeableRepository",
    "dataset_named_by",
    "datasets_named_by",
    "dataset_sha256",
    "is_deleted",
    "lock_dataset",
    "purge_dataset",
    "purge_outbox",
    "tombstone",
]


def dataset_sha256(dataset_id: uuid.UUID | str) -> str:
    """The hex SHA-256 of a dataset id as text: how a deleted dataset is named after its deletion."""
    return hashlib.sha256(str(dataset_id).lower().encode()).hexdigest()


@dataclass(frozen=True)
class Purged:
    """What a repository removed for a dataset: rows, and the artifact prefixes they pointed at."""

    rows: int = 0
    prefixes: frozenset[str] = field(default_factory=frozenset)

    @staticmethod
    def of(rows: int, prefixes: Iterable[str]) -> Purged:
        return Purged(rows=rows, prefixes=frozenset(prefixes))


class PurgeableRepository(Protocol):
    async def purge_dataset(self, dataset_id: uuid.UUID, job_ids: tuple[uuid.UUID, ...]) -> Purged:
        """Delete the dataset's rows; answer their count and the artifact prefixes they pointed at."""
        ...


def dataset_named_by(payload: EventPayload) -> uuid.UUID | None:
    """The dataset an event names, unless it is the deletion itself (which always runs)."""
    if isinstance(payload, DatasetDeleted):
        return None
    value = getattr(payload, "dataset_id", None)
    return value if isinstance(value, uuid.UUID) else None


def datasets_named_by(payload: EventPayload) -> tuple[uuid.UUID, ...]:
    """Every dataset an event names (a comparison names two: ``dataset_id`` and ``dataset_id_b``), none for the
    deletion itself. An event naming any erased dataset is discarded.

    >>> import uuid
    >>> from shared_contracts.events import JobProgress
    >>> datasets_named_by(JobProgress(stage="ml", fraction=0.5))
    ()
    """
    first = dataset_named_by(payload)
    second = getattr(payload, "dataset_id_b", None) if first is not None else None
    return tuple(d for d in (first, second) if isinstance(d, uuid.UUID))


# -- the SQL every schema shares (mesh_kit/sql/0001_deletion.sql) ----------------------------------
async def lock_dataset(conn: AsyncConnection, dataset_id: uuid.UUID) -> None:
    """A lock on the dataset until the transaction ends: deletion and recording results take turns."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (dataset_sha256(dataset_id),))


async def is_deleted(conn: AsyncConnection, dataset_id: uuid.UUID, *, lock: bool = True) -> bool:
    if lock:
        await lock_dataset(conn, dataset_id)
    row = await (await conn.execute("SELECT 1 FROM deleted_datasets WHERE dataset_sha256 = %s",
                                    (dataset_sha256(dataset_id),))).fetchone()
    return row is not None


async def tombstone(conn: AsyncConnection, dataset_id: uuid.UUID) -> bool:
    await lock_dataset(conn, dataset_id)
    row = await (await conn.execute(
        "INSERT INTO deleted_datasets (dataset_sha256) VALUES (%s) ON CONFLICT DO NOTHING RETURNING 1",
        (dataset_sha256(dataset_id),))).fetchone()
    return row is not None


async def purge_outbox(conn: AsyncConnection, dataset_id: uuid.UUID) -> int:
    """Delete the outbox rows whose body names the dataset, published or not (an unpublished one would
    only start work on a deleted dataset)."""
    cur = await conn.execute("DELETE FROM outbox WHERE strpos(body, %s) > 0", (str(dataset_id),))
    return cur.rowcount


# -- the use case every service runs for dataset.deleted --------------------------------------------
async def purge_dataset(event: DatasetDeleted, deps: StageDeps[Any], *, service: str,
                        also: Iterable[str] = ()) -> DatasetPurged:
    """Erase ``event.dataset_id`` from this service (see the module docstring) and acknowledge it.

    ``also`` adds artifact prefixes the service derives from the event itself.
    """
    dataset_id = event.dataset_id
    async with deps.unit_of_work() as uow:
        await uow.tombstone(dataset_id)
        repo = cast(PurgeableRepository, uow.repo)
        purged = await repo.purge_dataset(dataset_id, tuple(event.job_ids))
        outbox = await uow.purge_outbox(dataset_id)
        prefixes = set(purged.prefixes) | set(also) | {owner_prefix("jobs", job) for job in event.job_ids}
        artifacts = 0
        for prefix in sorted(prefixes):
            artifacts += await deps.store.delete_prefix(prefix)
        ack = DatasetPurged(deletion_id=deps.job_id, dataset_sha256=dataset_sha256(dataset_id),
                            service=cast(Stage, service), rows_deleted=purged.rows + outbox,
                            artifacts_deleted=artifacts)
        await uow.emit(ack)
    return ack
