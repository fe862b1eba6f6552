"""ml's predictions in one process: ``LocalPredictor`` is the use case over the SQLite registry (``dsp serve``,
in the same process as the gateway); ``predict_folder`` is the same use case over a model folder that
``dsp analyze`` wrote (``dsp predict``)."""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mesh_kit.artifacts import ArtifactStore
from mesh_kit.sqlite import SqliteDatabase
from shared_contracts.analysis import AnalysisResult, ModelMetadata
from shared_contracts.etl import FittedPipeline

from ..adapters.repository import ModelVersion, SqliteAnalyses
from ..domain import AnalysisError, load_model
from ..domain.registry import MANIFEST_NAME, METADATA_NAME
from ..service_layer.predict import (
    Loaded,
    LoadedModels,
    Prediction,
    PredictionRefused,
    predict_loaded,
    predict_rows,
)

__all__ = ["LocalPredictor", "ModelFolder", "load_model_folder", "open_model_folder", "predict_folder"]


class LocalPredictor:
    """Answers as ml's internal predict route does, (HTTP status, JSON body), without HTTP."""

    def __init__(self, database: SqliteDatabase, store: ArtifactStore, models: LoadedModels | None = None) -> None:
        self.database, self.store = database, store
        self.models = models or LoadedModels()

    async def _find(self, model_id: uuid.UUID) -> ModelVersion | None:
        async with self.database.read() as conn:
            return await SqliteAnalyses(conn).find_model(model_id)

    async def predict(self, model_id: uuid.UUID, body: bytes, content_type: str, *,
                      explain: bool, strict: bool = False) -> tuple[int, dict[str, Any]]:
        try:
            prediction = await predict_rows(self._find, self.store, self.models, str(model_id), body, content_type,
                                            explain=explain, strict=strict)
        except PredictionRefused as refused:
            return refused.status, refused.body()
        return 200, prediction.answer


MODEL_DIR_NAME = "model"
PIPELINE_NAME = "pipeline.json"
ANALYSIS_NAME = "analysis.json"


@dataclass(frozen=True)
class ModelFolder:
    """A model folder ``dsp analyze`` wrote: ``OUT/model/`` (manifest.json, model.json, predictor/), with the fitted
    ETL pipeline (``OUT/pipeline.json``) and the analysis (``OUT/analysis.json``) beside it."""

    model_dir: Path
    pipeline: Path
    analysis: Path | None
    metadata: ModelMetadata
    identifiers: list[str] = field(default_factory=list)
    """The input's identifier columns as the analysis named them (copied to the predictions, never features)."""

    @property
    def manifest_sha256(self) -> str | None:
        """The manifest's SHA-256 as the analysis recorded it at training time (None without analysis.json)."""
        return self.metadata.manifest_sha256

    @property
    def created(self) -> str:
        """When the model was written (the manifest's time, UTC)."""
        stamp = (self.model_dir / MANIFEST_NAME).stat().st_mtime
        return datetime.fromtimestamp(stamp, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def open_model_folder(path: Path) -> ModelFolder:
    """Find the model, its pipeline and its analysis from ``OUT`` (what ``dsp analyze --out OUT`` wrote) or
    ``OUT/model``; nothing is unpickled here (``load_model_folder`` checks the manifest first).

    Raises
    ------
    PredictionRefused
        404 ``model_not_found`` when ``path`` holds no model manifest or no fitted pipeline beside it.
    """
    path = Path(path)
    model_dir = path / MODEL_DIR_NAME if (path / MODEL_DIR_NAME / MANIFEST_NAME).is_file() else path
    out = model_dir.parent
    if not (model_dir / MANIFEST_NAME).is_file() or not (model_dir / METADATA_NAME).is_file():
        raise PredictionRefused(404, "model_not_found", f"{path} holds no model ({MODEL_DIR_NAME}/{MANIFEST_NAME}); "
                                "give the directory `dsp analyze --out` wrote", "model_dir")
    if not (out / PIPELINE_NAME).is_file():
        raise PredictionRefused(404, "model_not_found", f"{out} has no {PIPELINE_NAME}, the fitted ETL pipeline the "
                                "model's rows go through first", "model_dir")
    try:
        metadata = ModelMetadata.model_validate(json.loads((model_dir / METADATA_NAME).read_text())["metadata"])
    except (ValueError, KeyError, TypeError) as exc:
        raise PredictionRefused(409, "model_integrity", f"{model_dir / METADATA_NAME} is unreadable: {exc}") from exc
    analysis_path = out / ANALYSIS_NAME
    identifiers: list[str] = []
    if analysis_path.is_file():
        analysis = AnalysisResult.model_validate_json(analysis_path.read_bytes())
        if analysis.model is not None and analysis.model.manifest_sha256:
            metadata = metadata.model_copy(update={"manifest_sha256": analysis.model.manifest_sha256})
        identifiers = [c for c in analysis.identifiers if c not in metadata.features and c != metadata.target]
    return ModelFolder(model_dir=model_dir, pipeline=out / PIPELINE_NAME,
                       analysis=analysis_path if analysis_path.is_file() else None, metadata=metadata,
                       identifiers=identifiers)


def load_model_folder(folder: ModelFolder) -> Loaded:
    """Load the model after every file matched its manifest (and the manifest the hash ``analysis.json`` recorded),
    with its fitted pipeline, as the registry's models load.

    Raises
    ------
    PredictionRefused
        409 ``model_integrity`` when a file was changed, added or removed, or the manifest was rewritten.
    """
    try:
        trained = load_model(folder.model_dir, expected_manifest_sha256=folder.manifest_sha256)
        pipeline = FittedPipeline.model_validate_json(folder.pipeline.read_bytes())
    except AnalysisError as exc:
        raise PredictionRefused(409, "model_integrity", f"The model failed its integrity check: {exc}") from exc
    except ValueError as exc:
        raise PredictionRefused(409, "model_integrity", f"{folder.pipeline} is not a fitted pipeline: {exc}") from exc
    return trained, pipeline, None


async def predict_folder(folder: ModelFolder, body: bytes, content_type: str = "text/csv", *, explain: bool = False,
                         strict: bool = False, loaded: Loaded | None = None) -> Prediction:
    """Predict rows (CSV or JSON bytes, as the REST predict takes them) with a model folder: the same checks,
    fitted pipeline and model as ``predict_rows`` of a registered model; raises ``PredictionRefused``."""
    model = loaded if loaded is not None else await asyncio.to_thread(load_model_folder, folder)
    return await predict_loaded(model, str(folder.model_dir), body, content_type, explain=explain, strict=strict)
