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
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl
from mesh_kit.artifacts import ArtifactIntegrityError, ArtifactNotFound, ArtifactStore
from shared_contracts.analysis import PredictionInput, Predictions, PredictionWarning
from shared_contracts.etl import FittedPipeline, model_input_columns
from shared_contracts.ingest import ALWAYS_NA_TOKENS, EVIDENCE_NA_TOKENS

from .. import domain
from ..adapters.repository import ModelVersion
from ..domain import AnalysisError

if TYPE_CHECKING:
    from ..domain import TrainedModel

__all__ = ["MAX_ROWS", "CheckedRows", "Loaded", "LoadedModels", "Prediction", "PredictionRefused", "check_rows",
           "predict_frame", "predict_loaded", "predict_rows"]

MAX_ROWS = 100_000
EXAMPLES = 5  # rows shown per column of unparseable values
# read as missing in a column of numbers, dates or booleans, as ingest reads them
_MISSING = [s for spellings in (*ALWAYS_NA_TOKENS.values(), *EVIDENCE_NA_TOKENS.values()) for s in spellings]
# read as missing in any column, text included, as ingest reads them: no value the model learnt from is spelled so
_ALWAYS_MISSING = [s for spellings in ALWAYS_NA_TOKENS.values() for s in spellings]
FindModel = Callable[[uuid.UUID], Awaitable[ModelVersion | None]]
Loaded = tuple["TrainedModel", FittedPipeline, pl.DataFrame | None]


@dataclass(frozen=True)
class Prediction:
    """The answer to send, with every feature's drift (the answer keeps the first 20) and the rows predicted."""

    answer: dict[str, Any]
    drift: list[dict[str, Any]]
    rows: int


