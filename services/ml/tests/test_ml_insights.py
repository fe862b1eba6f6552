"""Insight templates on hand-built results: wording, evidence, ranking."""

from __future__ import annotations

from dsp_ml.domain.insights import build_insights
from shared_contracts.analysis import (
    AnalysisResult,
    Anomaly,
    AnomalyReport,
    Association,
    AutoMLReport,
    Explanations,
    FeatureImportance,
    LeakageFinding,
    PartialDependence,
    SamplingNote,
    TaskInfo,
)


def _result(**parts) -> AnalysisResult:
    task = TaskInfo(task_type="binary", target="churned", target_source="given",
                    class_counts={"no": 950, "yes": 50})
    return AnalysisResult(task=task, sampling=SamplingNote(total_rows=1000), row_count=1000, column_count=5,
                          **parts)


def test_statements_carry_their_numbers_and_rank_leakage_first():
    automl = AutoMLReport(eval_metric="roc_auc", best_model="LightGBM", time_budget_s=10, fit_time_s=5,
                          train_rows=800, holdout_rows=200, metrics={"roc_auc": 0.91, "accuracy": 0.95})
    explanations = Explanations(
        permutation_importance=[FeatureImportance(feature="tenure", importance=0.12),
                                FeatureImportance(feature="noise", importance=-0.01)],
        partial_dependence=[PartialDependence(chart_id="pdp:tenure", feature="tenure", grid=[1, 5, 10, 20],
                                              average=[0.30, 0.20, 0.12, 0.05], output="P(churned = yes)")],
    )
    leak = LeakageFinding(feature="cancel_date", metric="balanced_accuracy", score=0.999, dropped=True,
                          evidence="cancel_date alone predicts churned with balanced accuracy 0.999")
    associations = [Association(chart_id="association:dep:arr", a="dep_delay", b="arr_delay",
                                method="spearman", value=0.89)]
    insights = build_insights(_result(automl=automl, explanations=explanations, leakage=[leak],
                                      associations=associations))
    statements = [insight.statement for insight in insights]
    assert insights[0].kind == "leakage"
    assert "arr_delay rises with dep_delay (Spearman 0.89)." in statements
    assert "tenure is the strongest driver of churned (permutation importance 0.12)." in statements
    assert not any("noise" in statement for statement in statements), "negative importance is not a driver"
    effect = next(insight for insight in insights if insight.kind == "effect")
    assert effect.statement.startswith("Higher tenure lowers P(churned = yes)")
    assert effect.chart_id == "pdp:tenure"
    balance = next(insight for insight in insights if insight.kind == "balance")
    assert "5.0%" in balance.statement and balance.evidence["minority_share"] == 0.05
    assert [insight.score for insight in insights] == sorted((insight.score for insight in insights), reverse=True)


def test_the_most_unusual_row_is_named_by_its_number_in_the_file():
    """The analysis counts rows from 0; the page and the file count them from 1, and so does the statement."""
    anomalies = AnomalyReport(contamination=0.01, flagged=3, rows_scored=30_000, top=[
        Anomaly(row_index=26431, score=0.8, reasons=["dep_delay = 1,301 (max 1,301)"])])
    (insight,) = [i for i in build_insights(_result(anomalies=anomalies)) if i.kind == "anomaly"]
    assert insight.statement.startswith("Row 26,432 (counted from 1, as in the file) is the most unusual")


def test_flat_or_tiny_effects_make_no_statement():
    explanations = Explanations(partial_dependence=[
        PartialDependence(chart_id="pdp:a", feature="a", grid=[1, 2, 3, 4], average=[0.40, 0.41, 0.41, 0.42],
                          output="P(churned = yes)"),
        PartialDependence(chart_id="pdp:b", feature="b", grid=[1, 2, 3, 4], average=[0.2, 0.6, 0.1, 0.5]),
    ])
    insights = build_insights(_result(explanations=explanations))
    assert not any(insight.kind == "effect" for insight in insights)


def test_a_rejected_fit_is_never_named_and_weak_groupings_say_nothing():
    from shared_contracts.analysis import DistributionFit, GroupStatistics

    fits = [DistributionFit(chart_id="distribution:dep_delay", column="dep_delay", best="norm", ks_statistic=0.27,
                            ks_p_value=8.9e-24, aic=1.0, candidates={"norm": 1.0}, skewness=3.8, accepted=False,
                            alpha=0.05, sample_size=5000),
            DistributionFit(chart_id="distribution:price", column="price", best="lognorm", ks_statistic=0.05,
                            ks_p_value=0.4, aic=1.0, candidates={"norm": 2.0, "lognorm": 1.0}, skewness=2.5,
                            accepted=True, alpha=0.05, sample_size=93)]
    rows = [{"group": "EWR", "count": 10, "median": 6.0}, {"group": "JFK", "count": 10, "median": 7.0}]
    groups = [GroupStatistics(chart_id="group:origin:month", group_column="origin", measure="month", rows=rows,
                              test="kruskal", p_value=1e-9, p_adjusted=1e-8, effect_size=0.001,
                              effect_size_name="epsilon_squared", effect_threshold=0.06),
              GroupStatistics(chart_id="group:origin:distance", group_column="origin", measure="distance", rows=rows,
                              test="kruskal", p_value=1e-9, p_adjusted=1e-8, effect_size=0.2,
                              effect_size_name="epsilon_squared", effect_threshold=0.06)]
    statements = [i.statement for i in build_insights(_result(distributions=fits, descriptive=groups))]
    assert ("dep_delay is strongly right-skewed (skewness 3.8); no standard distribution fits it (a normal one is "
            "rejected: KS p < 0.001 on 5,000 sampled values).") in statements
    assert any(s.startswith("price is strongly right-skewed") and "a log-normal distribution fits it (KS p = 0.400 "
               "on 93 values, not rejected at 0.05)" in s for s in statements)
    assert not any("month" in s for s in statements), "origin explains 0.1% of month: no comparison"
    assert any(s.startswith("distance differs across origin groups") and "epsilon² 0.20 >= 0.06" in s
               for s in statements)
