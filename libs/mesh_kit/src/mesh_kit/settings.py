"""Settings shared by every service, read from ``DSP_*`` environment variables."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["MeshSettings"]

_PLACEHOLDERS = {"", "changeme", "change-me", "secret", "password"}


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
    log_level: str = "INFO"
    exchange: str = "dsp.events"
    queue_prefix: str = Field(default="dsp", description="Prefix of every queue name (isolates test runs)")
    prefetch: int = Field(default=1, ge=1, le=100)
    retry_delays_ms: tuple[int, ...] = Field(default=(1000, 5000, 25000))
    delivery_limit: int = Field(default=6, ge=2, description="Broker-side backstop for crash-looping messages")
    publish_timeout_s: float = 10.0
    outbox_poll_s: float = 0.5
    max_upload_bytes: int = 1024 * 1024 * 1024

    @model_validator(mode="after")
    def _refuse_placeholder_secrets(self) -> MeshSettings:
        if self.environment == "production":
            if "guest:guest@" in self.amqp_url:
                raise ValueError("DSP_AMQP_URL uses the guest account, refused in production")
            if self.db_password is not None and self.db_password.lower() in _PLACEHOLDERS:
                raise ValueError("DSP_DB_PASSWORD is a placeholder, refused in production")
        return self