class PredictionRefused(Exception):
    """Why rows were not predicted, as the HTTP answer the gateway passes on."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None,
                 details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field, self.details = status, code, message, field, details

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message, "field": self.field}
        if self.details is not None:
            error["details"] = self.details
        return {"error": error}


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
            await asyncio.to_thread(domain.load)  # at once unless the process has just started
            trained = await asyncio.to_thread(domain.load_model, target_dir, expected_manifest_sha256=model.manifest_sha256)
            pipeline = FittedPipeline.model_validate_json(await asyncio.to_thread(store.read_bytes, model.pipeline))
            reference = None
            if model.reference is not None:
                reference = pl.read_parquet(io.BytesIO(await asyncio.to_thread(store.read_bytes, model.reference)))
            self.cache[model_id] = (trained, pipeline, reference)
            return self.cache[model_id]


def _as_text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _rows_from_request(content_type: str, body: bytes) -> tuple[pl.DataFrame, dict[str, pl.Series]]:
    """The rows, and for each JSON column of mixed types (which reads as text) which values were JSON strings.

    A JSON column with an array or an object in it reads as text: those values as their JSON text (``[1,2]``),
    the others as text too (no row of the model's is an array; the training type of the column decides, in
    ``check_rows``). The other columns read as polars reads them: numbers and booleans as numbers, and with
    a string among them, as text.
    """
    if "csv" in content_type:
        return pl.read_csv(io.BytesIO(body), infer_schema_length=10000), {}
    payload = json.loads(body or b"{}")
    rows = payload.get("rows") if isinstance(payload, dict) else payload
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise ValueError("send {\"rows\": [{column: value, ...}, ...]} or a CSV file")
    nested = {name for row in rows for name, value in row.items() if isinstance(value, list | dict)}
    sent = [{name: value if name not in nested or value is None or isinstance(value, str) else _as_text(value)
             for name, value in row.items()} for row in rows] if nested else rows
    frame = pl.DataFrame(sent, infer_schema_length=None)
    mixed = [c for c in frame.columns if frame[c].dtype == pl.String
             and any(not isinstance(r.get(c), str | None) for r in rows)]
    return frame, {c: pl.Series([isinstance(r.get(c), str) for r in rows]) for c in mixed}


@dataclass(frozen=True)
class CheckedRows:
    """The rows sent, without unknown columns, and what reading them took."""

    rows: pl.DataFrame
    warnings: list[PredictionWarning]
    input: PredictionInput


def _plain(value: Any) -> Any:
    return value if isinstance(value, str | int | float | bool) else str(value)


def _names(columns: list[str]) -> str:
    return ", ".join(repr(c) for c in columns)


def check_rows(pipeline: FittedPipeline, features: list[str], rows: pl.DataFrame, *, strict: bool = False,
               sent_as_text: Mapping[str, pl.Series] | None = None) -> CheckedRows:
    """Check rows against the columns the model was trained from, before the pipeline reads them.

    - The pipeline's input columns are ``pipeline.input_schema`` (with their training types). Another column
      is unknown: it is dropped and named in a ``unknown_columns`` warning, or refused (422 ``unknown_columns``)
      when ``strict``.
    - Every column a row needs (``model_input_columns``: the input columns, but the target, the model's
      features come from) must be present, or 422 ``missing_columns``. The pipeline would read an absent
      column as null and impute it on every row; a null *value* is allowed, and is imputed.
    - A value that does not parse as its column's training type (``"abc"`` for a float column, ``"maybe"`` for
      a boolean one) is refused, 422 ``unparseable_values``, with the first rows (from 0) and values of each
      column (and the missing columns, if any). A blank string reads as null, and so do the missing-value
      tokens ingest reads (``NA``, ``null``, ``?``...) in a column of numbers, dates or booleans. In a text
      column, the tokens ingest always reads as missing (``NA``, ``null``, ``#N/A``, ``NaN``) are null too, as
      they were in the rows the model learnt from.
    - The checks run in this order: unparseable values, missing columns, unknown columns when ``strict``.
    - ``input.filled`` counts the rows with a null in a column a row needs; ``input.coerced`` the rows with a
      value converted to its training type (``"3"`` to 3), not counting conversions between number types.
      ``sent_as_text`` tells, for a JSON column of mixed types (read as text), which values were strings:
      only those count as coerced.
    """
    from etl_core import conform_input

    schema = pipeline.input_schema
    needed = model_input_columns(schema, features, pipeline.target)
    unknown = [c for c in rows.columns if c not in schema]
    missing = [c for c in needed if c not in rows.columns]
    received = rows.height
    rows = rows.drop(unknown)
    text = [c for c in rows.columns if rows[c].dtype == pl.String and schema.get(c) == "String"]
    rows = rows.with_columns(pl.when(pl.col(c).str.strip_chars().is_in(_ALWAYS_MISSING)).then(None)
                             .otherwise(pl.col(c)).alias(c) for c in text)
    conformed = conform_input(pipeline, rows.lazy()).collect()
    checked = [c for c in rows.columns if c != pipeline.target]
    unparseable: dict[str, list[dict[str, Any]]] = {}
    coerced = pl.Series([False] * received)
    for name in checked:
        raw, read = rows[name], conformed[name]
        given = raw.is_not_null()
        if raw.dtype == pl.String:
            missing_tokens = _MISSING if schema[name] != "String" else [""]
            given = given & ~raw.str.strip_chars().is_in(missing_tokens)
        failed = given & read.is_null()
        if failed.any():
            at = failed.arg_true().head(EXAMPLES).to_list()
            unparseable[name] = [{"row": i, "value": _plain(raw[i])} for i in at]
        converted = raw.dtype != read.dtype and raw.dtype != pl.Null and not (raw.dtype.is_numeric()
                                                                               and read.dtype.is_numeric())
        if converted:
            changed = given & read.is_not_null()
            if sent_as_text and name in sent_as_text:
                changed = changed & sent_as_text[name]
            coerced = coerced | changed
    if unparseable:
        columns = list(unparseable)
        described = "; ".join(f"{c!r} ({schema[c]}): " + ", ".join(f"row {v['row']} {v['value']!r}" for v in values)
                              for c, values in unparseable.items())
        also = f" The rows also lack the columns {_names(missing)}." if missing else ""
        raise PredictionRefused(422, "unparseable_values",
                                f"Values do not read as their column's training type: {described}.{also}", columns[0],
                                {"columns": columns, "values": unparseable, "missing_columns": missing})
    if missing:
        raise PredictionRefused(422, "missing_columns", f"The rows lack the columns the model needs: {_names(missing)}.",
                                missing[0], {"columns": missing})
    if unknown and strict:
        raise PredictionRefused(422, "unknown_columns", f"The model does not take the columns {_names(unknown)}.",
                                unknown[0], {"columns": unknown})
    filled = conformed.select(pl.any_horizontal([pl.col(c).is_null() for c in needed]).sum()).item() if needed else 0
    warnings = [] if not unknown else [PredictionWarning(
        code="unknown_columns", message=f"Ignored the columns the model does not take: {_names(unknown)}.",
        columns=unknown)]
    return CheckedRows(rows=rows, warnings=warnings,
                       input=PredictionInput(rows=received, filled=int(filled or 0), coerced=int(coerced.sum())))


async def predict_rows(find: FindModel, store: ArtifactStore, models: LoadedModels, model_id: str, body: bytes,
                       content_type: str, *, explain: bool = False, strict: bool = False) -> Prediction:
    """Check the rows (``check_rows``), apply the model's fitted ETL pipeline to them, then the model; SHAP
    per row on request.

    Returns the predictions with the ignored columns in ``warnings``, the rows filled and coerced in
    ``input`` and the inputs' drift from the training data (when there are at least 30 rows); raises
    ``PredictionRefused`` for an unknown, damaged or erased model, unreadable rows, missing columns,
    unparseable values and, when ``strict``, unknown columns.
    """
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
    return await predict_loaded(loaded, model_id, body, content_type, explain=explain, strict=strict)


async def predict_loaded(loaded: Loaded, model_id: str, body: bytes, content_type: str, *, explain: bool = False,
                         strict: bool = False) -> Prediction:
    """``predict_rows`` once the model is loaded (a registered one, or a model folder ``dsp analyze`` wrote):
    the same checks, pipeline, model and answer."""
    model, _, reference = loaded
    try:
        rows, sent_as_text = _rows_from_request(content_type, body)
    except (ValueError, OverflowError, pl.exceptions.PolarsError) as exc:  # an integer past 128 bits: Overflow
        raise PredictionRefused(422, "invalid_rows", f"The rows could not be read: {exc}", "rows") from exc
    if rows.height > MAX_ROWS:
        raise PredictionRefused(422, "invalid_rows", f"Send between 1 and {MAX_ROWS} rows.", "rows")
    result, prepared = await asyncio.to_thread(_predict_prepared, loaded, rows, explain=explain, strict=strict,
                                               sent_as_text=sent_as_text)
    drift: list[dict[str, Any]] = []
    if reference is not None and prepared.height >= 30:
        from ..domain.drift import drift_summary, feature_drift

        drift = drift_summary(await asyncio.to_thread(feature_drift, reference, prepared, features=model.features))
    return Prediction(answer={"model_id": model_id, **result.model_dump(mode="json"), "drift": drift[:20]},
                      drift=drift, rows=rows.height)


def _predict_prepared(loaded: Loaded, rows: pl.DataFrame, *, explain: bool, strict: bool,
                      sent_as_text: Mapping[str, pl.Series] | None) -> tuple[Predictions, pl.DataFrame]:
    from etl_core import apply_pipeline

    model, pipeline, _ = loaded
    if rows.height == 0:
        raise PredictionRefused(422, "invalid_rows", f"Send between 1 and {MAX_ROWS} rows.", "rows")
    try:
        checked = check_rows(pipeline, model.features, rows, strict=strict, sent_as_text=sent_as_text)
        prepared = apply_pipeline(pipeline, checked.rows.lazy()).collect()
        result = domain.predict(model, prepared, explain=explain)
    except AnalysisError as exc:
        raise PredictionRefused(422, exc.code, exc.message, "rows") from exc
    except pl.exceptions.PolarsError as exc:
        raise PredictionRefused(422, "invalid_rows", f"The rows do not fit the model's pipeline: {exc}", "rows") from exc
    return result.model_copy(update={"warnings": checked.warnings, "input": checked.input}), prepared


def predict_frame(loaded: Loaded, rows: pl.DataFrame, *, explain: bool = False, strict: bool = False,
                  sent_as_text: Mapping[str, pl.Series] | None = None) -> Predictions:
    """The rows' predictions, as ``predict_rows`` makes them: ``check_rows``, the model's fitted ETL pipeline, then
    the model (SHAP per row when ``explain``); one answer row per input row, in their order.

    Raises ``PredictionRefused`` as ``predict_rows`` does (missing columns, unparseable values, no rows...).
    """
    return _predict_prepared(loaded, rows, explain=explain, strict=strict, sent_as_text=sent_as_text)[0]

