"""Each alert fires on data that has the problem, with its evidence, and not on clean data."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import scipy.stats
from dsp_profile.domain import profile_dataset
from dsp_profile.domain.numerics import chi_square_uniform_p, rank_average
from hypothesis import given, settings
from hypothesis import strategies as st
from shared_contracts.profile import ALERT_TYPES, Profile

N = 600


def _profile(tmp_path: Path, frame: pl.DataFrame, **kwargs) -> Profile:
    path = tmp_path / "alerts.parquet"
    frame.write_parquet(path)
    return profile_dataset(path, **kwargs)


def _alerts(profile: Profile, type_: str) -> list:
    return [a for a in profile.alerts if a.type == type_]


def _columns_with(profile: Profile, type_: str) -> set[str]:
    return {c for a in _alerts(profile, type_) for c in a.columns}


@pytest.fixture(scope="module")
def dirty(tmp_path_factory: pytest.TempPathFactory) -> Profile:
    rng = np.random.default_rng(2024)
    x = rng.normal(size=N)
    heavy = rng.normal(size=N)
    heavy[-1] = 1e6  # one extreme value (not among the duplicated rows): skewness about sqrt(N)
    age = rng.integers(18, 80, N)
    age[:30] = 0
    income = rng.normal(50_000, 10_000, N)
    income[:20] = -999
    with_inf = rng.normal(size=N)
    with_inf[:3] = np.inf
    frame = pl.DataFrame(
        {
            "row_id": np.arange(N),
            "code": [f"K{i:05d}" for i in range(N)],
            "constant": ["same"] * N,
            "empty": pl.Series([None] * N, dtype=pl.Float64),
            "mostly_missing": pl.Series([None if i % 10 else 1.0 for i in range(N)], dtype=pl.Float64),
            "zeros": np.where(rng.random(N) < 0.4, 0.0, rng.normal(size=N)),
            "x": x,
            "x_copy": x * 3 + 1,
            "heavy": heavy,
            "with_inf": with_inf,
            "age": age,
            "income": income,
            "city": [f"city_{i % 120}" for i in range(N)],
            "imbalanced": np.where(np.arange(N) < N - 6, "yes", "no"),
            "status": rng.choice(["Active", "active", " Active", "closed"], N),
            "dirty": rng.choice(["New-York", "new york", "Boston"], N),
            "numbers_text": [str(v) for v in rng.integers(0, 100, N)],
            "mixed": [str(i) if i % 3 else "n/a" for i in range(N)],
            "sentinel_text": rng.choice(["red", "blue", "unknown"], N),
            "date_text": [(date(2020, 1, 1) + timedelta(days=int(d))).isoformat() for d in rng.integers(0, 900, N)],
            "uniform": rng.choice(["a", "b", "c", "d"], N),
            "outliers": np.concatenate([rng.normal(size=N - 40), rng.normal(50, 1, 40)]),
            "blob": pl.Series([[1, 2]] * N, dtype=pl.List(pl.Int64)),
        }
    ).with_columns(pl.col("uniform").cast(pl.String))
    # exact uniform counts for UNIFORM
    frame = frame.with_columns(pl.Series("uniform", np.array(["a", "b", "c", "d"])[np.arange(N) % 4]))
    frame = pl.concat([frame, frame.head(5)])  # five duplicate rows
    path = tmp_path_factory.mktemp("dirty") / "dirty.parquet"
    frame.write_parquet(path)
    return profile_dataset(path, target="x")


@pytest.mark.parametrize(
    ("alert", "column"),
    [
        ("CONSTANT", "constant"),
        ("EMPTY", "empty"),
        ("REJECTED", "constant"),
        ("MISSING", "mostly_missing"),
        ("ZEROS", "zeros"),
        ("HIGH_CARDINALITY", "city"),
        ("SKEWED", "heavy"),
        ("INFINITE", "with_inf"),
        ("IMBALANCE", "imbalanced"),
        ("ID_LIKE", "row_id"),
        ("ID_LIKE", "code"),
        ("CONSTANT_LENGTH", "code"),
        ("INCONSISTENT_CATEGORY", "status"),
        ("DIRTY_CATEGORY", "dirty"),
        ("NUMBERS_AS_TEXT", "numbers_text"),
        ("MIXED_TYPES", "mixed"),
        ("DISGUISED_MISSING", "income"),
        ("DISGUISED_MISSING", "age"),
        ("DISGUISED_MISSING", "sentinel_text"),
        ("DISGUISED_MISSING", "mixed"),
        ("TYPE_DATE", "date_text"),
        ("UNIFORM", "uniform"),
        ("OUTLIERS", "outliers"),
        ("UNSUPPORTED", "blob"),
        ("TARGET_LEAKAGE", "x_copy"),
    ],
)
def test_alert_fires_on_its_column(dirty: Profile, alert: str, column: str) -> None:
    assert column in _columns_with(dirty, alert), [a.message for a in dirty.alerts if column in a.columns]


def test_alerts_do_not_fire_on_clean_columns(dirty: Profile) -> None:
    clean = {"x", "heavy"}
    for kind in ("MISSING", "ZEROS", "INFINITE", "CONSTANT", "INCONSISTENT_CATEGORY", "DISGUISED_MISSING"):
        assert not clean & _columns_with(dirty, kind), kind
    assert "x" not in _columns_with(dirty, "SKEWED")
    assert "status" not in _columns_with(dirty, "HIGH_CARDINALITY")
    assert "numbers_text" not in _columns_with(dirty, "MIXED_TYPES")


def test_dataset_alerts_and_evidence(dirty: Profile) -> None:
    dup = _alerts(dirty, "DUPLICATES")
    assert len(dup) == 1 and dup[0].evidence["duplicate_rows"] == 5 and dup[0].columns == []
    leak = _alerts(dirty, "TARGET_LEAKAGE")
    assert leak[0].columns == ["x_copy", "x"] and leak[0].severity == "critical"
    assert leak[0].evidence["value"] == pytest.approx(1.0)
    # the leak is reported as leakage, not as an ordinary high correlation
    assert not any(set(a.columns) == {"x", "x_copy"} for a in _alerts(dirty, "HIGH_CORRELATION"))
    missing = next(a for a in _alerts(dirty, "MISSING") if a.columns == ["mostly_missing"])
    assert missing.evidence["fraction"] == pytest.approx(dirty.column("mostly_missing").missing_fraction)
    assert missing.severity == "critical"
    assert all(a.message and a.severity in ("info", "warning", "critical") for a in dirty.alerts)


def test_high_correlation_without_target(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    x = rng.normal(size=300)
    profile = _profile(tmp_path, pl.DataFrame({"a": x, "b": -2 * x + 0.01 * rng.normal(size=300), "c": rng.normal(size=300)}))
    pairs = [set(a.columns) for a in _alerts(profile, "HIGH_CORRELATION")]
    assert {"a", "b"} in pairs
    assert not any("c" in p for p in pairs)
    assert _columns_with(profile, "UNIQUE") == {"a", "b", "c"}
    assert not _alerts(profile, "TARGET_LEAKAGE")


def test_time_series_alerts(tmp_path: Path) -> None:
    n = 400
    t = np.arange(n)
    days = pl.date_range(date(2020, 1, 1), date(2020, 1, 1) + timedelta(days=n - 1), "1d", eager=True)
    rng = np.random.default_rng(8)
    frame = pl.DataFrame(
        {
            "day": days,
            "trend": 0.5 * t + rng.normal(size=n),
            "weekly": np.sin(2 * np.pi * t / 7) * 10 + rng.normal(size=n) * 0.5,
            "noise": rng.normal(size=n),
        }
    )
    profile = _profile(tmp_path, frame)
    assert profile.column("day").dates.frequency == "D"
    assert "trend" in _columns_with(profile, "NON_STATIONARY")
    seasonal = _alerts(profile, "SEASONAL")
    assert any(a.columns == ["weekly"] and a.evidence["period"] == 7 for a in seasonal)
    assert "noise" not in _columns_with(profile, "NON_STATIONARY") | _columns_with(profile, "SEASONAL")


def test_empty_dataset_alert(tmp_path: Path) -> None:
    profile = _profile(tmp_path, pl.DataFrame({"a": pl.Series([], dtype=pl.Int64)}))
    assert [a.type for a in profile.alerts] == ["EMPTY"]


def test_every_alert_type_is_reachable(dirty: Profile, tmp_path: Path) -> None:
    seen = {a.type for a in dirty.alerts}
    # the remaining types need data of their own (covered by the tests above)
    assert set(ALERT_TYPES) - seen <= {"NEAR_DUPLICATES", "HIGH_CORRELATION", "NON_STATIONARY", "SEASONAL", "UNIQUE"}


def test_quality_score_drops_with_problems(dirty: Profile, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    clean = _profile(tmp_path, pl.DataFrame({"a": rng.normal(size=200), "b": rng.choice(["u", "v"], 200)}))
    assert clean.quality.score > dirty.quality.score
    assert clean.quality.score >= 95
    names = [c.name for c in dirty.quality.components]
    assert names == ["completeness", "uniqueness", "validity", "consistency", "informativeness"]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(-3, 3).map(float), min_size=1, max_size=50))
def test_rank_average_matches_scipy(values: list[float]) -> None:
    arr = np.asarray(values)
    np.testing.assert_array_equal(rank_average(arr), scipy.stats.rankdata(arr))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, 10_000), min_size=2, max_size=200).filter(lambda c: sum(c) > 0))
def test_chi_square_p_matches_scipy(counts: list[int]) -> None:
    expected = float(scipy.stats.chisquare(np.asarray(counts, dtype=float)).pvalue)
    assert chi_square_uniform_p(np.asarray(counts)) == pytest.approx(expected, rel=1e-9, abs=1e-15)
