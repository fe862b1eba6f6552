"""`dsp predict` and `dsp models list` on the model `dsp analyze` wrote, against the mesh's own predict of the
same artifact: the model folder stored as the mesh stores it (one tar.gz in the artifact store, registered in ml's
SQLite registry under `dsp serve`'s data layout) and predicted through `LocalPredictor`, which is what the REST
predict of `dsp serve` calls."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "samples" / "penguins-raw.csv"
HELD_OUT = 7  # every 7th row of the file is held out of the analysis

pytestmark = pytest.mark.slow


def dsp(*args: str) -> Any:
    from dsp_cli.main import app

    return CliRunner().invoke(app, list(args))


@pytest.fixture(scope="module")
def analysed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """`dsp analyze` on the penguins without every 7th row; those rows, without their Species, to predict."""
    tmp = tmp_path_factory.mktemp("predict")
    raw = pl.read_csv(SAMPLE, infer_schema_length=0).with_row_index("row")
    held = raw.filter(pl.col("row") % HELD_OUT == 3).drop("row")
    raw.filter(pl.col("row") % HELD_OUT != 3).drop("row").write_csv(tmp / "train.csv")
    held.drop("Species").write_csv(tmp / "held-out.csv")
    held.write_csv(tmp / "held-out-labelled.csv")
    result = subprocess.run([sys.executable, "-m", "dsp_cli.main", "analyze", str(tmp / "train.csv"), "--target",
                             "Species", "--time-budget", "10", "--out", str(tmp / "out"), "--quiet"],
                            capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    return {"out": tmp / "out", "rows": tmp / "held-out.csv", "labelled": tmp / "held-out-labelled.csv", "tmp": tmp}


async def _mesh_predict(out: Path, data_dir: Path, body: bytes) -> tuple[str, tuple[int, dict[str, Any]]]:
    """Register OUT/model as the ml stage does (put_dir's tar.gz, the pipeline, the manifest hash) in a registry laid
    out as `dsp serve --data` keeps it, and predict through the predictor `dsp serve`'s REST predict calls."""
    from dsp_ml.adapters.repository import ModelVersion, SqliteAnalyses
    from dsp_ml.bootstrap import service_spec
    from dsp_ml.entrypoints.local import LocalPredictor
    from dsp_ml.service_layer.predict import LoadedModels
    from mesh_kit.artifacts import LocalArtifactStore, artifact_key
    from mesh_kit.sqlite import SqliteDatabase, database_path
    from shared_contracts.analysis import AnalysisResult

    analysis = AnalysisResult.model_validate_json((out / "analysis.json").read_bytes())
    assert analysis.model is not None
    m, model_id = analysis.model, uuid.uuid4()
    store = LocalArtifactStore(data_dir / "artifacts")
    artifact = store.put_dir(artifact_key("models", model_id, "model.tar.gz"), out / "model")
    pipeline = store.put_file(artifact_key("models", model_id, "pipeline.json"), out / "pipeline.json",
                              media_type="application/json")
    database = SqliteDatabase(database_path(data_dir, "ml"))
    await database.open()
    try:
        await database.migrate(service_spec().package)
        async with database.transaction() as conn:
            await SqliteAnalyses(conn).register_model(ModelVersion(
                model_id=model_id, job_id=uuid.uuid4(), dataset_id=uuid.uuid4(), task=m.task_type, target=m.target,
                features=m.features, metrics=m.metrics, training_data_hash=m.training_data_sha256, config=m.config,
                artifact=artifact, pipeline=pipeline, manifest_sha256=m.manifest_sha256))
        predictor = LocalPredictor(database, store, LoadedModels(root=data_dir / "cache" / "models"))
        return str(model_id), await predictor.predict(model_id, body, "text/csv", explain=True)
    finally:
        await database.close()


def test_dsp_predict_gives_the_mesh_predictions_of_the_same_artifact_in_row_order_with_the_id(analysed) -> None:
    out, rows = analysed["out"], analysed["rows"]
    written = analysed["tmp"] / "predictions.csv"
    result = dsp("predict", str(out), str(rows), "--out", str(written), "--explain")
    assert result.exit_code == 0, result.output
    mine = pl.read_csv(written)
    data_dir = analysed["tmp"] / "dsp-data"
    model_id, (status, answer) = asyncio.run(_mesh_predict(out, data_dir, rows.read_bytes()))
    assert status == 200, answer
    theirs = answer["rows"]
    held = pl.read_csv(analysed["labelled"], infer_schema_length=0)
    assert mine.height == held.height == len(theirs) > 40
    # the input's identifier column (named as one), in the input's order, first
    assert "Individual ID" in mine.columns[: mine.columns.index("prediction")]
    assert mine["Individual ID"].to_list() == held["Individual ID"].to_list()
    assert mine["prediction"].to_list() == [r["prediction"] for r in theirs]
    labels = sorted(theirs[0]["probabilities"])
    assert labels == sorted(held["Species"].unique().to_list())
    for label in labels:
        assert mine[f"probability_{label}"].to_list() == pytest.approx(
            [r["probabilities"][label] for r in theirs], abs=1e-9)
    top = [max(r["contributions"].items(), key=lambda kv: abs(kv[1])) for r in theirs]
    assert mine["top_1_feature"].to_list() == [k for k, _ in top]
    assert mine["top_1_contribution"].to_list() == pytest.approx([v for _, v in top], abs=1e-9)
    assert (mine["top_1_contribution"].abs() >= mine["top_2_contribution"].abs()).all()
    assert mine["base_value"].to_list() == pytest.approx([r["base_value"] for r in theirs], abs=1e-9)
    # a real model: most held-out penguins get their species
    assert (mine["prediction"] == held["Species"]).mean() >= 0.8

    listed = dsp("models", "list", str(analysed["tmp"]), "--data", str(data_dir), "--json")
    assert listed.exit_code == 0, listed.output
    entries = json.loads(listed.stdout)
    assert [e["source"] for e in entries] == ["folder", "serve"]
    folder, served = entries
    assert folder["id"] == str(out.resolve()) and served["id"] == model_id
    analysis = json.loads((out / "analysis.json").read_text())["model"]
    for entry in entries:
        assert (entry["task"], entry["target"]) == ("multiclass", "Species")
        assert entry["features"] == len(analysis["features"])
        assert entry["training_data_sha256"] == analysis["training_data_sha256"]
        assert entry["manifest_sha256"] == analysis["manifest_sha256"]
        assert entry["metrics"]["accuracy"] == pytest.approx(analysis["metrics"]["accuracy"])
        assert entry["created"].startswith("20")
    table = dsp("models", "list", str(analysed["tmp"]))
    assert table.exit_code == 0 and "multiclass" in table.stdout and "Species" in table.stdout


def test_refused_rows_and_models_are_one_line_and_exit_code_2(analysed, tmp_path: Path) -> None:
    out, rows = analysed["out"], analysed["rows"]
    frame = pl.read_csv(rows, infer_schema_length=0)
    cases = {
        "missing_columns": frame.drop("Culmen Length (mm)"),
        "unparseable_values": frame.with_columns(pl.lit("abc").alias("Body Mass (g)")),
    }
    for code, bad in cases.items():
        path = tmp_path / f"{code}.csv"
        bad.write_csv(path)
        result = dsp("predict", str(out), str(path), "--out", str(tmp_path / "p.csv"))
        assert result.exit_code == 2, result.output
        assert code in result.stderr and "Traceback" not in result.output
    extra = tmp_path / "extra.csv"
    frame.with_columns(pl.lit("x").alias("Colour")).write_csv(extra)
    result = dsp("predict", str(out), str(extra), "--out", str(tmp_path / "p.csv"))
    assert result.exit_code == 0 and "Colour" in result.stderr  # a warning, and the predictions
    result = dsp("predict", str(out), str(extra), "--out", str(tmp_path / "p.csv"), "--strict")
    assert result.exit_code == 2 and "unknown_columns" in result.stderr

    nothing = dsp("predict", str(tmp_path), str(rows), "--out", str(tmp_path / "p.csv"))
    assert nothing.exit_code == 2 and "model_not_found" in nothing.stderr
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    metadata = copy / "model" / "model.json"
    metadata.write_text(metadata.read_text().replace('"Species"', '"Island"'))
    tampered = dsp("predict", str(copy), str(rows), "--out", str(tmp_path / "p.csv"))
    assert tampered.exit_code == 2 and "model_integrity" in tampered.stderr


def test_dsp_predict_reads_parquet_excel_and_json_as_it_reads_the_csv(analysed, tmp_path: Path) -> None:
    """The same rows given as Parquet, xlsx and NDJSON get the CSV's predictions, ids included; a file ingest
    cannot read is one line and exit code 2."""
    import io

    out, rows = analysed["out"], analysed["rows"]
    frame = pl.read_csv(rows)  # typed as a user's own Parquet would be
    paths = {"parquet": tmp_path / "rows.parquet", "xlsx": tmp_path / "rows.xlsx", "ndjson": tmp_path / "rows.ndjson"}
    frame.write_parquet(paths["parquet"])
    workbook = io.BytesIO()
    frame.write_excel(workbook, autofit=False)
    paths["xlsx"].write_bytes(workbook.getvalue())
    frame.write_ndjson(paths["ndjson"])
    expected_path = tmp_path / "from-csv.csv"
    assert dsp("predict", str(out), str(rows), "--out", str(expected_path)).exit_code == 0
    expected = pl.read_csv(expected_path)
    for kind, path in paths.items():
        written = tmp_path / f"from-{kind}.csv"
        result = dsp("predict", str(out), str(path), "--out", str(written))
        assert result.exit_code == 0, (kind, result.output)
        mine = pl.read_csv(written)
        assert mine["Individual ID"].to_list() == expected["Individual ID"].to_list(), kind
        assert mine["prediction"].to_list() == expected["prediction"].to_list(), kind
        for column in (c for c in expected.columns if c.startswith("probability_")):
            assert mine[column].to_list() == pytest.approx(expected[column].to_list(), abs=1e-6), (kind, column)
    binary = tmp_path / "rows.bin"
    binary.write_bytes(b"\x00\x01\x02\x03" * 100)
    result = dsp("predict", str(out), str(binary), "--out", str(tmp_path / "p.csv"))
    assert result.exit_code == 2 and "Traceback" not in result.output


def test_dsp_predict_defuses_formulas_in_the_id_columns_it_copies(analysed) -> None:
    from etl_core import is_formula

    sys.path.insert(0, str(ROOT))
    from tests.corpus.hostile import FORMULAS

    rows = pl.read_csv(analysed["rows"], infer_schema_length=0)
    ids = [FORMULAS[i % len(FORMULAS)] for i in range(rows.height)]
    hostile = analysed["tmp"] / "hostile-ids.csv"
    rows.with_columns(pl.Series("Individual ID", ids)).write_csv(hostile)
    written = analysed["tmp"] / "hostile-predictions.csv"
    result = dsp("predict", str(analysed["out"]), str(hostile), "--out", str(written))
    assert result.exit_code == 0, result.output
    mine = pl.read_csv(written, infer_schema_length=0)
    assert mine["Individual ID"].to_list() == ["'" + v for v in ids]  # a leading quote: shown as text, not run
    assert not any(is_formula(cell) for column in mine.columns for cell in mine[column].drop_nulls().to_list()
                   if not cell.lstrip("-").replace(".", "", 1).replace("e-", "", 1).isdigit())
    assert pl.read_csv(hostile, infer_schema_length=0)["Individual ID"].to_list() == ids, "the input is not changed"
