"""Wires the gateway: REST API, WebSocket, read-model consumer, Redis notifier."""

from __future__ import annotations

import json
from typing import Annotated, Any

from mesh_kit.ports import ServiceSpec, Subscription
from mesh_kit.service import Runtime
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from shared_contracts.manifest import ALL_EVENTS, SERVICES

from .adapters.notifier import RedisJobNotifier
from .adapters.repository import InMemoryReadModel, PostgresReadModel
from .entrypoints.api import add_routes
from .service_layer.handlers import when_any_event_update_read_model


class GatewaySettings(BaseSettings):
    """Gateway-only settings (the shared ones are in MeshSettings)."""

    model_config = SettingsConfigDict(env_prefix="DSP_", extra="ignore")

    upload_wait_s: float = 30.0
    max_time_budget_s: float = 3600.0  # well under the broker's consumer timeout (deploy/rabbitmq)
    ml_url: str = f"http://127.0.0.1:{SERVICES['ml'].port}"
    redis_namespace: str = "dsp"
    # ownership: WebSocket Origin allowlist and quotas
    allowed_origins: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(), description="Browser origins allowed on the WebSocket (comma-separated or a JSON list)")
    uploads_per_minute: int = Field(default=30, ge=1)
    analyses_per_minute: int = Field(default=10, ge=1)
    max_concurrent_analyses_per_org: int = Field(default=4, ge=1)

    @field_validator("allowed_origins", mode="before")
    @classmethod
    def _origins(cls, value: Any) -> tuple[str, ...]:
        if isinstance(value, str):
            text = value.strip()
            items = json.loads(text) if text.startswith("[") else text.split(",")
        else:
            items = list(value or ())
        return tuple(str(o).strip().rstrip("/").lower() for o in items if str(o).strip())


async def _start(runtime: Runtime) -> None:
    options = GatewaySettings()
    notifier = RedisJobNotifier(runtime.settings.redis_url, namespace=options.redis_namespace)
    runtime.extras["notifier"] = notifier
    runtime.runner.notify = lambda job_id, message: notifier.publish(str(job_id), message)
    runtime.extras["upload_wait_s"] = options.upload_wait_s
    runtime.extras["ml_url"] = options.ml_url.rstrip("/")
    runtime.extras["max_time_budget_s"] = options.max_time_budget_s
    runtime.extras["allowed_origins"] = frozenset(options.allowed_origins)
    runtime.extras["uploads_per_minute"] = options.uploads_per_minute
    runtime.extras["analyses_per_minute"] = options.analyses_per_minute
    runtime.extras["max_concurrent_analyses_per_org"] = options.max_concurrent_analyses_per_org


async def _stop(runtime: Runtime) -> None:
    await runtime.extras["notifier"].close()


async def check_redis(runtime: Runtime) -> None:
    await runtime.extras["notifier"].ping()


def service_spec() -> ServiceSpec:
    return ServiceSpec(
        manifest=SERVICES["gateway"],
        subscriptions=[Subscription(event, when_any_event_update_read_model) for event in ALL_EVENTS],
        repository=PostgresReadModel,
        memory_repository=InMemoryReadModel,
        routes=add_routes,
        on_startup=_start,
        on_shutdown=_stop,
        ready_checks=[check_redis],
    )
