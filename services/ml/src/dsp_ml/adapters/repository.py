"""ml's analyses and its model registry: the port, its Postgres adapter, its SQLite adapter and its in-memory adapter."""

from __future__ import annotations

import abc
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mesh_kit.artifacts import owner_prefix
from mesh_kit.deletion import Purged
from mesh_kit.sqlite import SqliteConnection
from psycopg import AsyncConnection
from psycopg.rows import dict_row
from shared_contracts import ArtifactRef

__all__ = ["Analyses", "AnalysisRecord", "InMemoryAnalyses", "ModelVersion", "PostgresAnalyses", "SqliteAnalyses", "find_model"]


@dataclass(frozen=True)
class AnalysisRecord:
    job_id: uuid.UUID
    dataset_id: uuid.UUID
    analysis_key: str
    task: str | None
    target: str | None
    model_id: uuid.UUID | None


@dataclass(frozen=True)
class ModelVersion:
    """A trained model as the registry keeps it: what it predicts, from what, and its stored artifacts."""

    model_id: uuid.UUID
    job_id: uuid.UUID
    dataset_id: uuid.UUID
    task: str
    target: str
    features: list[str]
    metrics: dict[str, Any]
    training_data_hash: str
    config: dict[str, Any]
    artifact: ArtifactRef
    pipeline: ArtifactRef
    reference: ArtifactRef | None = None
    manifest_sha256: str | None = None


class Analyses(abc.ABC):
    """ml's analyses and model versions."""

    @abc.abstractmethod
    async def record_analysis(self, analysis: AnalysisRecord) -> None:
        """Record the analysis of a job."""

    @abc.abstractmethod
    async def register_model(self, model: ModelVersion) -> int:
        """Record a new model version for (dataset, target); returns its version number."""

    @abc.abstractmethod
    async def find_model(self, model_id: uuid.UUID) -> ModelVersion | None:
        """The registered model, or None (never registered, or erased with its dataset)."""

    @abc.abstractmethod
    async def purge_dataset(self, dataset_id: uuid.UUID, job_ids: tuple[uuid.UUID, ...]) -> Purged:
        """Delete the dataset's rows; answer their count and the artifact prefixes they pointed at."""


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str | bytes) else value


def model_from_row(row: Mapping[str, Any]) -> ModelVersion:
    """A registry row (Postgres or SQLite) as a model version."""

    def ref(prefix: str, media_type: str) -> ArtifactRef | None:
        if not row[f"{prefix}_key"]:
            return None
        return ArtifactRef(key=row[f"{prefix}_key"], sha256=row[f"{prefix}_sha256"],
                           size_bytes=int(row[f"{prefix}_size"]), media_type=media_type)

    artifact, pipeline = ref("artifact", "application/gzip"), ref("pipeline", "application/json")
    assert artifact is not None and pipeline is not None
    return ModelVersion(
        model_id=uuid.UUID(str(row["model_id"])), job_id=uuid.UUID(str(row["job_id"])),
        dataset_id=uuid.UUID(str(row["dataset_id"])), task=row["task"], target=row["target"],
        features=list(_json(row["features"])), metrics=dict(_json(row["metrics"])),
        training_data_hash=row["training_data_hash"], config=dict(_json(row["config"])), artifact=artifact,
        pipeline=pipeline, reference=ref("reference", "application/vnd.apache.parquet"),
        manifest_sha256=row["manifest_sha256"],
    )


class PostgresAnalyses(Analyses):
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def record_analysis(self, analysis: AnalysisRecord) -> None:
        a = analysis
        await record_analysis(self.conn, job_id=a.job_id, dataset_id=a.dataset_id, analysis_key=a.analysis_key,
                              task=a.task, target=a.target, model_id=a.model_id)

    async def register_model(self, model: ModelVersion) -> int:
        m = model
        return await register_model(
            self.conn, model_id=m.model_id, job_id=m.job_id, dataset_id=m.dataset_id, task=m.task, target=m.target,
            features=m.features, metrics=m.metrics, training_data_hash=m.training_data_hash, config=m.config,
            artifact=m.artifact, pipeline=m.pipeline, reference=m.reference, manifest_sha256=m.manifest_sha256,
        )

    async def find_model(self, model_id: uuid.UUID) -> ModelVersion | None:
        row = await find_model(self.conn, model_id)
        return None if row is None else model_from_row(row)

    async def purge_dataset(self, dataset_id: uuid.UUID, job_ids: tuple[uuid.UUID, ...]) -> Purged:
        analyses = await (await self.conn.execute(
            "DELETE FROM analyses WHERE dataset_id = %s RETURNING job_id", (dataset_id,))).fetchall()
        models = await (await self.conn.execute(
            "DELETE FROM models WHERE dataset_id = %s RETURNING model_id, job_id", (dataset_id,))).fetchall()
        prefixes = [owner_prefix("jobs", row[0]) for row in analyses]
        prefixes += [p for model, job in models for p in (owner_prefix("models", model), owner_prefix("jobs", job))]
        return Purged.of(len(analyses) + len(models), prefixes)


