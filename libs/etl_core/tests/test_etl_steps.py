"""Each step kind does what it says, checked against an independent computation."""

from __future__ import annotations

import math
from datetime import date, datetime

import numpy as np
import polars as pl
import pytest
from etl_core import apply_pipeline, fit_pipeline
from scipy import stats
from shared_contracts.etl import EtlPlan, EtlStep
from sklearn.preprocessing import MinMaxScaler, RobustScaler, StandardScaler


def run(frame: pl.DataFrame, *steps: EtlStep, target: str | None = None, rows="filter") -> pl.DataFrame:
    plan = EtlPlan(steps=list(steps), target=target, input_columns=frame.columns)
    pipeline = fit_pipeline(plan, frame.lazy())
    return apply_pipeline(pipeline, frame.lazy(), rows=rows).collect()


def step(kind: str, columns: list[str], **params) -> EtlStep:
    return EtlStep(kind=kind, columns=columns, params=params, reason=f"{kind} {columns} -> test")


def test_strings_trim_fold_and_nfkc():
    frame = pl.DataFrame({"s": ["  Ｎｅｗ York ", "ﬁne", "", None, "Boston"]})
    out = run(frame, step("strings", ["s"], case="lower"))
    assert out["s"].to_list() == ["new york", "fine", None, None, "boston"]


def test_near_identical_categories_merge_into_the_most_frequent_spelling():
    frame = pl.DataFrame({"city": ["NY", "NY", "NY", "N.Y.", "ny ", "n y", "Boston", "boston", "Boston", "LA"]})
    out = run(frame, step("merge_categories", ["city"]))
    assert out["city"].to_list() == ["NY"] * 6 + ["Boston"] * 3 + ["LA"]


def test_explicit_category_mapping():
    frame = pl.DataFrame({"c": ["a", "b", "c"]})
    out = run(frame, step("merge_categories", ["c"], mapping={"b": "a"}))
    assert out["c"].to_list() == ["a", "a", "c"]


@pytest.mark.parametrize("method", ["iqr", "zscore", "mad"])
def test_outlier_capping_bounds_match_numpy(method):
    rng = np.random.default_rng(1)
    x = np.concatenate([rng.normal(0, 1, 200), [25.0, -30.0]])
    frame = pl.DataFrame({"x": x})
    out = run(frame, step("outliers", ["x"], method=method, threshold=2.5, action="cap"))["x"].to_numpy()
    if method == "iqr":
        q1, q3 = np.quantile(x, [0.25, 0.75])
        lo, hi = q1 - 2.5 * (q3 - q1), q3 + 2.5 * (q3 - q1)
    elif method == "zscore":
        lo, hi = x.mean() - 2.5 * x.std(), x.mean() + 2.5 * x.std()
    else:
        med = np.median(x)
        mad = stats.median_abs_deviation(x)
        lo, hi = med - 2.5 * 1.4826 * mad, med + 2.5 * 1.4826 * mad
    np.testing.assert_allclose(out, np.clip(x, lo, hi))


def test_outlier_remove_flag_and_winsorize():
    x = [1.0, 2.0, 3.0, 2.0, 1.0, 2.0, 3.0, 100.0]
    frame = pl.DataFrame({"x": x})
    removed = run(frame, step("outliers", ["x"], method="iqr", threshold=1.5, action="remove"))
    assert removed["x"].to_list() == x[:-1]
    kept = run(frame, step("outliers", ["x"], method="iqr", threshold=1.5, action="remove"), rows="keep")
    assert kept.height == len(x)
    flagged = run(frame, step("outliers", ["x"], method="iqr", threshold=1.5, action="flag"))
    assert flagged["x__outlier"].to_list() == [False] * 7 + [True]
    wins = run(frame, step("outliers", ["x"], action="winsorize", quantiles=[0.0, 0.9]))
    assert wins["x"].max() == pytest.approx(np.quantile(x, 0.9))


