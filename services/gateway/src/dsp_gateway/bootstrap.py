"""Wires the gateway: REST API, WebSocket, read-model consumer, Redis notifier, identity."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import secrets
from typing import Annotated, Any

from fastapi import FastAPI
from mesh_kit.ports import ServiceSpec, Subscription
from mesh_kit.service import Runtime
from pydantic import BaseModel, Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from shared_contracts.events import DatasetDeleted, DatasetPurged
from shared_contracts.manifest import ALL_EVENTS, SERVICES

from .adapters.deletions import InMemoryGatewayRepository, PostgresGatewayRepository
from .adapters.identity import PostgresIdentityRepository
from .adapters.limits import RedisLimiter
from .adapters.notifier import RedisJobNotifier
from .domain.tokens import KeyRing, SigningKey, TokenPolicy
from .entrypoints.api import add_routes
from .entrypoints.auth import add_identity_routes
from .entrypoints.ui import add_ui_routes
from .entrypoints.views import add_view_routes
from .service_layer.deletion import retention_loop, when_dataset_deleted_noted, when_dataset_purged
from .service_layer.handlers import when_any_event_update_read_model
from .service_layer.identity import IdentityConfig, ensure_user

log = logging.getLogger(__name__)

_PLACEHOLDER_SECRETS = {"", "changeme", "change-me", "secret", "password", "dev", "development", "jwt-secret"}

_BAD_ADMIN_PASSWORDS = _PLACEHOLDER_SECRETS | {"admin", "admin123", "administrator"}


class JwtKey(BaseModel):
    kid: str = Field(min_length=1, max_length=64)
    secret: str = Field(repr=False)


class GatewaySettings(BaseSettings):
    """Gateway-only settings (the shared ones are in MeshSettings)."""

    model_config = SettingsConfigDict(env_prefix="DSP_", extra="ignore")

    upload_wait_s: float = 30.0
    max_time_budget_s: float = 3600.0  # well under the broker's consumer timeout (deploy/rabbitmq)
    ml_url: str = f"http://127.0.0.1:{SERVICES['ml'].port}"
    redis_namespace: str = "dsp"
    # identity: signing keys (HS256). One key: DSP_JWT_SECRET. Rotation: DSP_JWT_KEYS = [{"kid", "secret"}, ...],
    # DSP_JWT_ACTIVE_KID (default: the last key), DSP_JWT_REVOKED_KIDS (tokens signed by them fail).
    jwt_secret: str | None = Field(default=None, repr=False)
    jwt_keys: list[JwtKey] = Field(default_factory=list, repr=False)
    jwt_active_kid: str | None = None
    jwt_revoked_kids: list[str] = Field(default_factory=list)
    jwt_issuer: str = "dsp-gateway"
    jwt_audience: str = "dsp-api"
    access_token_ttl_s: int = Field(default=900, ge=30, le=24 * 3600)
    refresh_token_ttl_s: int = Field(default=14 * 24 * 3600, ge=60)
    login_limit: str = "10/15minutes"  # bad logins per address and per client IP
    trusted_proxy_hops: int = Field(default=0, ge=0, le=5, description="Proxies in front whose X-Forwarded-For counts")
    bootstrap_admin_email: str | None = None
    bootstrap_admin_password: str | None = Field(default=None, repr=False)
    bootstrap_organization: str = "default"
    retention_days: float = 0.0
    """DSP_RETENTION_DAYS: datasets older than this are deleted (reason "retention"); 0 keeps them forever."""
    retention_interval_s: float = 3600.0
    """DSP_RETENTION_INTERVAL_S: how often the retention sweep runs."""

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


async def _bootstrap_admin(runtime: Runtime, options: GatewaySettings) -> None:
    if not (options.bootstrap_admin_email and options.bootstrap_admin_password):
        return
    if (runtime.settings.environment == "production"
            and options.bootstrap_admin_password.strip().lower() in _BAD_ADMIN_PASSWORDS):
        raise RuntimeError("gateway: DSP_BOOTSTRAP_ADMIN_PASSWORD is a placeholder, refused in production")
    async with runtime.pool.connection() as conn, conn.transaction():
        user, created = await ensure_user(PostgresIdentityRepository(conn), email=options.bootstrap_admin_email,
                                          password=options.bootstrap_admin_password, role="admin",
                                          organization=options.bootstrap_organization)
    if created:
        log.info("created the bootstrap admin %s in organization %s", user.email, user.organization_name)


async def _start(runtime: Runtime) -> None:
    options = GatewaySettings()
    try:
        ring = key_ring(options, runtime.settings.environment)
    except ValueError as exc:
        raise RuntimeError(f"gateway: invalid identity settings: {exc}") from None
    runtime.extras["identity"] = IdentityConfig(ring=ring, policy=TokenPolicy(
        issuer=options.jwt_issuer, audience=options.jwt_audience, access_ttl_s=options.access_token_ttl_s,
        refresh_ttl_s=options.refresh_token_ttl_s))
    runtime.extras["gateway_settings"] = options
    runtime.extras["limiter"] = RedisLimiter(runtime.settings.redis_url, namespace=options.redis_namespace)
    await _bootstrap_admin(runtime, options)
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
    await runtime.extras["limiter"].close()


def routes(app: FastAPI) -> None:
    add_routes(app)
    add_identity_routes(app)  # after: its audit middleware wraps the request-id one
    add_view_routes(app)
    add_ui_routes(app)  # last: its catch-all answers the UI's own paths with index.html


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
        routes=routes,
        on_startup=_start,
        on_shutdown=_stop,
        ready_checks=[check_redis],
    )
