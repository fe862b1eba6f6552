"""Wires etl's use case to its adapters."""

from __future__ import annotations

from mesh_kit.ports import ServiceSpec, Subscription
from shared_contracts.events import DatasetProfiled, DatasetTransformed, JobProgress, StageFailed

from .adapters.repository import InMemoryEtlRuns, PostgresEtlRuns
from .service_layer.handlers import when_dataset_profiled_clean


def service_spec() -> ServiceSpec:
    return ServiceSpec(
        name="etl",
        package="dsp_etl",
        description="Cleans and engineers features with an explained, replayable pipeline.",
        emits=[DatasetTransformed, StageFailed, JobProgress],
        subscriptions=[Subscription(DatasetProfiled, when_dataset_profiled_clean)],
        repository=PostgresEtlRuns,
        memory_repository=InMemoryEtlRuns,
    )