def test_integer_capping_keeps_integers():
    frame = pl.DataFrame({"n": [1, 2, 2, 3, 2, 1, 3, 2, 500]})
    out = run(frame, step("outliers", ["n"], method="iqr", threshold=1.5, action="cap"))
    assert out.schema["n"] == pl.Int64
    assert out["n"].max() == 4


@pytest.mark.parametrize(
    ("strategy", "expected"),
    [
        ("mean", [1.0, 3.0, 3.0, 5.0, 3.0]),
        ("median", [1.0, 3.0, 3.0, 5.0, 3.0]),
        ("ffill", [1.0, 1.0, 3.0, 5.0, 5.0]),
        ("bfill", [1.0, 3.0, 3.0, 5.0, 3.0]),
        ("constant", [1.0, -1.0, 3.0, 5.0, -1.0]),
    ],
)
def test_numeric_fill_strategies(strategy, expected):
    frame = pl.DataFrame({"x": [1.0, None, 3.0, 5.0, float("nan")]})
    params = {"strategy": strategy} | ({"value": -1.0} if strategy == "constant" else {})
    out = run(frame, step("missing_indicator", ["x"]), step("fill_missing", ["x"], **params))
    assert out["x"].to_list() == expected
    assert out["x__missing"].to_list() == [False, True, False, False, True]


def test_mode_fill_for_categories():
    frame = pl.DataFrame({"c": ["b", "a", None, "b", None]})
    out = run(frame, step("fill_missing", ["c"], strategy="mode"))
    assert out["c"].to_list() == ["b", "a", "b", "b", "b"]


def test_validation_rules_turn_invalid_values_into_nulls():
    frame = pl.DataFrame({"age": [25, -3, 140, 40, -999], "code": ["AB1", "zz", "CD2", "N/A", "EF3"]})
    out = run(
        frame,
        step("invalid_to_null", ["age"], min=0, max=120),
        step("invalid_to_null", ["code"], pattern=r"[A-Z]{2}\d", invalid_values=["N/A"]),
    )
    assert out["age"].to_list() == [25, None, None, 40, None]
    assert out["code"].to_list() == ["AB1", None, "CD2", None, "EF3"]
    allowed = run(pl.DataFrame({"g": ["m", "f", "x"]}), step("invalid_to_null", ["g"], allowed=["m", "f"]))
    assert allowed["g"].to_list() == ["m", "f", None]


def test_dedupe_whole_rows_and_on_a_key():
    frame = pl.DataFrame({"id": [1, 1, 2, 2], "v": [10, 10, 5, 6]})
    assert run(frame, step("dedupe", []))["v"].to_list() == [10, 5, 6]
    assert run(frame, step("dedupe", [], subset=["id"]))["v"].to_list() == [10, 5]


def test_casts_from_text():
    frame = pl.DataFrame(
        {"amount": ["$1,200", " 35 ", "n/a", "7.5%"], "flag": ["Yes", "no", "TRUE", "?"],
         "day": ["31/01/2024", "01/02/2024", "15/02/2024", None]}
    )
    out = run(
        frame,
        step("cast", ["amount"], to="float"),
        step("cast", ["flag"], to="boolean"),
        step("cast", ["day"], to="date"),
    )
    assert out["amount"].to_list() == [1200.0, 35.0, None, 7.5]
    assert out["flag"].to_list() == [True, False, True, None]
    assert out["day"].to_list() == [date(2024, 1, 31), date(2024, 2, 1), date(2024, 2, 15), None]


def test_date_parts_and_cyclical_encoding():
    moments = [datetime(2024, 3, 16, 13, 0), datetime(2023, 12, 25, 0, 30), None]
    frame = pl.DataFrame({"t": moments})
    out = run(frame, step("date_parts", ["t"]))
    row = out.row(0, named=True)
    assert (row["t__year"], row["t__quarter"], row["t__month"], row["t__day"]) == (2024, 1, 3, 16)
    assert row["t__day_of_week"] == 6 and row["t__is_weekend"] is True  # a Saturday
    assert row["t__hour"] == 13
    assert row["t__hour_sin"] == pytest.approx(math.sin(2 * math.pi * 13 / 24))
    assert row["t__month_cos"] == pytest.approx(math.cos(2 * math.pi * 2 / 12))
    assert out.row(2, named=True)["t__year"] is None
    only_dates = run(pl.DataFrame({"d": [datetime(2024, 1, 1), datetime(2024, 1, 2)]}), step("date_parts", ["d"]))
    assert "d__hour" not in only_dates.columns


