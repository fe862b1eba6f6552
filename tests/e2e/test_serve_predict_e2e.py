"""The REST predict of a mesh-trained model and `dsp predict` of the same artifact give the same predictions:
`dsp serve` trains on the penguins without every seventh row, its REST predict answers for those rows, then
`dsp predict MODEL_ID --data DATA` predicts them from the model `dsp serve` stored, and `dsp models list` shows it."""

from __future__ import annotations

import asyncio
import io
import json
import subprocess
import sys
from pathlib import Path

import httpx
import polars as pl
import pytest

from .helpers import follow, upload
from .serve import ServeProcess

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "samples" / "penguins-raw.csv"


def test_rest_predict_and_dsp_predict_of_the_same_served_model_agree(tmp_path: Path) -> None:
    raw = pl.read_csv(SAMPLE, infer_schema_length=0).with_row_index("row")
    raw.filter(pl.col("row") % 7 != 3).drop("row").write_csv(tmp_path / "train.csv")
    held = raw.filter(pl.col("row") % 7 == 3).drop("row", "Species")
    held.write_csv(tmp_path / "held-out.csv")
    server = ServeProcess(data_dir=tmp_path / "data")
    server.start()
    try:
        with httpx.Client(base_url=server.url, headers=server.sign_in(), timeout=120) as api:
            dataset = upload(api, tmp_path / "train.csv").json()["data"]
            started = api.post("/api/v1/analyze", json={"dataset_id": dataset["dataset_id"], "target": "Species",
                                                        "options": {"time_budget_s": 10}})
            assert started.status_code == 202, started.text
            job = started.json()["data"]["analysis_id"]
            token = api.headers["Authorization"].removeprefix("Bearer ")
            messages = asyncio.run(follow(server.ws_url, job, token=token, timeout=600))
            assert messages[-1]["type"] == "dashboard.ready", messages[-1]
            model_id = api.get(f"/api/v1/analysis/{job}").json()["data"]["model_id"]
            rest = api.post(f"/api/v1/models/{model_id}/predict", params={"explain": "true"},
                            content=(tmp_path / "held-out.csv").read_bytes(), headers={"Content-Type": "text/csv"})
            assert rest.status_code == 200, rest.text
    finally:
        server.stop()
    theirs = rest.json()["data"]["rows"]

    out = tmp_path / "predictions.csv"
    result = subprocess.run([sys.executable, "-m", "dsp_cli.main", "predict", model_id, str(tmp_path / "held-out.csv"),
                             "--data", str(server.data_dir), "--out", str(out), "--explain"],
                            capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    mine = pl.read_csv(io.BytesIO(out.read_bytes()))
    assert mine.height == held.height == len(theirs) > 40
    assert mine["Individual ID"].to_list() == held["Individual ID"].to_list()
    assert mine["prediction"].to_list() == [r["prediction"] for r in theirs]
    for label in theirs[0]["probabilities"]:
        assert mine[f"probability_{label}"].to_list() == pytest.approx(
            [r["probabilities"][label] for r in theirs], abs=1e-9)
    assert mine["base_value"].to_list() == pytest.approx([r["base_value"] for r in theirs], abs=1e-9)

    (tmp_path / "empty").mkdir()
    listed = subprocess.run([sys.executable, "-m", "dsp_cli.main", "models", "list", str(tmp_path / "empty"),
                             "--data", str(server.data_dir), "--json"], capture_output=True, text=True,
                            timeout=300, cwd=ROOT)
    assert listed.returncode == 0, listed.stderr
    [entry] = json.loads(listed.stdout)
    assert (entry["id"], entry["task"], entry["target"]) == (model_id, "multiclass", "Species")
