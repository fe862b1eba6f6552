"""Wires profile's use cases to the mesh."""

from __future__ import annotations

from mesh_kit.ports import ServiceSpec, Subscription
from shared_contracts.events import (
    AnalysisRequested,
    DatasetIngested,
    DatasetProfiled,
    JobProgress,
    StageFailed,
)

from .adapters.repository import InMemoryProfiles, PostgresProfiles
from .service_layer.handlers import when_analysis_requested_profile, when_dataset_ingested_profile


def service_spec() -> ServiceSpec:
    return ServiceSpec(
        name="profile",
        package="dsp_profile",
        description="Computes exact per-column statistics, correlations, missingness, alerts and a quality score.",
        emits=[DatasetProfiled, StageFailed, JobProgress],
        subscriptions=[
            Subscription(DatasetIngested, when_dataset_ingested_profile),
            Subscription(AnalysisRequested, when_analysis_requested_profile),
        ],
        repository=PostgresProfiles,
        memory_repository=InMemoryProfiles,
    )
