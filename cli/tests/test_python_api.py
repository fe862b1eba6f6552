"""``import dsp``: the command's run from Python, on frames and paths, and its examples as written."""

from __future__ import annotations

import doctest
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import dsp
import dsp._api
import pandas as pd
import polars as pl
import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
BUDGET = "10"


def _statistics(profile: dict[str, Any]) -> dict[str, Any]:
    """A profile less what names the run (ids, times, the file's name)."""
    return {"columns": profile["columns"], "rows": profile["dataset"]["rows"], "quality": profile["quality"],
            "alerts": sorted(json.dumps(a, sort_keys=True) for a in profile["alerts"])}


def test_a_frame_gives_the_statistics_of_the_same_table_read_from_a_file(tmp_path: Path) -> None:
    table = pl.DataFrame({"price": [9.99, 12.5, None, 1e-7, 123456.789], "units": [1, 2, 3, 4, 5],
                          "city": ["Oslo", "Rome", "Oslo", None, "Lima"],
                          "when": pl.date_range(pl.date(2024, 1, 1), pl.date(2024, 1, 5), eager=True)})
    table.write_csv(tmp_path / "t.csv")
    reports = {"polars": dsp.profile(table, progress=False), "lazy": dsp.profile(table.lazy(), progress=False),
               "csv": dsp.profile(tmp_path / "t.csv", progress=False),
               # pandas has no date type (a polars date becomes datetime64): the other columns
               "pandas": dsp.profile(table.drop("when").to_pandas(), progress=False),
               "polars_nodate": dsp.profile(table.drop("when"), progress=False)}
    stats = {k: _statistics(r.profile.model_dump(mode="json")) for k, r in reports.items()}
    assert stats["polars"] == stats["lazy"]
    assert stats["pandas"] == stats["polars_nodate"]
    price = reports["pandas"].profile.column("price").numeric
    assert price is not None
    assert price.mean == pytest.approx(table["price"].mean(), rel=1e-12)
    assert price.min == 1e-7 and price.max == 123456.789
    assert reports["csv"].profile.column("price").numeric.mean == pytest.approx(price.mean, rel=1e-9)
    assert reports["pandas"].ingest_report.source_format == "parquet"
    assert reports["csv"].profile.column("when").semantic_type == reports["polars"].profile.column("when").semantic_type
    # a pandas index that is data is kept as a column; the default range index is not
    indexed = dsp.profile(table.drop("when").to_pandas().set_index("city"), progress=False)
    assert "city" in [c.name for c in indexed.profile.columns]
    assert len(reports["pandas"].profile.columns) == 3


def test_options_are_the_commands_and_refusals_are_typed(tmp_path: Path) -> None:
    table = pl.DataFrame({"code": ["001", "002", "003", "004"], "n": [1.0, 2.0, 3.0, 4.0]})
    overridden = dsp.profile(table, schema={"code": "categorical"}, progress=False)
    assert overridden.profile.column("code").overridden
    with pytest.raises(dsp.DspError) as refused:
        dsp.profile(table, target="nope", progress=False)
    assert refused.value.stage == "profile" and refused.value.code == "target_not_found"
    with pytest.raises(ValueError, match="--task must be one of"):
        dsp.analyze(table, task="guess", progress=False)
    with pytest.raises(ValueError, match="--theme"):
        dsp.analyze(table, theme="blue", progress=False)
    with pytest.raises(FileNotFoundError):
        dsp.profile(tmp_path / "missing.csv", progress=False)
    with pytest.raises(TypeError, match="polars DataFrame"):
        dsp.profile([1, 2, 3], progress=False)
    with pytest.raises(dsp.DspError, match="model_not_found"):
        dsp.load_model(tmp_path)


def test_repr_html_is_the_dashboard_in_a_sandboxed_escaped_frame() -> None:
    report = dsp.profile(pd.DataFrame({"note": ['say "hi" & <b>bye</b>', "x"], "v": [1, 2]}), progress=False)
    frame = report._repr_html_()
    assert frame.startswith('<iframe sandbox="allow-scripts" ') and frame.endswith("></iframe>")
    srcdoc = frame.split(' srcdoc="', 1)[1].removesuffix('"></iframe>')
    assert '"' not in srcdoc and "<" not in srcdoc
    import html

    assert html.unescape(srcdoc) == report.dashboard_html()


