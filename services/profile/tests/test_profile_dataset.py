"""Dataset-level results: duplicates, missingness, correlations, batching, the contract."""

from __future__ import annotations

import math
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pytest
import scipy.stats
from dsp_profile.domain import profile_dataset
from dsp_profile.domain import profiler as profiler_module
from hypothesis import given, settings
from hypothesis import strategies as st
from shared_contracts.profile import Profile


def _write(frame: pl.DataFrame, tmp_path: Path, name: str = "data.parquet") -> Path:
    path = tmp_path / name
    frame.write_parquet(path)
    return path


def _matrix(profile_matrix) -> pd.DataFrame:
    return pd.DataFrame(profile_matrix.values, index=profile_matrix.rows, columns=profile_matrix.columns, dtype=float)


@pytest.fixture
def mixed(tmp_path: Path) -> Path:
    rng = np.random.default_rng(11)
    n = 400
    x = rng.normal(size=n)
    y = 2 * x + rng.normal(scale=0.5, size=n)
    z = rng.exponential(size=n)
    x_missing = x.copy()
    x_missing[rng.choice(n, 30, replace=False)] = np.nan
    colour = rng.choice(["red", "green", "blue"], n)
    shade = np.where(colour == "red", "warm", rng.choice(["warm", "cold"], n))
    frame = pl.DataFrame(
        {
            "x": x_missing,
            "y": y,
            "z": z,
            "k": rng.integers(0, 5, n),
            "colour": colour,
            "shade": shade,
        }
    ).with_columns(pl.when(pl.col("z") > 2.5).then(None).otherwise(pl.col("z")).alias("z"))
    return _write(frame, tmp_path)


def test_correlations_match_pandas_pairwise_complete(mixed: Path) -> None:
    profile = profile_dataset(mixed)
    ref = pl.read_parquet(mixed).to_pandas()
    numeric = ["x", "y", "z", "k"]
    assert profile.correlations.pearson.rows == numeric
    assert not profile.correlations.sampled and profile.correlations.pearson.exact
    for method, matrix in (("pearson", profile.correlations.pearson), ("spearman", profile.correlations.spearman)):
        expected = ref[numeric].corr(method=method)
        np.testing.assert_allclose(_matrix(matrix).to_numpy(), expected.to_numpy(), rtol=1e-9, atol=1e-12)


def test_cramers_v_and_correlation_ratio_match_definitions(mixed: Path) -> None:
    profile = profile_dataset(mixed)
    ref = pl.read_parquet(mixed).to_pandas()
    table = pd.crosstab(ref["colour"], ref["shade"]).to_numpy()
    chi2 = scipy.stats.chi2_contingency(table, correction=False).statistic
    expected_v = math.sqrt(chi2 / table.sum() / (min(table.shape) - 1))
    v = _matrix(profile.correlations.cramers_v)
    assert v.loc["colour", "shade"] == pytest.approx(expected_v, rel=1e-9)
    assert v.loc["shade", "colour"] == v.loc["colour", "shade"]
    assert v.loc["colour", "colour"] == 1.0

    eta = _matrix(profile.correlations.correlation_ratio)
    assert list(eta.columns) == ["colour", "shade"]
    sub = ref[["y", "colour"]].dropna()
    means = sub.groupby("colour")["y"].agg(["mean", "count"])
    between = float((means["count"] * (means["mean"] - sub["y"].mean()) ** 2).sum())
    total = float(((sub["y"] - sub["y"].mean()) ** 2).sum())
    assert eta.loc["y", "colour"] == pytest.approx(math.sqrt(between / total), rel=1e-9)


def test_duplicates_and_near_duplicates(tmp_path: Path) -> None:
    frame = pl.DataFrame(
        {
            "name": ["Ann", "Bob", "Ann", "ann ", "Cid", "Bob"],
            "value": [1.0, 2.0, 1.0, 1.0000001, 3.0, 2.0],
            "n": [1, 2, 1, 1, 3, 2],
        }
    )
    profile = profile_dataset(_write(frame, tmp_path))
    ref = frame.to_pandas()
    assert profile.dataset.duplicate_rows == int(ref.duplicated().sum()) == 2
    # "ann " and 1.0000001 equal row 0 once trimmed, lower-cased and rounded to 6 digits
    assert profile.dataset.near_duplicate_rows == 1
    types = {a.type for a in profile.alerts}
    assert {"DUPLICATES", "NEAR_DUPLICATES"} <= types


