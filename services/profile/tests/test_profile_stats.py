"""Column statistics against numpy/scipy/pandas references, on awkward data."""

from __future__ import annotations

import math
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pytest
import scipy.stats
from dsp_profile.domain import profile_dataset
from dsp_profile.domain.columns import profile_column
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

REL = 1e-9


def _close(actual: float | None, expected: float, *, scale: float = 0.0) -> None:
    """Within 1e-9 relative; non-finite references must come back as None."""
    if expected is None or not math.isfinite(expected):
        assert actual is None, f"expected None for reference {expected}, got {actual}"
        return
    assert actual is not None, f"got None for reference {expected}"
    assert math.isclose(actual, expected, rel_tol=REL, abs_tol=REL * scale), (actual, expected)


def _check_float_column(values: list[float | None]) -> None:
    series = pl.Series("x", values, dtype=pl.Float64)
    facts = profile_column(series, semantic_type=None)
    col = facts.profile
    raw = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
    present = raw[~np.isnan(raw)]
    finite = present[np.isfinite(present)]
    pd_series = pd.Series(values, dtype="float64")

    assert col.count == int(pd_series.count())
    assert col.missing == int(pd_series.isna().sum())
    assert col.distinct == int(pd_series.nunique())
    vc = pd_series.value_counts()
    assert col.unique == int((vc == 1).sum())
    if col.top_values:
        assert col.top_values[0].count == int(vc.max())
        top_counts = [v.count for v in col.top_values]
        assert top_counts == sorted(vc.to_numpy().tolist(), reverse=True)[: len(top_counts)]

    stats = col.numeric
    assert stats is not None
    assert stats.finite == finite.size
    assert stats.infinite == int(np.isinf(present).sum())
    assert stats.nan == int(sum(1 for v in values if v is not None and math.isnan(v)))
    assert stats.zeros == int((present == 0).sum())
    assert stats.negatives == int((present < 0).sum())
    if finite.size == 0:
        assert stats.mean is None and stats.min is None and col.histogram is None
        return
    scale = float(np.max(np.abs(finite)))
    with np.errstate(all="ignore"):
        _close(stats.min, float(finite.min()))
        _close(stats.max, float(finite.max()))
        _close(stats.sum, float(np.sum(finite)), scale=scale)
        _close(stats.mean, float(np.mean(finite)), scale=scale)
        for q, got in zip((0.05, 0.25, 0.5, 0.75, 0.95), (stats.p5, stats.p25, stats.p50, stats.p75, stats.p95), strict=True):
            _close(got, float(np.quantile(finite, q)), scale=scale)
        _close(stats.mad, float(scipy.stats.median_abs_deviation(finite)), scale=scale)
        if finite.size > 1:
            _close(stats.variance, float(np.var(finite, ddof=1)), scale=scale * scale)
            _close(stats.std, float(np.std(finite, ddof=1)), scale=scale)
            _close(stats.variance, float(pd.Series(finite).var()), scale=scale * scale)
        else:
            assert stats.variance is None and stats.std is None
        ref_skew = float(scipy.stats.skew(finite))
        ref_kurt = float(scipy.stats.kurtosis(finite))
        _close(stats.skewness, ref_skew, scale=1.0)
        _close(stats.kurtosis, ref_kurt, scale=1.0)

    hist = col.histogram
    if hist is None:
        bins = min(30, col.distinct)
        with pytest.raises(ValueError), np.errstate(all="ignore"):
            np.histogram(finite, bins=bins)
    else:
        ref_counts, ref_edges = np.histogram(finite, bins=len(hist.counts))
        assert hist.counts == ref_counts.tolist()
        np.testing.assert_allclose(hist.edges, ref_edges, rtol=REL)
        assert sum(hist.counts) == finite.size

    p25, p75 = np.quantile(finite, [0.25, 0.75])
    iqr = p75 - p25
    if math.isfinite(iqr):
        expected_out = int(((finite < p25 - 1.5 * iqr) | (finite > p75 + 1.5 * iqr)).sum())
        assert stats.outliers_iqr == expected_out


finite_floats = st.floats(min_value=-1e100, max_value=1e100, allow_nan=False, allow_infinity=False)
awkward = st.one_of(
    finite_floats,
    st.none(),
    st.just(float("nan")),
    st.sampled_from([float("inf"), float("-inf"), 0.0, -0.0, 1e300, -1e300, 5e-324]),
    st.integers(min_value=-5, max_value=5).map(float),
)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(awkward, min_size=0, max_size=60))
def test_float_statistics_match_references(values: list[float | None]) -> None:
    _check_float_column(values)


