"""Wires the gateway: REST API, WebSocket, read-model consumer, Redis notifier, identity."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import secrets

from fastapi import FastAPI
from mesh_kit.hardening import service_token_headers
from mesh_kit.ports import ServiceSpec, Subscription
from mesh_kit.service import Runtime
from shared_contracts.events import DatasetDeleted, DatasetPurged
from shared_contracts.manifest import ALL_EVENTS, SERVICES

from .adapters.deletions import InMemoryGatewayRepository, PostgresGatewayRepository
from .adapters.limits import RedisLimiter
from .adapters.notifier import RedisJobNotifier
from .adapters.predictor import HttpPredictor
from .adapters.sqlite import SqliteGatewayRepository
from .adapters.storage import PostgresGatewayStorage
from .domain.tokens import KeyRing, SigningKey, TokenPolicy
from .entrypoints.api import add_routes
from .entrypoints.auth import add_identity_routes
from .entrypoints.models import add_model_routes
from .entrypoints.ui import add_ui_routes
from .entrypoints.views import add_view_routes
from .ports import GatewayPorts
from .service_layer.deletion import retention_loop, when_dataset_deleted_noted, when_dataset_purged
from .service_layer.handlers import when_any_event_update_read_model
from .service_layer.identity import IdentityConfig, ensure_user
from .settings import GatewaySettings, JwtKey

__all__ = [
    "GatewaySettings",
    "JwtKey",
    "bootstrap_admin",
    "check_identity_settings",
    "identity_config",
    "key_ring",
    "mesh_ports",
    "routes",
    "service_spec",
    "start_retention",
    "stop_retention",
]

log = logging.getLogger(__name__)

_PLACEHOLDER_SECRETS = {"", "changeme", "change-me", "secret", "password", "dev", "development", "jwt-secret"}

_BAD_ADMIN_PASSWORDS = _PLACEHOLDER_SECRETS | {"admin", "admin123", "administrator"}


def key_ring(options: GatewaySettings, environment: str) -> KeyRing:
    """The signing keys from the settings. Production refuses none or a placeholder; development and test
    make a random key for this process (its tokens die with it)."""
    keys = [SigningKey(kid=k.kid, secret=k.secret) for k in options.jwt_keys]
    if options.jwt_secret:
        keys.append(SigningKey(kid=hashlib.sha256(options.jwt_secret.encode()).hexdigest()[:12],
                               secret=options.jwt_secret))
    if environment == "production":
        if not keys:
            raise ValueError("DSP_JWT_SECRET (or DSP_JWT_KEYS) is missing, refused in production")
        for key in keys:
            if key.secret.strip().lower() in _PLACEHOLDER_SECRETS:
                raise ValueError(f"the JWT key {key.kid!r} is a placeholder, refused in production")
    elif not keys:
        log.warning("no DSP_JWT_SECRET: using a random signing key for this process (development only)")
        keys = [SigningKey(kid="dev-" + secrets.token_hex(4), secret=secrets.token_urlsafe(48))]
    return KeyRing.build(keys, active_kid=options.jwt_active_kid, revoked=options.jwt_revoked_kids)


def check_identity_settings() -> str | None:
    """Why the gateway's identity settings would stop it at start (None: they are fine); for `serve`."""
    from mesh_kit.settings import MeshSettings

    try:
        environment = MeshSettings().environment
    except ValueError:
        return None  # mesh_kit's cli reports those
    try:
        options = GatewaySettings()
        key_ring(options, environment)
    except ValueError as exc:  # pydantic's ValidationError is one
        return f"invalid identity settings: {exc}"
    password = (options.bootstrap_admin_password or "").strip().lower()
    if environment == "production" and options.bootstrap_admin_email and password in _BAD_ADMIN_PASSWORDS:
        return "DSP_BOOTSTRAP_ADMIN_PASSWORD is a placeholder, refused in production"
    return None


