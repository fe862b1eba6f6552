"""Task detection and bad requests."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from dsp_ml.domain import AnalysisError, analyze
from dsp_ml.domain.columns import infer_roles
from dsp_ml.domain.task import detect_task


def _detect(frame: pl.DataFrame, target: str | None):
    return detect_task(frame, infer_roles(frame), target)


def test_binary_multiclass_and_regression_are_told_apart(breast_cancer, iris):
    assert _detect(breast_cancer, "diagnosis").task_type == "binary"
    assert _detect(iris, "species").task_type == "multiclass"
    regression = _detect(iris, "sepal length (cm)")
    assert regression.task_type == "regression"
    assert regression.target_source == "given"


def test_target_named_like_one_is_suggested_with_a_reason(iris):
    task = _detect(iris, None)
    assert task.target == "species"
    assert task.target_source == "suggested"
    assert "species" in task.reason


def test_without_a_target_like_column_the_task_is_unsupervised(planted):
    task = _detect(planted, None)
    assert task.task_type == "unsupervised"
    assert task.target is None


def test_numeric_target_with_one_value_per_timestamp_is_a_time_series(air_passengers):
    task = _detect(air_passengers, "passengers")
    assert task.task_type == "time_series"
    assert task.time_column == "month"


def test_missing_target_is_a_clear_error(write_parquet, iris):
    with pytest.raises(AnalysisError) as caught:
        analyze(write_parquet(iris), target="petal_colour", time_budget_s=10)
    assert caught.value.code == "target_not_found"
    assert "petal_colour" in caught.value.message


def test_single_class_target_is_a_clear_error(write_parquet, iris):
    frame = iris.with_columns(pl.lit("setosa").alias("species"))
    with pytest.raises(AnalysisError) as caught:
        analyze(write_parquet(frame), target="species", time_budget_s=10)
    assert caught.value.code == "single_class_target"


def test_too_few_rows_is_a_clear_error(write_parquet, iris):
    with pytest.raises(AnalysisError) as caught:
        analyze(write_parquet(iris.head(8)), target="species", time_budget_s=10)
    assert caught.value.code == "too_few_rows"


def test_identifiers_and_constants_are_not_features():
    frame = pl.DataFrame({"customer_id": np.arange(100), "constant": [1] * 100,
                          "score": np.linspace(0, 1, 100), "colour": ["red", "blue"] * 50})
    roles = infer_roles(frame)
    assert roles.numeric == ["score"]
    assert roles.categorical == ["colour"]
    assert set(roles.ignored) == {"customer_id", "constant"}


@pytest.mark.parametrize(
    ("frame", "target", "code"),
    [
        (pl.DataFrame({"note": [f"text {i}" for i in range(60)]}), None, "no_usable_columns"),
        (pl.DataFrame({"a": np.arange(60.0) % 7, "t": pl.Series([None] * 60, dtype=pl.String)}), "t",
         "too_few_rows"),
        (pl.DataFrame({"a": np.arange(60.0) % 7,
                       "t": pl.date_range(pl.date(2020, 1, 1), pl.date(2020, 2, 29), "1d", eager=True)}),
         "t", "unsupported_target"),
        (pl.DataFrame({"a": np.arange(60.0) % 7, "t": [f"c{i}" for i in range(60)]}), "t", "too_many_classes"),
    ],
    ids=["only-free-text", "target-all-missing", "date-target", "one-row-per-class"],
)
def test_unusable_requests_are_clear_errors(write_parquet, frame, target, code):
    with pytest.raises(AnalysisError) as caught:
        analyze(write_parquet(frame), target=target, time_budget_s=5)
    assert caught.value.code == code


def test_missing_and_infinite_values_reduce_nothing(write_parquet):
    rng = np.random.default_rng(0)
    frame = pl.DataFrame({"empty": [None] * 80,
                          "spiky": np.r_[np.inf, -np.inf, np.nan, rng.normal(size=77)],
                          "calm": rng.normal(size=80)})
    result = analyze(write_parquet(frame), time_budget_s=10)
    assert result.warnings == []
    assert result.clustering is not None and result.anomalies is not None
