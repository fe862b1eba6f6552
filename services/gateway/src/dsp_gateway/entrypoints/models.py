"""The caller's organisation's models: GET /api/v1/models (newest first) and GET /api/v1/models/{id} (the card).

A model is a row of the read model's ``models`` table (written when its analysis completed), read through
the storage port. What it predicts
and how well comes from the analysis result document the ml stage wrote to the artifact store (the one
GET /api/v1/analysis/{id} answers), which columns a row needs from the fitted ETL pipeline, and the example
rows from the dataset's profile. Another organisation's model reads exactly like a missing one (404).
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.responses import JSONResponse
from mesh_kit.artifacts import ArtifactNotFound, AsyncArtifactStore
from shared_contracts import ArtifactRef
from shared_contracts.etl import model_input_columns

from ..domain.identity import Permission, Principal
from ..ports import ports_of
from .access import Offset, parse_id
from .api import ok
from .documents import Envelope, ModelCard, ModelPage, errors
from .errors import ApiError
from .security import requires

__all__ = ["add_model_routes", "example_rows", "input_columns", "main_metric"]

log = logging.getLogger(__name__)

# AutoGluon's eval_metric and the key of the same figure in the holdout metrics
_METRIC_ALIASES = {"root_mean_squared_error": "rmse", "mean_absolute_error": "mae"}


async def _document(store: AsyncArtifactStore, ref: Any) -> dict[str, Any] | None:
    """A JSON document of the store, or None when the row has none or the store lost it."""
    if not ref:
        return None
    try:
        return json.loads(await store.read_bytes(ArtifactRef.model_validate(ref)))
    except ArtifactNotFound:
        return None
    except Exception:
        log.exception("could not read the stored document %s", ref.get("key") if isinstance(ref, dict) else ref)
        return None


def _finite(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else None


def main_metric(automl: dict[str, Any] | None) -> dict[str, Any] | None:
    """The metric AutoML optimised and its holdout value: {name, value}; None without AutoML."""
    if not automl:
        return None
    name = str(automl.get("eval_metric") or "")
    metrics = automl.get("metrics") or {}
    for key in (name, _METRIC_ALIASES.get(name, "")):
        if key and _finite(metrics.get(key)) is not None:
            return {"name": key, "value": _finite(metrics[key])}
    best = next((e for e in automl.get("leaderboard") or [] if e.get("is_best")), None)
    if best is not None and _finite(best.get("score_holdout")) is not None:
        return {"name": name or "score", "value": _finite(best["score_holdout"])}
    return {"name": name, "value": None} if name else None


def _summary(row: dict[str, Any], doc: dict[str, Any] | None) -> dict[str, Any]:
    doc = doc or {}
    model = doc.get("model") or {}
    automl = doc.get("automl") or {}
    task = doc.get("task") or {}
    return {
        "model_id": str(row["model_id"]), "analysis_id": str(row["job_id"]), "dataset_id": str(row["dataset_id"]),
        "dataset_name": row.get("dataset_name"), "target": model.get("target") or task.get("target") or row["target"],
        "task": model.get("task_type") or task.get("task_type"),
        "best_model": model.get("best_model") or automl.get("best_model"), "metric": main_metric(automl),
        "created_at": str(row["created_at"]),
    }


def input_columns(pipeline: dict[str, Any] | None, features: list[str], target: str | None) -> list[dict[str, str]]:
    """The columns a row to predict needs, with their training types (``model_input_columns``, which ml's
    predictions check rows against); the features themselves when the pipeline recorded no input schema."""
    schema: dict[str, str] = (pipeline or {}).get("input_schema") or {}
    used = model_input_columns(schema, features, target)
    chosen = list(used.items()) if used else ([] if schema else [(f, "") for f in features])
    return [{"name": name, "type": kind} for name, kind in chosen]


def _example_value(column: dict[str, Any], kind: str, which: int) -> Any:
    """A plausible value of a column from its profile: the lower or upper quartile, the most or second most
    frequent value, the first or last date; None when the profile says nothing usable."""
    numeric = column.get("numeric") or {}
    if kind.startswith(("Int", "UInt", "Float", "Decimal")) or numeric:
        value = _finite(numeric.get("p25" if which == 0 else "p75"))
        if value is None:
            return None
        return int(round(value)) if kind.startswith(("Int", "UInt")) else round(value, 4)
    if kind == "Boolean" or column.get("semantic_type") == "boolean":
        return which == 0
    dates = column.get("dates") or {}
    if dates:
        moment = dates.get("min" if which == 0 else "max")
        if not isinstance(moment, str):
            return None
        return moment[:10] if kind == "Date" else moment
    top = [t.get("value") for t in column.get("top_values") or [] if t.get("value") not in (None, "")]
    if not top:
        return None
    return top[min(which, len(top) - 1)]


def example_rows(columns: list[dict[str, str]], profile: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Two rows made from the profile of the training data, for a person to edit and predict; none when the
    profile does not describe every column."""
    by_name = {c.get("name"): c for c in (profile or {}).get("columns") or []}
    if not columns or any(c["name"] not in by_name for c in columns):
        return []
    rows = [{c["name"]: _example_value(by_name[c["name"]], c["type"], which) for c in columns} for which in (0, 1)]
    return rows if all(any(v is not None for v in row.values()) for row in rows) else []