def test_the_progress_bar_follows_the_stages_and_can_be_turned_off(capsys: pytest.CaptureFixture[str]) -> None:
    table = pl.DataFrame({"x": [1.0, 2.0, 3.0]})
    dsp.profile(table, progress=False)
    assert capsys.readouterr().err == ""
    dsp.profile(table)
    shown = capsys.readouterr().err
    assert "ingest" in shown and "profile" in shown and "done" in shown and "100%" in shown


@pytest.mark.browser
def test_a_profile_prints_to_pdf(tmp_path: Path) -> None:
    if not CHROMIUM.exists():
        pytest.skip("Chromium is not installed at /usr/bin/chromium (apt-get install chromium)")
    report = dsp.profile(pl.DataFrame({"x": [1.0, 2.0, 3.5, 8.0], "g": ["a", "b", "a", "c"]}), progress=False)
    written = report.to_pdf(tmp_path / "profile.pdf")
    assert written.read_bytes().startswith(b"%PDF-") and written.stat().st_size > 10_000


@pytest.fixture(scope="module")
def penguins(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """palmerpenguins as a pandas frame, analysed by the API and, as Parquet, by the command."""
    from palmerpenguins import load_penguins

    folder = tmp_path_factory.mktemp("penguins")
    frame = load_penguins()
    frame.to_parquet(folder / "penguins.parquet", index=False)
    command = subprocess.run([sys.executable, "-m", "dsp_cli.main", "analyze", str(folder / "penguins.parquet"),
                              "--target", "species", "--time-budget", BUDGET, "--out", str(folder / "cmd"), "-q"],
                             capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert command.returncode == 0, command.stderr[-3000:]
    report = dsp.analyze(frame, target="species", time_budget=float(BUDGET), name="penguins", progress=False)
    return {"frame": frame, "report": report, "cmd": folder / "cmd", "api": report.save(folder / "api")}


def _files(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file() and "predictor" not in p.parts}


@pytest.mark.slow
def test_analyze_of_a_pandas_frame_saves_what_the_command_writes(penguins: dict[str, Any]) -> None:
    api, cmd, report = penguins["api"], penguins["cmd"], penguins["report"]
    assert _files(api) == _files(cmd)
    assert {"profile.json", "analysis.json", "dashboard.html", "cleaned.parquet", "typed.parquet", "pipeline.json",
            "model/manifest.json"} <= _files(api)
    profiles = [json.loads((d / "profile.json").read_text()) for d in (api, cmd)]
    assert _statistics(profiles[0]) == _statistics(profiles[1])
    assert profiles[0]["dataset"]["name"] == profiles[1]["dataset"]["name"] == "penguins.parquet"
    analyses = [json.loads((d / "analysis.json").read_text()) for d in (api, cmd)]
    assert analyses[0]["task"] == analyses[1]["task"]
    assert analyses[0]["task"]["task_type"] == "multiclass" and analyses[0]["task"]["target"] == "species"
    assert analyses[0]["model"]["features"] == analyses[1]["model"]["features"]
    assert analyses[0]["automl"]["metrics"]["accuracy"] > 0.9
    for name in ("typed.parquet", "cleaned.parquet"):
        assert pl.read_parquet(api / name).equals(pl.read_parquet(cmd / name))
    pipelines = [json.loads((d / "pipeline.json").read_text()) for d in (api, cmd)]
    assert pipelines[0]["steps"] == pipelines[1]["steps"]
    # the typed documents are the ones saved
    assert report.analysis.model_dump(mode="json") == analyses[0]
    assert report.dashboard_html() == (api / "dashboard.html").read_text(encoding="utf-8")
    # values exact: the frame's mean is the profile's
    bill = report.profile.column("bill_length_mm").numeric
    assert bill is not None and bill.mean == pytest.approx(penguins["frame"]["bill_length_mm"].mean(), rel=1e-12)


@pytest.mark.slow
def test_the_saved_model_predicts_and_explains_through_its_pipeline(penguins: dict[str, Any]) -> None:
    frame: pd.DataFrame = penguins["frame"]
    rows = frame.drop(columns=["species"]).iloc[[5, 100, 300]]
    model = dsp.load_model(penguins["api"])
    assert model.target == "species" and model.task_type == "multiclass"
    predicted = model.predict(rows)
    assert isinstance(predicted, pd.DataFrame) and len(predicted) == 3
    assert list(predicted["prediction"]) == list(frame["species"].iloc[[5, 100, 300]])
    probabilities = predicted.filter(like="probability_").sum(axis=1)
    assert probabilities.to_numpy() == pytest.approx([1.0, 1.0, 1.0])
    # the same function as the platform's REST predict, and the same answer from the command's folder
    assert model.predictions(pl.from_pandas(rows)) == penguins["report"].model.predictions(rows)
    shap = model.explain(pl.from_pandas(rows))
    assert shap.height == 3 and shap["base_value"].null_count() == 0
    assert set(shap.columns) - {"prediction", "base_value"} <= set(model.features)
    # a file is read by ingest, as at training time
    csv = penguins["api"].parent / "rows.csv"
    rows.to_csv(csv, index=False)
    assert model.predict(csv)["prediction"].to_list() == list(predicted["prediction"])
    # `dsp predict` on the same folder and rows writes the same table
    command = subprocess.run([sys.executable, "-m", "dsp_cli.main", "predict", str(penguins["api"]), str(csv),
                              "--out", str(csv.with_name("predicted.csv"))], capture_output=True, text=True,
                             timeout=600, cwd=ROOT)
    assert command.returncode == 0, command.stderr[-3000:]
    written = pl.read_csv(csv.with_name("predicted.csv"))
    ours = model.predict(csv)
    assert written.select(ours.columns).equals(ours)
    with pytest.raises(dsp.DspError, match="missing_columns"):
        model.predict(rows.drop(columns=["island"]))
    # a model changed after training is refused before it is loaded
    tampered = penguins["api"].parent / "tampered"
    penguins["report"].save(tampered)
    (tampered / "model" / "model.json").write_text("{}")
    with pytest.raises(dsp.DspError, match="model_integrity"):
        dsp.load_model(tampered)


@pytest.mark.slow
@pytest.mark.browser
def test_repr_html_renders_in_headless_chromium_without_errors(penguins: dict[str, Any]) -> None:
    from tests.e2e.browser import PageWatch, open_browser

    if not CHROMIUM.exists():
        pytest.skip("Chromium is not installed at /usr/bin/chromium (apt-get install chromium)")
    notebook_cell = f"<!doctype html><html><body><h1>Notebook</h1>{penguins['report']._repr_html_()}</body></html>"
    with open_browser() as browser:
        page = browser.new_page()
        watch = PageWatch(base="about:")
        watch.attach(page)
        page.set_content(notebook_cell, wait_until="load")
        frame = page.frame_locator("iframe[sandbox='allow-scripts']")
        frame.locator("html[data-dsp-ready='1']").wait_for(state="attached", timeout=30000)
        assert frame.locator("h1, h2").first.inner_text().strip()
        # the frame is an opaque origin: the page cannot reach the notebook, nor the notebook the page
        assert page.evaluate("document.querySelector('iframe').contentDocument") is None
        frame.locator("body").evaluate("b => window.scrollTo(0, document.body.scrollHeight)")
        page.wait_for_timeout(1500)
        watch.assert_clean()


@pytest.mark.slow
def test_the_examples_in_the_api_run_as_written() -> None:
    results = [doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS, verbose=False)
               for module in (dsp, dsp._api)]
    failed = sum(r.failed for r in results)
    attempted = sum(r.attempted for r in results)
    assert failed == 0
    finder = doctest.DocTestFinder()
    documented = {t.name.rsplit(".", 1)[-1] for t in finder.find(dsp._api) if t.examples}
    assert set(dsp.__all__) <= documented, set(dsp.__all__) - documented
    assert attempted >= 30


@pytest.mark.slow
def test_the_docs_notebook_runs(tmp_path: Path) -> None:
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(ROOT / "docs" / "notebook.ipynb", as_version=4)
    NotebookClient(notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
                   ).execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    shown = [o["data"]["text/html"] for o in outputs if o.output_type in ("display_data", "execute_result")
             and "text/html" in o.get("data", {})]
    assert any(h.startswith('<iframe sandbox="allow-scripts"') for h in shown)
    # the progress bar: tqdm's widget with ipywidgets, its text bar on stderr without
    bars = [o.get("text", "") for o in outputs if o.output_type == "stream"] + [
        json.dumps(o["data"]) for o in outputs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert any("100%" in b or "widget-view" in b for b in bars)
