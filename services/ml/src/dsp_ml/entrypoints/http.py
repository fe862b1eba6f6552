"""ml's internal HTTP API: predictions with a registered model (the gateway proxies to it).

Only the gateway may call it: it sends the shared service token (``DSP_SERVICE_TOKEN``) in
``X-DSP-Service-Token``, and the Helm NetworkPolicy admits only gateway pods.
"""

from __future__ import annotations

import asyncio
import io
import json
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any

import polars as pl
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from mesh_kit.artifacts import ArtifactIntegrityError, ArtifactNotFound
from mesh_kit.hardening import SERVICE_TOKEN_HEADER, service_token_refusal
from mesh_kit.service import Runtime
from prometheus_client import Counter, Gauge
from shared_contracts import ArtifactRef
from shared_contracts.etl import FittedPipeline

from ..adapters import repository
from ..domain import AnalysisError, TrainedModel, load_model, predict
from ..domain.drift import drift_summary, feature_drift

__all__ = ["add_routes"]

_MAX_ROWS = 100_000
_cache: dict[uuid.UUID, tuple[TrainedModel, FittedPipeline, pl.DataFrame | None]] = {}
DRIFT_PSI = Gauge("dsp_feature_drift_psi", "PSI between prediction inputs and training data", ["model_id", "feature"])
DRIFT_KS = Gauge("dsp_feature_drift_ks_statistic", "Kolmogorov-Smirnov statistic, prediction inputs vs training data",
                 ["model_id", "feature"])
PREDICTIONS = Counter("dsp_predictions_total", "Rows predicted", ["model_id"])
_cache_lock = asyncio.Lock()
_MODEL_ROOT = Path(tempfile.gettempdir()) / "dsp-ml-models"


def _error(status: int, code: str, message: str, field: str | None = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message, "field": field}}, status_code=status)


async def _load(runtime: Runtime,
                model_id: uuid.UUID) -> tuple[TrainedModel, FittedPipeline, pl.DataFrame | None] | None:
    """Load a model only from the platform's own store, after its recorded hash matched."""
    async with _cache_lock:
        # the registry decides, not the cache: a model erased with its dataset answers 404 at once
        async with runtime.pool.connection() as conn:
            row = await repository.find_model(conn, model_id)
        if row is None:
            _cache.pop(model_id, None)
            shutil.rmtree(_MODEL_ROOT / str(model_id), ignore_errors=True)
            return None
        if model_id in _cache:
            return _cache[model_id]
        artifact = ArtifactRef(key=row["artifact_key"], sha256=row["artifact_sha256"],
                               size_bytes=row["artifact_size"], media_type="application/gzip")
        pipeline_ref = ArtifactRef(key=row["pipeline_key"], sha256=row["pipeline_sha256"],
                                   size_bytes=row["pipeline_size"], media_type="application/json")
        target_dir = _MODEL_ROOT / str(model_id)
        if target_dir.exists():
            shutil.rmtree(target_dir)
        await asyncio.to_thread(runtime.store.fetch_dir, artifact, target_dir)
        model = await asyncio.to_thread(load_model, target_dir, expected_manifest_sha256=row.get("manifest_sha256"))
        pipeline = FittedPipeline.model_validate_json(await asyncio.to_thread(runtime.store.read_bytes, pipeline_ref))
        reference = None
        if row.get("reference_key"):
            ref = ArtifactRef(key=row["reference_key"], sha256=row["reference_sha256"],
                              size_bytes=row["reference_size"], media_type="application/vnd.apache.parquet")
            reference = pl.read_parquet(io.BytesIO(await asyncio.to_thread(runtime.store.read_bytes, ref)))
        _cache[model_id] = (model, pipeline, reference)
        return _cache[model_id]


def _rows_from_request(content_type: str, body: bytes) -> pl.DataFrame:
    if "csv" in content_type:
        return pl.read_csv(io.BytesIO(body), infer_schema_length=10000)
    payload = json.loads(body or b"{}")
    rows = payload.get("rows") if isinstance(payload, dict) else payload
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise ValueError("send {\"rows\": [{column: value, ...}, ...]} or a CSV file")
    return pl.DataFrame(rows, infer_schema_length=None)


def add_routes(app: FastAPI) -> None:
    @app.post("/internal/v1/models/{model_id}/predict")
    async def predict_rows(request: Request, model_id: str, explain: bool = False) -> Any:
        """Apply the model's fitted ETL pipeline to the rows, then the model; SHAP per row on request."""
        from etl_core import apply_pipeline

        runtime: Runtime = request.app.state.runtime
        refusal = service_token_refusal(runtime.settings, request.headers.get(SERVICE_TOKEN_HEADER))
        if refusal is not None:  # only the gateway holds the token
            status, code, message = refusal
            return _error(status, code, message)
        try:
            model_uuid = uuid.UUID(model_id)
        except ValueError:
            return _error(404, "not_found", f"No model has the id {model_id!r}.", "model_id")
        try:
            loaded = await _load(runtime, model_uuid)
        except (ArtifactIntegrityError, AnalysisError) as exc:
            return _error(409, "model_integrity", f"The stored model failed its integrity check: {exc}")
        except ArtifactNotFound:
            return _error(410, "model_gone", "The model's files are no longer in the store.")
        if loaded is None:
            return _error(404, "not_found", f"No model has the id {model_id}.", "model_id")
        model, pipeline, reference = loaded
        try:
            rows = _rows_from_request(request.headers.get("content-type", ""), await request.body())
        except (ValueError, pl.exceptions.PolarsError) as exc:
            return _error(422, "invalid_rows", f"The rows could not be read: {exc}", "rows")
        if rows.height == 0 or rows.height > _MAX_ROWS:
            return _error(422, "invalid_rows", f"Send between 1 and {_MAX_ROWS} rows.", "rows")
        try:
            prepared = await asyncio.to_thread(lambda: apply_pipeline(pipeline, rows.lazy()).collect())
            result = await asyncio.to_thread(predict, model, prepared, explain=explain)
        except AnalysisError as exc:
            return _error(422, exc.code, exc.message, "rows")
        except pl.exceptions.PolarsError as exc:
            return _error(422, "invalid_rows", f"The rows do not fit the model's pipeline: {exc}", "rows")
        drift: list[dict[str, Any]] = []
        if reference is not None and prepared.height >= 30:
            drift = drift_summary(await asyncio.to_thread(feature_drift, reference, prepared,
                                                          features=model.features))
            for item in drift:
                DRIFT_PSI.labels(model_id, item["feature"]).set(item["psi"])
                if item["ks_statistic"] is not None:
                    DRIFT_KS.labels(model_id, item["feature"]).set(item["ks_statistic"])
        PREDICTIONS.labels(model_id).inc(rows.height)
        return JSONResponse({"model_id": model_id, **result.model_dump(mode="json"), "drift": drift[:20]})
