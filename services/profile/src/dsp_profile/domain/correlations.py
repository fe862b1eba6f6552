"""Pairwise association measures: Pearson, Spearman, Cramér's V, correlation ratio, nullity.

Numeric measures use, for each pair, the rows where both values are finite (pandas'
pairwise-complete convention); categorical measures use the rows where both are present.
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl
from shared_contracts.profile import CorrelationMatrix

from .numerics import rank_average as rankdata

__all__ = [
    "correlation_ratio",
    "cramers_v",
    "cramers_v_matrix",
    "correlation_ratio_matrix",
    "nullity_correlation",
    "nullity_from_counts",
    "numeric_correlations",
]

MAX_CATEGORIES = 200


def _pearson(x: np.ndarray, y: np.ndarray) -> float | None:
    n = x.size
    if n < 2:
        return None
    dx = x - x.mean()
    dy = y - y.mean()
    sxx = float(np.dot(dx, dx))
    syy = float(np.dot(dy, dy))
    if sxx == 0 or syy == 0 or not math.isfinite(sxx) or not math.isfinite(syy):
        return None
    denom = math.sqrt(sxx) * math.sqrt(syy)  # not sqrt(sxx * syy), which can underflow to 0
    if denom == 0:
        return None
    r = float(np.dot(dx, dy)) / denom
    if not math.isfinite(r):
        return None
    return max(-1.0, min(1.0, r))


def _corr_matrix(data: np.ndarray) -> list[list[float | None]]:
    """Pearson matrix of the columns of ``data`` (no missing values), None for constant columns."""
    centred = data - data.mean(axis=0)
    with np.errstate(all="ignore"):
        cov = centred.T @ centred
        scale = np.sqrt(np.diag(cov))
        corr = cov / np.outer(scale, scale)
    out: list[list[float | None]] = []
    for row in corr:
        out.append([float(min(1.0, max(-1.0, v))) if math.isfinite(v) else None for v in row])
    return out


def _own_ranks(cache: dict[int, np.ndarray], column: int, values: np.ndarray) -> np.ndarray:
    if column not in cache:
        cache[column] = rankdata(values)
    return cache[column]


def numeric_correlations(
    frame: pl.DataFrame, columns: list[str], *, exact: bool
) -> tuple[CorrelationMatrix, CorrelationMatrix] | None:
    """Pearson and Spearman matrices of numeric columns.

    Parameters
    ----------
    frame
        Rows to use (all rows or a sample) holding at least ``columns``.
    columns
        Numeric columns to correlate.
    exact
        Whether ``frame`` holds every row of the dataset (recorded in the result).

    Returns
    -------
    tuple of CorrelationMatrix or None
        Pearson and Spearman; None with fewer than two columns.
    """
    if len(columns) < 2:
        return None
    arrays = [frame[name].cast(pl.Float64).to_numpy().astype(np.float64, copy=False) for name in columns]
    finite = [np.isfinite(a) for a in arrays]
    complete = [bool(m.all()) for m in finite]
    k = len(columns)
    pearson: list[list[float | None]] = [[None] * k for _ in range(k)]
    spearman: list[list[float | None]] = [[None] * k for _ in range(k)]
    # columns without missing or infinite values share their rows: one matrix product each
    block = [i for i in range(k) if complete[i]]
    if len(block) >= 2:
        for target, data in (
            (pearson, np.column_stack([arrays[i] for i in block])),
            (spearman, np.column_stack([rankdata(arrays[i]) for i in block])),
        ):
            matrix = _corr_matrix(data)
            for a, i in enumerate(block):
                for b, j in enumerate(block):
                    target[i][j] = matrix[a][b]
    own_ranks: dict[int, np.ndarray] = {}  # an incomplete column ranked over its own finite rows
    for i in range(k):
        for j in range(i, k):
            if complete[i] and complete[j] and len(block) >= 2:
                continue
            both = finite[i] & finite[j]
            x, y = arrays[i][both], arrays[j][both]
            # paired with a complete column, an incomplete one keeps all its finite rows
            rx = _own_ranks(own_ranks, i, x) if complete[j] and not complete[i] else rankdata(x)
            ry = _own_ranks(own_ranks, j, y) if complete[i] and not complete[j] else rankdata(y)
            pearson[i][j] = pearson[j][i] = _pearson(x, y)
            spearman[i][j] = spearman[j][i] = _pearson(np.asarray(rx, dtype=np.float64), np.asarray(ry, dtype=np.float64))
    for i in range(k):
        pearson[i][i] = 1.0 if pearson[i][i] is not None else None
        spearman[i][i] = 1.0 if spearman[i][i] is not None else None
    rows = frame.height
    return (
        CorrelationMatrix(method="pearson", rows=columns, columns=columns, values=pearson, rows_used=rows, exact=exact),
        CorrelationMatrix(
            method="spearman", rows=columns, columns=columns, values=spearman, rows_used=rows, exact=exact
        ),
    )


def _codes(series: pl.Series) -> tuple[np.ndarray, int]:
    """Integer codes of a column's values (-1 for missing) and the number of categories."""
    missing = series.is_null()
    if series.dtype.is_float():
        missing = missing | series.is_nan().fill_null(False)
    codes = series.rank(method="dense").cast(pl.Int64) - 1
    codes = pl.select(pl.when(missing).then(-1).otherwise(codes)).to_series()
    arr = codes.fill_null(-1).to_numpy()
    n_cat = int(arr.max()) + 1 if arr.size else 0
    return arr, n_cat


