"""ml's predictions in the same process as the gateway (``dsp serve``): the use case over the SQLite registry."""

from __future__ import annotations

import uuid
from typing import Any

from mesh_kit.artifacts import ArtifactStore
from mesh_kit.sqlite import SqliteDatabase

from ..adapters.repository import ModelVersion, SqliteAnalyses
from ..service_layer.predict import LoadedModels, PredictionRefused, predict_rows

__all__ = ["LocalPredictor"]


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