@settings(max_examples=25, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["a", "b", None]), st.sampled_from([1.0, 2.5, None, float("nan")]), st.integers(0, 2)),
        min_size=1,
        max_size=40,
    )
)
def test_duplicate_count_matches_pandas(tmp_path_factory: pytest.TempPathFactory, rows) -> None:
    frame = pl.DataFrame(rows, schema={"s": pl.String, "f": pl.Float64, "i": pl.Int64}, orient="row")
    path = _write(frame, tmp_path_factory.mktemp("dup"))
    profile = profile_dataset(path)
    ref = frame.to_pandas()
    assert profile.dataset.duplicate_rows == int(ref.duplicated().sum())
    assert profile.dataset.cells_missing == int(ref.isna().sum().sum())


def test_missingness_patterns_and_nullity_correlation(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    n = 300
    gone = rng.random(n) < 0.2
    frame = pl.DataFrame(
        {
            "a": np.where(gone, np.nan, 1.0),
            "b": pl.Series([None if g else "x" for g in gone], dtype=pl.String),
            "c": np.where(rng.random(n) < 0.1, np.nan, 2.0),
            "d": np.arange(n),
        }
    )
    profile = profile_dataset(_write(frame, tmp_path))
    miss = profile.missingness
    ref = frame.to_pandas().isna()
    assert miss.per_column == {k: int(v) for k, v in ref.sum().items()}
    assert miss.rows_with_missing == int(ref.any(axis=1).sum())
    top = miss.patterns[0]
    patterns = ref[ref.any(axis=1)].value_counts()
    assert top.rows == int(patterns.iloc[0])
    assert sum(p.rows for p in miss.patterns) == miss.rows_with_missing
    nullity = _matrix(miss.nullity_correlation)
    expected = ref[["a", "b", "c"]].astype(float).corr()
    np.testing.assert_allclose(nullity.to_numpy(), expected.to_numpy(), rtol=1e-9, atol=1e-12)
    assert nullity.loc["a", "b"] == pytest.approx(1.0)


def test_batches_give_the_same_profile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(9)
    n = 2000
    frame = pl.DataFrame(
        {
            "a": rng.integers(0, 3, n),
            "b": rng.choice(["x", "X", "y"], n),
            "c": rng.normal(size=n).round(1),
            "d": rng.choice([1.0, 1.0000001, 2.0], n),
        }
    )
    path = _write(frame, tmp_path)
    whole = profile_dataset(path)
    monkeypatch.setattr(profiler_module, "BATCH_BYTES", 1)  # one column per batch
    assert len(profiler_module._batches(pl.scan_parquet(path).collect_schema(), n)) == 4
    split = profile_dataset(path)
    assert split.dataset == whole.dataset
    assert split.columns == whole.columns
    assert split.correlations == whole.correlations
    assert whole.dataset.duplicate_rows == int(frame.to_pandas().duplicated().sum())


def test_sampled_correlations_are_marked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=5000)
    frame = pl.DataFrame({"x": x, "y": x + rng.normal(scale=0.1, size=5000)})
    monkeypatch.setattr(profiler_module, "CORRELATION_SAMPLE_ROWS", 1000)
    profile = profile_dataset(_write(frame, tmp_path))
    corr = profile.correlations
    assert corr.sampled and corr.sample_rows == 1000 and not corr.pearson.exact
    assert profile.approximations and profile.approximations[0].statistic == "correlations"
    exact = float(np.corrcoef(x, frame["y"].to_numpy())[0, 1])
    assert abs(corr.pearson.values[0][1] - exact) < 3 / math.sqrt(1000)
    # everything else stays exact
    assert profile.column("x").numeric.mean == pytest.approx(float(np.mean(x)), rel=1e-12)