@pytest.mark.parametrize(
    ("method", "scaler"), [("standard", StandardScaler), ("minmax", MinMaxScaler), ("robust", RobustScaler)]
)
def test_scaling_matches_scikit_learn(method, scaler):
    x = np.random.default_rng(2).gamma(2.0, 3.0, 100)
    out = run(pl.DataFrame({"x": x}), step("scale", ["x"], method=method))["x"].to_numpy()
    np.testing.assert_allclose(out, scaler().fit_transform(x.reshape(-1, 1)).ravel(), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("method", ["yeojohnson", "boxcox", "log"])
def test_power_transforms_match_scipy(method):
    x = np.random.default_rng(3).lognormal(0.0, 1.0, 300)
    out = run(pl.DataFrame({"x": x}), step("power", ["x"], method=method))["x"].to_numpy()
    if method == "log":
        expected = np.log(x)
    elif method == "boxcox":
        expected = stats.boxcox(x)[0]
    else:
        expected = stats.yeojohnson(x)[0]
    np.testing.assert_allclose(out, expected, rtol=1e-6)


def test_yeojohnson_on_negative_values_matches_scipy():
    x = np.random.default_rng(4).normal(0, 2, 300) ** 3
    out = run(pl.DataFrame({"x": x}), step("power", ["x"], method="yeojohnson"))["x"].to_numpy()
    np.testing.assert_allclose(out, stats.yeojohnson(x)[0], rtol=1e-6, atol=1e-9)


def test_quantile_and_uniform_bins():
    x = np.arange(100, dtype=float)
    out = run(pl.DataFrame({"x": x}), step("bin", ["x"], n_bins=4))
    assert out["x__bin"].value_counts().sort("x__bin")["count"].to_list() == [25, 25, 25, 25]
    uni = run(pl.DataFrame({"x": [0.0, 1.0, 5.0, 10.0, None]}), step("bin", ["x"], n_bins=2, method="uniform"))
    assert uni["x__bin"].to_list() == [0, 0, 0, 1, None]


def test_encodings():
    frame = pl.DataFrame({"c": ["b", "a", "b", "c", None, "b"], "y": [1.0, 0.0, 1.0, 0.0, 1.0, 0.0]})
    onehot = run(frame, step("encode", ["c"], method="onehot", max_categories=2))
    assert "c" not in onehot.columns
    assert onehot["c__b"].to_list() == [1, 0, 1, 0, 0, 1]
    assert onehot["c__a"].to_list() == [0, 1, 0, 0, 0, 0]
    assert onehot["c____other__"].to_list() == [0, 0, 0, 1, 0, 0]
    ordinal = run(frame, step("encode", ["c"], method="ordinal"))
    assert ordinal["c"].to_list() == [1, 0, 1, 2, None, 1]
    freq = run(frame, step("encode", ["c"], method="frequency"))
    assert freq["c"].to_list() == pytest.approx([0.6, 0.2, 0.6, 0.2, 0.0, 0.6])
    target = run(frame, step("encode", ["c"], method="target"), target="y")
    prior = 0.5
    assert target["c"][0] == pytest.approx((2 + 10 * prior) / (3 + 10))
    assert target["c"][4] == pytest.approx(prior)


def test_text_features_and_interactions():
    frame = pl.DataFrame({"t": ["two words", "  one ", None], "a": [1, 2, 3], "b": [2.0, 0.5, None]})
    out = run(frame, step("text_features", ["t"]), step("interaction", ["a", "b"]))
    assert out["t__length"].to_list() == [9, 6, 0]
    assert out["t__words"].to_list() == [2, 1, 0]
    assert out["a__x__b"].to_list() == [2.0, 1.0, None]


def test_steps_on_columns_made_by_earlier_steps_see_them():
    frame = pl.DataFrame({"s": ["$1", "$2", "$3", None]})
    out = run(
        frame,
        step("cast", ["s"], to="float"),
        step("missing_indicator", ["s"]),
        step("fill_missing", ["s"], strategy="mean"),
        step("scale", ["s", "s__missing"], method="minmax"),
    )
    assert out["s"].to_list() == pytest.approx([0.0, 0.5, 1.0, 0.5])
    assert out["s__missing"].to_list() == pytest.approx([0.0, 0.0, 0.0, 1.0])


def test_integer_columns_stay_integer_when_filled():
    frame = pl.DataFrame({"n": [1, 2, None, 2]})
    out = run(frame, step("fill_missing", ["n"], strategy="mean"))
    assert out.schema["n"] == pl.Int64
    assert out["n"].to_list() == [1, 2, 2, 2]


def test_one_select_hands_each_key_its_values_in_order():
    from etl_core.steps import select_per_key

    lf = pl.LazyFrame({"x": [3.0, 1.0, None, 8.0], "y": [1, 2, 3, 4]})
    values = select_per_key(lf, {
        ("fit", 0, "x"): (pl.col("x").min(), pl.col("x").max(), pl.col("x").null_count()),
        ("fit", 1, "x"): (),
        "y": (pl.col("y").sum(),),
    })
    assert values == {("fit", 0, "x"): (1.0, 8.0, 1), ("fit", 1, "x"): (), "y": (10,)}
    assert select_per_key(lf, {}) == {}


def test_a_stored_pipeline_replays_as_its_json_says():
    from shared_contracts.etl import FittedPipeline

    stored = """{"target": null, "input_schema": {"x": "Float64", "n": "Int64"},
      "output_schema": {"x": "Float64", "n": "Int64", "x__bin": "Int32", "n__outlier": "Boolean"},
      "fit_rows": 4, "steps": [
        {"step": {"kind": "outliers", "columns": ["x"], "params": {"method": "iqr", "action": "cap"},
                  "reason": "r"}, "state": {"bounds": {"x": [-1.0, 9.0]}}},
        {"step": {"kind": "outliers", "columns": ["n"], "params": {"method": "zscore", "action": "flag"},
                  "reason": "r"}, "state": {"bounds": {"n": [0.0, 5.0]}}},
        {"step": {"kind": "power", "columns": ["x"], "params": {"method": "log"}, "reason": "r"},
         "state": {"params": {"x": {"shift": 2.0, "lambda": null}}}},
        {"step": {"kind": "bin", "columns": ["x"], "params": {"n_bins": 2}, "reason": "r"},
         "state": {"edges": {"x": [1.0]}}},
        {"step": {"kind": "scale", "columns": ["x", "n"], "params": {"method": "standard"}, "reason": "r"},
         "state": {"params": {"x": {"center": 1.0, "scale": 0.5}, "n": {"center": 2.0, "scale": 4.0}}}}
      ]}"""
    pipeline = FittedPipeline.model_validate_json(stored)
    frame = pl.DataFrame({"x": [-5.0, 0.0, 20.0, None], "n": [1, 9, -3, 2]})
    out = apply_pipeline(pipeline, frame.lazy()).collect()
    logs = [math.log(-1.0 + 2.0), math.log(0.0 + 2.0), math.log(9.0 + 2.0)]
    assert out["x"].to_list()[:3] == pytest.approx([(v - 1.0) / 0.5 for v in logs])
    assert out["x"][3] is None
    assert out["x__bin"].to_list() == [0, 0, 1, None]
    assert out["n"].to_list() == pytest.approx([(v - 2.0) / 4.0 for v in (1, 9, -3, 2)])
    assert out["n__outlier"].to_list() == [False, True, True, False]