@settings(max_examples=80, deadline=None)
@given(st.lists(st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, width=32), min_size=1, max_size=200))
def test_ordinary_floats_match_references(values: list[float]) -> None:
    _check_float_column(values)


@settings(max_examples=80, deadline=None)
@given(st.lists(st.one_of(st.none(), st.integers(min_value=-(2**40), max_value=2**40)), min_size=0, max_size=80))
def test_integer_statistics_match_references(values: list[int | None]) -> None:
    series = pl.Series("n", values, dtype=pl.Int64)
    col = profile_column(series, semantic_type=None).profile
    present = np.array([v for v in values if v is not None], dtype=np.int64)
    assert col.count == present.size
    assert col.missing == len(values) - present.size
    assert col.distinct == np.unique(present).size
    assert col.semantic_type == "integer"
    stats = col.numeric
    assert stats is not None
    if present.size == 0:
        assert stats.mean is None
        return
    as_float = present.astype(np.float64)
    scale = float(np.max(np.abs(as_float)))
    _close(stats.mean, float(np.mean(as_float)), scale=scale)
    _close(stats.p50, float(np.median(as_float)), scale=scale)
    _close(stats.p95, float(np.quantile(as_float, 0.95)), scale=scale)
    if present.size > 1:
        _close(stats.std, float(pd.Series(present).std()), scale=scale)
    assert {v.value for v in col.top_values} <= set(present.tolist())


@pytest.mark.parametrize(
    "values",
    [
        [],
        [None, None, None],
        [float("nan"), float("nan")],
        [float("inf"), float("-inf"), None],
        [42.0],
        [1e308, 1e308, -1e308],
        [1e15 + 0.1, 1e15 + 0.2, 1e15 + 0.3],
        [3.0, 3.0, 3.0, 3.0],
        [0.0, -0.0, 0.0],
        [1.0, 2.0, float("nan"), None, float("inf"), 3.0, -4.5, 0.0],
    ],
    ids=["empty", "all-null", "all-nan", "only-inf", "single", "huge", "large-offset", "constant", "signed-zero", "mixed"],
)
def test_edge_cases_match_references(values: list[float | None]) -> None:
    _check_float_column(values)


def test_nan_and_inf_policy_is_explicit() -> None:
    col = profile_column(
        pl.Series("x", [1.0, float("nan"), None, float("inf"), float("-inf"), 3.0]), semantic_type=None
    ).profile
    assert col.missing == 2  # null and NaN
    assert col.count == 4  # 1, inf, -inf, 3
    assert col.numeric.infinite == 2
    assert col.numeric.nan == 1
    assert col.numeric.negatives == 1  # -inf
    assert col.numeric.finite == 2
    assert col.numeric.mean == 2.0
    assert col.numeric.min == 1.0 and col.numeric.max == 3.0


def test_monotonicity() -> None:
    def mono(values):
        return profile_column(pl.Series("x", values, dtype=pl.Float64), semantic_type=None).profile.numeric.monotonicity

    assert mono([1.0, 2.0, None, 3.0]) == "strictly_increasing"
    assert mono([1.0, 2.0, 2.0, 3.0]) == "increasing"
    assert mono([3.0, 1.0, float("nan"), -1.0]) == "strictly_decreasing"
    assert mono([3.0, 3.0, 1.0]) == "decreasing"
    assert mono([2.0, 2.0]) == "constant"
    assert mono([1.0, 3.0, 2.0]) == "none"


def test_string_statistics_match_python() -> None:
    values = ["abc", " padded ", "", "ÉtÉ", "12.5", "x y", None, "abc", "A-1", "42"]
    col = profile_column(pl.Series("s", values), semantic_type="text").profile
    present = [v for v in values if v is not None]
    s = col.strings
    assert s is not None
    lengths = [len(v) for v in present]
    assert col.count == len(present) and col.missing == 1
    assert col.distinct == len(set(present))
    assert col.unique == sum(1 for v in set(present) if present.count(v) == 1)
    assert s.min_length == min(lengths) and s.max_length == max(lengths)
    assert s.mean_length == pytest.approx(np.mean(lengths), rel=REL)
    assert s.median_length == np.median(lengths)
    assert s.empty == 1
    assert s.whitespace_padded == 1
    assert s.with_digits == sum(any(ch.isdigit() for ch in v) for v in present)
    assert s.with_letters == sum(any(ch.isalpha() for ch in v) for v in present)
    assert s.with_uppercase == sum(any(ch.isupper() for ch in v) for v in present)
    assert s.non_ascii == sum(any(ord(ch) > 127 for ch in v) for v in present)
    assert s.with_spaces == sum(any(ch.isspace() for ch in v) for v in present)
    assert s.numeric_like == 2
    assert col.top_values[0].value == "abc" and col.top_values[0].count == 2
    assert sum(s.length_histogram.counts) == len(present)