class SqliteAnalyses(Analyses):
    def __init__(self, conn: SqliteConnection) -> None:
        self.conn = conn

    async def record_analysis(self, analysis: AnalysisRecord) -> None:
        a = analysis
        await self.conn.execute(
            "INSERT INTO analyses (job_id, dataset_id, analysis_key, task, target, model_id) VALUES (?, ?, ?, ?, ?, ?)",
            (a.job_id, a.dataset_id, a.analysis_key, a.task, a.target, a.model_id),
        )

    async def register_model(self, model: ModelVersion) -> int:
        m, reference = model, model.reference
        row = (await self.conn.execute(
            "SELECT coalesce(max(version), 0) + 1 FROM models WHERE dataset_id = ? AND target = ?",
            (m.dataset_id, m.target))).fetchone()
        version = int(row[0]) if row else 1
        await self.conn.execute(
            "INSERT INTO models (model_id, job_id, dataset_id, version, task, target, features, metrics,"
            " training_data_hash, config, artifact_key, artifact_sha256, artifact_size, pipeline_key,"
            " pipeline_sha256, pipeline_size, reference_key, reference_sha256, reference_size, manifest_sha256)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (m.model_id, m.job_id, m.dataset_id, version, m.task, m.target, json.dumps(m.features),
             json.dumps(m.metrics, default=str), m.training_data_hash, json.dumps(m.config, default=str),
             m.artifact.key, m.artifact.sha256, m.artifact.size_bytes, m.pipeline.key, m.pipeline.sha256,
             m.pipeline.size_bytes, reference.key if reference else None, reference.sha256 if reference else None,
             reference.size_bytes if reference else None, m.manifest_sha256),
        )
        return version

    async def find_model(self, model_id: uuid.UUID) -> ModelVersion | None:
        row = (await self.conn.execute("SELECT * FROM models WHERE model_id = ?", (model_id,))).fetchone()
        return None if row is None else model_from_row(dict(row))

    async def purge_dataset(self, dataset_id: uuid.UUID, job_ids: tuple[uuid.UUID, ...]) -> Purged:
        analyses = (await self.conn.execute("DELETE FROM analyses WHERE dataset_id = ? RETURNING job_id",
                                            (dataset_id,))).fetchall()
        models = (await self.conn.execute("DELETE FROM models WHERE dataset_id = ? RETURNING model_id, job_id",
                                          (dataset_id,))).fetchall()
        prefixes = [owner_prefix("jobs", uuid.UUID(row[0])) for row in analyses]
        prefixes += [p for model, job in models
                     for p in (owner_prefix("models", uuid.UUID(model)), owner_prefix("jobs", uuid.UUID(job)))]
        return Purged.of(len(analyses) + len(models), prefixes)


@dataclass
class InMemoryAnalyses(Analyses):
    analyses: dict[uuid.UUID, AnalysisRecord] = field(default_factory=dict)
    models: dict[uuid.UUID, tuple[int, ModelVersion]] = field(default_factory=dict)

    async def record_analysis(self, analysis: AnalysisRecord) -> None:
        self.analyses[analysis.job_id] = analysis

    async def register_model(self, model: ModelVersion) -> int:
        version = 1 + sum(1 for _, m in self.models.values()
                          if (m.dataset_id, m.target) == (model.dataset_id, model.target))
        self.models[model.model_id] = (version, model)
        return version

    async def find_model(self, model_id: uuid.UUID) -> ModelVersion | None:
        found = self.models.get(model_id)
        return None if found is None else found[1]

    async def purge_dataset(self, dataset_id: uuid.UUID, job_ids: tuple[uuid.UUID, ...]) -> Purged:
        analyses = [job for job, a in self.analyses.items() if a.dataset_id == dataset_id]
        models = [m for m, (_, model) in self.models.items() if model.dataset_id == dataset_id]
        for job in analyses:
            del self.analyses[job]
        for m in models:
            del self.models[m]
        return Purged.of(len(analyses) + len(models),
                         [owner_prefix("jobs", j) for j in analyses] + [owner_prefix("models", m) for m in models])


async def record_analysis(conn: AsyncConnection, *, job_id: uuid.UUID, dataset_id: uuid.UUID, analysis_key: str,
                          task: str | None, target: str | None, model_id: uuid.UUID | None) -> None:
    await conn.execute(
        "INSERT INTO analyses (job_id, dataset_id, analysis_key, task, target, model_id)"
        " VALUES (%s, %s, %s, %s, %s, %s)",
        (job_id, dataset_id, analysis_key, task, target, model_id),
    )


async def register_model(conn: AsyncConnection, *, model_id: uuid.UUID, job_id: uuid.UUID, dataset_id: uuid.UUID,
                         task: str, target: str, features: list[str], metrics: dict[str, Any],
                         training_data_hash: str, config: dict[str, Any], artifact: ArtifactRef,
                         pipeline: ArtifactRef, reference: ArtifactRef | None = None,
                         manifest_sha256: str | None = None) -> int:
    """Record a new model version for (dataset, target); returns its version number."""
    row = await (await conn.execute(
        "SELECT coalesce(max(version), 0) + 1 FROM models WHERE dataset_id = %s AND target = %s",
        (dataset_id, target),
    )).fetchone()
    version = int(row[0]) if row else 1
    await conn.execute(
        "INSERT INTO models (model_id, job_id, dataset_id, version, task, target, features, metrics,"
        " training_data_hash, config, artifact_key, artifact_sha256, artifact_size, pipeline_key, pipeline_sha256,"
        " pipeline_size, reference_key, reference_sha256, reference_size, manifest_sha256)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (model_id, job_id, dataset_id, version, task, target, json.dumps(features), json.dumps(metrics, default=str),
         training_data_hash, json.dumps(config, default=str), artifact.key, artifact.sha256, artifact.size_bytes,
         pipeline.key, pipeline.sha256, pipeline.size_bytes, reference.key if reference else None,
         reference.sha256 if reference else None, reference.size_bytes if reference else None, manifest_sha256),
    )
    return version


async def find_model(conn: AsyncConnection, model_id: uuid.UUID) -> dict[str, Any] | None:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute("SELECT * FROM models WHERE model_id = %s", (model_id,))
        return await cur.fetchone()
