"""Wires ingest's use cases to the mesh."""

from __future__ import annotations

from mesh_kit.cancellation import cancel_subscription
from mesh_kit.ports import ServiceSpec, Subscription
from shared_contracts.events import DatasetDeleted, DatasetUploaded
from shared_contracts.manifest import SERVICES

from .adapters.repository import InMemoryIngestedDatasets, PostgresIngestedDatasets, SqliteIngestedDatasets
from .service_layer.handlers import when_dataset_deleted, when_dataset_uploaded_ingest


def service_spec() -> ServiceSpec:
    return ServiceSpec(
        manifest=SERVICES["ingest"],
        subscriptions=[Subscription(DatasetUploaded, when_dataset_uploaded_ingest),
                       Subscription(DatasetDeleted, when_dataset_deleted), cancel_subscription()],
        repository=PostgresIngestedDatasets,
        memory_repository=InMemoryIngestedDatasets,
        sqlite_repository=SqliteIngestedDatasets,
    )
