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


def _house():
    from tests.corpus.house import house_prices

    return house_prices()


def test_a_house_table_with_a_date_column_is_a_regression_by_default():
    """A numeric target with a mostly unique date and other columns that explain it: a model, not a forecast."""
    house = _house()
    assert house["Built"].n_unique() >= 0.95 * house.height
    task = _detect(house, "Price")
    assert (task.task_type, task.time_column) == ("regression", "Built")
    assert "a model is trained" in task.reason


@pytest.mark.slow
def test_the_house_table_trains_a_regression_model_by_default_and_when_forced(write_parquet):
    data = write_parquet(_house())
    for task in ("auto", "regression"):
        result = analyze(data, target="Price", time_budget_s=15, task=task)
        assert result.task.task_type == "regression"
        assert result.model is not None and result.model.task_type == "regression"
        assert result.model.metrics["r2"] > 0.7, result.model.metrics  # size, rooms and area explain the price
        assert result.explanations is not None and result.explanations.permutation_importance
        assert result.task.time_column == "Built"


def test_a_chosen_task_is_final_where_the_data_supports_it(air_passengers, iris, breast_cancer):
    series = detect_task(air_passengers, infer_roles(air_passengers), "passengers", task="regression")
    assert series.task_type == "regression" and series.reason.startswith("The regression task was chosen")
    house = _house()
    forecast = detect_task(house, infer_roles(house), "Price", task="forecast")
    assert (forecast.task_type, forecast.target, forecast.time_column) == ("time_series", "Price", "Built")
    measures = detect_task(air_passengers, infer_roles(air_passengers), None, task="forecast")
    assert (measures.task_type, measures.target) == ("time_series", None)
    unsupervised = detect_task(iris, infer_roles(iris), None, task="unsupervised")
    assert (unsupervised.task_type, unsupervised.target) == ("unsupervised", None)  # 'species' is not taken
    assert detect_task(iris, infer_roles(iris), "species", task="multiclass").class_counts == {
        "setosa": 50, "versicolor": 50, "virginica": 50}
    assert detect_task(iris, infer_roles(iris), None, task="multiclass").target == "species"  # named like one
    assert detect_task(breast_cancer, infer_roles(breast_cancer), "diagnosis", task="binary").task_type == "binary"
    # 22 distinct widths over 150 rows: auto says regression, the user may say classes
    assert _detect(iris, "petal width (cm)").task_type == "regression"
    assert detect_task(iris, infer_roles(iris), "petal width (cm)", task="multiclass").task_type == "multiclass"


@pytest.mark.parametrize(
    ("data", "target", "task", "code", "words"),
    [
        ("iris", "species", "binary", "task_not_supported", "exactly two classes; 'species' has 3"),
        ("breast_cancer", "diagnosis", "multiclass", "task_not_supported", "choose binary"),
        ("iris", "species", "regression", "task_not_supported", "regression needs a numeric target"),
        ("iris", "species", "forecast", "task_not_supported", "needs a date or time column"),
        ("air_passengers_short", "passengers", "forecast", "task_not_supported", "at least 24 distinct times"),
        ("iris", "species", "unsupervised", "task_not_supported", "predicts nothing"),
        ("planted", None, "binary", "target_required", "needs a target column"),
        ("iris", "sepal length (cm)", "multiclass", "task_not_supported", "rows per class"),
    ],
)
def test_a_chosen_task_the_data_cannot_support_is_a_clear_error(request, data, target, task, code, words):
    frame = request.getfixturevalue("air_passengers").head(23) if data == "air_passengers_short" \
        else request.getfixturevalue(data)
    with pytest.raises(AnalysisError) as caught:
        detect_task(frame, infer_roles(frame), target, task=task)
    assert caught.value.code == code
    assert words in caught.value.message


def test_a_chosen_task_that_does_not_fit_fails_the_analysis_before_any_work(write_parquet, iris):
    with pytest.raises(AnalysisError) as caught:
        analyze(write_parquet(iris), target="species", task="binary", time_budget_s=5)
    assert caught.value.code == "task_not_supported"
    assert "setosa" in caught.value.message


def test_excluded_and_id_columns_are_honoured(write_parquet, iris):
    frame = iris.with_columns(pl.Series("plant", [f"p{i % 75}" for i in range(150)]))
    roles = infer_roles(frame, ids=["petal width (cm)"])
    assert roles.identifiers["petal width (cm)"] == "is named an identifier (id_columns)"
    assert "petal width (cm)" not in roles.model_features
    result = analyze(write_parquet(frame), task="unsupervised", time_budget_s=10,
                     exclude_columns=["sepal width (cm)", "nope"], id_columns=["petal width (cm)"])
    described = {group.measure for group in result.descriptive} | {group.group_column for group in result.descriptive}
    assert "petal length (cm)" in described
    assert result.clustering is not None
    assert "sepal width (cm)" not in result.clustering.features
    assert "petal width (cm)" not in result.clustering.features
    assert "petal length (cm)" in result.clustering.features
    assert not {"sepal width (cm)", "petal width (cm)"} & described
    assert "exclude_columns names column(s) not in the data: 'nope'." in result.warnings
    assert not [w for w in result.warnings if "petal width (cm)" in w]  # the user's own identifier needs no note


def test_a_column_typed_as_text_by_the_user_is_not_read_as_dates(write_parquet):
    from dsp_ml.domain.columns import read_dataset

    frame = pl.DataFrame({"Built": ["1921-03-04", "1950-11-30", "2001-01-01"] * 10, "x": list(range(30))})
    assert read_dataset(write_parquet(frame)).schema["Built"] == pl.Datetime("us")
    assert read_dataset(write_parquet(frame), keep_text=["Built"]).schema["Built"] == pl.String


@pytest.mark.slow
def test_a_fractional_numeric_target_chosen_as_classes_trains_a_classifier(write_parquet, iris):
    """22 petal widths (0.1 to 2.5) are classes when the user says so; the learners take them as labels."""
    result = analyze(write_parquet(iris), target="petal width (cm)", task="multiclass", time_budget_s=10)
    assert result.task.task_type == "multiclass" and len(result.task.class_counts) == 22
    assert result.model is not None and result.model.task_type == "multiclass"
    assert not [w for w in result.warnings if "automl was skipped" in w]


def test_a_target_or_feature_named_count_is_told_and_drifts():
    """A column named ``count`` (the bike-sharing target, say) must not clash with the counts of its values."""
    from dsp_ml.domain.drift import feature_drift

    rng = np.random.default_rng(7)
    frame = pl.DataFrame({"count": rng.choice(["low", "mid", "high"], 300).tolist(), "x": rng.normal(size=300)})
    info = _detect(frame, "count")
    assert info.task_type == "multiclass"
    shifted = frame.with_columns(pl.when(pl.col("x") > 0).then(pl.lit("high")).otherwise(pl.col("count")).alias("count"))
    drift = {d.feature: d for d in feature_drift(frame, shifted, features=["count"])}
    assert drift["count"].psi > 0.1
