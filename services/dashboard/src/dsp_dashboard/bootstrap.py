"""Wires dashboard's use cases to the mesh."""

from __future__ import annotations

from mesh_kit.cancellation import cancel_subscription
from mesh_kit.ports import ServiceSpec, Subscription
from shared_contracts.events import AnalysisCompleted, ComparisonCompleted, DashboardRequested, DatasetDeleted
from shared_contracts.manifest import SERVICES

from .adapters.repository import InMemoryDashboards, PostgresDashboards, SqliteDashboards
from .service_layer.handlers import (
    when_analysis_completed_build_dashboard,
    when_comparison_completed_draw,
    when_dashboard_requested_build_dashboard,
    when_dataset_deleted,
)


def service_spec() -> ServiceSpec:
    return ServiceSpec(
        manifest=SERVICES["dashboard"],
        subscriptions=[
            Subscription(AnalysisCompleted, when_analysis_completed_build_dashboard),
            Subscription(DashboardRequested, when_dashboard_requested_build_dashboard),
            Subscription(DatasetDeleted, when_dataset_deleted),
            Subscription(ComparisonCompleted, when_comparison_completed_draw),
            cancel_subscription(),
        ],
        repository=PostgresDashboards,
        memory_repository=InMemoryDashboards,
        sqlite_repository=SqliteDashboards,
    )
