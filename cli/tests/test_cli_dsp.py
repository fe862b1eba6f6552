"""The `dsp` command as a user runs it: a real process on real files."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "samples" / "penguins-raw.csv"


def dsp(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "dsp_cli.main", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)


def test_profile_of_a_european_spreadsheet_export(tmp_path: Path) -> None:
    source = tmp_path / "ventes.csv"
    rows = ["Région;Montant;Taux;Date"] + [
        f"Île-de-France;{1000 + i},{i % 100:02d};{i % 7},5%;{(i % 28) + 1:02d}/03/2024" for i in range(200)
    ]
    source.write_bytes("\n".join(rows).encode("cp1252"))
    result = dsp("profile", str(source), "--out", str(tmp_path / "out"), "--quiet")
    assert result.returncode == 0, result.stderr
    profile = json.loads((tmp_path / "out" / "profile.json").read_text())
    columns = {c["name"]: c for c in profile["columns"]}
    assert set(columns) == {"Région", "Montant", "Taux", "Date"}
    assert columns["Montant"]["numeric"]["min"] == pytest.approx(1000.0)
    assert columns["Montant"]["numeric"]["max"] == pytest.approx(1199 + 0.99)
    assert profile["dataset"]["rows"] == 200
    report = json.loads((tmp_path / "out" / "ingest-report.json").read_text())
    assert report["delimiter"] == ";"


def test_bad_input_is_one_clear_line_and_exit_code_2(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    result = dsp("profile", str(empty), "--out", str(tmp_path / "o"), "--quiet")
    assert result.returncode == 2
    assert "empty_file" in result.stderr
    assert "Traceback" not in result.stderr

    result = dsp("profile", str(SAMPLE), "--target", "no_such_column", "--out", str(tmp_path / "o"), "--quiet")
    assert result.returncode == 2
    assert "target_not_found" in result.stderr and "Species" in result.stderr

    result = dsp("profile", str(tmp_path / "missing.csv"), "--out", str(tmp_path / "o"))
    assert result.returncode == 2
    assert "does not exist" in result.stderr


@pytest.fixture(scope="module")
def analyzed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """What `make run` does: `dsp analyze` on the shipped sample."""
    out = tmp_path_factory.mktemp("analyze") / "out"
    result = dsp("analyze", str(SAMPLE), "--target", "Species", "--time-budget", "20", "--out", str(out))
    return out, result


@pytest.mark.slow
def test_analyze_writes_profile_analysis_and_a_dashboard(analyzed) -> None:
    out, result = analyzed
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith(str((out / "dashboard.html").resolve()))
    profile = json.loads((out / "profile.json").read_text())
    analysis = json.loads((out / "analysis.json").read_text())
    assert profile["dataset"]["rows"] == 344
    assert analysis["task"]["target"] == "Species" and analysis["task"]["task_type"] == "multiclass"
    assert analysis["automl"]["metrics"]["accuracy"] > 0.9
    html = (out / "dashboard.html").read_text()
    assert html.lstrip().lower().startswith("<!doctype html>")
    assert (out / "cleaned.parquet").exists()
    # two views: the page and the statistics describe the data as ingested, the model the cleaned data
    typed, cleaned = pl.read_parquet(out / "typed.parquet"), pl.read_parquet(out / "cleaned.parquet")
    engineered = set(cleaned.columns) - set(typed.columns)
    assert engineered and set(analysis["model"]["features"]) & engineered
    payload = re.search(r'<script type="application/json" id="dsp-payload">(.*?)</script>', html, re.S)
    assert payload is not None
    assert [c["name"] for c in json.loads(payload.group(1))["data"]["columns"]] == typed.columns
    described = {name for a in analysis["associations"] for name in (a["a"], a["b"])}
    assert described and not described & engineered


@pytest.mark.slow
@pytest.mark.browser
def test_the_sample_dashboard_opens_offline_without_errors(analyzed) -> None:
    from playwright.sync_api import sync_playwright

    out, result = analyzed
    assert result.returncode == 0, result.stderr[-3000:]
    page_url = (out / "dashboard.html").resolve().as_uri()
    errors: list[str] = []
    outside: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        page = browser.new_page()

        def guard(route) -> None:
            url = route.request.url
            if url == page_url or url.startswith(("data:", "blob:", "about:")):
                route.continue_()
            else:
                outside.append(url)
                route.abort()

        page.route("**/*", guard)
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(page_url, wait_until="load")
        # the page's CSP forbids eval-based waits; charts draw as they scroll into view
        page.wait_for_selector("html[data-dsp-ready='1']", state="attached", timeout=30000)
        for _ in range(40):
            page.mouse.wheel(0, 900)
            page.wait_for_timeout(100)
        page.wait_for_timeout(1000)
        drawn = page.locator(".js-plotly-plot .main-svg").count()
        page.screenshot(path=str(out / "dashboard.png"), full_page=False)
        browser.close()
    assert errors == []
    assert outside == [], f"requests left the file: {outside}"
    assert drawn >= 5


def test_etl_csv_export_has_no_live_formula_in_header_or_values(tmp_path: Path) -> None:
    import csv
    import re
    import unicodedata

    triggers = ("=", "+", "-", "@", "\t", "\r")
    number = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
    header = ['=HYPERLINK("http://x","y")', "+cmd", "＝total", "＠who", "amount"]
    values = ["=1+1", "+cmd", "-2+3", "@SUM(A1)", '＝HYPERLINK("http://x","y")', "＠x", "＋1", "－1+1"]
    source = tmp_path / "hostile.csv"
    with open(source, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        for i in range(40):
            writer.writerow([values[(i + k) % len(values)] for k in range(4)] + [f"{-3.5 - i}"])
    config = tmp_path / "etl.json"
    config.write_text(json.dumps({"strings": {"nfkc": False, "merge_near_duplicates": False}}))
    out = tmp_path / "out"
    result = dsp("etl", str(source), "--out", str(out), "--format", "csv", "--config", str(config), "--quiet")
    assert result.returncode == 0, result.stderr
    with open(out / "cleaned.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["'" + h for h in header[:4]] + ["amount"]
    for row in rows:
        for cell in row:
            if number.fullmatch(cell):
                continue
            assert not cell.startswith(triggers), repr(cell)
            assert not unicodedata.normalize("NFKC", cell).startswith(triggers), repr(cell)
    flat = [cell for row in rows[1:] for cell in row[:4]]
    assert "'＝HYPERLINK(\"http://x\",\"y\")" in flat and "'＠x" in flat
    assert sorted(float(row[4]) for row in rows[1:]) == sorted(-3.5 - i for i in range(40))


def test_analyze_with_rules_puts_the_failures_in_the_profile_and_the_page(tmp_path: Path) -> None:
    """14 penguins have no isotope values: a not-null rule of severity error on them fails validation, lowers
    validity, and the analysis still runs; asked to block, the command refuses the file."""
    rules = tmp_path / "rules.yaml"
    rules.write_text('rules:\n  - {type: not_null, column: "Delta 15 N (o/oo)"}\n'
                     "  - {type: not_null, column: Sex, severity: warning}\n")
    out = tmp_path / "out"
    result = dsp("analyze", str(SAMPLE), "--rules", str(rules), "--time-budget", "5", "--out", str(out), "--quiet")
    assert result.returncode == 0, result.stderr[-3000:]
    profile = json.loads((out / "profile.json").read_text())
    validation = profile["validation"]
    assert (validation["status"], validation["errors_failed"], validation["warnings_failed"]) == ("failed", 1, 1)
    assert [(r["name"], r["failed_count"]) for r in validation["rules"]] == [
        ("Delta 15 N (o/oo) is not null", 14), ("Sex is not null", 11)]
    validity = next(c for c in profile["quality"]["components"] if c["name"] == "validity")
    assert validity["score"] == pytest.approx(100 - 20 - 30 * 14 / 344 - 5 - 10 * 11 / 344, abs=0.01)
    html = (out / "dashboard.html").read_text()
    assert 'id="validation"' in html and "Validation rules: failed validation" in html
    assert (out / "analysis.json").exists()  # not blocked

    rules.write_text(rules.read_text() + "block_on_validation_error: true\n")
    blocked = dsp("profile", str(SAMPLE), "--rules", str(rules), "--out", str(tmp_path / "blocked"), "--quiet")
    assert blocked.returncode == 2
    assert "validation_failed" in blocked.stderr and "Traceback" not in blocked.stderr
    assert not (tmp_path / "blocked" / "profile.json").exists()


@pytest.fixture(scope="module")
def house_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.corpus.house import write_house_csv

    return write_house_csv(tmp_path_factory.mktemp("house") / "house.csv")


@pytest.mark.slow
def test_analyze_task_regression_forces_a_model_and_honours_excluded_and_id_columns(house_csv: Path,
                                                                                     tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = dsp("analyze", str(house_csv), "--target", "Price", "--task", "regression", "--exclude", "Garage",
                 "--id", "Bathrooms", "--time-budget", "15", "--out", str(out), "--quiet")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "task: regression" in result.stderr
    analysis = json.loads((out / "analysis.json").read_text())
    assert analysis["task"]["task_type"] == "regression" and analysis["task"]["time_column"] == "Built"
    assert analysis["task"]["reason"].startswith("The regression task was chosen")
    features = analysis["model"]["features"]
    assert "Size" in features and "Rooms" in features
    assert not [f for f in features if f.split("__")[0] in ("Garage", "Bathrooms")]


def test_a_type_override_survives_into_the_cleaned_data(house_csv: Path, tmp_path: Path) -> None:
    import polars as pl

    schema = tmp_path / "schema.yaml"
    schema.write_text("Built: categorical\n")
    out = tmp_path / "out"
    result = dsp("etl", str(house_csv), "--schema", str(schema), "--out", str(out), "--quiet")
    assert result.returncode == 0, result.stderr
    cleaned = pl.read_parquet(out / "cleaned.parquet")
    assert cleaned.schema["Built"] == pl.String
    assert cleaned["Built"].to_list() == pl.read_csv(house_csv)["Built"].to_list()
    assert not [c for c in cleaned.columns if c.startswith("Built__")]
    built = next(c for c in json.loads((out / "profile.json").read_text())["columns"] if c["name"] == "Built")
    assert (built["semantic_type"], built["overridden"]) == ("categorical", True)


@pytest.mark.slow
def test_a_task_that_cannot_be_served_is_one_clear_line_and_exit_code_2(house_csv: Path, tmp_path: Path) -> None:
    result = dsp("analyze", str(house_csv), "--target", "Condition", "--task", "binary", "--out",
                 str(tmp_path / "o"), "--quiet")
    assert result.returncode == 2
    assert "task_not_supported" in result.stderr and "exactly two classes" in result.stderr
    assert "Traceback" not in result.stderr
    result = dsp("analyze", str(house_csv), "--target", "Price", "--task", "unsupervised", "--out",
                 str(tmp_path / "o"), "--quiet")
    assert result.returncode == 2 and "predicts nothing" in result.stderr and "Traceback" not in result.stderr
    result = dsp("analyze", str(house_csv), "--task", "clustering", "--out", str(tmp_path / "o"), "--quiet")
    assert result.returncode == 2 and "--task must be one of" in result.stderr
