"""Past the exact-size threshold: each sketched figure against the exact one, within the bound the profile states."""

from __future__ import annotations

import math
from datetime import datetime
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from dsp_profile.domain import profile_dataset
from dsp_profile.domain import streaming as streaming_module
from dsp_profile.domain.sketches import ColumnSketch, hll_relative_error, kll_rank_error
from shared_contracts.profile import Profile

ROWS = 200_000


def _frame(rows: int, seed: int = 5) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    income = np.round(rng.lognormal(10, 0.7, rows), 2)
    income[rng.random(rows) < 0.05] = np.nan
    score = rng.normal(3, 2, rows)
    score[rng.random(rows) < 0.01] = -999.0
    words = np.array(["alpha", "beta", "Gamma", "delta ", "eps", "zeta"])
    frame = pl.DataFrame({
        "id": np.arange(rows),
        "income": income,
        "score": score,
        "visits": rng.poisson(4, rows),
        "code": pl.Series(rng.integers(0, rows // 2, rows)).cast(pl.String).str.zfill(6),
        "word": rng.choice(words, rows, p=[0.4, 0.2, 0.15, 0.1, 0.1, 0.05]),
        "flag": rng.random(rows) < 0.3,
        "when": pl.Series(rng.integers(0, 10**9, rows) * 1_000_000).cast(pl.Datetime("us")),
        "day": pl.Series(rng.integers(18_000, 19_000, rows)).cast(pl.Date),
    }).with_columns(
        pl.when(pl.lit(rng.random(rows) < 0.1)).then(None).otherwise(pl.col("code")).alias("code"),
        pl.when(pl.lit(rng.random(rows) < 0.02)).then(None).otherwise(pl.col("visits")).alias("visits"),
    )
    source = np.arange(rows)
    source[rng.choice(np.arange(1, rows), 50, replace=False)] -= 1  # 50 duplicate rows
    return frame[source]


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> tuple[pl.DataFrame, Path]:
    frame = _frame(ROWS)
    path = tmp_path_factory.mktemp("sketch") / "data.parquet"
    frame.write_parquet(path, row_group_size=50_000)
    return frame, path


@pytest.fixture(scope="module")
def profiles(data: tuple[pl.DataFrame, Path]) -> tuple[Profile, Profile]:
    _, path = data
    exact = profile_dataset(path, sketches=False)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(streaming_module, "CHUNK_BYTES", 64 * 20_000)  # chunks of about 20,000 rows: ten of them
        sketched = profile_dataset(path, exact_max_rows=ROWS // 2)
    return exact, sketched


def _bound(profile: Profile, statistic: str, column: str) -> float:
    found = [a for a in profile.approximations if a.statistic == statistic and column in a.columns]
    assert len(found) == 1, f"{statistic} of {column} is not labelled"
    assert found[0].relative_error is not None
    return found[0].relative_error


def _finite(frame: pl.DataFrame, name: str) -> np.ndarray:
    values = frame[name].drop_nulls().cast(pl.Float64).to_numpy()
    return np.sort(values[np.isfinite(values)])


def _rank_ok(sorted_values: np.ndarray, value: float, q: float, eps: float) -> bool:
    """Whether ``value`` has a rank within ``eps`` of ``q`` (ties: any rank the value covers)."""
    n = sorted_values.size
    below = np.searchsorted(sorted_values, value, side="left") / n
    upto = np.searchsorted(sorted_values, value, side="right") / n
    return below - eps <= q <= upto + eps


def test_exact_figures_stay_exact_above_the_threshold(profiles: tuple[Profile, Profile]) -> None:
    exact, sketched = profiles
    assert sketched.dataset.duplicate_rows == exact.dataset.duplicate_rows == 50
    assert sketched.dataset.near_duplicate_rows == exact.dataset.near_duplicate_rows
    assert sketched.missingness.per_column == exact.missingness.per_column
    assert sketched.missingness.patterns == exact.missingness.patterns
    assert sketched.missingness.rows_with_missing == exact.missingness.rows_with_missing
    assert np.allclose(np.array(sketched.missingness.nullity_correlation.values, dtype=float),
                       np.array(exact.missingness.nullity_correlation.values, dtype=float), atol=1e-12)
    for a, e in zip(sketched.columns, exact.columns, strict=True):
        assert (a.name, a.count, a.missing, a.boolean_true, a.semantic_type) == (
            e.name, e.count, e.missing, e.boolean_true, e.semantic_type)
        assert a.strings == e.strings, a.name
        if e.numeric is not None:
            for field in ("finite", "zeros", "negatives", "infinite", "nan", "min", "max", "monotonicity"):
                assert getattr(a.numeric, field) == getattr(e.numeric, field), (a.name, field)
            for field in ("sum", "mean", "std", "variance", "skewness", "kurtosis"):
                assert math.isclose(getattr(a.numeric, field), getattr(e.numeric, field), rel_tol=1e-9, abs_tol=1e-9), (a.name, field)
        if e.dates is not None:
            assert (a.dates.min, a.dates.max, a.dates.future_values) == (e.dates.min, e.dates.max, e.dates.future_values)
        if not a.approximate:  # columns counted exactly: every figure as on the exact path
            assert a == e, a.name


def test_each_sketch_is_within_its_stated_bound(data: tuple[pl.DataFrame, Path],
                                                profiles: tuple[Profile, Profile]) -> None:
    frame, _ = data
    exact, sketched = profiles
    sketched_cols = {c.name for c in sketched.columns if c.approximate}
    assert {"id", "income", "score", "when"} <= sketched_cols and "word" not in sketched_cols
    for name in ("id", "income", "score", "code", "when"):
        a, e = sketched.column(name), exact.column(name)
        if "distinct" in a.approximate:
            err = _bound(sketched, "distinct", name)
            assert abs(a.distinct - e.distinct) <= err * e.distinct, name
            assert a.unique <= e.unique + 2 * err * e.distinct, name
            eps = _bound(sketched, "top_values", name)
            truth = dict(frame[name].drop_nulls().value_counts().iter_rows())
            for top in a.top_values:
                key = top.value if name != "when" else datetime.fromisoformat(str(top.value))
                assert abs(top.count - truth[key]) <= eps * a.count + 10, (name, top)
    for name in ("income", "score", "visits"):
        a = sketched.column(name)
        values = _finite(frame, name)
        n = values.size
        eps = _bound(sketched, "quantiles", name)
        for q, got in ((0.05, a.numeric.p5), (0.25, a.numeric.p25), (0.5, a.numeric.p50), (0.75, a.numeric.p75),
                       (0.95, a.numeric.p95)):
            assert _rank_ok(values, got, q, eps), (name, q, got)
        # MAD: half the values lie within it of the (sketched) median, up to the ranks' error at both ends
        spread = np.abs(values - a.numeric.p50)
        inside, upto = np.count_nonzero(spread < a.numeric.mad) / n, np.count_nonzero(spread <= a.numeric.mad) / n
        assert inside - 2 * eps <= 0.5 <= upto + 2 * eps, name
        low, high = a.numeric.p25 - 1.5 * a.numeric.iqr, a.numeric.p75 + 1.5 * a.numeric.iqr
        outliers = np.count_nonzero((values < low) | (values > high))
        assert abs(a.numeric.outliers_iqr - outliers) <= 2 * eps * n, name
        pmf = _bound(sketched, "histogram", name)
        edges = np.array(a.histogram.edges)
        truth, _ = np.histogram(values, bins=edges)
        assert np.all(np.abs(np.array(a.histogram.counts) - truth) <= pmf * n), name
        assert sum(a.histogram.counts) == n


def test_labels_are_present_above_the_threshold_and_absent_below(data: tuple[pl.DataFrame, Path],
                                                                 profiles: tuple[Profile, Profile],
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    _, path = data
    exact, sketched = profiles
    assert {"distinct", "top_values", "quantiles", "histogram", "date_steps", "duplicate_rows"} <= {
        a.statistic for a in sketched.approximations}
    assert all(c.approximate == [] for c in exact.columns)
    assert [a.statistic for a in exact.approximations] == ["correlations"]
    assert "numeric.p50" in sketched.column("score").approximate
    assert sketched.column("word").approximate == []
    # the setting: at or below it the profile is the exact one
    monkeypatch.setenv("DSP_PROFILE_EXACT_MAX_ROWS", str(ROWS))
    below = profile_dataset(path)
    assert below.model_dump(exclude={"generated_at", "elapsed_seconds"}) == exact.model_dump(
        exclude={"generated_at", "elapsed_seconds"})
    monkeypatch.setenv("DSP_PROFILE_EXACT_MAX_ROWS", str(ROWS - 1))
    small = pl.read_parquet(path).head(5_000)
    small.write_parquet(path.with_name("small.parquet"))
    assert all(c.approximate == [] for c in profile_dataset(path.with_name("small.parquet")).columns)
    asked = profile_dataset(path.with_name("small.parquet"), sketches=True)
    assert any(a.statistic == "quantiles" for a in asked.approximations)


def test_chunk_sketches_merge_into_the_sketch_of_the_whole(data: tuple[pl.DataFrame, Path]) -> None:
    frame, _ = data
    now = datetime(2030, 1, 1)
    for name in ("income", "code", "word", "when", "visits"):
        series = frame[name]
        whole = ColumnSketch.empty(series.dtype)
        whole.update(series, now=now)
        parts = []
        for start in range(0, series.len(), 30_000):
            part = ColumnSketch.empty(series.dtype)
            part.update(series.slice(start, 30_000), now=now)
            parts.append(part)
        merged = parts[0]
        for part in parts[1:]:
            merged = merged.merge(part)
        a = merged.facts(name, semantic_type=None, now=now).profile
        b = whole.facts(name, semantic_type=None, now=now).profile
        truth = series.drop_nulls().n_unique() if series.dtype != pl.Float64 else series.drop_nans().drop_nulls().n_unique()
        assert (a.count, a.missing, a.strings) == (b.count, b.missing, b.strings), name
        assert abs(a.distinct - truth) <= hll_relative_error() * truth, name
        assert abs(a.distinct - b.distinct) <= 2 * hll_relative_error() * truth, name
        if b.numeric is not None:
            values = _finite(frame, name)
            assert (a.numeric.min, a.numeric.max, a.numeric.finite) == (b.numeric.min, b.numeric.max, b.numeric.finite)
            assert math.isclose(a.numeric.std, b.numeric.std, rel_tol=1e-9)
            for q, got in ((0.25, a.numeric.p25), (0.5, a.numeric.p50), (0.75, a.numeric.p75)):
                assert _rank_ok(values, got, q, kll_rank_error()), (name, q)
        if not b.approximate:
            assert a == b, name
