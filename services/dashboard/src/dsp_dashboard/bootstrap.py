"""Wires dashboard's handlers to the mesh."""

from __future__ import annotations

from mesh_kit.service import ServiceSpec, Subscription
from shared_contracts.events import AnalysisCompleted, DashboardRequested
from shared_contracts.manifest import SERVICES

from .service_layer.handlers import (
    when_analysis_completed_build_dashboard,
    when_dashboard_requested_build_dashboard,
)


def service_spec() -> ServiceSpec:
    return ServiceSpec(
        manifest=SERVICES["dashboard"],
        subscriptions=[
            Subscription(AnalysisCompleted, when_analysis_completed_build_dashboard),
            Subscription(DashboardRequested, when_dashboard_requested_build_dashboard),
        ],
    )
