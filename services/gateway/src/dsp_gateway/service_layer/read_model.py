"""Applying the dataset rules of the read model to the datasets table."""

from __future__ import annotations

import uuid
from typing import Any

from mesh_kit.artifacts import ArtifactStore
from shared_contracts import EventPayload

from ..adapters import repository
from ..domain.datasets import dataset_update_for

__all__ = ["update_dataset_for"]


async def update_dataset_for(conn: Any, store: ArtifactStore, payload: EventPayload, job: dict[str, Any]) -> None:
    """Fold one event of ``job`` into the row of the dataset it names, if any."""
    dataset_id: uuid.UUID | None = getattr(payload, "dataset_id", None)
    if dataset_id is None:
        return
    dataset = await repository.get_dataset(conn, dataset_id)
    if dataset is None:
        return
    update = dataset_update_for(payload, upload_job=dataset["upload_job_id"] == job["job_id"],
                                current=dataset["status"])
    if update is None:
        return
    await repository.update_dataset(conn, dataset_id, **update.stored())
    if update.delete_raw:
        store.delete(dataset["raw"]["key"])
