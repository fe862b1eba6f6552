"""Saving a trained model with a content manifest, loading it back only if intact, and predicting."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
from shared_contracts.analysis import ModelMetadata, PredictionRow, Predictions

from .automl import quiet_autogluon
from .columns import file_sha256
from .errors import AnalysisError
from .explain import explainer_for

__all__ = ["MANIFEST_NAME", "METADATA_NAME", "TrainedModel", "load_model", "predict", "write_manifest"]

MANIFEST_NAME = "manifest.json"
METADATA_NAME = "model.json"
PREDICTOR_DIR = "predictor"


@dataclass
class TrainedModel:
    """A predictor loaded from a verified model directory, with its registry metadata."""

    predictor: Any
    metadata: ModelMetadata
    model_dir: Path
    explainer_model: str | None = None

    @property
    def features(self) -> list[str]:
        return self.metadata.features


def write_metadata(model_dir: Path, metadata: ModelMetadata, *, explainer_model: str | None) -> None:
    """Write the registry metadata next to the predictor."""
    document = {"metadata": metadata.model_dump(mode="json"), "explainer_model": explainer_model}
    (model_dir / METADATA_NAME).write_text(json.dumps(document, indent=2, sort_keys=True))


def write_manifest(model_dir: Path) -> str:
    """Record the SHA-256 of every file under ``model_dir``; return the manifest's own SHA-256."""
    files = {
        path.relative_to(model_dir).as_posix(): file_sha256(path)
        for path in sorted(model_dir.rglob("*"))
        if path.is_file() and path.name != MANIFEST_NAME
    }
    body = json.dumps({"algorithm": "sha256", "files": files}, indent=2, sort_keys=True).encode()
    (model_dir / MANIFEST_NAME).write_bytes(body)
    return hashlib.sha256(body).hexdigest()


def _verify(model_dir: Path, expected_manifest_sha256: str | None) -> None:
    manifest_path = model_dir / MANIFEST_NAME
    if not manifest_path.is_file():
        raise AnalysisError("model_not_found", f"{model_dir} has no {MANIFEST_NAME}; it was not written by the platform")
    body = manifest_path.read_bytes()
    if expected_manifest_sha256 is not None and hashlib.sha256(body).hexdigest() != expected_manifest_sha256:
        raise AnalysisError("model_tampered", "the model manifest differs from the one recorded at training time")
    try:
        listed: dict[str, str] = json.loads(body)["files"]
    except (ValueError, KeyError, TypeError) as exc:
        raise AnalysisError("model_tampered", "the model manifest is unreadable") from exc
    present = {
        path.relative_to(model_dir).as_posix()
        for path in model_dir.rglob("*")
        if path.is_file() and path.name != MANIFEST_NAME
    }
    unexpected = sorted(present - set(listed))
    if unexpected:
        raise AnalysisError("model_tampered", f"files not in the manifest: {', '.join(unexpected[:5])}")
    for relative, digest in listed.items():
        path = model_dir / relative
        if not path.is_file():
            raise AnalysisError("model_tampered", f"{relative} is listed in the manifest but missing")
        if file_sha256(path) != digest:
            raise AnalysisError("model_tampered", f"{relative} does not match its recorded SHA-256")


def load_model(model_dir: Path, *, expected_manifest_sha256: str | None = None) -> TrainedModel:
    """Load a model the platform wrote, after checking every file against its manifest.

    Parameters
    ----------
    model_dir
        Directory passed as ``model_dir`` to ``analyze``.
    expected_manifest_sha256
        SHA-256 of the manifest as recorded in ``AnalysisResult.model.manifest_sha256``;
        when given, a manifest rewritten after training is refused too.

    Raises
    ------
    AnalysisError
        ``model_not_found`` without a manifest, ``model_tampered`` when any file differs,
        is missing, or was added. Nothing is unpickled before the check passes.
    """
    model_dir = Path(model_dir)
    _verify(model_dir, expected_manifest_sha256)
    from autogluon.tabular import TabularPredictor

    document = json.loads((model_dir / METADATA_NAME).read_text())
    metadata = ModelMetadata.model_validate(document["metadata"])
    with quiet_autogluon():
        predictor = TabularPredictor.load(str(model_dir / PREDICTOR_DIR), verbosity=0, check_packages=False)
    return TrainedModel(predictor=predictor, metadata=metadata, model_dir=model_dir,
                        explainer_model=document.get("explainer_model"))


def predict(model: TrainedModel, rows: pl.DataFrame, *, explain: bool = False) -> Predictions:
    """Predict the target for ``rows``; with ``explain``, add SHAP contributions per row.

    ``rows`` must carry the model's feature columns (extra columns are ignored). Apply the
    same ETL pipeline as at training time first.
    """
    missing = [name for name in model.features if name not in rows.columns]
    if missing:
        raise AnalysisError("bad_prediction_input", f"rows lack the model's feature columns: {', '.join(missing)}")
    if rows.height == 0:
        raise AnalysisError("bad_prediction_input", "no rows to predict")
    frame = rows.select(model.features).to_pandas()
    task_type = model.metadata.task_type
    with quiet_autogluon():
        predicted = model.predictor.predict(frame)
        proba = model.predictor.predict_proba(frame) if task_type in ("binary", "multiclass") else None
    contributions: list[dict[str, float] | None] = [None] * len(frame)
    base_values: list[float | None] = [None] * len(frame)
    explained_by = shap_output = None
    explainer = (explainer_for(model.predictor, model.explainer_model, model.features)
                 if explain and model.explainer_model is not None else None)
    if explainer is not None and model.explainer_model is not None:
        shap_output = explainer.output
        values, base, names = explainer.explain(frame)
        contributions = [
            {names[i]: float(values[row, i]) for i in np.argsort(-np.abs(values[row]))} for row in range(len(frame))
        ]
        base_values = [float(b) for b in base]
        explained_by = model.explainer_model
    out = []
    for position in range(len(frame)):
        probabilities = None
        if proba is not None:
            probabilities = {str(label): float(value) for label, value in proba.iloc[position].items()}
        out.append(PredictionRow(prediction=_plain(predicted.iloc[position]), probabilities=probabilities,
                                 contributions=contributions[position], base_value=base_values[position]))
    return Predictions(model=model.metadata.best_model, task_type=task_type, target=model.metadata.target,
                       rows=out, explained_by=explained_by, shap_output=shap_output)


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return value
