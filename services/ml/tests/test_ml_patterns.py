"""Statistics, associations, clusters, anomalies and leakage on planted data."""

from __future__ import annotations

import numpy as np
import polars as pl
from dsp_ml.domain import analyze
from dsp_ml.domain import statistics as ml_statistics
from dsp_ml.domain.columns import infer_roles
from dsp_ml.domain.leakage import find_leaky_features
from dsp_ml.domain.patterns import find_anomalies, find_associations, find_clusters


def test_strongest_association_is_the_planted_pair(planted):
    associations = find_associations(planted, infer_roles(planted))
    top = associations[0]
    assert {top.a, top.b} in ({"x", "twice_x"}, {"a", "b"}, {"group", "effect"})
    pair = next(item for item in associations if {item.a, item.b} == {"x", "twice_x"})
    assert pair.method == "spearman" and pair.value > 0.9
    ratio = next(item for item in associations if {item.a, item.b} == {"group", "effect"})
    assert ratio.method == "correlation_ratio" and ratio.value > 0.9
    assert not any({item.a, item.b} == {"noise", "x"} for item in associations)


def test_kmeans_finds_the_three_planted_blobs():
    rng = np.random.default_rng(3)
    centres = np.array([[0, 0], [10, 10], [-10, 10]])
    labels = np.repeat([0, 1, 2], 200)
    points = centres[labels] + rng.normal(size=(600, 2))
    frame = pl.DataFrame({"u": points[:, 0], "v": points[:, 1]})
    report = find_clusters(frame, infer_roles(frame))
    assert report.k == 3
    assert report.silhouette > 0.7
    assert sorted(profile.size for profile in report.profiles) == [200, 200, 200]
    assert all(profile.distinguishing for profile in report.profiles)


def test_planted_outlier_is_the_top_anomaly_and_its_reason_names_the_columns(planted):
    frame = planted.drop("income")  # its log-normal tail holds genuinely unusual rows of its own
    report = find_anomalies(frame, infer_roles(frame))
    top = report.top[0]
    assert top.row_index == 123
    assert any(reason.startswith(("a =", "b =")) for reason in top.reasons)
    assert report.flagged >= 1


def test_group_difference_is_significant_and_noise_is_not(planted):
    roles = infer_roles(planted)
    roles.categorical.remove("group")
    roles.numeric.remove("effect")
    tests = {test.feature: test for test in ml_statistics.test_features_against_target(
        planted, roles, target="group", task_type="binary")}
    assert tests["noise"].p_adjusted > 0.05 and not tests["noise"].significant
    grouped = ml_statistics.describe_by_group(planted, infer_roles(planted), group_column="group")
    effect = next(item for item in grouped if item.measure == "effect")
    means = {row["group"]: row["mean"] for row in effect.rows}
    assert means["north"] - means["south"] > 9


def test_effect_of_group_on_numeric_target_has_a_large_effect_size(planted):
    roles = infer_roles(planted)
    roles.numeric.remove("effect")
    tests = {test.feature: test for test in ml_statistics.test_features_against_target(
        planted, roles, target="effect", task_type="regression")}
    assert tests["group"].significant
    assert tests["group"].effect_size > 0.5
    assert tests["noise"].p_adjusted > 0.05


def test_lognormal_column_is_fitted_as_lognormal(planted):
    fits = {fit.column: fit for fit in ml_statistics.fit_distributions(planted, infer_roles(planted))}
    assert fits["income"].best == "lognorm"
    assert fits["noise"].best == "norm"
    assert fits["income"].ks_p_value > 0.01


def test_a_copy_of_the_target_is_flagged_as_leaky_and_real_features_are_not(breast_cancer):
    frame = breast_cancer.with_columns(
        pl.when(pl.col("diagnosis") == "benign").then(pl.lit("B")).otherwise(pl.lit("M")).alias("review_code"))
    roles = infer_roles(frame.drop("diagnosis"))
    findings = find_leaky_features(frame, roles, target="diagnosis", task_type="binary", drop=True)
    assert [finding.feature for finding in findings] == ["review_code"]
    assert findings[0].score > 0.99 and findings[0].dropped
    assert "review_code" in findings[0].evidence


def test_unsupervised_analysis_is_deterministic_and_insights_point_at_charts(write_parquet, planted):
    path = write_parquet(planted)
    first = analyze(path, time_budget_s=15)
    second = analyze(path, time_budget_s=15)
    assert first.task.task_type == "unsupervised"
    assert first.automl is None and first.model is None
    assert [i.statement for i in first.insights] == [i.statement for i in second.insights]
    assert first.insights, "planted data must yield insights"
    charts = {item.chart_id for item in first.associations} | {"clusters", "anomalies"}
    charts |= {item.chart_id for item in first.distributions} | {item.chart_id for item in first.descriptive}
    assert all(insight.chart_id in charts for insight in first.insights)
    assert [insight.rank for insight in first.insights] == list(range(1, len(first.insights) + 1))
    assert any("rises with" in insight.statement and "Spearman" in insight.statement for insight in first.insights)
