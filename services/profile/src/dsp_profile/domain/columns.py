"""Per-column statistics.

Numeric statistics are computed in numpy from one sort of the finite values: every order
statistic (quantiles, median, MAD, histogram, distinct and unique counts, outlier counts,
top values) then comes from the sorted array by index or binary search, and the moments
follow the two-pass formulas of numpy/scipy on the values in row order, so the results
match the numpy/scipy/pandas references to rounding.
"""

from __future__ import annotations

import math
import string
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeGuard, get_args
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl
import pyarrow as pa
from shared_contracts.profile import (
    ColumnProfile,
    DateStats,
    Histogram,
    Monotonicity,
    NumericStats,
    SemanticType,
    StringStats,
    ValueCount,
)

__all__ = [
    "profile_taken_column",
    "HISTOGRAM_BINS",
    "TOP_VALUES",
    "ColumnFacts",
    "infer_semantic_type",
    "numeric_stats",
    "profile_column",
    "value_counts",
]

TOP_VALUES = 10
# a decimal number, possibly signed, with exponent or surrounding spaces (tested without copying the strings)
_NUMBER = r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$"
SENTINEL_NUMBERS = (-9999999.0, -999999.0, -99999.0, -9999.0, -999.0, -99.0, 9999999.0, 999999.0, 99999.0, 9999.0, 999.0)
"""Numbers commonly used as codes for a missing value."""
_SEMANTIC_TYPES = frozenset(get_args(SemanticType))
HISTOGRAM_BINS = 30
_MAD_NORMAL = 1.4826
_MAD_Z = 3.5

NUMERIC_SEMANTICS = frozenset({"integer", "float", "currency", "percent", "latitude", "longitude"})
CATEGORICAL_SEMANTICS = frozenset({"categorical", "boolean"})
TEXT_SEMANTICS = frozenset({"text", "email", "url", "identifier", "categorical"})


@dataclass
class ColumnFacts:
    """A column's profile plus the intermediate results later stages (alerts) reuse."""

    profile: ColumnProfile
    missing_mask: pl.Series | None = None
    value_counts: pl.DataFrame | None = field(default=None, repr=False)
    is_numeric: bool = False
    is_temporal: bool = False
    is_string: bool = False
    rounding_merges: bool = False
    case_merges: bool = False
    sentinel_counts: dict[float, int] = field(default_factory=dict)
    entropy: float = 0.0
    """Shannon entropy in bits of the column's values, a missing value counting as one more value."""


def entropy_bits(counts: np.ndarray) -> float:
    """Shannon entropy in bits of the distribution given by ``counts`` (zeros ignored)."""
    counts = np.asarray(counts, dtype=np.float64)
    total = counts.sum()
    if total <= 0:
        return 0.0
    p = counts[counts > 0] / total
    return float(-(p * np.log2(p)).sum())


def _with_missing(entropy: float, present: int, missing: int) -> float:
    """Entropy of the values plus the missing ones (chain rule: h(missing share) + share present * H)."""
    rows = present + missing
    if rows == 0:
        return 0.0
    q = missing / rows
    return entropy_bits(np.array([missing, present])) + (1 - q) * entropy


def _is_numeric_dtype(dtype: pl.DataType) -> bool:
    return dtype.is_numeric() and not isinstance(dtype, pl.Decimal)


def infer_semantic_type(dtype: pl.DataType, *, distinct: int, count: int) -> SemanticType:
    """A semantic type from a Polars dtype and cardinality, when ingest gave none.

    Parameters
    ----------
    dtype
        The column's Polars dtype.
    distinct
        Distinct non-missing values.
    count
        Non-missing values.

    Returns
    -------
    SemanticType
        One of the semantic types of :data:`shared_contracts.profile.SemanticType`.
    """
    if dtype == pl.Boolean:
        return "boolean"
    if dtype.is_integer():
        return "integer"
    if dtype.is_float() or isinstance(dtype, pl.Decimal):
        return "float"
    if dtype == pl.Date:
        return "date"
    if isinstance(dtype, pl.Datetime):
        return "datetime"
    if isinstance(dtype, pl.Categorical | pl.Enum):
        return "categorical"
    if dtype == pl.String:
        if count and distinct <= max(50, int(0.05 * count)) and distinct < count:
            return "categorical"
        return "text"
    return "unsupported"