def _card(row: dict[str, Any], doc: dict[str, Any] | None, pipeline: dict[str, Any] | None,
          profile: dict[str, Any] | None) -> dict[str, Any]:
    summary = _summary(row, doc)
    doc = doc or {}
    model = doc.get("model") or {}
    automl = doc.get("automl") or {}
    explanations = doc.get("explanations") or {}
    features = list(model.get("features") or automl.get("features") or [])
    columns = input_columns(pipeline, features, summary["target"])
    importance = explanations.get("permutation_importance") or []
    return {
        **summary,
        "eval_metric": automl.get("eval_metric"),
        "features": features,
        "input_columns": columns,
        "leaderboard": automl.get("leaderboard") or [],
        "metrics": automl.get("metrics") or model.get("metrics") or {},
        "confusion_matrix": automl.get("confusion_matrix"),
        "train_rows": automl.get("train_rows"), "holdout_rows": automl.get("holdout_rows"),
        "feature_importance": [{k: item.get(k) for k in ("feature", "importance", "std", "p_value")}
                               for item in importance] or None,
        "shap_importance": [{"feature": i.get("feature"), "importance": i.get("importance")}
                            for i in explanations.get("shap_global") or []] or None,
        "class_labels": sorted((doc.get("task") or {}).get("class_counts") or {}) or None,
        "example_rows": example_rows(columns, profile),
        "available": bool(doc),
    }


def add_model_routes(app: FastAPI) -> None:
    router = APIRouter(prefix="/api/v1", tags=["models"])
    reader = Depends(requires(Permission.READ))

    @router.get("/models", response_model=Envelope[ModelPage], responses=errors(401, 403, 422))
    async def list_models(request: Request, limit: Annotated[int, Query(ge=1, le=100)] = 20,
                          offset: Offset = 0, principal: Principal = reader) -> JSONResponse:
        """The models of the caller's organisation, newest first: what each predicts (target, task), from which
        dataset, the best model AutoML found and its main holdout metric."""
        ports = ports_of(request)
        async with ports.storage.read() as repo:
            rows, total = await repo.list_models(organization_id=principal.organization_id, limit=limit, offset=offset)
        store = ports.async_store
        docs = await asyncio.gather(*(_document(store, row["analysis_result"]) for row in rows))
        return ok(request, {"items": [_summary(row, doc) for row, doc in zip(rows, docs, strict=True)],
                                "total": total, "limit": limit, "offset": offset})

    @router.get("/models/{model_id}", response_model=Envelope[ModelCard], responses=errors(401, 403, 404, 422))
    async def get_model_card(request: Request, model_id: str, principal: Principal = reader) -> JSONResponse:
        """A model's card: task, target, the features it uses and the columns a row to predict needs (with two
        example rows), the AutoML leaderboard, holdout metrics, feature importance if computed, and the ids of
        its analysis (job) and dataset."""
        ports = ports_of(request)
        async with ports.storage.read() as repo:
            row = await repo.find_model_summary(parse_id(model_id, "model_id"),
                                                organization_id=principal.organization_id)
        if row is None:
            raise ApiError(404, "not_found", f"No model has the id {model_id}.", field="model_id")
        store = ports.async_store
        doc, pipeline, profile = await asyncio.gather(_document(store, row["analysis_result"]),
                                                      _document(store, row["pipeline"]),
                                                      _document(store, row["profile"]))
        return ok(request, _card(row, doc, pipeline, profile))

    app.include_router(router)
