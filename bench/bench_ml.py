"""Benchmarks of the ML core, printed as markdown tables.

    .venv/bin/python bench/bench_ml.py [--quick] [--skip-scale] [--skip-automl] [--skip-forecast]

1. Scale: the whole analysis of a synthetic 1,000,000 x 20 table (binary target) with the default
   60 s budget: wall time per part and the sample sizes the result reports.
2. AutoML: the analysis's holdout score against AutoGluon run directly (same split, same
   metric, same budget, default presets) on public datasets shipped with scikit-learn.
3. Forecasting: backtest MASE of the chosen model against seasonal naive on public series
   shipped with statsforecast and statsmodels.
"""

from __future__ import annotations

import argparse
import contextlib
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
from dsp_ml.domain import analyze
from dsp_ml.domain.automl import quiet_autogluon
from dsp_ml.domain.timeseries import forecast_series, regular_series


def synthetic(rows: int, seed: int = 0) -> pl.DataFrame:
    """rows x 20: 14 numeric, 4 categorical, 1 date, and a binary target driven by a few of them."""
    rng = np.random.default_rng(seed)
    numeric = {f"x{i:02d}": rng.normal(size=rows) for i in range(14)}
    numeric["x03"] = np.exp(numeric["x03"])
    numeric["x05"] = numeric["x04"] * 0.8 + rng.normal(scale=0.6, size=rows)
    region = rng.choice(["north", "south", "east", "west"], rows, p=[0.4, 0.3, 0.2, 0.1])
    plan = rng.choice(["basic", "plus", "pro"], rows)
    channel = rng.choice(["web", "store", "phone", "partner", "app"], rows)
    tier = rng.choice(["a", "b"], rows)
    start = np.datetime64("2020-01-01")
    signup = start + rng.integers(0, 1500, rows).astype("timedelta64[D]")
    logit = (1.2 * numeric["x00"] - 0.8 * numeric["x01"] + 0.5 * (plan == "pro") - 0.6 * (region == "west")
             + 0.3 * np.log(numeric["x03"]) - 1.0)
    churn = rng.random(rows) < 1 / (1 + np.exp(-logit))
    return pl.DataFrame({**numeric, "region": region, "plan": plan, "channel": channel, "tier": tier,
                         "signup": signup, "churned": np.where(churn, "yes", "no")})


def bench_scale(rows: int, budget: float) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "data.parquet"
        synthetic(rows).write_parquet(path)
        started = time.perf_counter()
        result = analyze(path, target="churned", time_budget_s=budget, model_dir=Path(tmp) / "model")
        total = time.perf_counter() - started
    lines = ["| rows x columns | budget (s) | wall (s) | AutoML rows | pattern rows | holdout ROC AUC | best model |",
             "| --- | ---: | ---: | ---: | ---: | ---: | --- |",
             f"| {rows:,} x 20 | {budget:.0f} | {total:.1f} | {result.sampling.automl_rows:,} | "
             f"{result.sampling.pattern_rows:,} | {result.automl.metrics.get('roc_auc', float('nan')):.4f} | "
             f"{result.automl.best_model} |", "",
             "| part | seconds |", "| --- | ---: |"]
    lines += [f"| {name} | {seconds:.1f} |" for name, seconds in result.timings_s.items()]
    lines += ["", f"Sampling note: {result.sampling.note}"]
    return "\n".join(lines)


def _datasets() -> dict[str, tuple[pd.DataFrame, str, str]]:
    from sklearn import datasets

    out = {}
    cancer = datasets.load_breast_cancer(as_frame=True).frame
    out["breast_cancer"] = (cancer, "target", "binary")
    wine = datasets.load_wine(as_frame=True).frame
    out["wine"] = (wine, "target", "multiclass")
    diabetes = datasets.load_diabetes(as_frame=True).frame
    out["diabetes"] = (diabetes, "target", "regression")
    housing_like = datasets.make_friedman1(n_samples=3000, noise=1.0, random_state=0)
    friedman = pd.DataFrame(housing_like[0], columns=[f"f{i}" for i in range(10)]).assign(target=housing_like[1])
    out["friedman1 (synthetic, 3000 rows)"] = (friedman, "target", "regression")
    return out


