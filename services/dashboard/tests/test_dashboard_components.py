"""The dashboard's components, one small unit at a time, fed with the shared result models."""

from __future__ import annotations

import json
import math
from datetime import date, datetime
from pathlib import Path

import polars as pl
import pytest
from dsp_dashboard.domain import components as comp
from dsp_dashboard.domain.builder import embed_json
from dsp_dashboard.domain.data import MAX_CATEGORY_LEVELS, TEXT_MAX_CHARS, classify_column, load_sample
from shared_contracts.analysis import (
    AnalysisResult,
    Association,
    AutoMLReport,
    ConfusionMatrix,
    Explanations,
    FeatureImportance,
    ForecastPoint,
    ForecastReport,
    Insight,
    LeaderboardEntry,
    RowExplanation,
    SamplingNote,
    TaskInfo,
    TimePattern,
)
from shared_contracts.etl import EtlPlan, EtlReport, StepLineage
from shared_contracts.profile import (
    Alert,
    ColumnProfile,
    DatasetStats,
    NumericStats,
    Profile,
    QualityComponent,
    QualityScore,
)

DATA = Path(__file__).parent / "data"


def analysis(**sections) -> AnalysisResult:
    base = {"task": TaskInfo(task_type="regression", target="y"), "sampling": SamplingNote(total_rows=100),
            "row_count": 100, "column_count": 3}
    return AnalysisResult(**{**base, **sections})


def profile_of(frame: pl.DataFrame, *, alerts: list[Alert] | None = None, score: float = 88.0) -> Profile:
    columns = []
    for name in frame.columns:
        series = frame[name]
        numeric = None
        if series.dtype.is_numeric():
            numeric = NumericStats(finite=series.drop_nulls().len(), mean=float(series.mean()), p50=float(series.median()),
                                   min=float(series.min()), max=float(series.max()), std=float(series.std()))
        columns.append(ColumnProfile(
            name=name, physical_type=str(series.dtype),
            semantic_type="float" if series.dtype.is_numeric() else "categorical",
            count=series.drop_nulls().len(), missing=series.null_count(),
            missing_fraction=series.null_count() / len(series), distinct=series.drop_nulls().n_unique(),
            distinct_fraction=0.5, unique=0, memory_bytes=0, numeric=numeric))
    cells = frame.height * frame.width
    missing = sum(frame[c].null_count() for c in frame.columns)
    return Profile(
        dataset=DatasetStats(rows=frame.height, columns=frame.width, memory_bytes=0, cells=cells, cells_missing=missing,
                             cells_missing_fraction=missing / cells, duplicate_rows=3, duplicate_fraction=0.01,
                             near_duplicate_rows=0),
        columns=columns, alerts=alerts or [],
        quality=QualityScore(score=score, components=[QualityComponent(name="completeness", score=90, weight=0.5,
                                                                       detail="few missing cells")]),
    )


