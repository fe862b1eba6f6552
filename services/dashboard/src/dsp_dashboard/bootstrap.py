"""Wires dashboard's use cases to the mesh."""

from __future__ import annotations

from mesh_kit.ports import ServiceSpec, Subscription
from shared_contracts.events import (
    AnalysisCompleted,
    DashboardReady,
    DashboardRequested,
    JobProgress,
    StageFailed,
)

from .adapters.repository import InMemoryDashboards, PostgresDashboards
from .service_layer.handlers import (
    when_analysis_completed_build_dashboard,
    when_dashboard_requested_build_dashboard,
)


def service_spec() -> ServiceSpec:
    return ServiceSpec(
        name="dashboard",
        package="dsp_dashboard",
        description="Builds self-contained, interactive, offline HTML dashboards and PDF reports.",
        emits=[DashboardReady, StageFailed, JobProgress],
        subscriptions=[
            Subscription(AnalysisCompleted, when_analysis_completed_build_dashboard),
            Subscription(DashboardRequested, when_dashboard_requested_build_dashboard),
        ],
        repository=PostgresDashboards,
        memory_repository=InMemoryDashboards,
    )