def _is_semantic_type(value: str | None) -> TypeGuard[SemanticType]:
    return value in _SEMANTIC_TYPES


def _none_if_nan(value: float | np.floating[Any] | None) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _monotonicity(values: np.ndarray) -> Monotonicity:
    if values.size < 2:
        return "constant" if values.size == 1 else "none"
    prev, nxt = values[:-1], values[1:]
    if np.all(nxt == prev):
        return "constant"
    if np.all(nxt > prev):
        return "strictly_increasing"
    if np.all(nxt >= prev):
        return "increasing"
    if np.all(nxt < prev):
        return "strictly_decreasing"
    if np.all(nxt <= prev):
        return "decreasing"
    return "none"


def _quantile_sorted(sorted_values: np.ndarray, q: float) -> float:
    """``numpy.quantile(..., method="linear")`` on already sorted values."""
    n = sorted_values.size
    pos = q * (n - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, n - 1)
    frac = pos - lo
    a, b = float(sorted_values[lo]), float(sorted_values[hi])
    # numpy's _lerp: a + (b - a) * t, computed from the upper end when t >= 0.5
    diff = b - a
    if frac >= 0.5:
        return b - diff * (1 - frac)
    return a + diff * frac


def _runs(sorted_values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start indices and lengths of runs of equal values in a sorted array."""
    if sorted_values.size == 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    change = np.flatnonzero(sorted_values[1:] != sorted_values[:-1]) + 1
    starts = np.concatenate(([0], change))
    lengths = np.diff(np.concatenate((starts, [sorted_values.size])))
    return starts, lengths


def _top_from_runs(sorted_values: np.ndarray, starts: np.ndarray, lengths: np.ndarray, k: int) -> list[tuple[Any, int]]:
    if lengths.size == 0:
        return []
    k = min(k, lengths.size)
    pick = np.argpartition(-lengths, k - 1)[:k] if lengths.size > k else np.arange(lengths.size)
    # most frequent first, ties by value order
    pick = pick[np.lexsort((pick, -lengths[pick]))]
    return [(sorted_values[starts[i]].item(), int(lengths[i])) for i in pick]


def histogram_sorted(sorted_values: np.ndarray, bins: int) -> Histogram | None:
    """``numpy.histogram(values, bins)`` computed by binary search on sorted finite values."""
    if sorted_values.size == 0:
        return None
    lo, hi = float(sorted_values[0]), float(sorted_values[-1])
    if lo == hi:
        lo, hi = lo - 0.5, hi + 0.5
    with np.errstate(all="ignore"):
        edges = np.linspace(lo, hi, bins + 1, endpoint=True)
    if not np.all(np.isfinite(edges)) or np.any(edges[:-1] >= edges[1:]):
        return None  # the range is too small (or too large) to split at this precision
    positions = np.searchsorted(sorted_values, edges, side="left")
    positions[-1] = sorted_values.size
    counts = np.diff(positions)
    return Histogram(edges=edges.tolist(), counts=counts.astype(np.int64).tolist())


@dataclass
class _Numeric:
    stats: NumericStats
    histogram: Histogram | None
    distinct: int
    unique: int
    top: list[tuple[Any, int]]
    rounding_merges: bool = False
    sentinel_counts: dict[float, int] = field(default_factory=dict)
    entropy: float = 0.0


def round_significant(values: np.ndarray, digits: int = 6) -> np.ndarray:
    """Round to ``digits`` significant digits (zeros, infinities and NaN unchanged)."""
    with np.errstate(all="ignore"):
        factor = np.abs(values)
        np.log10(factor, out=factor)
        np.floor(factor, out=factor)
        factor[~np.isfinite(factor)] = 0.0
        np.subtract(digits - 1, factor, out=factor)
        np.power(10.0, factor, out=factor)
        rounded = values * factor
        np.round(rounded, out=rounded)
        np.divide(rounded, factor, out=rounded)
    del factor
    np.copyto(rounded, values, where=~np.isfinite(rounded))
    return rounded


def numeric_stats(values: np.ndarray, *, bins: int = HISTOGRAM_BINS) -> _Numeric:
    """Statistics of a 1-D array of non-missing numbers (may hold NaN and infinities).

    NaN values are counted in ``nan`` and otherwise ignored; infinities are counted and
    excluded from every moment and order statistic.
    """
    as_float = values.astype(np.float64, copy=False)
    nan_mask = np.isnan(as_float)
    nan_count = int(nan_mask.sum())
    present = values[~nan_mask] if nan_count else values
    present_f = as_float[~nan_mask] if nan_count else as_float
    finite_mask = np.isfinite(present_f)
    infinite = int(present_f.size - finite_mask.sum())
    finite = present_f[finite_mask] if infinite else present_f
    n = int(finite.size)
    zeros = int(np.count_nonzero(present_f == 0))
    negatives = int(np.count_nonzero(present_f < 0))

    # distinct values and their counts on the values as stored (an Int64 keeps full precision)
    present_sorted = np.sort(present)
    starts, lengths = _runs(present_sorted)
    top = _top_from_runs(present_sorted, starts, lengths, TOP_VALUES)
    distinct = int(lengths.size)
    unique = int(np.count_nonzero(lengths == 1))
    entropy = entropy_bits(lengths)
    if present.dtype == np.float64 and not infinite:
        sorted_finite = present_sorted
    elif present.dtype.kind in "iub":
        sorted_finite = present_sorted.astype(np.float64)  # the cast keeps the order
    else:
        sorted_finite = np.sort(finite)
    stats = NumericStats(
        finite=n,
        zeros=zeros,
        negatives=negatives,
        infinite=infinite,
        nan=nan_count,
        monotonicity=_monotonicity(present),
    )
    if n == 0:
        return _Numeric(stats, None, distinct, unique, top, entropy=entropy)

    with np.errstate(all="ignore"):
        mean = float(np.mean(finite))
    stats.min = float(sorted_finite[0])
    stats.max = float(sorted_finite[-1])
    stats.range = _none_if_nan(stats.max - stats.min)
    with np.errstate(all="ignore"):
        stats.sum = _none_if_nan(float(np.sum(finite)))
    stats.mean = _none_if_nan(mean)
    with np.errstate(all="ignore"):
        dev = finite - mean
        dev2 = dev * dev
        # numpy scalars, so that overflow gives inf (then None) rather than an exception
        m2 = np.mean(dev2)
        if n > 1:
            variance = np.sum(dev2) / (n - 1)
            stats.variance = _none_if_nan(variance)
            stats.std = _none_if_nan(np.sqrt(variance)) if stats.variance is not None else None
            if stats.std is not None and mean != 0:
                stats.cv = _none_if_nan(stats.std / abs(mean))
        if m2 > (np.finfo(np.float64).eps * np.float64(mean)) ** 2:
            # in place, in scipy's order of operations: d * d**2, then (d**2)**2
            np.multiply(dev, dev2, out=dev)
            m3 = np.mean(dev)
            np.multiply(dev2, dev2, out=dev2)
            m4 = np.mean(dev2)
            stats.skewness = _none_if_nan(m3 / m2**1.5)
            stats.kurtosis = _none_if_nan(m4 / m2**2.0 - 3.0)
    del dev, dev2

    with np.errstate(all="ignore"):
        p5, p25, p50, p75, p95 = (_quantile_sorted(sorted_finite, q) for q in (0.05, 0.25, 0.5, 0.75, 0.95))
    stats.p5, stats.p25, stats.p50, stats.p75, stats.p95 = (_none_if_nan(v) for v in (p5, p25, p50, p75, p95))
    iqr = p75 - p25
    stats.iqr = _none_if_nan(iqr)
    with np.errstate(all="ignore"):
        mad = float(np.median(np.abs(finite - p50)))
    stats.mad = _none_if_nan(mad)
    if math.isfinite(iqr):
        low, high = p25 - 1.5 * iqr, p75 + 1.5 * iqr
        stats.outliers_iqr = int(
            np.searchsorted(sorted_finite, low, side="left") + n - np.searchsorted(sorted_finite, high, side="right")
        )
    if mad > 0 and math.isfinite(mad):
        reach = _MAD_Z * _MAD_NORMAL * mad
        stats.outliers_mad = int(
            np.searchsorted(sorted_finite, p50 - reach, side="left")
            + n
            - np.searchsorted(sorted_finite, p50 + reach, side="right")
        )
    hist = histogram_sorted(sorted_finite, min(bins, max(distinct, 1)))
    merges = False
    if present.dtype.kind == "f" and distinct > 1:
        # rounding is monotone, so the rounded sorted values are sorted: count their runs
        rounded = round_significant(present_sorted)
        merges = int(np.count_nonzero(rounded[1:] != rounded[:-1])) + 1 < distinct
    sentinels = {}
    for code in SENTINEL_NUMBERS:
        hits = int(np.searchsorted(sorted_finite, code, side="right") - np.searchsorted(sorted_finite, code, side="left"))
        if hits:
            sentinels[code] = hits
    return _Numeric(stats, hist, distinct, unique, top, merges, sentinels, entropy)


# character classes of the ASCII bytes, as the regular expressions of the non-ASCII path define them
_LETTER, _DIGIT, _SPACE, _PUNCT, _UPPER, _LOWER, _NOT_NUMERIC = (1 << i for i in range(7))
_CLASS_REGEX = {
    "with_letters": (r"\p{L}", _LETTER),
    "with_digits": (r"\d", _DIGIT),
    "with_spaces": (r"\s", _SPACE),
    "with_punctuation": (r"[\p{P}\p{S}]", _PUNCT),
    "with_uppercase": (r"\p{Lu}", _UPPER),
    "with_lowercase": (r"\p{Ll}", _LOWER),
}


def _ascii_classes() -> np.ndarray:
    table = np.full(128, _NOT_NUMERIC, dtype=np.uint8)
    for code in range(128):
        char = chr(code)
        if "A" <= char <= "Z":
            table[code] |= _LETTER | _UPPER
        elif "a" <= char <= "z":
            table[code] |= _LETTER | _LOWER
        elif "0" <= char <= "9":
            table[code] = _DIGIT
        elif char in "\t\n\x0b\x0c\r ":  # Unicode White_Space, the ASCII part
            table[code] = _SPACE
        elif char in string.punctuation:  # every ASCII punctuation mark or symbol (\p{P} or \p{S})
            table[code] |= _PUNCT
        if char in "+-.eE":
            table[code] &= ~np.uint8(_NOT_NUMERIC)
    return table


_ASCII_CLASSES = _ascii_classes()


def _ascii_flags(values: pl.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per ASCII string: the classes of its characters (OR of the bytes), of its first and its last byte.

    One vectorised pass over the bytes instead of one regular expression per class.
    """
    array = values.rechunk().to_arrow()
    if not pa.types.is_large_string(array.type):
        array = array.cast(pa.large_string())
    _validity, offsets_buf, data_buf = array.buffers()
    offsets = np.frombuffer(offsets_buf, dtype=np.int64)[array.offset : array.offset + len(array) + 1]
    data = np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None else np.empty(0, np.uint8)
    classes = _ASCII_CLASSES[data[offsets[0] : offsets[-1]]]
    starts = offsets[:-1] - offsets[0]
    lengths = np.diff(offsets)
    filled = lengths > 0
    flags = np.zeros(len(array), dtype=np.uint8)
    first = np.zeros(len(array), dtype=np.uint8)
    last = np.zeros(len(array), dtype=np.uint8)
    if filled.any():
        begin = starts[filled]
        flags[filled] = np.bitwise_or.reduceat(classes, begin)
        first[filled] = classes[begin]
        last[filled] = classes[begin + lengths[filled] - 1]
    return flags, first, last


def _class_counts(vc: pl.DataFrame, value_col: str, ascii: np.ndarray) -> dict[str, int]:
    """Values (weighted by their counts) with a letter, a digit, ..., or that read as a number.

    ASCII values are classified from their bytes; the others, usually few, by regular expressions.
    A value can read as a number only if each of its characters can be part of one, so the number
    pattern runs on those candidates alone.
    """
    counts = vc["count"].to_numpy()
    plain = vc.filter(pl.Series(ascii))
    plain_counts = counts[ascii]
    flags, first, last = _ascii_flags(plain[value_col])
    found = {name: int(plain_counts[(flags & bit) > 0].sum()) for name, (_, bit) in _CLASS_REGEX.items()}
    found["whitespace_padded"] = int(plain_counts[((first | last) & _SPACE) > 0].sum())
    candidates = ((flags & _NOT_NUMERIC) == 0) & ((flags & _DIGIT) > 0)
    found["numeric_like"] = int(
        plain.filter(pl.Series(candidates)).select(pl.col("count").filter(pl.col(value_col).str.contains(_NUMBER)).sum()).item()
    ) if candidates.any() else 0
    found["non_ascii"] = 0
    if not ascii.all():
        v, w = pl.col(value_col), pl.col("count")
        other = vc.filter(pl.Series(~ascii)).select(
            *(w.filter(v.str.contains(pattern)).sum().alias(name) for name, (pattern, _) in _CLASS_REGEX.items()),
            w.filter(v.str.contains(r"^\s|\s$")).sum().alias("whitespace_padded"),
            w.filter(v.str.contains(_NUMBER)).sum().alias("numeric_like"),
            w.sum().alias("non_ascii"),
        ).row(0, named=True)
        for name, value in other.items():
            found[name] += int(value)
    return found


def value_counts(series: pl.Series) -> pl.DataFrame | None:
    """The exact (value, count) table of a non-numeric column's non-missing values; None for unhashable values.

    The distinct and unique counts, the entropy, the top values and the string statistics of a
    non-numeric column all come from this table (a numeric column's, with its quantiles, from the
    one sort in :func:`numeric_stats`): these two functions are where an approximate path plugs in.
    """
    try:
        # on the whole column, then without the null group: no copy of the non-null values; the values are named
        # "value", since a column named "count" would clash with the counts
        return series.rename("value").value_counts(sort=False, name="count").drop_nulls("value")
    except pl.exceptions.PolarsError:
        return None


def _string_stats(vc: pl.DataFrame, value_col: str) -> StringStats:
    """String statistics from a (value, count) table of the non-missing values."""
    if vc.height == 0:
        return StringStats()
    v = pl.col(value_col)
    w = pl.col("count")
    total = int(vc["count"].sum())
    sizes = vc.select(v.str.len_chars().alias("chars"), v.str.len_bytes().alias("bytes"))
    chars = sizes["chars"]
    agg: dict[str, Any] = {
        "min_length": chars.min(),
        "max_length": chars.max(),
        "empty": int(vc["count"].filter(chars == 0).sum()),
    }
    len_sum = float((chars.cast(pl.Float64) * vc["count"]).sum())
    # a UTF-8 string is ASCII exactly when it has as many bytes as characters
    agg.update(_class_counts(vc, value_col, (sizes["bytes"] == chars).to_numpy()))
    lengths = pl.DataFrame({"len": chars, "count": vc["count"]}).group_by("len").agg(w.sum()).sort("len")
    cum = np.cumsum(lengths["count"].to_numpy())
    lens = lengths["len"].to_numpy()
    # median of the lengths, as numpy.median of the expanded lengths
    mid = (total - 1) / 2
    lo = lens[np.searchsorted(cum, math.floor(mid) + 1)]
    hi = lens[np.searchsorted(cum, math.ceil(mid) + 1)]
    hist = None
    if lens.size:
        expanded_edges = int(lens[-1] - lens[0]) + 1
        bins = max(1, min(HISTOGRAM_BINS, expanded_edges))
        hist = _weighted_histogram(lens.astype(np.float64), lengths["count"].to_numpy(), bins)
    return StringStats(
        **agg,
        mean_length=float(len_sum) / total,
        median_length=(float(lo) + float(hi)) / 2,
        length_histogram=hist,
    )


def _weighted_histogram(sorted_values: np.ndarray, weights: np.ndarray, bins: int) -> Histogram:
    lo, hi = float(sorted_values[0]), float(sorted_values[-1])
    if lo == hi:
        lo, hi = lo - 0.5, hi + 0.5
    edges = np.linspace(lo, hi, bins + 1)
    cum = np.concatenate(([0], np.cumsum(weights)))
    positions = np.searchsorted(sorted_values, edges, side="left")
    positions[-1] = sorted_values.size
    counts = np.diff(cum[positions])
    return Histogram(edges=edges.tolist(), counts=counts.astype(np.int64).tolist())


_FREQUENCIES: list[tuple[str, float, float]] = [
    # alias, min step seconds, max step seconds
    ("S", 1, 1),
    ("min", 60, 60),
    ("h", 3600, 3600),
    ("D", 86400, 86400),
    ("W", 7 * 86400, 7 * 86400),
    ("M", 28 * 86400, 31 * 86400),
    ("Q", 89 * 86400, 92 * 86400),
    ("Y", 365 * 86400, 366 * 86400),
]


def _now_for(dtype: pl.DataType, now: datetime) -> date | datetime:
    """The time of profiling as a value of a Date/Datetime column compares with: a date, a wall-clock datetime
    (for a column without a time zone), or the instant in the column's own zone (polars compares no other)."""
    if dtype == pl.Date:
        return now.date()
    tz = getattr(dtype, "time_zone", None)
    return now.astimezone(ZoneInfo(tz)) if tz else now.replace(tzinfo=None)


def _date_stats(values: pl.Series, now: datetime) -> DateStats:
    """Range, gaps and frequency of the non-missing values of a Date/Datetime series."""
    if values.len() == 0:
        return DateStats()
    distinct = values.unique().sort()
    as_dt = distinct.cast(pl.Datetime("us")) if values.dtype == pl.Date else distinct
    micros = as_dt.dt.epoch("us").to_numpy()
    lo, hi = as_dt[0], as_dt[-1]
    tz = getattr(values.dtype, "time_zone", None)
    # the contract writes a zoned column's bounds in UTC and a wall-clock one as it is (DateStats)
    stats = DateStats(min=lo, max=hi, time_zone=tz, range_seconds=(int(micros[-1]) - int(micros[0])) / 1e6)
    stats.future_values = int((values > _now_for(values.dtype, now)).sum())
    if micros.size < 2:
        return stats
    steps = np.diff(micros) / 1e6
    stats.distinct_steps = int(np.unique(steps).size)
    median_step = float(np.median(steps))
    stats.median_step_seconds = median_step
    stats.largest_gap_seconds = float(steps.max())
    freq, expected = None, median_step
    for alias, lo_s, hi_s in _FREQUENCIES:
        if lo_s <= median_step <= hi_s:
            freq, expected = alias, hi_s
            break
    if freq in ("M", "Q", "Y"):
        days = as_dt.dt.day()
        if (days == 1).all():
            freq += "S"
        elif (as_dt.dt.month_end().dt.day() == days).all():
            freq += "E"
        else:
            freq = None
    regular_share = float(np.mean(steps <= expected)) if freq else 0.0
    if freq and regular_share >= 0.9:
        stats.frequency = freq
    stats.gaps = int(np.count_nonzero(steps > 1.5 * expected))
    return stats


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


def profile_column(
    series: pl.Series,
    *,
    semantic_type: str | None,
    now: datetime | None = None,
) -> ColumnFacts:
    """Profile one column.

    Parameters
    ----------
    series
        The column, as read from the Parquet file.
    semantic_type
        Semantic type from ingest; inferred from the dtype and cardinality when None.
    now
        The time "future values" are counted against (defaults to the current time).

    Returns
    -------
    ColumnFacts
        The column profile and reusable intermediates.
    """
    return profile_taken_column([series], semantic_type=semantic_type, now=now)


def profile_taken_column(
    holder: list[pl.Series],
    *,
    semantic_type: str | None,
    now: datetime | None = None,
) -> ColumnFacts:
    """:func:`profile_column` on the single column in ``holder``, which it takes out.

    When the caller keeps no other reference, the column's memory is released as soon as its
    value counts are built, which lowers the peak on large text columns.
    """
    series = holder.pop()
    now = now or datetime.now(UTC)
    # a type unknown to this version of the contract is inferred, as a missing one
    given: SemanticType | None = semantic_type if _is_semantic_type(semantic_type) else None
    dtype = series.dtype
    rows = series.len()
    nulls = series.null_count()  # from the validity bitmap: no pass over the values
    has_nulls = nulls > 0
    values: np.ndarray | None = None
    if dtype.is_float():
        # in numpy a null reads as NaN, so one isnan gives the missing mask (null or NaN)
        as_array = series.to_numpy()
        nan_mask = np.isnan(as_array)
        missing = int(np.count_nonzero(nan_mask))
        missing_mask = pl.Series(series.name, nan_mask) if missing else None
        values = as_array[~nan_mask] if missing else as_array
        nan_count = missing - nulls
        del as_array, nan_mask
    else:
        missing = nulls
        missing_mask = series.is_null() if has_nulls else None
    null_mask = missing_mask if not dtype.is_float() else None
    count = rows - missing
    memory = int(series.estimated_size())
    facts = ColumnFacts(profile=None, missing_mask=missing_mask)  # type: ignore[arg-type]
    base: dict[str, Any] = {
        "name": series.name,
        "physical_type": str(dtype),
        "count": count,
        "missing": missing,
        "missing_fraction": missing / rows if rows else 0.0,
        "memory_bytes": memory,
    }

    if _is_numeric_dtype(dtype) and dtype != pl.Boolean:
        if values is None:
            values = (series.drop_nulls() if has_nulls else series).to_numpy()
        num = numeric_stats(values)
        if dtype.is_float():
            num.stats.nan = nan_count  # the NaN were taken out with the nulls above
        semantic = given or infer_semantic_type(dtype, distinct=num.distinct, count=count)
        facts.is_numeric = True
        facts.rounding_merges = num.rounding_merges
        facts.sentinel_counts = num.sentinel_counts
        facts.entropy = _with_missing(num.entropy, count, missing)
        facts.profile = ColumnProfile(
            **base,
            semantic_type=semantic,
            distinct=num.distinct,
            distinct_fraction=num.distinct / count if count else 0.0,
            unique=num.unique,
            top_values=[ValueCount(value=_json_value(v), count=c) for v, c in num.top],
            numeric=num.stats,
            histogram=num.histogram,
        )
        return facts

    if dtype == pl.Null:
        facts.profile = ColumnProfile(
            **base,
            semantic_type=given or "unsupported",
            distinct=0,
            distinct_fraction=0.0,
            unique=0,
        )
        return facts

    vc = value_counts(series)
    if dtype == pl.Boolean:
        true_count = int(series.sum())
    dates = _date_stats(series.drop_nulls() if has_nulls else series, now) if dtype == pl.Date or isinstance(dtype, pl.Datetime) else None
    del series, null_mask  # every later figure comes from the value counts
    if vc is None:
        facts.profile = ColumnProfile(
            **base, semantic_type=given or "unsupported", distinct=0, distinct_fraction=0.0, unique=0
        )
        return facts
    value_col = vc.columns[0]
    distinct = vc.height
    unique = int((vc["count"] == 1).sum())
    facts.entropy = _with_missing(entropy_bits(vc["count"].to_numpy()), count, missing)
    # most frequent first, ties by value; a full sort only when it is cheap
    try:
        ranked = (
            vc.sort(["count", value_col], descending=[True, False], nulls_last=True)
            if distinct <= 100_000
            else vc.top_k(1_000, by=["count", value_col], reverse=[False, True])
        )
    except pl.exceptions.PolarsError:  # values without an order (lists, structs)
        ranked = vc.sort("count", descending=True) if distinct <= 100_000 else vc.top_k(1_000, by="count")
    top = [
        ValueCount(value=_json_value(v), count=int(c))
        for v, c in zip(
            ranked[value_col].head(TOP_VALUES).to_list(), ranked["count"].head(TOP_VALUES).to_list(), strict=True
        )
    ]
    semantic = given or infer_semantic_type(dtype, distinct=distinct, count=count)
    extra: dict[str, Any] = {}
    if dtype == pl.Boolean:
        extra["boolean_true"] = true_count
    elif dtype in (pl.String, pl.Categorical) or isinstance(dtype, pl.Enum | pl.Categorical):
        as_string = pl.col(value_col).cast(pl.String)
        strings = extra["strings"] = _string_stats(vc.with_columns(as_string), value_col)
        facts.is_string = True
        if strings.with_uppercase or strings.whitespace_padded:
            folded = vc.select(as_string.str.strip_chars().str.to_lowercase().n_unique()).item()
            facts.case_merges = folded < distinct
        # alerts look at every distinct value of a categorical column, at the most frequent of a text column
        facts.value_counts = ranked.with_columns(as_string)
    elif dtype == pl.Date or isinstance(dtype, pl.Datetime):
        extra["dates"] = dates
        facts.is_temporal = True
    if facts.value_counts is None and distinct <= 10_000:
        facts.value_counts = ranked
    facts.profile = ColumnProfile(
        **base,
        semantic_type=semantic,
        distinct=distinct,
        distinct_fraction=distinct / count if count else 0.0,
        unique=unique,
        top_values=top,
        **extra,
    )
    return facts
