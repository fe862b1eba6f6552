"""``dsp models list`` and ``dsp predict``: the models ``dsp analyze`` wrote (and those ``dsp serve`` registered),
and predictions from a model folder through ml's own predict use case (``dsp_ml.entrypoints.local``).

A model folder is what ``dsp analyze --out OUT`` writes: ``OUT/model/`` (``manifest.json``, ``model.json``,
``predictor/``), with the fitted ETL pipeline ``OUT/pipeline.json`` and the analysis ``OUT/analysis.json``.
``dsp predict`` checks every file of ``OUT/model`` against its manifest, and the manifest against the hash
``analysis.json`` recorded, before it loads anything; then it reads the rows as the REST predict reads a CSV,
checks them, runs the pipeline, then the model.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import tempfile
import uuid
from pathlib import Path
from typing import Annotated, Any

import polars as pl
import typer
from rich.console import Console
from rich.table import Table

__all__ = ["find_model_folders", "list_models", "models_app", "predict", "prediction_frame", "read_rows",
           "registered_models"]

err = Console(stderr=True)
models_app = typer.Typer(add_completion=False, no_args_is_help=True,
                         help="The models `dsp analyze` wrote and `dsp serve` registered.")
TOP_CONTRIBUTIONS = 3
_NOT_SEARCHED = {"node_modules", "__pycache__", "site-packages"}


def find_model_folders(roots: list[Path]) -> list[Path]:
    """Every model directory (``model.json`` beside a ``manifest.json``) at or under ``roots``, sorted, once each."""
    found: set[Path] = set()
    for root in roots:
        if not root.exists():
            raise typer.BadParameter(f"{root} does not exist", param_hint="DIR")
        for here, subdirs, files in os.walk(root):
            if "model.json" in files and "manifest.json" in files:
                found.add(Path(here).resolve())
                subdirs.clear()  # nothing of a model folder (its predictor/) is another model
                continue
            subdirs[:] = [d for d in subdirs if not d.startswith(".") and d not in _NOT_SEARCHED]
    return sorted(found)


def _folder_entry(model_dir: Path) -> dict[str, Any] | None:
    from dsp_ml.entrypoints.local import open_model_folder
    from dsp_ml.service_layer.predict import PredictionRefused

    try:
        folder = open_model_folder(model_dir)
    except PredictionRefused as refused:
        err.print(f"[yellow]note[/yellow]: skipped {model_dir}: {refused.message}")
        return None
    m = folder.metadata
    return {"source": "folder", "id": str(model_dir.parent if model_dir.name == "model" else model_dir),
            "model_dir": str(model_dir), "task": m.task_type, "target": m.target, "best_model": m.best_model,
            "metrics": m.metrics, "features": len(m.features), "training_data_sha256": m.training_data_sha256,
            "manifest_sha256": m.manifest_sha256, "created": folder.created}


def registered_models(data_dir: Path) -> list[dict[str, Any]]:
    """The models ``dsp serve --data DATA`` registered (its ml registry, ``DATA/db/ml.sqlite3``), newest first."""
    from mesh_kit.sqlite import database_path

    path = database_path(data_dir, "ml")
    if not path.is_file():
        raise typer.BadParameter(f"{data_dir} holds no {path.relative_to(data_dir)}; give the --data of `dsp serve`",
                                 param_hint="--data")
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        rows = conn.execute("SELECT model_id, dataset_id, task, target, features, metrics, training_data_hash,"
                            " manifest_sha256, created_at FROM models ORDER BY created_at DESC").fetchall()
    return [{"source": "serve", "id": model_id, "dataset_id": dataset_id, "task": task, "target": target,
             "metrics": json.loads(metrics), "features": len(json.loads(features)),
             "training_data_sha256": data_hash, "manifest_sha256": manifest, "created": created}
            for model_id, dataset_id, task, target, features, metrics, data_hash, manifest, created in rows]


def list_models(dirs: list[Path], data_dir: Path | None = None) -> list[dict[str, Any]]:
    """The model folders under ``dirs`` (newest first), then the models of ``dsp serve``'s ``data_dir``."""
    folders = [e for d in find_model_folders(dirs) if (e := _folder_entry(d)) is not None]
    folders.sort(key=lambda e: e["created"], reverse=True)
    return folders + (registered_models(data_dir) if data_dir is not None else [])


def _metrics(metrics: dict[str, Any], keep: int = 3) -> str:
    return ", ".join(f"{k} {v:.4g}" if isinstance(v, int | float) else f"{k} {v}" for k, v in
                     list(metrics.items())[:keep])


