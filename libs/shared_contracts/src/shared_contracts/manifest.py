"""The mesh in one place: every service, its port, and the events it consumes and publishes.

The broker topology, each service's wiring, the local mesh, the AsyncAPI documents and the
deployment files read these facts from here (or are checked against them by tests), so a new
service or subscription is one edit.

``python -m shared_contracts.manifest`` prints one ``<name> <port>`` line per service, for shell
loops such as building every image.

Examples
--------
>>> from shared_contracts.manifest import SERVICES
>>> SERVICES["etl"].port
8003
>>> SERVICES["etl"].routing_keys
('dataset.profiled.v1', 'dataset.deleted.v1', 'job.cancel_requested.v1')
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

from . import events as ev
from .envelope import EVENT_REGISTRY, EventPayload

__all__ = ["ALL_EVENTS", "SERVICES", "ServiceManifest", "purging_services", "service"]

ALL_EVENTS: tuple[type[EventPayload], ...] = tuple(EVENT_REGISTRY.values())
"""Every registered event, in the order ``shared_contracts.events`` declares them."""


@dataclass(frozen=True)
class ServiceManifest:
    """What the rest of the mesh needs to know about one service."""

    name: str
    port: int
    description: str
    subscribes: tuple[type[EventPayload], ...]
    publishes: tuple[type[EventPayload], ...]
    catch_all: bool = False
    """Also bind the queue to ``#``, so that no key published on the exchange is unroutable."""

    @property
    def package(self) -> str:
        """The import package, run as ``python -m <package>``."""
        return f"dsp_{self.name}"

    @property
    def distribution(self) -> str:
        """The workspace distribution the service's image installs."""
        return f"dsp-{self.name}"

    @property
    def routing_keys(self) -> tuple[str, ...]:
        """The routing keys of the events it subscribes to."""
        return tuple(event.routing_key() for event in self.subscribes)

    @property
    def binding_keys(self) -> tuple[str, ...]:
        """The keys its queue is bound to on the exchange."""
        return ("#",) if self.catch_all else self.routing_keys


_MESH = (
    ServiceManifest(
        name="gateway",
        port=8000,
        description="REST API and WebSocket progress stream; keeps a read model of datasets and jobs.",
        subscribes=ALL_EVENTS,
        publishes=(ev.DatasetUploaded, ev.AnalysisRequested, ev.DashboardRequested, ev.StageFailed,
                   ev.DatasetDeleted, ev.ComparisonRequested, ev.JobCancelRequested),
        catch_all=True,
    ),
    ServiceManifest(
        name="ingest",
        port=8001,
        description="Reads uploaded CSVs of any dialect, infers semantic types, validates and writes Parquet.",
        subscribes=(ev.DatasetUploaded, ev.DatasetDeleted, ev.JobCancelRequested),
        publishes=(ev.DatasetIngested, ev.DatasetRejected, ev.StageFailed, ev.JobProgress, ev.DatasetPurged,
                   ev.JobCancelled),
    ),
    ServiceManifest(
        name="profile",
        port=8002,
        description="Computes exact per-column statistics, correlations, missingness, alerts and a quality score.",
        subscribes=(ev.DatasetIngested, ev.AnalysisRequested, ev.DatasetDeleted, ev.ComparisonRequested,
                    ev.JobCancelRequested),
        publishes=(ev.DatasetProfiled, ev.StageFailed, ev.JobProgress, ev.DatasetPurged, ev.DatasetsCompared,
                   ev.JobCancelled),
    ),
    ServiceManifest(
        name="etl",
        port=8003,
        description="Cleans and engineers features with an explained, replayable pipeline.",
        subscribes=(ev.DatasetProfiled, ev.DatasetDeleted, ev.JobCancelRequested),
        publishes=(ev.DatasetTransformed, ev.StageFailed, ev.JobProgress, ev.DatasetPurged, ev.JobCancelled),
    ),
    ServiceManifest(
        name="ml",
        port=8004,
        description="Statistics, patterns, forecasts, AutoML with SHAP explanations, and plain-language insights.",
        subscribes=(ev.DatasetTransformed, ev.DatasetDeleted, ev.DatasetsCompared, ev.JobCancelRequested),
        publishes=(ev.AnalysisCompleted, ev.StageFailed, ev.JobProgress, ev.DatasetPurged, ev.ComparisonCompleted,
                   ev.JobCancelled),
    ),
    ServiceManifest(
        name="dashboard",
        port=8005,
        description="Builds self-contained, interactive, offline HTML dashboards and PDF reports.",
        subscribes=(ev.AnalysisCompleted, ev.DashboardRequested, ev.DatasetDeleted, ev.ComparisonCompleted,
                    ev.JobCancelRequested),
        publishes=(ev.DashboardReady, ev.StageFailed, ev.JobProgress, ev.DatasetPurged, ev.JobCancelled),
    ),
)

SERVICES: dict[str, ServiceManifest] = {manifest.name: manifest for manifest in _MESH}
"""Every service of the mesh by name, gateway first, then in the order a job flows through them."""


def purging_services() -> tuple[str, ...]:
    """The services that erase a deleted dataset and acknowledge it with ``dataset.purged`` (not the
    gateway, which emits the deletion and erases its own rows when it does)."""
    return tuple(m.name for m in _MESH if ev.DatasetDeleted in m.subscribes and not m.catch_all)


def service(name: str) -> ServiceManifest:
    """The manifest of one service, or a ``KeyError`` that names the known ones."""
    try:
        return SERVICES[name]
    except KeyError:
        raise KeyError(f"no service {name!r} in the mesh (known: {', '.join(SERVICES)})") from None


def main() -> int:
    for manifest in SERVICES.values():
        print(manifest.name, manifest.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