def test_real_dataset_iris(tmp_path: Path) -> None:
    import sklearn

    csv = Path(sklearn.__file__).parent / "datasets" / "data" / "iris.csv"
    raw = pd.read_csv(csv, skiprows=1, header=None, names=["sl", "sw", "pl", "pw", "species"])
    path = _write(pl.from_pandas(raw).with_columns(pl.col("species").cast(pl.String)), tmp_path)
    profile = profile_dataset(path, semantic_types={"species": "categorical"}, target="species")
    assert profile.dataset.rows == 150
    assert profile.dataset.duplicate_rows == int(raw.duplicated().sum())
    assert profile.column("sl").numeric.mean == pytest.approx(raw["sl"].mean(), rel=1e-12)
    np.testing.assert_allclose(
        _matrix(profile.correlations.pearson).to_numpy(), raw[["sl", "sw", "pl", "pw"]].corr().to_numpy(), rtol=1e-9
    )
    # petal sizes separate the species well (correlation ratio 0.96-0.97), as strong drivers do: not a leak
    assert not [a for a in profile.alerts if a.type == "TARGET_LEAKAGE"]


def test_empty_dataset_and_single_row(tmp_path: Path) -> None:
    empty = pl.DataFrame({"a": pl.Series([], dtype=pl.Float64), "b": pl.Series([], dtype=pl.String)})
    profile = profile_dataset(_write(empty, tmp_path, "empty.parquet"))
    assert profile.dataset.rows == 0
    assert any(a.type == "EMPTY" and a.columns == [] for a in profile.alerts)
    assert profile.column("a").numeric.mean is None
    one = pl.DataFrame({"a": [1.5], "b": ["x"], "d": [date(2024, 1, 1)]})
    single = profile_dataset(_write(one, tmp_path, "one.parquet"))
    assert single.column("a").numeric.mean == 1.5 and single.column("a").numeric.std is None
    assert single.column("d").dates.range_seconds == 0
    assert single.dataset.duplicate_rows == 0


def test_contract_round_trip_and_progress(mixed: Path) -> None:
    seen: list[tuple[float, str]] = []
    profile = profile_dataset(mixed, progress=lambda f, m: seen.append((f, m)))
    again = Profile.model_validate_json(profile.model_dump_json())
    assert again == profile
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[0] == 0.0 and fractions[-1] == 1.0
    assert 0 <= profile.quality.score <= 100
    weights = sum(c.weight for c in profile.quality.components)
    assert profile.quality.score == pytest.approx(
        sum(c.score * c.weight for c in profile.quality.components) / weights, abs=0.01
    )


def test_bad_arguments(tmp_path: Path, mixed: Path) -> None:
    with pytest.raises(FileNotFoundError):
        profile_dataset(tmp_path / "missing.parquet")
    with pytest.raises(ValueError, match="target"):
        profile_dataset(mixed, target="nope")


column_values = st.lists(
    st.one_of(st.floats(-1e6, 1e6, allow_nan=False), st.just(float("nan")), st.integers(-3, 3).map(float)),
    min_size=3,
    max_size=30,
)


@settings(max_examples=50, deadline=None)
@given(st.integers(3, 30).flatmap(lambda n: st.lists(column_values.map(lambda v: (v * n)[:n]), min_size=2, max_size=4)))
def test_numeric_correlations_property(columns: list[list[float]]) -> None:
    from dsp_profile.domain.correlations import numeric_correlations

    names = [f"c{i}" for i in range(len(columns))]
    frame = pl.DataFrame(dict(zip(names, columns, strict=True)))
    pearson, spearman = numeric_correlations(frame, names, exact=True)
    ref = pd.DataFrame(dict(zip(names, columns, strict=True)))
    for got, method in ((pearson, "pearson"), (spearman, "spearman")):
        expected = ref.corr(method=method, min_periods=2).to_numpy()
        actual = _matrix(got).to_numpy()
        for i in range(len(names)):
            for j in range(len(names)):
                e, a = expected[i, j], actual[i, j]
                if np.isnan(e):
                    continue  # pandas gives NaN for constant pairs; the profile gives None (NaN here) or 1 on the diagonal
                assert a == pytest.approx(e, rel=1e-9, abs=1e-9), (method, i, j)


def test_a_column_named_count_is_profiled(tmp_path: Path) -> None:
    """Polars names a value table's counts ``count``: a column of that name must not clash with them."""
    path = tmp_path / "counts.parquet"
    pl.DataFrame({"count": ["a", "b", "a", None], "value": ["x", "x", "y", "z"]}).write_parquet(path)
    profile = profile_dataset(path)
    column = next(c for c in profile.columns if c.name == "count")
    assert (column.distinct, column.missing) == (2, 1)
    assert column.top_values[0].value == "a" and column.top_values[0].count == 2