@models_app.command("list")
def list_command(
        dirs: Annotated[list[Path] | None, typer.Argument(
            metavar="DIR", help="Directories to search for the model folders `dsp analyze --out` wrote (default: .)")] = None,
        data: Annotated[Path | None, typer.Option(
            "--data", help="Also list the models of `dsp serve --data DATA` (its DATA/db/ml.sqlite3)")] = None,
        as_json: Annotated[bool, typer.Option("--json", help="One JSON array on stdout")] = False) -> None:
    """List models: id (folder or registry id), task, target, metrics, features, training data hash, created."""
    entries = list_models(dirs or [Path(".")], data)
    if as_json:
        print(json.dumps(entries, indent=2))
        return
    if not entries:
        err.print("no models found")
        return
    table = Table("id", "task", "target", "metrics", "features", "training data", "created")
    for e in entries:
        table.add_row(e["id"], e["task"], e["target"], _metrics(e["metrics"]), str(e["features"]),
                      e["training_data_sha256"][:12], e["created"])
    Console(width=200).print(table)


def prediction_frame(answer: dict[str, Any], ids: pl.DataFrame | None, *, explain: bool,
                     top: int = TOP_CONTRIBUTIONS) -> pl.DataFrame:
    """The predictions as a table, one row per input row in its order: the input's id columns, ``prediction``,
    ``probability_<label>`` per class, and with ``explain`` the SHAP ``base_value`` and the ``top`` largest
    contributions (``top_<k>_feature``, ``top_<k>_contribution``)."""
    rows = answer["rows"]
    columns: dict[str, list[Any]] = {} if ids is None else {c: ids[c].to_list() for c in ids.columns}
    columns["prediction"] = [r["prediction"] for r in rows]
    labels = list(rows[0]["probabilities"] or {}) if rows else []
    for label in labels:
        columns[f"probability_{label}"] = [(r["probabilities"] or {}).get(label) for r in rows]
    if explain:
        columns["base_value"] = [r.get("base_value") for r in rows]
        for k in range(top):
            ranked = [list((r.get("contributions") or {}).items()) for r in rows]
            columns[f"top_{k + 1}_feature"] = [p[k][0] if len(p) > k else None for p in ranked]
            columns[f"top_{k + 1}_contribution"] = [p[k][1] if len(p) > k else None for p in ranked]
    return pl.DataFrame(columns, strict=False)


def read_rows(file: Path) -> tuple[bytes, pl.DataFrame]:
    """The rows of ``file`` to predict: as CSV text for ml's predict, and as a frame of text (their id columns).

    A CSV goes as it is, as the REST predict reads it. Any other format ingest recognises (Parquet, Arrow,
    Excel, JSON, NDJSON, compressed files) is read by ingest first and sent as CSV, so a value reaches the
    pipeline as the same text a CSV export of the file would hold.
    """
    from dsp_ingest.domain import detect_format, ingest_file

    if detect_format(file) == "csv":
        body = file.read_bytes()
        return body, pl.read_csv(file, infer_schema_length=0)
    with tempfile.TemporaryDirectory(prefix="dsp-rows-") as tmp:
        typed = Path(tmp) / "typed.parquet"
        ingest_file(file, typed)
        frame = pl.read_parquet(typed)
    body = frame.write_csv().encode()
    return body, pl.read_csv(body, infer_schema_length=0)


def _named_as_id(name: str) -> bool:
    low = name.strip().lower()
    return low in ("id", "key", "uuid") or low.endswith(("_id", " id", "-id", ".id")) or low.startswith("id_")


def _id_columns(table: pl.DataFrame, wanted: list[str] | None, known: list[str], skip: set[str],
                rows: int) -> pl.DataFrame | None:
    """The id columns of the input as written (text), in its row order: ``wanted`` when given, else the columns
    the analysis named identifiers (``known``) and those named as one (``id``, ``customer_id``, ``Individual
    ID``...) that are not model features (``skip``)."""
    header = table.columns
    if wanted:
        present = [c for c in header if c in wanted]
    else:
        present = [c for c in header if c not in skip and (c in known or _named_as_id(c))]
    if not present:
        return None
    ids = table.select(present)
    return ids if ids.height == rows else None


async def _predict_registered(data_dir: Path, model_id: uuid.UUID, body: bytes, *, explain: bool,
                              strict: bool) -> tuple[dict[str, Any], set[str]]:
    """Predict with a model ``dsp serve --data DATA`` registered, through the predictor its REST predict calls
    (``LocalPredictor`` over DATA's ml registry and artifact store); the answer and the model's columns."""
    from dsp_ml.adapters.repository import SqliteAnalyses
    from dsp_ml.entrypoints.local import LocalPredictor
    from dsp_ml.service_layer.predict import LoadedModels, PredictionRefused
    from mesh_kit.artifacts import LocalArtifactStore
    from mesh_kit.sqlite import SqliteDatabase, database_path

    path = database_path(data_dir, "ml")
    if not path.is_file():
        raise PredictionRefused(404, "model_not_found", f"{data_dir} holds no {path.relative_to(data_dir)}; give the "
                                "--data of `dsp serve`", "data")
    database = SqliteDatabase(path)
    await database.open()
    try:
        async with database.read() as conn:
            model = await SqliteAnalyses(conn).find_model(model_id)
        with tempfile.TemporaryDirectory(prefix="dsp-predict-") as tmp:
            predictor = LocalPredictor(database, LocalArtifactStore(data_dir / "artifacts"),
                                       LoadedModels(root=Path(tmp)))
            status, answer = await predictor.predict(model_id, body, "text/csv", explain=explain, strict=strict)
    finally:
        await database.close()
    if status != 200:
        error = answer.get("error", {})
        raise PredictionRefused(status, error.get("code", "prediction_failed"), error.get("message", ""))
    return answer, set() if model is None else {*model.features, model.target}


