"""Insight templates on hand-built results: wording, evidence, ranking."""

from __future__ import annotations

from dsp_ml.domain.insights import build_insights
from shared_contracts.analysis import (
    AnalysisResult,
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


def test_flat_or_tiny_effects_make_no_statement():
    explanations = Explanations(partial_dependence=[
        PartialDependence(chart_id="pdp:a", feature="a", grid=[1, 2, 3, 4], average=[0.40, 0.41, 0.41, 0.42],
                          output="P(churned = yes)"),
        PartialDependence(chart_id="pdp:b", feature="b", grid=[1, 2, 3, 4], average=[0.2, 0.6, 0.1, 0.5]),
    ])
    insights = build_insights(_result(explanations=explanations))
    assert not any(insight.kind == "effect" for insight in insights)
