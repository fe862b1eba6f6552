"""ml's prediction use case: a registered model, its fitted ETL pipeline and its drift baseline applied to rows.

The internal HTTP route (``entrypoints.http``) and the in-process predictor of ``dsp serve``
(``entrypoints.local``) both call ``predict_rows``; they differ only in how they reach the registry
(``find``) and how they answer (``PredictionRefused.status`` and ``.body()`` are the HTTP answer).
"""

from __future__ import annotations

import asyncio
import io
import json
import shutil
import tempfile
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
from mesh_kit.artifacts import ArtifactIntegrityError, ArtifactNotFound, ArtifactStore
from shared_contracts.etl import FittedPipeline

from ..adapters.repository import ModelVersion
from ..domain import AnalysisError, TrainedModel, load_model, predict
from ..domain.drift import drift_summary, feature_drift

__all__ = ["MAX_ROWS", "LoadedModels", "Prediction", "PredictionRefused", "predict_rows"]

MAX_ROWS = 100_000
FindModel = Callable[[uuid.UUID], Awaitable[ModelVersion | None]]
Loaded = tuple[TrainedModel, FittedPipeline, pl.DataFrame | None]


@dataclass(frozen=True)
class Prediction:
    """The answer to send, with every feature's drift (the answer keeps the first 20) and the rows predicted."""

    answer: dict[str, Any]
    drift: list[dict[str, Any]]
    rows: int


class PredictionRefused(Exception):
    """Why rows were not predicted, as the HTTP answer the gateway passes on."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "field": self.field}}


@dataclass
class LoadedModels:
    """Models loaded from the store, kept while the registry still lists them."""

    root: Path = field(default_factory=lambda: Path(tempfile.gettempdir()) / "dsp-ml-models")
    cache: dict[uuid.UUID, Loaded] = field(default_factory=dict)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def load(self, find: FindModel, store: ArtifactStore, model_id: uuid.UUID) -> Loaded | None:
        """Load a model only from the platform's own store, after its recorded hash matched."""
        async with self.lock:
            # the registry decides, not the cache: a model erased with its dataset answers 404 at once
            model = await find(model_id)
            if model is None:
                self.cache.pop(model_id, None)
                shutil.rmtree(self.root / str(model_id), ignore_errors=True)
                return None
            if model_id in self.cache:
                return self.cache[model_id]
            target_dir = self.root / str(model_id)
            if target_dir.exists():
                shutil.rmtree(target_dir)
            await asyncio.to_thread(store.fetch_dir, model.artifact, target_dir)
            trained = await asyncio.to_thread(load_model, target_dir, expected_manifest_sha256=model.manifest_sha256)
            pipeline = FittedPipeline.model_validate_json(await asyncio.to_thread(store.read_bytes, model.pipeline))
            reference = None
            if model.reference is not None:
                reference = pl.read_parquet(io.BytesIO(await asyncio.to_thread(store.read_bytes, model.reference)))
            self.cache[model_id] = (trained, pipeline, reference)
            return self.cache[model_id]


def _rows_from_request(content_type: str, body: bytes) -> pl.DataFrame:
    if "csv" in content_type:
        return pl.read_csv(io.BytesIO(body), infer_schema_length=10000)
    payload = json.loads(body or b"{}")
    rows = payload.get("rows") if isinstance(payload, dict) else payload
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise ValueError("send {\"rows\": [{column: value, ...}, ...]} or a CSV file")
    return pl.DataFrame(rows, infer_schema_length=None)


async def predict_rows(find: FindModel, store: ArtifactStore, models: LoadedModels, model_id: str, body: bytes,
                       content_type: str, *, explain: bool = False) -> Prediction:
    """Apply the model's fitted ETL pipeline to the rows, then the model; SHAP per row on request.

    Returns the predictions with the inputs' drift from the training data (when there are at least 30
    rows); raises ``PredictionRefused`` for an unknown, damaged or erased model and unreadable rows.
    """
    from etl_core import apply_pipeline

    try:
        model_uuid = uuid.UUID(model_id)
    except ValueError:
        raise PredictionRefused(404, "not_found", f"No model has the id {model_id!r}.", "model_id") from None
    try:
        loaded = await models.load(find, store, model_uuid)
    except (ArtifactIntegrityError, AnalysisError) as exc:
        raise PredictionRefused(409, "model_integrity", f"The stored model failed its integrity check: {exc}") from exc
    except ArtifactNotFound as exc:
        raise PredictionRefused(410, "model_gone", "The model's files are no longer in the store.") from exc
    if loaded is None:
        raise PredictionRefused(404, "not_found", f"No model has the id {model_id}.", "model_id")
    model, pipeline, reference = loaded
    try:
        rows = _rows_from_request(content_type, body)
    except (ValueError, pl.exceptions.PolarsError) as exc:
        raise PredictionRefused(422, "invalid_rows", f"The rows could not be read: {exc}", "rows") from exc
    if rows.height == 0 or rows.height > MAX_ROWS:
        raise PredictionRefused(422, "invalid_rows", f"Send between 1 and {MAX_ROWS} rows.", "rows")
    try:
        prepared = await asyncio.to_thread(lambda: apply_pipeline(pipeline, rows.lazy()).collect())
        result = await asyncio.to_thread(predict, model, prepared, explain=explain)
    except AnalysisError as exc:
        raise PredictionRefused(422, exc.code, exc.message, "rows") from exc
    except pl.exceptions.PolarsError as exc:
        raise PredictionRefused(422, "invalid_rows", f"The rows do not fit the model's pipeline: {exc}", "rows") from exc
    drift: list[dict[str, Any]] = []
    if reference is not None and prepared.height >= 30:
        drift = drift_summary(await asyncio.to_thread(feature_drift, reference, prepared, features=model.features))
    return Prediction(answer={"model_id": model_id, **result.model_dump(mode="json"), "drift": drift[:20]},
                      drift=drift, rows=rows.height)
