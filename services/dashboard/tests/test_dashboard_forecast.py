"""Forecast cards: one per measure, and one card with a series menu for the series of long-format data."""

from __future__ import annotations

import json
import re

import polars as pl
import pytest
from dsp_dashboard.domain import build_dashboard
from dsp_dashboard.domain import components as comp
from shared_contracts.analysis import (
    AnalysisResult,
    ForecastModelScore,
    ForecastPoint,
    ForecastReport,
    SamplingNote,
    TaskInfo,
)

REGIONS = {"Global": 20.0, "United States": 40.0, "Europe": 30.0}


def _report(value_column: str, level: float, *, key: str | None = None, series: str | None = None,
            model: str = "AutoETS") -> ForecastReport:
    history = [(f"2016-{month:02d}-01 00:00:00", level + month) for month in range(1, 13)]
    points = [ForecastPoint(timestamp=f"2017-{month:02d}-01 00:00:00", mean=level + 12 + month,
                            lo_80=level + 11 + month, hi_80=level + 13 + month,
                            lo_95=level + 10 + month, hi_95=level + 14 + month) for month in range(1, 4)]
    label = value_column if key is None else f"{value_column}:{key}={series}"
    return ForecastReport(
        chart_id=f"forecast:{label}", time_column="date", value_column=value_column, frequency="MS",
        season_length=12, horizon=3, backtest_windows=3, best_model=model,
        scores=[ForecastModelScore(model=model, mase=0.5, smape=3.0),
                ForecastModelScore(model="SeasonalNaive", mase=1.2, smape=7.0)],
        points=points, history=history, series_key=key, series_value=series)


def _analysis(forecasts: list[ForecastReport]) -> AnalysisResult:
    return AnalysisResult(task=TaskInfo(task_type="unsupervised", time_column="date"),
                          sampling=SamplingNote(total_rows=36), row_count=36, column_count=3, forecasts=forecasts)


def _regions() -> list[ForecastReport]:
    models = ["AutoTheta", "AutoARIMA", "AutoETS"]
    return [_report("value", level, key="category", series=name, model=model)
            for (name, level), model in zip(REGIONS.items(), models, strict=True)]


def test_series_of_long_format_data_share_one_card_with_a_menu():
    cards = comp.forecast_charts(_analysis([*_regions(), _report("volume", 5.0)]))
    assert [card.id for card in cards] == ["forecast-0", "forecast-1"]
    card, other = cards
    assert card.title == "Forecast of value by category"
    assert card.refs == [f"forecast:value:category={name}" for name in REGIONS]
    traces = card.chart["data"]
    assert len(traces) == 3 * 6
    # the first series is shown, the others wait in the menu
    assert [t["visible"] for t in traces] == [True] * 6 + [False] * 12
    shown = [t for t in traces if t["visible"] and t.get("name") == "history"]
    assert [y for y in shown[0]["y"]] == [20.0 + month for month in range(1, 13)]
    [menu] = card.chart["layout"]["updatemenus"]
    assert [button["label"] for button in menu["buttons"]] == list(REGIONS)
    europe = menu["buttons"][2]["args"][0]["visible"]
    assert europe == [False] * 12 + [True] * 6
    forecast = [t for t, on in zip(traces, europe, strict=True) if on and t.get("name") == "forecast"]
    assert forecast[0]["y"] == [30.0 + 12 + month for month in range(1, 4)]
    assert "United States: Best model AutoARIMA" in card.note
    # a forecast of one series keeps its own card, with every trace shown and no menu
    assert other.title == "Forecast of volume" and "updatemenus" not in other.chart["layout"]
    assert all("visible" not in t for t in other.chart["data"])


@pytest.mark.browser
def test_series_menu_switches_the_drawn_series_offline(write_parquet, open_dashboard):
    frame = pl.DataFrame({"date": pl.date_range(pl.date(2016, 1, 1), pl.date(2016, 12, 1), "1mo", eager=True)
                          .to_list() * 3, "category": [name for name in REGIONS for _ in range(12)],
                          "value": [level + month for level in REGIONS.values() for month in range(1, 13)]})
    html = build_dashboard(data=write_parquet(frame), profile=None, analysis=_analysis(_regions()))
    payload = re.search(r'<script type="application/json" id="dsp-payload">(.*?)</script>', html, re.S)
    assert "forecast-0" in json.loads(payload.group(1))["charts"]
    opened = open_dashboard(html)
    opened.evaluate("window.dsp.drawAll()")
    shown = ("Array.from(document.getElementById('forecast-0-chart').data)"
             ".filter(t => t.visible === true && t.name === 'history').map(t => t.y[0])")
    assert opened.evaluate(shown) == [21.0]
    opened.page.locator("#forecast-0-chart .updatemenu-header-group").click()
    opened.page.locator("#forecast-0-chart .updatemenu-dropdown-button").nth(2).click()
    assert opened.evaluate(shown) == [31.0]
    assert opened.errors == [] and opened.requests == []
