"""Wires ml's use cases and its prediction endpoint to the mesh.

The analysis core is imported lazily (``dsp_ml.domain``): the process attaches its consumer first, then loads the
core with AutoGluon, SHAP and the rest in the background (``warm_up``), and keeps them for its life.
"""

from __future__ import annotations

from mesh_kit.cancellation import cancel_subscription
from mesh_kit.ports import ServiceSpec, Subscription
from shared_contracts.events import DatasetDeleted, DatasetsCompared, DatasetTransformed
from shared_contracts.manifest import SERVICES

from . import domain
from .adapters.repository import InMemoryAnalyses, PostgresAnalyses, SqliteAnalyses
from .service_layer.handlers import (
    when_dataset_deleted,
    when_dataset_transformed_analyze,
    when_datasets_compared_score_target,
)


def service_spec() -> ServiceSpec:
    from .entrypoints.http import add_routes

    return ServiceSpec(
        manifest=SERVICES["ml"],
        subscriptions=[Subscription(DatasetTransformed, when_dataset_transformed_analyze),
                       Subscription(DatasetDeleted, when_dataset_deleted),
                       Subscription(DatasetsCompared, when_datasets_compared_score_target), cancel_subscription()],
        routes=add_routes,
        repository=PostgresAnalyses,
        memory_repository=InMemoryAnalyses,
        sqlite_repository=SqliteAnalyses,
        warm_up=domain.load,
    )
