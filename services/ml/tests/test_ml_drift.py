"""Drift (PSI, KS) and the paired comparison of two models, checked against hand computations."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest
from dsp_ml.domain.drift import compare_models, feature_drift, population_stability_index
from scipy import stats


def test_psi_matches_its_definition() -> None:
    expected = np.array([0.25, 0.25, 0.5])
    actual = np.array([0.5, 0.25, 0.25])
    by_hand = (0.5 - 0.25) * math.log(0.5 / 0.25) + 0 + (0.25 - 0.5) * math.log(0.25 / 0.5)
    assert population_stability_index(expected, actual) == pytest.approx(by_hand, rel=1e-12)
    assert population_stability_index(expected, expected) == 0.0


def test_a_shifted_feature_drifts_and_a_stable_one_does_not() -> None:
    rng = np.random.default_rng(1)
    reference = pl.DataFrame({"x": rng.normal(0, 1, 5000), "y": rng.normal(0, 1, 5000),
                              "c": rng.choice(["a", "b"], 5000)})
    current = pl.DataFrame({"x": rng.normal(1.5, 1, 2000), "y": rng.normal(0, 1, 2000),
                            "c": rng.choice(["a", "b"], 2000, p=[0.9, 0.1])})
    drift = {d.feature: d for d in feature_drift(reference, current)}
    assert drift["x"].level == "shifted" and drift["y"].level == "stable"
    assert drift["c"].psi > 0.25 and drift["c"].kind == "categorical"
    ks = stats.ks_2samp(reference["x"].to_numpy(), current["x"].to_numpy())
    assert drift["x"].ks_statistic == pytest.approx(ks.statistic, rel=1e-12)
    assert drift["x"].ks_p_value == pytest.approx(ks.pvalue, rel=1e-9, abs=1e-300)


def test_compare_models_on_one_holdout_picks_the_better() -> None:
    rng = np.random.default_rng(2)
    holdout = pl.DataFrame({"x": rng.normal(0, 1, 400)}).with_columns((pl.col("x") > 0).cast(pl.Int64).alias("t"))
    perfect = lambda f: (f["x"].to_numpy() > 0).astype(int)  # noqa: E731
    coin = lambda f: np.random.default_rng(3).integers(0, 2, f.height)  # noqa: E731
    result = compare_models(coin, perfect, holdout, "t", task="binary")
    assert result.metric == "accuracy" and result.score_b == 1.0 and result.winner == "b"
    assert result.p_value < 0.05
