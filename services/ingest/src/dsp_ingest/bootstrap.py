"""Wires ingest's use cases to the mesh."""

from __future__ import annotations

from mesh_kit.ports import ServiceSpec, Subscription
from shared_contracts.events import (
    DatasetIngested,
    DatasetRejected,
    DatasetUploaded,
    JobProgress,
    StageFailed,
)

from .adapters.repository import InMemoryIngestedDatasets, PostgresIngestedDatasets
from .service_layer.handlers import when_dataset_uploaded_ingest


def service_spec() -> ServiceSpec:
    return ServiceSpec(
        name="ingest",
        package="dsp_ingest",
        description="Reads uploaded CSVs of any dialect, infers semantic types, validates and writes Parquet.",
        emits=[DatasetIngested, DatasetRejected, StageFailed, JobProgress],
        subscriptions=[Subscription(DatasetUploaded, when_dataset_uploaded_ingest)],
        repository=PostgresIngestedDatasets,
        memory_repository=InMemoryIngestedDatasets,
    )