def cramers_v(a: np.ndarray, na: int, b: np.ndarray, nb: int) -> float | None:
    """Cramér's V of two code arrays (code -1 = missing), without bias correction."""
    both = (a >= 0) & (b >= 0)
    a, b = a[both], b[both]
    n = a.size
    if n == 0:
        return None
    table = np.bincount(a * nb + b, minlength=na * nb).reshape(na, nb).astype(np.float64)
    table = table[table.sum(axis=1) > 0][:, table.sum(axis=0) > 0]
    r, c = table.shape
    if min(r, c) < 2:
        return None
    expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0, keepdims=True) / n
    chi2 = float(((table - expected) ** 2 / expected).sum())
    return min(1.0, math.sqrt(chi2 / n / (min(r, c) - 1)))


def correlation_ratio(codes: np.ndarray, n_cat: int, values: np.ndarray) -> float | None:
    """Correlation ratio eta of numeric ``values`` grouped by category ``codes``."""
    both = (codes >= 0) & np.isfinite(values)
    codes, values = codes[both], values[both]
    if values.size < 2:
        return None
    mean = values.mean()
    total = float(((values - mean) ** 2).sum())
    if total == 0 or not math.isfinite(total):
        return None
    counts = np.bincount(codes, minlength=n_cat)
    sums = np.bincount(codes, weights=values, minlength=n_cat)
    present = counts > 0
    group_means = sums[present] / counts[present]
    between = float((counts[present] * (group_means - mean) ** 2).sum())
    return min(1.0, math.sqrt(between / total))


def cramers_v_matrix(frame: pl.DataFrame, columns: list[str], *, exact: bool) -> CorrelationMatrix | None:
    """Cramér's V between every pair of categorical columns."""
    if len(columns) < 2:
        return None
    coded = [_codes(frame[c]) for c in columns]
    k = len(columns)
    values: list[list[float | None]] = [[None] * k for _ in range(k)]
    for i in range(k):
        values[i][i] = 1.0 if coded[i][1] >= 2 else None
        for j in range(i + 1, k):
            v = cramers_v(coded[i][0], coded[i][1], coded[j][0], coded[j][1])
            values[i][j] = values[j][i] = v
    return CorrelationMatrix(
        method="cramers_v", rows=columns, columns=columns, values=values, rows_used=frame.height, exact=exact
    )


def correlation_ratio_matrix(
    frame: pl.DataFrame, numeric: list[str], categorical: list[str], *, exact: bool
) -> CorrelationMatrix | None:
    """Correlation ratio of every numeric column (rows) against every categorical column."""
    if not numeric or not categorical:
        return None
    coded = [_codes(frame[c]) for c in categorical]
    nums = [frame[c].cast(pl.Float64).to_numpy().astype(np.float64, copy=False) for c in numeric]
    values = [[correlation_ratio(codes, n_cat, y) for codes, n_cat in coded] for y in nums]
    return CorrelationMatrix(
        method="correlation_ratio",
        rows=numeric,
        columns=categorical,
        values=values,
        rows_used=frame.height,
        exact=exact,
    )


def nullity_correlation(masks: dict[str, pl.Series], rows: int) -> CorrelationMatrix | None:
    """Pearson correlation of missing indicators, from counts (exact over all rows).

    Every co-missing count comes from one product of the indicator matrix with itself.
    """
    names = [n for n, m in masks.items() if 0 < int(m.sum()) < rows]
    if len(names) < 2:
        return None
    indicators = np.column_stack([masks[n].to_numpy() for n in names]).astype(np.float64)
    both = indicators.T @ indicators  # exact: integer counts well below 2**53
    del indicators
    return nullity_from_counts(names, both, rows)


def nullity_from_counts(names: list[str], both: np.ndarray, rows: int) -> CorrelationMatrix:
    """:func:`nullity_correlation` from the co-missing counts: ``both[i, j]`` rows miss ``names[i]`` and ``names[j]``."""
    totals = np.diag(both).copy()
    spread = np.sqrt(totals * (rows - totals))
    with np.errstate(all="ignore"):
        matrix = (rows * both - np.outer(totals, totals)) / np.outer(spread, spread)
    np.fill_diagonal(matrix, 1.0)
    values: list[list[float | None]] = matrix.tolist()
    return CorrelationMatrix(method="nullity", rows=names, columns=names, values=values, rows_used=rows, exact=True)