@settings(max_examples=80, deadline=None)
@given(st.lists(st.one_of(st.none(), st.text(max_size=8)), max_size=60))
def test_string_lengths_property(values: list[str | None]) -> None:
    col = profile_column(pl.Series("s", values, dtype=pl.String), semantic_type="text").profile
    present = [v for v in values if v is not None]
    assert col.count == len(present)
    assert col.distinct == len(set(present))
    if present:
        lengths = [len(v) for v in present]
        assert col.strings.median_length == float(np.median(lengths))
        assert col.strings.mean_length == pytest.approx(float(np.mean(lengths)), rel=REL)
        assert col.strings.max_length == max(lengths)


_CLASS_PATTERNS = {
    "whitespace_padded": r"^\s|\s$",
    "with_letters": r"\p{L}",
    "with_digits": r"\d",
    "with_spaces": r"\s",
    "with_punctuation": r"[\p{P}\p{S}]",
    "with_uppercase": r"\p{Lu}",
    "with_lowercase": r"\p{Ll}",
    "non_ascii": r"[^\x00-\x7F]",
    "numeric_like": r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$",
}


_CHARACTERS = st.one_of(
    st.characters(max_codepoint=127), st.sampled_from("0123456789.eE+- \t"), st.sampled_from("éÉ\u00a0\u0085ß½٣€")
)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(st.none(), st.text(alphabet=_CHARACTERS, max_size=8)), max_size=60))
def test_character_classes_match_their_regular_expressions(values: list[str | None]) -> None:
    # ASCII values are classified from their bytes, the others by the patterns: both must agree with the patterns
    series = pl.Series("s", values, dtype=pl.String)
    strings = profile_column(series, semantic_type="text").profile.strings
    present = series.drop_nulls()
    for name, pattern in _CLASS_PATTERNS.items():
        assert getattr(strings, name) == int(present.str.contains(pattern).sum()), name


def test_date_range_gaps_and_frequency(tmp_path: Path) -> None:
    days = pl.date_range(date(2024, 1, 1), date(2024, 3, 31), "1d", eager=True)
    gapped = days.filter((days < date(2024, 2, 10)) | (days > date(2024, 2, 20)))
    col = profile_column(gapped.alias("d"), semantic_type=None).profile
    d = col.dates
    assert col.semantic_type == "date"
    assert d.frequency == "D"
    assert d.gaps == 1
    assert d.largest_gap_seconds == 12 * 86400  # 9 Feb to 21 Feb
    assert d.range_seconds == (90 * 86400)
    monthly = pl.date_range(date(2020, 1, 1), date(2022, 12, 1), "1mo", eager=True)
    assert profile_column(monthly.alias("m"), semantic_type=None).profile.dates.frequency == "MS"
    hourly = pl.datetime_range(datetime(2024, 1, 1), datetime(2024, 1, 3), "1h", eager=True)
    assert profile_column(hourly.alias("h"), semantic_type=None).profile.dates.frequency == "h"
    irregular = pl.Series("i", [datetime(2024, 1, 1), datetime(2024, 1, 5), datetime(2024, 3, 1)])
    assert profile_column(irregular, semantic_type=None).profile.dates.frequency is None


def test_profile_dataset_statistics_match_pandas(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    n = 500
    a = rng.normal(10, 3, n)
    a[rng.choice(n, 40, replace=False)] = np.nan
    frame = pl.DataFrame({"a": a, "b": rng.integers(-50, 50, n), "c": rng.choice(["x", "y", "z"], n)})
    frame = frame.with_columns(pl.when(pl.col("b") > 45).then(None).otherwise(pl.col("b")).alias("b"))
    path = tmp_path / "d.parquet"
    frame.write_parquet(path)
    profile = profile_dataset(path)
    ref = frame.to_pandas()
    for name in ("a", "b"):
        col = profile.column(name)
        s = ref[name].dropna().astype(float)
        _close(col.numeric.mean, float(s.mean()), scale=100)
        _close(col.numeric.std, float(s.std()), scale=100)
        _close(col.numeric.p25, float(s.quantile(0.25)), scale=100)
        _close(col.numeric.skewness, float(scipy.stats.skew(s)), scale=1)
        assert col.missing == int(ref[name].isna().sum())
    assert profile.column("c").distinct == 3
    assert profile.column("c").top_values[0].count == int(ref["c"].value_counts().max())
