"""Settings shared by every service, read from ``DSP_*`` environment variables."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import unquote, urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

__all__ = ["MULTIPART_OVERHEAD_BYTES", "MeshSettings", "is_placeholder"]

_PLACEHOLDERS = {"", "changeme", "change-me", "change_me", "secret", "password", "guest", "admin", "dsp",
                 "postgres", "example", "test", "default"}

StrList = Annotated[list[str], NoDecode]


def is_placeholder(secret: str | None) -> bool:
    """True for a missing secret, a well-known default, or one of this repo's development defaults (``*-dev``)."""
    if secret is None:
        return True
    value = secret.strip().lower()
    return value in _PLACEHOLDERS or value.endswith("-dev") or "changeme" in value or "change-me" in value


def _url_password(url: str) -> str | None:
    parts = urlsplit(url)
    return None if parts.password is None else unquote(parts.password)


def _url_user(url: str) -> str | None:
    parts = urlsplit(url)
    return None if parts.username is None else unquote(parts.username)


def _split_list(value: Any) -> Any:
    """``a,b`` or ``["a", "b"]`` (a JSON list) from the environment; lists pass through."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            return [str(item).strip() for item in json.loads(text)]
        return [item.strip() for item in text.split(",") if item.strip()]
    return value


MULTIPART_OVERHEAD_BYTES = 4 * 1024 * 1024
"""What a multipart body may hold besides its file (form fields, part headers, boundaries)."""


class MeshSettings(BaseSettings):
    """Addresses and tuning of one service process. Validated at start; fails fast with a clear message."""

    model_config = SettingsConfigDict(env_prefix="DSP_", extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    amqp_url: str = "amqp://guest:guest@127.0.0.1:5672/"
    database_url: str = "postgresql://postgres@127.0.0.1:5432/dsp"
    admin_database_url: str | None = Field(
        default=None, description="Superuser URL used only by `migrate` to create the schema and role"
    )
    db_password: str | None = Field(default=None, description="Password migrate sets on the service's role")
    redis_url: str = "redis://127.0.0.1:6379/0"
    artifact_url: str = Field(
        default_factory=lambda: (Path.cwd() / "var" / "artifacts").resolve().as_uri(),
        description="file:///path or s3://bucket/prefix",
    )
    s3_endpoint_url: str | None = None
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    metrics_host: str | None = Field(
        default=None, description="Address of the internal /metrics listener; defaults to http_host"
    )
    metrics_port: int | None = Field(
        default=None, ge=0, le=65535,
        description="Port of the internal /metrics listener (not the app's port); defaults to http_port + 1000; "
                    "0 turns the listener off",
    )
    allowed_hosts: StrList = Field(
        default_factory=lambda: ["localhost", "127.0.0.1"],
        description="Host header allowlist (comma-separated or JSON list); '*.example.com' matches subdomains, "
                    "'*' turns the check off. /health/* answers any Host (kubelet probes use the pod IP)",
    )
    cors_origins: StrList = Field(
        default_factory=list, description="Origins allowed by CORS (comma-separated or JSON list); none by default"
    )
    allowed_origins: StrList = Field(
        default_factory=list,
        description="Origins the gateway's WebSocket accepts (comma-separated or JSON list)",
    )
    hsts_max_age: int = Field(
        default=0, ge=0, description="Send Strict-Transport-Security with this max-age when served over HTTPS; 0: off"
    )
    service_token: SecretStr | None = Field(
        default=None, description="Shared token the gateway sends to ml's internal routes; required in production"
    )
    db_pool_min_size: int | None = Field(
        default=None, ge=0, le=100,
        description="Connections the service's PostgreSQL pool opens at start and keeps open when idle (default: "
                    "DSP_DB_POOL_MAX_SIZE for the gateway, which serves the API, 1 for a stage). libpq opens a "
                    "connection on the event loop: a pool that grows under load stalls that process' requests")
    db_pool_max_size: int = Field(
        default=10, ge=1, le=100,
        description="Most connections the service's PostgreSQL pool opens (per worker process); a request waits "
                    "for one past it")
    http_workers: int = Field(
        default=1, ge=1, le=32,
        description="uvicorn worker processes of the gateway, each with its own pool, relay, consumer and "
                    "notifier. Only the gateway may run more than one: a stage scales by replicas")
    log_level: str = "INFO"
    exchange: str = "dsp.events"
    queue_prefix: str = Field(default="dsp", description="Prefix of every queue name (isolates test runs)")
    prefetch: int = Field(default=1, ge=1, le=100)
    shutdown_grace_s: float = Field(
        default=30.0, gt=0, le=24 * 3600,
        description="On SIGTERM the consumer stops taking deliveries at once and lets the one in flight finish for "
                    "up to this long; past it the delivery is left unacknowledged and the broker redelivers it. "
                    "Keep it under the pod's terminationGracePeriodSeconds (ml: at least the largest time budget)")
    retry_delays_ms: tuple[int, ...] = Field(default=(1000, 5000, 25000))
    delivery_limit: int = Field(default=6, ge=2, description="Broker-side backstop for crash-looping messages")
    publish_timeout_s: float = 10.0
    broker_retry_max_s: float = Field(
        default=10.0, gt=0, le=300,
        description="Longest pause between attempts to reach the broker at start-up (the pause doubles from 0.5 s "
                    "up to it); the service serves meanwhile, its readiness 503 with the broker check failing")
    outbox_poll_s: float = 0.5
    max_upload_bytes: int = Field(default=1024 * 1024 * 1024, ge=1, description="Largest uploaded file (bytes)")
    max_body_bytes: int = Field(
        default=32 * 1024 * 1024, ge=1024,
        description="Largest request body that is not a multipart upload (JSON, a CSV to predict on), counted while "
                    "it is read: past it the request answers 413 body_too_large. A multipart upload may hold "
                    "max_upload_bytes plus MULTIPART_OVERHEAD_BYTES (its form fields and part headers)")
    body_timeout_s: float = Field(
        default=30.0, gt=0, le=3600,
        description="Longest wait for the next piece of a request body; a client slower than this gets 408 "
                    "body_timeout and the request's spool file is removed")
    http_keep_alive_s: float = Field(default=5.0, gt=0, le=300,
                                     description="How long an idle keep-alive connection stays open")
    http_headers_timeout_s: float = Field(
        default=10.0, gt=0, le=300,
        description="Longest time a new connection may take to send its request line and headers before it is closed")
    http_max_connections: int = Field(
        default=256, ge=1, le=100_000,
        description="Most connections and tasks the server serves at once; past it a request answers 503")
    http_backlog: int = Field(default=2048, ge=16, le=65_535, description="Connections the OS queues before accept")
    http_max_header_bytes: int = Field(default=64 * 1024, ge=4096, le=1024 * 1024,
                                       description="Largest request line plus headers")

    def pool_min_size(self, *, serves_api: bool) -> int:
        """``db_pool_min_size``, or its default: every connection opened at start for a service that serves the
        API, one for a stage (whose deliveries wait on the broker anyway)."""
        if self.db_pool_min_size is not None:
            return self.db_pool_min_size
        return self.db_pool_max_size if serves_api else 1

    @model_validator(mode="after")
    def _pool_bounds(self) -> MeshSettings:
        if self.db_pool_min_size is not None and self.db_pool_min_size > self.db_pool_max_size:
            raise ValueError(f"DSP_DB_POOL_MIN_SIZE ({self.db_pool_min_size}) is larger than DSP_DB_POOL_MAX_SIZE "
                             f"({self.db_pool_max_size})")
        return self

    _split = field_validator("allowed_hosts", "cors_origins", "allowed_origins", mode="before")(_split_list)

    @property
    def metrics_address(self) -> tuple[str, int] | None:
        """Where the internal metrics listener binds, or None when it is off."""
        port = self.http_port + 1000 if self.metrics_port is None else self.metrics_port
        if port == 0:
            return None
        return (self.metrics_host or self.http_host, port)

    @model_validator(mode="after")
    def _refuse_placeholder_secrets(self) -> MeshSettings:
        if self.environment != "production":
            return self
        problems = []
        if _url_user(self.amqp_url) in (None, "guest") or is_placeholder(_url_password(self.amqp_url)):
            problems.append("DSP_AMQP_URL has no password, the guest account or a placeholder password")
        if is_placeholder(_url_password(self.database_url)):
            problems.append("DSP_DATABASE_URL has no password or a placeholder password")
        if self.admin_database_url is not None and is_placeholder(_url_password(self.admin_database_url)):
            problems.append("DSP_ADMIN_DATABASE_URL has no password or a placeholder password")
        if self.db_password is not None and is_placeholder(self.db_password):
            problems.append("DSP_DB_PASSWORD is a placeholder")
        if is_placeholder(_url_password(self.redis_url)):
            problems.append("DSP_REDIS_URL has no password (redis://:password@host:6379/0) or a placeholder")
        if self.service_token is None or is_placeholder(self.service_token.get_secret_value()) \
                or len(self.service_token.get_secret_value()) < 24:
            problems.append("DSP_SERVICE_TOKEN is missing, a placeholder or shorter than 24 characters")
        if "*" in self.allowed_hosts:
            problems.append("DSP_ALLOWED_HOSTS is '*'")
        if problems:
            raise ValueError("refused in production (DSP_ENVIRONMENT=production): " + "; ".join(problems))
        return self
