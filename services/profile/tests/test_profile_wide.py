"""Wide files: the work per column does not grow with the width, and the shortcuts keep the statistics exact."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pytest
from dsp_ingest.domain import ingest_csv
from dsp_profile.domain import correlations, profile_dataset
from dsp_profile.domain.columns import profile_column


def _wide_csv(path: Path, columns: int, rows: int) -> Path:
    """As R's write.csv writes it: quoted header, a leading "" rownames column, bare NA."""
    rng = np.random.default_rng(columns)
    frame = {}
    for i in range(columns):
        if i % 25 == 0:
            values = rng.choice(["low", "mid", "high"], rows).astype(object)
            values[rng.random(rows) < 0.1] = None
            frame[f"g{i}"] = values
        else:
            v = rng.normal(size=rows).round(3)
            v[rng.random(rows) < 0.05] = np.nan
            frame[f"x{i}"] = v
    pd.DataFrame(frame, index=[str(r + 1) for r in range(rows)]).to_csv(path, na_rep="NA", quoting=1)
    text = path.read_text().replace('"NA"', "NA")
    path.write_text(text)
    return path


def _work_to_profile(csv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[int, object]:
    """Polars queries run plus pairwise statistics computed while ingesting and profiling ``csv``."""
    count = 0

    def counted(owner: object, name: str) -> None:
        original = getattr(owner, name)

        def wrapper(*args, **kwargs):
            nonlocal count
            count += 1
            return original(*args, **kwargs)

        monkeypatch.setattr(owner, name, wrapper)

    counted(pl.LazyFrame, "collect")
    counted(pl.LazyFrame, "_collect_eager")  # every eager DataFrame or Series operation
    for name in ("_pearson", "cramers_v", "correlation_ratio", "rankdata"):
        counted(correlations, name)
    parquet = tmp_path / f"{csv.stem}.parquet"
    try:
        report = ingest_csv(csv, parquet, max_columns=5000)  # past the default cap of 2,000: the profiler's scaling
        profile = profile_dataset(parquet, semantic_types={c.name: c.semantic_type for c in report.columns})
    finally:
        monkeypatch.undo()
    return count, profile


def test_work_per_column_does_not_grow_with_the_width(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    narrow_calls, narrow = _work_to_profile(_wide_csv(tmp_path / "w500.csv", 500, 40), tmp_path, monkeypatch)
    wide_calls, wide = _work_to_profile(_wide_csv(tmp_path / "w2000.csv", 2000, 40), tmp_path, monkeypatch)
    assert narrow.dataset.columns == 501 and wide.dataset.columns == 2001
    # linear work gives a ratio near 4; all-pairs work over the columns would give about 16
    assert wide_calls / narrow_calls < 5.5, (narrow_calls, wide_calls)
    pearson = wide.correlations.pearson
    assert pearson is not None and len(pearson.columns) == 100
    assert wide.missingness.nullity_correlation is not None
    assert len(wide.missingness.nullity_correlation.columns) == 100
    capped = {a.statistic for a in wide.approximations}
    assert {"pearson, spearman, correlation_ratio", "nullity_correlation"} <= capped
    # the coefficients kept are the pairwise-complete ones pandas gives on those columns
    data = pl.read_parquet(tmp_path / "w2000.parquet", columns=pearson.columns).to_pandas()
    expected = data.corr(method="pearson").to_numpy()
    got = np.array(pearson.values, dtype=float)
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)


def test_capped_matrices_keep_the_most_informative_columns(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    n = 300
    frame = pl.DataFrame({
        "coarse": rng.integers(0, 2, n).astype(np.float64),  # 1 bit
        "fine_a": rng.normal(size=n),
        "mid": rng.integers(0, 8, n).astype(np.float64),  # 3 bits
        "fine_b": rng.normal(size=n),
        "target": rng.normal(size=n).round(0),
    })
    path = tmp_path / "data.parquet"
    frame.write_parquet(path)
    profile = profile_dataset(path, target="target", max_correlation_columns=3)
    assert profile.correlations.pearson is not None
    # the target is always kept; then the two columns with the most entropy, in file order
    assert profile.correlations.pearson.columns == ["fine_a", "fine_b", "target"]
    expected = frame.select(["fine_a", "fine_b", "target"]).to_pandas().corr(method="spearman").to_numpy()
    np.testing.assert_allclose(np.array(profile.correlations.spearman.values, dtype=float), expected, rtol=1e-9)
    approximation = next(a for a in profile.approximations if a.statistic.startswith("pearson"))
    assert "3 of 5 numeric columns" in approximation.method
    uncapped = profile_dataset(path, target="target")
    assert uncapped.correlations.pearson.columns == frame.columns
    assert not uncapped.approximations


@pytest.mark.parametrize("dtype", [pl.Float64, pl.Float32])
def test_float_column_missing_counts_match_the_per_value_definition(dtype: pl.DataType) -> None:
    # null and NaN are both missing; NaN is also counted apart (numeric.nan)
    values = [1.5, None, float("nan"), -2.0, float("inf"), None, 1.5, float("nan"), 0.0]
    series = pl.Series("v", values, dtype=dtype)
    facts = profile_column(series, semantic_type=None)
    c = facts.profile
    assert c.missing == 4 and c.count == 5
    assert c.numeric.nan == 2 and c.numeric.infinite == 1 and c.numeric.zeros == 1
    assert facts.missing_mask.to_list() == [v is None or v != v for v in values]
    finite = np.array([1.5, -2.0, 1.5, 0.0])
    assert c.numeric.mean == pytest.approx(finite.mean())
    assert c.numeric.std == pytest.approx(finite.std(ddof=1))
    assert c.distinct == 4  # 1.5, -2, inf, 0
    assert c.numeric.monotonicity == "none"


def test_integer_column_with_nulls_keeps_full_precision() -> None:
    big = 2**62 + 1
    series = pl.Series("i", [big, None, big + 2, 3], dtype=pl.Int64)
    facts = profile_column(series, semantic_type=None)
    assert facts.profile.missing == 1
    assert facts.missing_mask.to_list() == [False, True, False, False]
    assert {v.value for v in facts.profile.top_values} == {big, big + 2, 3}
