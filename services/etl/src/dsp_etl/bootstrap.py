"""Wires etl's handlers to the mesh."""

from __future__ import annotations

from mesh_kit.service import ServiceSpec, Subscription
from shared_contracts.events import DatasetProfiled
from shared_contracts.manifest import SERVICES

from .service_layer.handlers import when_dataset_profiled_clean


def service_spec() -> ServiceSpec:
    return ServiceSpec(
        manifest=SERVICES["etl"],
        subscriptions=[Subscription(DatasetProfiled, when_dataset_profiled_clean)],
    )
