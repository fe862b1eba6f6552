"""Wires the gateway: REST API, WebSocket, read-model consumer, Redis notifier."""

from __future__ import annotations

from mesh_kit.service import Runtime, ServiceSpec, Subscription
from pydantic_settings import BaseSettings, SettingsConfigDict
from shared_contracts import EVENT_REGISTRY
from shared_contracts.events import AnalysisRequested, DashboardRequested, DatasetUploaded, StageFailed

from .adapters.notifier import RedisJobNotifier
from .entrypoints.api import add_routes
from .service_layer.handlers import when_any_event_update_read_model


class GatewaySettings(BaseSettings):
    """Gateway-only settings (the shared ones are in MeshSettings)."""

    model_config = SettingsConfigDict(env_prefix="DSP_", extra="ignore")

    upload_wait_s: float = 30.0
    max_time_budget_s: float = 3600.0  # well under the broker's consumer timeout (deploy/rabbitmq)
    ml_url: str = "http://127.0.0.1:8004"
    redis_namespace: str = "dsp"


async def _start(runtime: Runtime) -> None:
    options = GatewaySettings()
    runtime.extras["notifier"] = RedisJobNotifier(runtime.settings.redis_url, namespace=options.redis_namespace)
    runtime.extras["upload_wait_s"] = options.upload_wait_s
    runtime.extras["ml_url"] = options.ml_url.rstrip("/")
    runtime.extras["max_time_budget_s"] = options.max_time_budget_s


async def _stop(runtime: Runtime) -> None:
    await runtime.extras["notifier"].close()


async def check_redis(runtime: Runtime) -> None:
    await runtime.extras["notifier"].ping()


def service_spec() -> ServiceSpec:
    return ServiceSpec(
        name="gateway",
        package="dsp_gateway",
        description="REST API and WebSocket progress stream; keeps a read model of datasets and jobs.",
        emits=[DatasetUploaded, AnalysisRequested, DashboardRequested, StageFailed],
        subscriptions=[Subscription(event, when_any_event_update_read_model) for event in EVENT_REGISTRY.values()],
        routes=add_routes,
        on_startup=_start,
        on_shutdown=_stop,
        ready_checks=[check_redis],
    )
