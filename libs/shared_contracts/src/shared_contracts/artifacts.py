"""References to artifacts. Events carry these, never data."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["ArtifactRef"]


class ArtifactRef(BaseModel):
    """Where an artifact lives in the artifact store, and how to check it."""

    model_config = ConfigDict(frozen=True)

    key: str = Field(
        description="Store key, built only from platform ids, never from user file names",
        examples=["datasets/6f1c.../data.parquet"],
        pattern=r"^[a-z0-9][a-z0-9_./-]*$",
    )
    sha256: str = Field(description="Hex SHA-256 of the content", pattern=r"^[0-9a-f]{64}$")
    size_bytes: int = Field(ge=0)
    media_type: str = Field(examples=["application/vnd.apache.parquet"])
