"""ml's internal HTTP API: predictions with a registered model (the gateway proxies to it).

Only the gateway may call it: it sends the shared service token (``DSP_SERVICE_TOKEN``) in
``X-DSP-Service-Token``, and the Helm NetworkPolicy admits only gateway pods. The prediction itself
is the use case ``service_layer.predict.predict_rows``.

Its metrics name the model and the feature in labels of a bounded set (``mesh_kit.metrics.BoundedLabel``): the
first ``MODEL_LABELS`` models a process predicts with, and the first ``FEATURE_LABELS`` features of the drift
gauges, keep their own series; the rest are ``other`` (the drift gauge of ``other`` holds the largest value of
the features folded into it in that prediction).
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from mesh_kit.hardening import SERVICE_TOKEN_HEADER, service_token_refusal
from mesh_kit.metrics import BoundedLabel
from mesh_kit.service import Runtime
from prometheus_client import Counter, Gauge

from ..adapters.repository import ModelVersion, PostgresAnalyses
from ..service_layer.predict import LoadedModels, PredictionRefused, predict_rows

__all__ = ["add_routes"]

DRIFT_PSI = Gauge("dsp_feature_drift_psi", "PSI between prediction inputs and training data", ["model_id", "feature"])
DRIFT_KS = Gauge("dsp_feature_drift_ks_statistic", "Kolmogorov-Smirnov statistic, prediction inputs vs training data",
                 ["model_id", "feature"])
PREDICTIONS = Counter("dsp_predictions_total", "Rows predicted", ["model_id"])
MODEL_LABELS = 20
"""Models with series of their own in a process; the later ones count under ``other``."""
FEATURE_LABELS = 50
"""Features with drift series of their own in a process; the later ones fold into ``other``."""
_model_label = BoundedLabel(MODEL_LABELS)
_feature_label = BoundedLabel(FEATURE_LABELS)
_models = LoadedModels()


def _error(status: int, code: str, message: str, field: str | None = None) -> JSONResponse:
    return JSONResponse(PredictionRefused(status, code, message, field).body(), status_code=status)


def _drift_by_label(drift: list[dict[str, Any]]) -> dict[Gauge, dict[str, float]]:
    """The value of each drift gauge by feature label: a feature folded into ``other`` counts as its largest."""
    values: dict[Gauge, dict[str, float]] = {DRIFT_PSI: {}, DRIFT_KS: {}}
    for item in drift:
        feature = _feature_label.value(str(item["feature"]))
        for gauge, key in ((DRIFT_PSI, "psi"), (DRIFT_KS, "ks_statistic")):
            if item.get(key) is not None:
                by_feature = values[gauge]
                by_feature[feature] = max(by_feature.get(feature, float("-inf")), float(item[key]))
    return values


def add_routes(app: FastAPI) -> None:
    @app.post("/internal/v1/models/{model_id}/predict")
    async def predict_route(request: Request, model_id: str, explain: bool = False, strict: bool = False) -> Any:
        """Check the rows, apply the model's fitted ETL pipeline to them, then the model; SHAP per row on
        request; ``strict`` refuses columns the model does not take (otherwise ignored, with a warning)."""
        runtime: Runtime = request.app.state.runtime
        refusal = service_token_refusal(runtime.settings, request.headers.get(SERVICE_TOKEN_HEADER))
        if refusal is not None:  # only the gateway holds the token
            status, code, message = refusal
            return _error(status, code, message)

        async def find(model: uuid.UUID) -> ModelVersion | None:
            async with runtime.pool.connection() as conn:
                return await PostgresAnalyses(conn).find_model(model)

        try:
            prediction = await predict_rows(find, runtime.store, _models, model_id, await request.body(),
                                            request.headers.get("content-type", ""), explain=explain, strict=strict)
        except PredictionRefused as refused:
            return JSONResponse(refused.body(), status_code=refused.status)
        model = _model_label.value(model_id)
        for gauge, values in _drift_by_label(prediction.drift).items():
            for feature, value in values.items():
                gauge.labels(model, feature).set(value)
        PREDICTIONS.labels(model).inc(prediction.rows)
        return JSONResponse(prediction.answer)