@pytest.fixture
def mixed() -> pl.DataFrame:
    n = 120
    return pl.DataFrame({
        "x": [float(i) for i in range(n)],
        "y": [2.0 * i + (i % 7) for i in range(n)],
        "group": ["a", "b", "c"] * (n // 3),
        "when": [date(2024, 1, 1) + (date(2024, 1, 2) - date(2024, 1, 1)) * i for i in range(n)],
        "note": [f"free text number {i}" for i in range(n)],
        "gaps": [None if i % 4 == 0 else float(i % 10) for i in range(n)],
    })


# ---------------------------------------------------------------- data


@pytest.mark.parametrize(("dtype", "distinct", "semantic", "kind"), [
    (pl.Float64, 100, None, "numeric"),
    (pl.Int64, 3, "categorical", "categorical"),
    (pl.Int64, 500, "identifier", "text"),
    (pl.String, 5, None, "categorical"),
    (pl.String, MAX_CATEGORY_LEVELS + 1, None, "text"),
    (pl.String, 5, "email", "text"),
    (pl.Boolean, 2, None, "categorical"),
    (pl.Date, 40, None, "datetime"),
    (pl.Datetime("us"), 40, "datetime", "datetime"),
    (pl.List(pl.Int64), 3, None, "text"),
])
def test_classify_column(dtype, distinct, semantic, kind):
    assert classify_column(dtype, distinct, semantic) == kind


def test_sample_encodes_each_kind(mixed):
    sample = load_sample(mixed)
    kinds = {c.name: c.kind for c in sample.columns}
    assert kinds == {"x": "numeric", "y": "numeric", "group": "categorical", "when": "datetime", "note": "text",
                     "gaps": "numeric"}
    group = sample.by_name("group")
    assert sorted(group.levels) == ["a", "b", "c"]
    assert [group.levels[v] for v in group.values] == mixed["group"].to_list()
    when = sample.by_name("when")
    assert when.values[1] - when.values[0] == 86_400_000
    assert datetime.utcfromtimestamp(when.values[0] / 1000).date() == date(2024, 1, 1)
    assert sample.by_name("gaps").values[0] is None
    stats = sample.by_name("gaps").stats
    assert stats.nulls == 30 and stats.count == 90
    assert stats.mean == pytest.approx(mixed["gaps"].mean())
    assert sample.sampled is False and sample.rows == 120


def test_sample_is_bounded_and_reproducible():
    frame = pl.DataFrame({f"c{i}": pl.int_range(50_000, eager=True) for i in range(100)}).with_columns(
        text=pl.lit("é" * 500) + pl.col("c0").cast(pl.String))
    sample = load_sample(frame, max_rows=5000, max_columns=60, max_cells=100_000, priority_columns=["text"])
    assert len(sample.columns) == 60 and sample.columns[-1].name == "text"
    assert sample.rows == 100_000 // 60
    assert sample.sampled and sample.total_rows == 50_000 and sample.total_columns == 101
    assert all(len(v) == TEXT_MAX_CHARS for v in sample.by_name("text").values)
    again = load_sample(frame, max_rows=5000, max_columns=60, max_cells=100_000, priority_columns=["text"])
    assert again.columns[0].values == sample.columns[0].values


def test_non_finite_numbers_become_missing():
    frame = pl.DataFrame({"v": [1.0, math.inf, -math.inf, math.nan, None, 2.5]})
    sample = load_sample(frame)
    assert sample.by_name("v").values == [1, None, None, None, None, 2.5]
    assert sample.by_name("v").stats.max == 2.5


def test_embedded_json_cannot_close_the_script():
    value = {"a": "</script><script>alert(1)</script>", "b": "<!-- x -->", "c": "\u2028&"}
    text = str(embed_json(value))
    assert "</" not in text and "<!--" not in text and "\u2028" not in text and "&" not in text
    assert json.loads(text) == value


def test_plot_text_escapes_markup():
    assert comp.plot_text("<b>x</b> & y") == "&lt;b&gt;x&lt;/b&gt; &amp; y"
    assert comp.plot_text(None) == ""


# ---------------------------------------------------------------- overview


def test_kpi_cards_read_the_profile_and_the_model(mixed):
    sample = load_sample(mixed)
    result = analysis(automl=AutoMLReport(eval_metric="r2", best_model="LightGBM", time_budget_s=10, fit_time_s=5,
                                          train_rows=80, holdout_rows=20, metrics={"r2": 0.913, "rmse": 1.5}))
    cards = {c["label"]: c["value"] for c in comp.kpi_cards(sample, profile_of(mixed), result).context["cards"]}
    assert cards["Rows"] == "120" and cards["Columns"] == "6"
    assert cards["Missing cells"] == "4.2%"
    assert cards["Duplicate rows"] == "3"
    assert cards["Quality score"] == "88 / 100"
    assert cards["R² (holdout)"] == "0.913"
    assert cards["Best model"] == "LightGBM"
    assert cards["Analysis"] == "regression · y"


def test_kpi_cards_without_any_result(mixed):
    cards = {c["label"]: c["value"] for c in comp.kpi_cards(load_sample(mixed), None, None).context["cards"]}
    assert cards == {"Rows": "120", "Columns": "6", "Missing cells": "4.2%"}


def test_quality_panel_puts_critical_alerts_first(mixed):
    alerts = [Alert(type="SKEWED", columns=["x"], severity="info", message="skewed"),
              Alert(type="TARGET_LEAKAGE", columns=["y"], severity="critical", message="leaks"),
              Alert(type="MISSING", columns=["gaps"], severity="warning", message="25% missing")]
    panel = comp.quality_panel(profile_of(mixed, alerts=alerts))
    assert [a["kind"] for a in panel.context["alerts"]] == ["TARGET_LEAKAGE", "MISSING", "SKEWED"]
    assert panel.context["score"] == 88.0
    assert panel.context["parts"][0]["name"] == "Completeness"
    assert comp.quality_panel(None) is None


# ---------------------------------------------------------------- columns and relations


def test_column_cards_fit_the_chart_to_the_kind(mixed):
    sample = load_sample(mixed)
    cards = {c.title: c for c in comp.column_cards(sample, profile_of(mixed))}
    assert cards["x"].chart["type"] == "hist"
    assert cards["group"].chart["type"] == "bar"
    assert cards["when"].chart["type"] == "timecount"
    assert cards["note"].chart is None
    facts = dict(cards["x"].context["facts"])
    assert facts["Mean"] == "59.5" and facts["Max"] == "119"
    assert dict(cards["gaps"].context["facts"])["Missing"] == "25.0%"


def test_column_cards_without_profile_use_whole_data_stats(mixed):
    cards = {c.title: c for c in comp.column_cards(load_sample(mixed), None)}
    assert dict(cards["y"].context["facts"])["Mean"] == comp._fmt(float(mixed["y"].mean()))
    assert cards["note"].context["top"][0][1] == 1


def test_association_charts_follow_the_kinds(mixed):
    sample = load_sample(mixed)
    result = analysis(associations=[
        Association(chart_id="association:x:y", a="x", b="y", method="spearman", value=0.99),
        Association(chart_id="association:group:gaps", a="group", b="gaps", method="correlation_ratio", value=0.5),
        Association(chart_id="association:group:group", a="group", b="group", method="cramers_v", value=1.0),
        Association(chart_id="association:x:gaps", a="x", b="gaps", method="pearson", value=0.1),
        Association(chart_id="association:nope:y", a="nope", b="y", method="pearson", value=0.9),
    ])
    charts = comp.association_charts(sample, None, result)
    assert [c.chart["type"] for c in charts] == ["scatter", "box"]
    assert charts[0].refs == ["association:x:y"]
    assert charts[0].chart["color"] == sample.by_name("group").index
    assert "ρ = 0.99" in charts[0].note


def test_association_charts_fall_back_to_the_sample(mixed):
    charts = comp.association_charts(load_sample(mixed), None, None)
    assert charts and charts[0].chart["type"] == "scatter"
    assert {charts[0].columns[0], charts[0].columns[1]} == {"x", "y"}
    assert "on the sample" in charts[0].note


def test_time_series_needs_a_time_column(mixed):
    sample = load_sample(mixed)
    result = analysis(time_patterns=[TimePattern(chart_id="pattern:when:y", time_column="when", value_column="y",
                                                 trend_slope_per_period=2, trend_direction="rising",
                                                 trend_p_value=0.0, change_points=["2024-02-01"])])
    card = comp.time_series(sample, result)
    assert card.chart["time"] == sample.by_name("when").index
    assert card.chart["values"][0] == sample.by_name("y").index
    assert card.chart["marks"] == ["2024-02-01"]
    assert card.refs == ["pattern:when:y"]
    assert comp.time_series(load_sample(mixed.drop("when")), result) is None


def test_heatmap_and_missingness_only_when_supported(mixed):
    assert comp.correlation_heatmap(load_sample(mixed)).chart["type"] == "corr"
    assert comp.correlation_heatmap(load_sample(mixed.select("x", "group"))) is None
    assert comp.missingness_matrix(load_sample(mixed)).columns == ["gaps"]
    assert comp.missingness_matrix(load_sample(mixed.drop("gaps"))) is None


# ---------------------------------------------------------------- model results


def _automl() -> AutoMLReport:
    return AutoMLReport(
        eval_metric="accuracy", best_model="CatBoost", time_budget_s=30, fit_time_s=12, train_rows=80, holdout_rows=20,
        metrics={"accuracy": 0.9}, leaderboard=[
            LeaderboardEntry(model="CatBoost", score_holdout=0.9, score_val=0.92, fit_time_s=3, is_best=True),
            LeaderboardEntry(model="<b>Evil</b>", score_holdout=0.8, score_val=0.85, fit_time_s=1)],
        confusion_matrix=ConfusionMatrix(labels=["no", "yes"], matrix=[[8, 2], [0, 10]]))


def test_leaderboard_and_confusion_matrix():
    result = analysis(automl=_automl())
    board = comp.leaderboard(result)
    assert [r["model"] for r in board.context["rows"]] == ["CatBoost", "<b>Evil</b>"]
    assert board.context["rows"][0]["best"] is True
    trace = board.chart["data"][0]
    assert trace["y"] == ["&lt;b&gt;Evil&lt;/b&gt;", "CatBoost"] and trace["x"] == [0.8, 0.9]
    matrix = comp.confusion_matrix(result).chart["data"][0]
    assert matrix["z"] == [[0.8, 0.2], [0.0, 1.0]]
    assert comp.leaderboard(analysis()) is None and comp.confusion_matrix(analysis()) is None



def test_an_error_metric_is_shown_positive_and_lower_is_better():
    """AutoML negates errors so that higher is always better; the page shows RMSE as it is (549, not -549)."""
    automl = AutoMLReport(
        eval_metric="root_mean_squared_error", best_model="LightGBM", time_budget_s=30, fit_time_s=12,
        train_rows=80, holdout_rows=20, metrics={"root_mean_squared_error": 549.2}, leaderboard=[
            LeaderboardEntry(model="LightGBM", score_holdout=-549.2, score_val=-560.0, fit_time_s=3, is_best=True),
            LeaderboardEntry(model="KNN", score_holdout=-1200.5, score_val=-1150.0, fit_time_s=1)])
    board = comp.leaderboard(analysis(automl=automl))
    trace = board.chart["data"][0]
    assert trace["x"] == [1200.5, 549.2] and all(x > 0 for x in trace["x"])
    assert "lower is better" in board.chart["layout"]["xaxis"]["title"]["text"]
    assert [(r["holdout"], r["val"]) for r in board.context["rows"]] == [("549.2", "560"), ("1,200", "1,150")]
    assert "lower is better" in board.context["metric"]
    accuracy = comp.leaderboard(analysis(automl=_automl()))
    assert accuracy.chart["data"][0]["x"] == [0.8, 0.9] and "higher is better" in accuracy.context["metric"]

def _explanations(rows: int) -> Explanations:
    shap_rows = [RowExplanation(row_index=i, prediction=float(i), base_value=1.0,
                                contributions={"x": 0.1 * i, "y": -0.05 * i, "gaps": 0.01})
                 for i in range(rows)]
    return Explanations(
        permutation_importance=[FeatureImportance(feature="x", importance=0.3, std=0.05),
                                FeatureImportance(feature="y", importance=0.1, std=0.01)],
        shap_global=[FeatureImportance(feature="x", importance=0.5), FeatureImportance(feature="y", importance=0.2)],
        shap_rows=shap_rows, shap_model="LightGBM", shap_output="raw")


def test_feature_importance_prefers_permutation():
    card = comp.feature_importance(analysis(explanations=_explanations(3)))
    assert card.title == "Feature importance (permutation)"
    assert card.chart["data"][0]["y"] == ["y", "x"] and card.chart["data"][0]["error_x"]["array"] == [0.01, 0.05]
    only_shap = _explanations(3).model_copy(update={"permutation_importance": []})
    assert comp.feature_importance(analysis(explanations=only_shap)).title == "Feature importance (mean |SHAP|)"
    assert comp.feature_importance(analysis()) is None


def test_shap_summary_colours_points_by_the_feature_value():
    values = {"x": {i: float(i) for i in range(20)}}
    card = comp.shap_summary(analysis(explanations=_explanations(20)), values)
    traces = {t["name"]: t for t in card.chart["data"]}
    assert set(traces) == {"x", "y", "gaps"}
    assert traces["x"]["x"] == pytest.approx([0.1 * i for i in range(20)])
    colours = traces["x"]["marker"]["color"]
    assert colours[0] == 0.0 and colours[-1] == 1.0
    assert traces["y"]["marker"]["color"] == "#8e9bb5"  # no values known for y
    # with few explained rows and the importance card already showing mean |SHAP| there is nothing to add
    few = _explanations(3).model_copy(update={"permutation_importance": []})
    assert comp.shap_summary(analysis(explanations=few)) is None


def test_shap_waterfall_adds_up_to_the_prediction():
    card = comp.shap_waterfall(analysis(explanations=_explanations(4)), top=2)
    row = card.chart["rows"][3]
    assert row["base"] == 1.0
    assert row["names"] == ["x", "y", "1 other features"]
    assert row["base"] + sum(row["deltas"]) == pytest.approx(1.0 + 0.3 - 0.15 + 0.01)
    assert card.context["options"][3] == "row 4 → 3"  # rows numbered from 1, as in the file


def test_forecast_has_history_bands_and_mean():
    report = ForecastReport(
        chart_id="forecast:y", time_column="when", value_column="y", frequency="D", season_length=7, horizon=2,
        backtest_windows=3, best_model="AutoETS", history=[("2024-01-01", 1.0), ("2024-01-02", 2.0)],
        points=[ForecastPoint(timestamp="2024-01-03", mean=3, lo_80=2.5, hi_80=3.5, lo_95=2, hi_95=4),
                ForecastPoint(timestamp="2024-01-04", mean=4, lo_80=3.4, hi_80=4.6, lo_95=3, hi_95=5)])
    (card,) = comp.forecast_charts(analysis(forecasts=[report]))
    names = [t.get("name") for t in card.chart["data"]]
    assert names == ["history", None, "95% interval", None, "80% interval", "forecast"]
    assert card.chart["data"][2]["y"] == [2, 3] and card.chart["data"][1]["y"] == [4, 5]
    assert card.refs == ["forecast:y"]


def test_etl_lineage_lists_each_step():
    report = EtlReport(
        rows_in=10, rows_out=9, columns_in=["a", "b"], columns_out=["a", "b", "a_missing"], plan=EtlPlan(),
        lineage=[StepLineage(index=0, kind="dedupe", columns=[], reason="1 duplicate", rows_before=10, rows_after=9),
                 StepLineage(index=1, kind="missing_indicator", columns=["a"], reason="a is 20% missing",
                             rows_before=9, rows_after=9, columns_added=["a_missing"])])
    card = comp.etl_lineage(report)
    steps = card.context["steps"]
    assert [s["op"] for s in steps] == ["dedupe", "missing indicator"]
    assert steps[0]["rows"] == "10 → 9" and steps[1]["rows"] == ""
    assert steps[1]["changes"] == "added: a_missing"
    assert card.context["summary"]["cols_after"] == "3"
    assert comp.etl_lineage(None) is None


def test_insights_link_to_the_card_showing_them(mixed):
    sample = load_sample(mixed)
    result = analysis(
        automl=_automl(),
        associations=[Association(chart_id="association:x:y", a="x", b="y", method="spearman", value=0.99)],
        insights=[Insight(rank=2, kind="association", statement="y rises with x", chart_id="association:x:y", score=1),
                  Insight(rank=1, kind="model", statement="CatBoost wins", chart_id="leaderboard", score=2),
                  Insight(rank=3, kind="distribution", statement="gaps is odd", chart_id="distribution:gaps", score=0)])
    cards = [comp.leaderboard(result), *comp.association_charts(sample, None, result), *comp.column_cards(sample, None)]
    entries = comp.insights_list(result, None, cards).context["entries"]
    assert [e["text"] for e in entries] == ["CatBoost wins", "y rises with x", "gaps is odd"]
    assert entries[0]["target"] == "leaderboard"
    assert entries[1]["target"] == "pair-0"
    assert entries[2]["target"] == f"col-{sample.by_name('gaps').index}"


# ---------------------------------------------------------------- the real stages' documents


@pytest.mark.parametrize("name", ["iris", "macro"])
def test_documents_from_the_real_stages_build_a_linked_page(name, request, write_parquet):
    from dsp_dashboard.domain import build_dashboard
    from dsp_dashboard.domain.builder import _choose_components

    frame = request.getfixturevalue({"iris": "iris", "macro": "macrodata"}[name])
    profile = Profile.model_validate_json((DATA / f"{name}.profile.json").read_text())
    result = AnalysisResult.model_validate_json((DATA / f"{name}.analysis.json").read_text())
    etl = EtlReport.model_validate_json((DATA / f"{name}.etl_report.json").read_text())
    html = build_dashboard(data=write_parquet(frame), profile=profile, etl_report=etl, analysis=result)
    sample = load_sample(frame)
    cards = _choose_components(sample, frame, profile, etl, result)
    ids = {c.id for c in cards}
    insights = next(c for c in cards if c.id == "insights").context["entries"]
    assert len(insights) >= len(result.insights)
    assert all(e["target"] in ids for e in insights), [e for e in insights if e["target"] not in ids]
    for entry in insights:
        assert f'href="#{entry["target"]}"' in html
    assert {"kpis", "quality", "task", "lineage", "preview", "clusters", "anomalies"} <= ids
    if result.forecasts:
        assert "forecast-0" in ids
    if result.automl and result.automl.leaderboard:
        assert "leaderboard" in ids


def test_feature_importance_leaves_out_features_without_effect():
    explanations = _explanations(3).model_copy(update={"permutation_importance": [
        FeatureImportance(feature="x", importance=0.3), FeatureImportance(feature="dead", importance=0.0),
        FeatureImportance(feature="noisy", importance=0.0, std=0.02)]})
    card = comp.feature_importance(analysis(explanations=explanations))
    assert card.chart["data"][0]["y"] == ["noisy", "x"]
    assert card.note == "1 feature(s) with no measurable importance are left out."
