"""The gateway's own settings (the shared ones are in mesh_kit.settings.MeshSettings)."""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import BaseModel, Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from shared_contracts.manifest import SERVICES

__all__ = ["GatewaySettings", "JwtKey"]


class JwtKey(BaseModel):
    kid: str = Field(min_length=1, max_length=64)
    secret: str = Field(repr=False)


class GatewaySettings(BaseSettings):
    """Gateway-only settings (the shared ones are in MeshSettings)."""

    model_config = SettingsConfigDict(env_prefix="DSP_", extra="ignore")

    upload_wait_s: float = 30.0
    idempotency_ttl_s: int = Field(
        default=24 * 3600, ge=60, le=30 * 24 * 3600,
        description="How long the first response to an Idempotency-Key is kept for its retries (default 24 h)")
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
    auth_cache_s: float = Field(
        default=1.0, ge=0, le=60,
        description="How long a process keeps who a credential authenticated as (0: it checks the user or key on "
                    "every request). A user disabled, deleted or given another role, or a key revoked, through "
                    "another worker or replica is seen within this time; through the same process at once")
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
    max_form_fields: int = Field(default=32, ge=1, le=1000,
                                 description="Most form fields of one upload, besides its file (413 too_many_fields)")
    max_form_bytes: int = Field(default=1024 * 1024, ge=1024, le=4 * 1024 * 1024,
                                description="All form fields of one upload together, in bytes (413 form_too_large)")
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
