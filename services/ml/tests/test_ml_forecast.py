"""Time patterns and forecasting on a real monthly series."""

from __future__ import annotations

import pytest
from dsp_ml.domain import analyze
from dsp_ml.domain.timeseries import forecast_series, regular_series, time_pattern


@pytest.mark.slow
def test_monthly_series_is_found_and_beats_seasonal_naive(write_parquet, air_passengers):
    result = analyze(write_parquet(air_passengers), time_budget_s=20)
    assert result.task.time_column == "month"
    assert result.task.task_type == "time_series"
    [forecast] = result.forecasts
    assert forecast.frequency == "MS"
    assert forecast.season_length == 12
    assert forecast.horizon == 12 and len(forecast.points) == 12
    scores = {score.model: score for score in forecast.scores}
    assert set(scores) == {"AutoETS", "AutoARIMA", "AutoTheta", "SeasonalNaive"}
    best = scores[forecast.best_model]
    assert best.mase < 1.0
    assert best.mase < scores["SeasonalNaive"].mase
    for point in forecast.points:
        assert point.lo_95 <= point.lo_80 <= point.mean <= point.hi_80 <= point.hi_95
    assert any(insight.chart_id == forecast.chart_id for insight in result.insights)


def test_trend_and_seasonality_of_air_passengers(air_passengers):
    series = regular_series(air_passengers, "month", "passengers")
    pattern = time_pattern(series)
    assert pattern.trend_direction == "rising"
    assert pattern.seasonal_strength > 0.5
    assert pattern.season_length == 12


def test_level_shift_is_found_near_where_it_was_planted(air_passengers):
    import numpy as np
    import polars as pl

    rng = np.random.default_rng(0)
    values = np.r_[rng.normal(10, 1, 60), rng.normal(20, 1, 60)]
    frame = pl.DataFrame({"month": air_passengers["month"][:120], "level": values})
    pattern = time_pattern(regular_series(frame, "month", "level"))
    shift = str(air_passengers["month"][60])[:7]
    assert any(point[:7] == shift for point in pattern.change_points) or any(
        abs(int(point[:4]) * 12 + int(point[5:7]) - int(shift[:4]) * 12 - int(shift[5:7])) <= 1
        for point in pattern.change_points
    )


def test_irregular_daily_rows_are_aggregated_to_a_regular_grid():
    from datetime import datetime, timedelta

    import numpy as np
    import polars as pl

    rng = np.random.default_rng(1)
    start = datetime(2024, 1, 1)
    stamps = [start + timedelta(days=int(day), hours=int(hour))
              for day, hour in zip(rng.integers(0, 90, 900), rng.integers(0, 24, 900), strict=True)]
    frame = pl.DataFrame({"when": stamps, "sales": rng.gamma(2.0, 10.0, 900)})
    series = regular_series(frame, "when", "sales")
    assert series.frequency in ("h", "D")
    report = forecast_series(series)
    assert report is not None and report.scores
