"""Wires profile's use cases to the mesh."""

from __future__ import annotations

from mesh_kit.cancellation import cancel_subscription
from mesh_kit.ports import ServiceSpec, Subscription
from shared_contracts.events import AnalysisRequested, ComparisonRequested, DatasetDeleted, DatasetIngested
from shared_contracts.manifest import SERVICES

from .adapters.repository import InMemoryProfiles, PostgresProfiles, SqliteProfiles
from .service_layer.handlers import (
    when_analysis_requested_profile,
    when_comparison_requested_compare,
    when_dataset_deleted,
    when_dataset_ingested_profile,
)


def service_spec() -> ServiceSpec:
    return ServiceSpec(
        manifest=SERVICES["profile"],
        subscriptions=[
            Subscription(DatasetIngested, when_dataset_ingested_profile),
            Subscription(AnalysisRequested, when_analysis_requested_profile),
            Subscription(DatasetDeleted, when_dataset_deleted),
            Subscription(ComparisonRequested, when_comparison_requested_compare),
            cancel_subscription(),
        ],
        repository=PostgresProfiles,
        memory_repository=InMemoryProfiles,
        sqlite_repository=SqliteProfiles,
    )
