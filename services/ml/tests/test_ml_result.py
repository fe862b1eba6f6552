"""The result document: reduced analyses, serialisation, and CSV input."""

from __future__ import annotations

import numpy as np
import polars as pl
from dsp_ml.domain import analyze
from shared_contracts.analysis import ANALYSIS_SCHEMA_VERSION, AnalysisResult


def test_too_few_rows_for_automl_gives_a_reduced_analysis_that_says_so(write_parquet, iris):
    frame = iris.sample(25, seed=1, shuffle=True)
    result = analyze(write_parquet(frame), target="species", time_budget_s=10)
    assert result.task.task_type == "multiclass"
    assert result.automl is None and result.model is None
    assert any("too few" in warning for warning in result.warnings)
    assert result.feature_tests, "statistics still run on a small table"


def test_result_round_trips_through_json(write_parquet, planted):
    result = analyze(write_parquet(planted), time_budget_s=10)
    assert result.schema_version == ANALYSIS_SCHEMA_VERSION
    again = AnalysisResult.model_validate_json(result.model_dump_json())
    assert again == result


def test_csv_input_with_text_dates_finds_the_time_column(tmp_path):
    rng = np.random.default_rng(5)
    months = pl.date_range(pl.date(2015, 1, 1), pl.date(2022, 12, 1), "1mo", eager=True)
    season = 10 * np.sin(2 * np.pi * np.arange(len(months)) / 12)
    frame = pl.DataFrame({"period": months.dt.strftime("%Y-%m-%d"),
                          "sales": 100 + np.arange(len(months)) + season + rng.normal(size=len(months))})
    path = tmp_path / "sales.csv"
    frame.write_csv(path)
    result = analyze(path, time_budget_s=20)
    assert result.task.time_column == "period"
    [pattern] = result.time_patterns
    assert pattern.trend_direction == "rising"
    assert pattern.season_length == 12 and pattern.seasonal_strength > 0.5


def test_progress_is_reported_in_order(write_parquet, planted):
    seen: list[tuple[float, str]] = []
    analyze(write_parquet(planted), time_budget_s=10, progress=lambda f, m: seen.append((f, m)))
    fractions = [fraction for fraction, _ in seen]
    assert fractions[0] == 0.0 and fractions[-1] == 1.0
    assert fractions == sorted(fractions)


def test_columns_derived_by_cleaning_are_not_described_or_forecast(write_parquet, air_passengers):
    months = air_passengers["month"]
    frame = air_passengers.with_columns(
        months.dt.year().alias("month__year"), months.dt.month().alias("month__month"),
        (months.dt.month() * 2 * np.pi / 12).sin().alias("month__month_sin"),
    )
    result = analyze(write_parquet(frame), time_budget_s=20)
    assert [pattern.value_column for pattern in result.time_patterns] == ["passengers"]
    described = {item.a for item in result.associations} | {item.b for item in result.associations}
    assert not any("__" in name for name in described)
    assert not any("__" in name for name in result.task.suggested_targets)