def predict(model_dir: Path, file: Path, out: Path, *, explain: bool = False, strict: bool = False,
            ids: list[str] | None = None, top: int = TOP_CONTRIBUTIONS, data_dir: Path | None = None) -> dict[str, Any]:
    """Predict the rows of ``file`` with the model folder ``model_dir`` (or, with ``data_dir``, the model of that
    id that ``dsp serve --data DATA`` registered) and write them to ``out`` (CSV); returns ml's answer. Raises
    ``PredictionRefused`` (the REST predict's 4xx) for a refused model or rows."""
    from dsp_ml.entrypoints.local import open_model_folder, predict_folder
    from dsp_ml.service_layer.predict import PredictionRefused

    known: list[str] = []
    body, table = read_rows(file)
    if data_dir is not None and not model_dir.is_dir():
        try:
            model_id = uuid.UUID(str(model_dir))
        except ValueError:
            raise PredictionRefused(404, "model_not_found", f"{model_dir} is neither a model folder nor a model id",
                                    "model") from None
        answer, skip = asyncio.run(_predict_registered(data_dir, model_id, body, explain=explain, strict=strict))
    else:
        folder = open_model_folder(model_dir)
        prediction = asyncio.run(predict_folder(folder, body, "text/csv", explain=explain, strict=strict))
        answer, known = prediction.answer, folder.identifiers
        skip = {*folder.metadata.features, folder.metadata.target}
    id_frame = _id_columns(table, ids, known, skip, len(answer["rows"]))
    out.parent.mkdir(parents=True, exist_ok=True)
    # the id columns and predicted labels are the user's text: formulas are defused, as in every CSV written
    from etl_core import write_safe_csv  # only predictions need it

    write_safe_csv(prediction_frame(answer, id_frame, explain=explain, top=top), out)
    return answer


def predict_command(
        model_dir: Annotated[Path, typer.Argument(
            metavar="MODEL", help="The directory `dsp analyze --out` wrote (or its model/); with --data, a model id")],
        file: Annotated[Path, typer.Argument(metavar="FILE", help="The rows to predict (the training file's columns): CSV, Parquet, Excel, JSON...")],
        out: Annotated[Path, typer.Option("--out", "-o", help="Where to write the predictions (CSV)")] = Path(
            "predictions.csv"),
        explain: Annotated[bool, typer.Option("--explain", help="Add SHAP per row: base value, top contributions")]
        = False,
        strict: Annotated[bool, typer.Option("--strict", help="Refuse columns the model does not take")] = False,
        id_column: Annotated[list[str] | None, typer.Option(
            "--id", help="Copy this input column to the predictions (repeatable; default: the analysis' ID columns)")]
        = None,
        top: Annotated[int, typer.Option("--top", min=1, help="Contributions kept per row with --explain")]
        = TOP_CONTRIBUTIONS,
        data: Annotated[Path | None, typer.Option(
            "--data", help="Predict with the model of id MODEL that `dsp serve --data DATA` registered")] = None,
) -> None:
    """Predict FILE's rows with a model `dsp analyze` wrote: the same fitted ETL pipeline runs first, as in the
    REST predict; the predictions keep the input's row order and its id columns."""
    from dsp_ingest.domain import IngestError
    from dsp_ml.service_layer.predict import PredictionRefused

    if not file.is_file():
        raise typer.BadParameter(f"{file} is not a file", param_hint="FILE")
    try:
        answer = predict(model_dir, file, out, explain=explain, strict=strict, ids=id_column, top=top,
                         data_dir=data)
    except IngestError as exc:
        err.print(f"[red]error[/red] ({exc.code}): {exc.message}", soft_wrap=True)
        raise typer.Exit(code=2) from None
    except PredictionRefused as refused:
        err.print(f"[red]error[/red] ({refused.code}): {refused.message}", soft_wrap=True)
        raise typer.Exit(code=2) from None
    for warning in answer.get("warnings", []):
        err.print(f"[yellow]note[/yellow]: {warning['message']}", soft_wrap=True)
    given = answer.get("input") or {}
    err.print(f"predicted {len(answer['rows'])} rows of {answer['target']} with {answer['model']} "
              f"({given.get('filled', 0)} with values filled, {given.get('coerced', 0)} with values converted)")
    print(out)