def identity_config(options: GatewaySettings, environment: str) -> IdentityConfig:
    """The signing keys and token policy; raises RuntimeError when the settings are refused."""
    try:
        ring = key_ring(options, environment)
    except ValueError as exc:
        raise RuntimeError(f"gateway: invalid identity settings: {exc}") from None
    return IdentityConfig(ring=ring, policy=TokenPolicy(
        issuer=options.jwt_issuer, audience=options.jwt_audience, access_ttl_s=options.access_token_ttl_s,
        refresh_ttl_s=options.refresh_token_ttl_s))


async def bootstrap_admin(ports: GatewayPorts, environment: str) -> None:
    """Create the DSP_BOOTSTRAP_ADMIN_EMAIL account unless it exists (production refuses a placeholder password)."""
    options = ports.options
    if not (options.bootstrap_admin_email and options.bootstrap_admin_password):
        return
    if environment == "production" and options.bootstrap_admin_password.strip().lower() in _BAD_ADMIN_PASSWORDS:
        raise RuntimeError("gateway: DSP_BOOTSTRAP_ADMIN_PASSWORD is a placeholder, refused in production")
    async with ports.storage.identity() as repo:
        user, created = await ensure_user(repo, email=options.bootstrap_admin_email,
                                          password=options.bootstrap_admin_password, role="admin",
                                          organization=options.bootstrap_organization)
    if created:
        log.info("created the bootstrap admin %s in organization %s", user.email, user.organization_name)


def start_retention(ports: GatewayPorts) -> asyncio.Task[None] | None:
    """The retention sweep's task when DSP_RETENTION_DAYS is set; cancel it to stop."""
    options = ports.options
    if options.retention_days <= 0:
        return None
    return asyncio.create_task(retention_loop(ports, options.retention_days, options.retention_interval_s),
                               name="gateway-retention")


def mesh_ports(runtime: Runtime, options: GatewaySettings) -> GatewayPorts:
    """The ports of a mesh service: Postgres with its outbox relay, Redis, HTTP to ml."""
    return GatewayPorts(
        storage=PostgresGatewayStorage(runtime.pool, runtime.relay), store=runtime.store,
        notifier=RedisJobNotifier(runtime.settings.redis_url, namespace=options.redis_namespace),
        limiter=RedisLimiter(runtime.settings.redis_url, namespace=options.redis_namespace),
        # ml's internal route admits only the gateway
        predictor=HttpPredictor(options.ml_url, headers=service_token_headers(runtime.settings)),
        identity=identity_config(options, runtime.settings.environment), options=options,
        max_upload_bytes=runtime.settings.max_upload_bytes)


async def _start(runtime: Runtime) -> None:
    ports = mesh_ports(runtime, GatewaySettings())
    runtime.extras["gateway"] = ports
    await bootstrap_admin(ports, runtime.settings.environment)
    notifier = ports.notifier
    runtime.runner.notify = lambda job_id, message: notifier.publish(str(job_id), message)
    retention = start_retention(ports)
    if retention is not None:
        runtime.extras["retention"] = retention


async def stop_retention(task: asyncio.Task[None] | None) -> None:
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _stop(runtime: Runtime) -> None:
    await stop_retention(runtime.extras.pop("retention", None))
    ports: GatewayPorts = runtime.extras["gateway"]
    await ports.notifier.close()
    await ports.limiter.close()


def routes(app: FastAPI) -> None:
    add_routes(app)
    add_identity_routes(app)  # after: its audit middleware wraps the request-id one
    add_model_routes(app)
    add_view_routes(app)
    add_ui_routes(app)  # last: its catch-all answers the UI's own paths with index.html


async def check_redis(runtime: Runtime) -> None:
    await runtime.extras["gateway"].notifier.ping()


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
        sqlite_repository=SqliteGatewayRepository,
        routes=routes,
        on_startup=_start,
        on_shutdown=_stop,
        ready_checks=[check_redis],
        # without Redis the API serves on (no progress stream, no rate limits); without the broker requests
        # still commit, their events waiting in the outbox
        degradable=frozenset({"redis", "rabbitmq"}),
    )
