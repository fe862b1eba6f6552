"""Helpers for the handler tests of every service: run use cases on the in-process mesh."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from shared_contracts import ArtifactRef, Envelope, EventPayload
from shared_contracts.events import AnalysisOptions, DatasetUploaded, IngestOptions

from .artifacts import ArtifactStore, artifact_key
from .memory import InMemoryArtifactStore, InMemoryMesh
from .ports import ServiceSpec

__all__ = ["payloads_of", "run_services", "upload"]


def upload(store: ArtifactStore, csv: Path | bytes, *, analysis: AnalysisOptions | None = None,
           ingest: IngestOptions | None = None, name: str = "data.csv") -> DatasetUploaded:
    """Put a CSV in the store and describe it as the gateway's upload event does."""
    dataset_id = uuid.uuid4()
    key = artifact_key("datasets", dataset_id, "raw")
    raw: ArtifactRef = (store.put_bytes(key, csv, media_type="text/csv") if isinstance(csv, bytes)
                        else store.put_file(key, csv, media_type="text/csv"))
    return DatasetUploaded(dataset_id=dataset_id, raw=raw, display_name=name, ingest=ingest or IngestOptions(),
                           analysis=analysis)


async def run_services(services: Sequence[ServiceSpec], *events: EventPayload,
                       store: ArtifactStore | None = None) -> tuple[InMemoryMesh, list[Envelope[Any]]]:
    """Publish ``events`` (one job) on a mesh of ``services`` and drain it."""
    mesh = InMemoryMesh(services, store or InMemoryArtifactStore())
    job = uuid.uuid4()
    for event in events:
        mesh.publish(event, job_id=job)
    return mesh, await mesh.drain()


def payloads_of(envelopes: Sequence[Envelope[Any]], kind: type[EventPayload]) -> list[Any]:
    """The payloads of one event class, in delivery order."""
    return [e.payload for e in envelopes if isinstance(e.payload, kind)]