def bench_automl(budget: float) -> str:
    from autogluon.tabular import TabularPredictor
    from dsp_ml.domain.automl import EXCLUDED_MODELS, classification_metrics, regression_metrics
    from sklearn.model_selection import train_test_split

    lines = ["| dataset | task | metric | platform (holdout) | AutoGluon direct (holdout) | relative gap | "
             "platform wall (s) | direct fit (s) |", "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |"]
    for name, (frame, target, task) in _datasets().items():
        if task != "regression":
            frame = frame.assign(**{target: frame[target].map(lambda v: f"class_{v}")})
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "data.parquet"
            pl.from_pandas(frame).write_parquet(path)
            started = time.perf_counter()
            result = analyze(path, target=target, time_budget_s=budget)
            platform_wall = time.perf_counter() - started
            automl = result.automl
            features = automl.features
            data = frame[[*features, target]]
            holdout_size = automl.holdout_rows
            stratify = data[target] if task != "regression" else None
            train, holdout = train_test_split(data, test_size=holdout_size, random_state=0, stratify=stratify)
            metric = {"binary": "roc_auc", "multiclass": "accuracy", "regression": "root_mean_squared_error"}[task]
            started = time.perf_counter()
            with quiet_autogluon():
                direct = TabularPredictor(label=target, problem_type=task, eval_metric=metric,
                                          path=str(Path(tmp) / "direct"), verbosity=0)
                direct.fit(train, time_limit=budget, excluded_model_types=EXCLUDED_MODELS)
                direct_fit = time.perf_counter() - started
                if task == "regression":
                    direct_metrics = regression_metrics(holdout[target], direct.predict(holdout))
                else:
                    direct_metrics, _ = classification_metrics(
                        holdout[target], direct.predict(holdout), direct.predict_proba(holdout),
                        positive_class=direct.positive_class if task == "binary" else None)
        key = {"binary": "roc_auc", "multiclass": "accuracy", "regression": "r2"}[task]
        ours, theirs = automl.metrics[key], direct_metrics[key]
        gap = (ours - theirs) / abs(theirs) if theirs else float("nan")
        lines.append(f"| {name} | {task} | {key} | {ours:.4f} | {theirs:.4f} | {gap:+.2%} | {platform_wall:.1f} | "
                     f"{direct_fit:.1f} |")
    return "\n".join(lines)


def _series() -> dict[str, pl.DataFrame]:
    from statsforecast.utils import AirPassengersDF

    out = {"AirPassengers (monthly)": pl.from_pandas(AirPassengersDF).select("ds", pl.col("y").alias("value"))}
    with contextlib.suppress(Exception):
        from statsmodels.datasets import co2, elnino, macrodata, sunspots

        frame = co2.load_pandas().data.reset_index(names="ds").dropna()
        out["CO2 Mauna Loa (weekly)"] = pl.from_pandas(frame).select("ds", pl.col("co2").alias("value"))
        nino = elnino.load_pandas().data
        months = nino.columns[1:]
        long = nino.melt(id_vars="YEAR", value_vars=list(months), var_name="month", value_name="value")
        long["ds"] = pd.to_datetime(long["YEAR"].astype(int).astype(str) + "-" + long["month"], format="%Y-%b")
        out["El Nino SST (monthly)"] = pl.from_pandas(long[["ds", "value"]])
        macro = macrodata.load_pandas().data
        macro["ds"] = pd.PeriodIndex.from_fields(year=macro["year"].astype(int), quarter=macro["quarter"].astype(int),
                                                 freq="Q").to_timestamp()
        out["US real GDP (quarterly)"] = pl.from_pandas(macro[["ds", "realgdp"]].rename(columns={"realgdp": "value"}))
        spots = sunspots.load_pandas().data
        spots["ds"] = pd.to_datetime(spots["YEAR"].astype(int).astype(str) + "-01-01")
        out["Sunspots (yearly)"] = pl.from_pandas(spots[["ds", "SUNACTIVITY"]].rename(columns={"SUNACTIVITY": "value"}))
    return out


def bench_forecast() -> str:
    lines = ["| series | points | frequency | horizon x windows | best model | best MASE | baseline | baseline MASE | "
             "best sMAPE (%) | seconds |", "| --- | ---: | --- | --- | --- | ---: | --- | ---: | ---: | ---: |"]
    for name, frame in _series().items():
        started = time.perf_counter()
        series = regular_series(frame, "ds", "value")
        if series is None:
            lines.append(f"| {name} | - | not regular | | | | | | | |")
            continue
        report = forecast_series(series)
        seconds = time.perf_counter() - started
        scores = {score.model: score for score in report.scores}
        best, baseline = scores[report.best_model], scores[report.baseline_model]
        lines.append(f"| {name} | {len(series.values)} | {series.frequency} | {report.horizon} x "
                     f"{report.backtest_windows} | {report.best_model} | {best.mase:.3f} | {report.baseline_model} | "
                     f"{baseline.mase:.3f} | {best.smape:.2f} | {seconds:.1f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--budget", type=float, default=60.0)
    parser.add_argument("--automl-budget", type=float, default=30.0)
    parser.add_argument("--skip-scale", action="store_true")
    parser.add_argument("--skip-automl", action="store_true")
    parser.add_argument("--skip-forecast", action="store_true")
    args = parser.parse_args()
    print(f"Machine: {platform.machine()}, Python {sys.version.split()[0]}\n")
    if not args.skip_forecast:
        print("### Forecasting: rolling-origin backtest\n")
        print(bench_forecast(), "\n", flush=True)
    if not args.skip_automl:
        print(f"### AutoML against AutoGluon run directly ({args.automl_budget:.0f} s budget each)\n")
        print(bench_automl(args.automl_budget), "\n", flush=True)
    if not args.skip_scale:
        print(f"### Whole analysis at scale ({args.budget:.0f} s budget)\n")
        print(bench_scale(args.rows, args.budget), "\n", flush=True)


if __name__ == "__main__":
    main()
