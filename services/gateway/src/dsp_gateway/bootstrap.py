"""Wires the gateway: REST API, WebSocket, read-model consumer, Redis notifier."""

from __future__ import annotations

import asyncio
import contextlib

from mesh_kit.ports import ServiceSpec, Subscription
from mesh_kit.service import Runtime
from pydantic_settings import BaseSettings, SettingsConfigDict
from shared_contracts.events import DatasetDeleted, DatasetPurged
from shared_contracts.manifest import ALL_EVENTS, SERVICES

from .adapters.deletions import InMemoryGatewayRepository, PostgresGatewayRepository
from .adapters.notifier import RedisJobNotifier
from .entrypoints.api import add_routes
from .service_layer.deletion import retention_loop, when_dataset_deleted_noted, when_dataset_purged
from .service_layer.handlers import when_any_event_update_read_model


class GatewaySettings(BaseSettings):
    """Gateway-only settings (the shared ones are in MeshSettings)."""

    model_config = SettingsConfigDict(env_prefix="DSP_", extra="ignore")

    upload_wait_s: float = 30.0
    max_time_budget_s: float = 3600.0  # well under the broker's consumer timeout (deploy/rabbitmq)
    ml_url: str = f"http://127.0.0.1:{SERVICES['ml'].port}"
    redis_namespace: str = "dsp"
    retention_days: float = 0.0
    """DSP_RETENTION_DAYS: datasets older than this are deleted (reason "retention"); 0 keeps them forever."""
    retention_interval_s: float = 3600.0
    """DSP_RETENTION_INTERVAL_S: how often the retention sweep runs."""


async def _start(runtime: Runtime) -> None:
    options = GatewaySettings()
    notifier = RedisJobNotifier(runtime.settings.redis_url, namespace=options.redis_namespace)
    runtime.extras["notifier"] = notifier
    runtime.runner.notify = lambda job_id, message: notifier.publish(str(job_id), message)
    runtime.extras["upload_wait_s"] = options.upload_wait_s
    runtime.extras["ml_url"] = options.ml_url.rstrip("/")
    runtime.extras["max_time_budget_s"] = options.max_time_budget_s
    if options.retention_days > 0:
        runtime.extras["retention"] = asyncio.create_task(
            retention_loop(runtime, options.retention_days, options.retention_interval_s), name="gateway-retention")


async def _stop(runtime: Runtime) -> None:
    retention = runtime.extras.pop("retention", None)
    if retention is not None:
        retention.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await retention
    await runtime.extras["notifier"].close()


async def check_redis(runtime: Runtime) -> None:
    await runtime.extras["notifier"].ping()


def service_spec() -> ServiceSpec:
    return ServiceSpec(
        manifest=SERVICES["gateway"],
        subscriptions=[
            *(Subscription(event, when_any_event_update_read_model) for event in ALL_EVENTS
              if event not in (DatasetDeleted, DatasetPurged)),
            Subscription(DatasetDeleted, when_dataset_deleted_noted),
            Subscription(DatasetPurged, when_dataset_purged),
        ],
        repository=PostgresGatewayRepository,
        memory_repository=InMemoryGatewayRepository,
        routes=add_routes,
        on_startup=_start,
        on_shutdown=_stop,
        ready_checks=[check_redis],
    )
