"""Wires etl's use case to its adapters."""

from __future__ import annotations

from mesh_kit.cancellation import cancel_subscription
from mesh_kit.ports import ServiceSpec, Subscription
from shared_contracts.events import DatasetDeleted, DatasetProfiled
from shared_contracts.manifest import SERVICES

from .adapters.repository import InMemoryEtlRuns, PostgresEtlRuns, SqliteEtlRuns
from .service_layer.handlers import when_dataset_deleted, when_dataset_profiled_clean


def service_spec() -> ServiceSpec:
    return ServiceSpec(
        manifest=SERVICES["etl"],
        subscriptions=[Subscription(DatasetProfiled, when_dataset_profiled_clean),
                       Subscription(DatasetDeleted, when_dataset_deleted), cancel_subscription()],
        repository=PostgresEtlRuns,
        memory_repository=InMemoryEtlRuns,
        sqlite_repository=SqliteEtlRuns,
    )
