"""Per-column summaries of a stream of row chunks that merge: the profile of data larger than memory.

Each chunk of a column updates a :class:`ColumnSketch`; two sketches of different chunks (or of
different partitions, on other machines) :meth:`~ColumnSketch.merge` into the sketch of both. What
is cheap to keep exactly is exact: counts of missing, NaN, infinite, zero and negative values,
minimum, maximum, sum, the moments (mean, variance, skewness, kurtosis, merged with the pairwise
formulas of Chan and Pébay: exact up to floating-point rounding), string lengths and character
classes, future dates, monotonicity. The rest come from Apache DataSketches:

* distinct counts: HLL (:data:`HLL_LG_K`);
* quantiles, MAD, outlier counts and the histogram: KLL (:data:`KLL_K`);
* the most frequent values: the frequent-items sketch (:data:`FREQUENT_LG_MAX_K`).

A column's values are counted exactly while it has at most :data:`EXACT_DISTINCT_VALUES` distinct
values (its distinct, unique and top values, and the step statistics of a date column, are then
exact); past that the counts are replaced by the HLL and frequent-items sketches. Every estimated
figure is named in the column's ``approximate`` list and bounded in an
:class:`~shared_contracts.profile.Approximation` (see :func:`approximations`).

Examples
--------
>>> import polars as pl
>>> a, b = ColumnSketch.empty(pl.Float64), ColumnSketch.empty(pl.Float64)
>>> a.update(pl.Series("x", [1.0, 2.0, None])); b.update(pl.Series("x", [3.0, 4.0]))
>>> whole = a.merge(b)
>>> whole.rows, whole.missing, whole.numeric.moments.mean
(5, 1, 2.5)
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import datasketches as ds
import numpy as np
import polars as pl
from shared_contracts.profile import (
    Approximation,
    ColumnProfile,
    DateStats,
    Histogram,
    NumericStats,
    StringStats,
    ValueCount,
)

from .columns import (
    HISTOGRAM_BINS,
    SENTINEL_NUMBERS,
    TOP_VALUES,
    ColumnFacts,
    _date_stats,
    _is_semantic_type,
    _json_value,
    _now_for,
    _string_stats,
    _weighted_histogram,
    _with_missing,
    entropy_bits,
    infer_semantic_type,
)

__all__ = [
    "EXACT_DISTINCT_VALUES",
    "FREQUENT_LG_MAX_K",
    "HLL_LG_K",
    "KLL_K",
    "ColumnSketch",
    "Moments",
    "approximations",
]

HLL_LG_K = 14
"""log2 of the HLL sketch's registers: a relative error of at most about 2.4 % at three standard deviations."""
HLL_STD_DEVS = 3
KLL_K = 400
"""KLL accuracy parameter: a rank error of about 0.68 % (quantiles) and 0.86 % (histogram bins), at 99 %."""
KLL_CONFIDENCE = 0.99
FREQUENT_LG_MAX_K = 12
"""log2 of the frequent-items sketch's map: a count error of at most 0.085 % of the values."""
EXACT_DISTINCT_VALUES = 100_000
"""A column's values are counted exactly up to this many distinct values; sketched past it."""
_HLL_CONFIDENCE = 0.997


def hll_relative_error() -> float:
    """The HLL sketch's relative error bound at :data:`HLL_STD_DEVS` standard deviations.

    The bound of a union of sketches (merged chunks), which is the wider one: a sketch fed in one piece
    has a smaller error.
    """
    return abs(float(ds.hll_sketch.get_rel_err(False, True, HLL_LG_K, HLL_STD_DEVS)))


def kll_rank_error(*, pmf: bool = False) -> float:
    """The KLL sketch's normalised rank error (99 % confidence): of a quantile, or of a histogram bin's share."""
    return float(ds.kll_doubles_sketch.get_normalized_rank_error(KLL_K, pmf))


def frequent_epsilon() -> float:
    """The frequent-items sketch's count error, as a fraction of the values counted (a hard bound)."""
    return float(ds.frequent_strings_sketch.get_epsilon_for_lg_size(FREQUENT_LG_MAX_K))


@dataclass
class Moments:
    """Count, mean and central moment sums of finite values; merged with the formulas of Chan and Pébay."""

    n: int = 0
    mean: float = 0.0
    m2: float = 0.0
    m3: float = 0.0
    m4: float = 0.0
    total: float = 0.0

    @classmethod
    def of(cls, values: np.ndarray) -> Moments:
        """The moments of a 1-D array of finite floats (two passes, as numpy)."""
        n = int(values.size)
        if n == 0:
            return cls()
        with np.errstate(all="ignore"):
            mean = float(np.mean(values))
            dev = values - mean
            dev2 = dev * dev
            m2 = float(np.sum(dev2))
            m3 = float(np.dot(dev2, dev))
            m4 = float(np.dot(dev2, dev2))
            total = float(np.sum(values))
        return cls(n, mean, m2, m3, m4, total)

    def merge(self, other: Moments) -> Moments:
        if other.n == 0:
            return Moments(self.n, self.mean, self.m2, self.m3, self.m4, self.total)
        if self.n == 0:
            return Moments(other.n, other.mean, other.m2, other.m3, other.m4, other.total)
        na, nb = float(self.n), float(other.n)
        n = na + nb
        with np.errstate(all="ignore"):
            delta = other.mean - self.mean
            mean = self.mean + delta * nb / n
            m2 = self.m2 + other.m2 + delta**2 * na * nb / n
            m3 = (self.m3 + other.m3 + delta**3 * na * nb * (na - nb) / n**2
                  + 3 * delta * (na * other.m2 - nb * self.m2) / n)
            m4 = (self.m4 + other.m4 + delta**4 * na * nb * (na * na - na * nb + nb * nb) / n**3
                  + 6 * delta**2 * (na * na * other.m2 + nb * nb * self.m2) / n**2
                  + 4 * delta * (na * other.m3 - nb * self.m3) / n)
        return Moments(self.n + other.n, mean, m2, m3, m4, self.total + other.total)


@dataclass
class _Order:
    """Monotonicity of a stream of values in row order: the first and last value and which orders held."""

    first: float | None = None
    last: float | None = None
    count: int = 0
    flags: tuple[bool, bool, bool, bool, bool] = (True, True, True, True, True)
    """constant, strictly increasing, increasing, strictly decreasing, decreasing"""

    @staticmethod
    def _flags(prev: np.ndarray, nxt: np.ndarray) -> tuple[bool, bool, bool, bool, bool]:
        return (bool(np.all(nxt == prev)), bool(np.all(nxt > prev)), bool(np.all(nxt >= prev)),
                bool(np.all(nxt < prev)), bool(np.all(nxt <= prev)))

    @classmethod
    def of(cls, values: np.ndarray) -> _Order:
        if values.size == 0:
            return cls()
        return cls(float(values[0]), float(values[-1]), int(values.size), cls._flags(values[:-1], values[1:]))

    def merge(self, other: _Order) -> _Order:
        if other.count == 0:
            return self
        if self.count == 0:
            return other
        join = self._flags(np.array([self.last]), np.array([other.first]))
        flags = tuple(a and b and c for a, b, c in zip(self.flags, other.flags, join, strict=True))
        return _Order(self.first, other.last, self.count + other.count, flags)  # type: ignore[arg-type]

    def result(self) -> str:
        if self.count < 2:
            return "constant" if self.count == 1 else "none"
        names = ("constant", "strictly_increasing", "increasing", "strictly_decreasing", "decreasing")
        return next((name for name, held in zip(names, self.flags, strict=True) if held), "none")


class ValueTally:
    """Counts of a column's values: exact up to :data:`EXACT_DISTINCT_VALUES` distinct values, sketched past it."""

    def __init__(self, strings: bool) -> None:
        self.strings = strings
        self.counts: pl.DataFrame | None = pl.DataFrame(schema={"value": pl.Null, "count": pl.UInt32})
        self.hll: ds.hll_sketch | None = None
        self.frequent: ds.frequent_strings_sketch | ds.frequent_items_sketch | None = None
        self.feeds = 0
        """How many (value, count) tables were fed to the sketches: the most each count can miss, beyond epsilon."""

    @property
    def exact(self) -> bool:
        return self.counts is not None

    def update(self, values: pl.Series) -> None:
        """Count the non-missing ``values`` of one chunk."""
        counts = values.rename("value").value_counts(name="count").with_columns(pl.col("count").cast(pl.UInt32))
        self._add(counts)

    def _add(self, counts: pl.DataFrame) -> None:
        if self.counts is not None:
            if self.counts.height == 0:
                merged = counts
            else:
                merged = (pl.concat([self.counts, counts], how="vertical_relaxed")
                          .group_by("value").agg(pl.col("count").sum()))
            if merged.height <= EXACT_DISTINCT_VALUES:
                self.counts = merged
                return
            self.counts = None
            counts = merged
        self._feed(counts)

    def _start_sketches(self) -> None:
        self.hll = ds.hll_sketch(HLL_LG_K, ds.HLL_8)
        self.frequent = (ds.frequent_strings_sketch(FREQUENT_LG_MAX_K) if self.strings
                         else ds.frequent_items_sketch(FREQUENT_LG_MAX_K))

    def _feed(self, counts: pl.DataFrame) -> None:
        if self.hll is None:
            self._start_sketches()
        assert self.hll is not None and self.frequent is not None
        deque(map(self.hll.update, counts["value"].to_list()), 0)
        # a value seen once in a chunk is left out of the frequent items: it adds at most one per chunk to the
        # error of a count, against the sketch's own epsilon x values (see approximations)
        repeated = counts.filter(pl.col("count") > 1)
        deque(map(self.frequent.update, repeated["value"].to_list(), repeated["count"].to_list()), 0)
        self.feeds += 1

    def merge(self, other: ValueTally) -> ValueTally:
        out = ValueTally(self.strings)
        out.counts = self.counts
        out.feeds = self.feeds + other.feeds
        if self.hll is not None:
            out._start_sketches()
            assert out.hll is not None and out.frequent is not None
            union = ds.hll_union(HLL_LG_K)
            union.update(self.hll)
            out.hll = union.get_result(ds.HLL_8)
            out.frequent.merge(self.frequent)
        if other.counts is not None:
            out._add(other.counts)
        else:
            if out.counts is not None:
                exact, out.counts = out.counts, None
                out._feed(exact)
            if out.hll is None:
                out._start_sketches()
            assert out.hll is not None and out.frequent is not None and other.hll is not None
            union = ds.hll_union(HLL_LG_K)
            union.update(out.hll)
            union.update(other.hll)
            out.hll = union.get_result(ds.HLL_8)
            out.frequent.merge(other.frequent)
        return out

    def distinct(self) -> int:
        if self.counts is not None:
            return self.counts.height
        assert self.hll is not None
        return int(round(self.hll.get_estimate()))

    def ranked(self) -> pl.DataFrame:
        """(value, count), most frequent first, ties by value: every value when exact, the sketch's heavy hitters else."""
        if self.counts is not None:
            try:
                return self.counts.sort(["count", "value"], descending=[True, False], nulls_last=True)
            except pl.exceptions.PolarsError:
                return self.counts.sort("count", descending=True)
        assert self.frequent is not None
        items = self.frequent.get_frequent_items(ds.frequent_items_error_type.NO_FALSE_POSITIVES)
        return pl.DataFrame({"value": [i[0] for i in items], "count": [int(i[1]) for i in items]},
                            schema_overrides={"count": pl.UInt32} if items else {"value": pl.String,
                                                                                "count": pl.UInt32})


@dataclass
class NumericPart:
    """Exact counts and moments plus a KLL sketch of the finite values of a numeric column."""

    finite: int = 0
    zeros: int = 0
    negatives: int = 0
    infinite: int = 0
    nan: int = 0
    minimum: float = math.inf
    maximum: float = -math.inf
    moments: Moments = field(default_factory=Moments)
    order: _Order = field(default_factory=_Order)
    sentinels: dict[float, int] = field(default_factory=dict)
    kll: ds.kll_doubles_sketch = field(default_factory=lambda: ds.kll_doubles_sketch(KLL_K))

    def update(self, present: np.ndarray) -> None:
        """Add the non-null values of a chunk (NaN counted, then left out)."""
        as_float = present.astype(np.float64, copy=False)
        nan_mask = np.isnan(as_float)
        nan = int(nan_mask.sum())
        if nan:
            as_float = as_float[~nan_mask]
            present = present[~nan_mask]
        finite_mask = np.isfinite(as_float)
        finite = as_float[finite_mask] if not finite_mask.all() else as_float
        self.nan += nan
        self.infinite += int(as_float.size - finite.size)
        self.finite += int(finite.size)
        self.zeros += int(np.count_nonzero(as_float == 0))
        self.negatives += int(np.count_nonzero(as_float < 0))
        self.order = self.order.merge(_Order.of(as_float))
        if finite.size:
            self.minimum = min(self.minimum, float(finite.min()))
            self.maximum = max(self.maximum, float(finite.max()))
            self.moments = self.moments.merge(Moments.of(finite))
            # the sketch takes a writable, contiguous float64 array (Polars hands out read-only views)
            self.kll.update(finite if finite.flags.writeable and finite.flags.c_contiguous else finite.copy())
            hits = finite[np.isin(finite, SENTINEL_NUMBERS)]
            if hits.size:
                codes, counts = np.unique(hits, return_counts=True)
                for code, count in zip(codes.tolist(), counts.tolist(), strict=True):
                    self.sentinels[code] = self.sentinels.get(code, 0) + count

    def merge(self, other: NumericPart) -> NumericPart:
        kll = ds.kll_doubles_sketch(KLL_K)
        kll.merge(self.kll)
        kll.merge(other.kll)
        sentinels = dict(self.sentinels)
        for code, count in other.sentinels.items():
            sentinels[code] = sentinels.get(code, 0) + count
        return NumericPart(self.finite + other.finite, self.zeros + other.zeros, self.negatives + other.negatives,
                           self.infinite + other.infinite, self.nan + other.nan, min(self.minimum, other.minimum),
                           max(self.maximum, other.maximum), self.moments.merge(other.moments),
                           self.order.merge(other.order), sentinels, kll)

    def _rank(self, value: float, *, inclusive: bool) -> float:
        return float(self.kll.get_rank(value, inclusive))

    def _mad(self, median: float) -> float:
        """The d with rank(median + d) - rank(median - d) = 1/2, by bisection on the sketch's ranks."""
        lo, hi = 0.0, max(self.maximum - median, median - self.minimum)
        for _ in range(200):
            mid = (lo + hi) / 2
            if mid in (lo, hi):  # adjacent floats: hi is the smallest such d
                break
            if self._rank(median + mid, inclusive=True) - self._rank(median - mid, inclusive=False) >= 0.5:
                hi = mid
            else:
                lo = mid
        # the distance as the ends median +/- hi are stored (4 + 0.9999999999999998 is 5.0)
        return max((median + hi) - median, median - (median - hi))

    def stats(self, bins: int) -> tuple[NumericStats, Histogram | None]:
        stats = NumericStats(finite=self.finite, zeros=self.zeros, negatives=self.negatives, infinite=self.infinite,
                             nan=self.nan, monotonicity=self.order.result())  # type: ignore[arg-type]
        n = self.finite
        if n == 0:
            return stats, None
        m = self.moments
        stats.min, stats.max = self.minimum, self.maximum
        stats.range = _finite(self.maximum - self.minimum)
        stats.sum, stats.mean = _finite(m.total), _finite(m.mean)
        with np.errstate(all="ignore"):
            if n > 1:
                stats.variance = _finite(m.m2 / (n - 1))
                stats.std = _finite(math.sqrt(stats.variance)) if stats.variance is not None else None
                if stats.std is not None and m.mean != 0:
                    stats.cv = _finite(stats.std / abs(m.mean))
            m2 = m.m2 / n
            if m2 > (np.finfo(np.float64).eps * m.mean) ** 2:
                stats.skewness = _finite((m.m3 / n) / m2**1.5)
                stats.kurtosis = _finite((m.m4 / n) / m2**2 - 3.0)
        p5, p25, p50, p75, p95 = (float(self.kll.get_quantile(q)) for q in (0.05, 0.25, 0.5, 0.75, 0.95))
        stats.p5, stats.p25, stats.p50, stats.p75, stats.p95 = p5, p25, p50, p75, p95
        iqr = p75 - p25
        stats.iqr = _finite(iqr)
        mad = self._mad(p50)
        stats.mad = _finite(mad)
        if math.isfinite(iqr):
            low, high = p25 - 1.5 * iqr, p75 + 1.5 * iqr
            stats.outliers_iqr = int(round(n * (self._rank(low, inclusive=False) + 1 - self._rank(high, inclusive=True))))
        if mad > 0 and math.isfinite(mad):
            reach = 3.5 * 1.4826 * mad
            stats.outliers_mad = int(round(n * (self._rank(p50 - reach, inclusive=False) + 1
                                                - self._rank(p50 + reach, inclusive=True))))
        return stats, self.histogram(bins)

    def histogram(self, bins: int) -> Histogram | None:
        lo, hi = self.minimum, self.maximum
        if lo == hi:
            lo, hi = lo - 0.5, hi + 0.5
        with np.errstate(all="ignore"):
            edges = np.linspace(lo, hi, bins + 1, endpoint=True)
        if not np.all(np.isfinite(edges)) or np.any(edges[:-1] >= edges[1:]):
            return None
        shares = np.asarray(self.kll.get_pmf(edges[1:-1].tolist(), False)) if bins > 1 else np.ones(1)
        cumulative = np.rint(np.cumsum(shares) * self.finite).astype(np.int64)
        cumulative[-1] = self.finite
        counts = np.diff(np.concatenate(([0], np.maximum.accumulate(cumulative))))
        return Histogram(edges=edges.tolist(), counts=counts.tolist())


def _finite(value: float | None) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


@dataclass
class StringPart:
    """Exact length and character-class counts of a text column: sums of each chunk's figures."""

    stats: StringStats | None = None
    lengths: pl.DataFrame | None = None

    def update(self, counts: pl.DataFrame) -> None:
        """Add a chunk, given as its (value, count) table."""
        if counts.height == 0:
            return
        chunk = _string_stats(counts, "value")
        lengths = counts.group_by(pl.col("value").str.len_chars().alias("len")).agg(pl.col("count").sum())
        self._merge_in(chunk, lengths)

    def _merge_in(self, chunk: StringStats, lengths: pl.DataFrame) -> None:
        if self.stats is None or self.lengths is None:
            self.stats, self.lengths = chunk, lengths
            return
        mine, theirs = self.stats.model_dump(), chunk.model_dump()
        total_a, total_b = int(self.lengths["count"].sum()), int(lengths["count"].sum())
        merged: dict[str, Any] = {k: mine[k] + theirs[k] for k in mine if isinstance(mine[k], int)
                                  and k not in ("min_length", "max_length")}
        merged["min_length"] = min(mine["min_length"], theirs["min_length"])
        merged["max_length"] = max(mine["max_length"], theirs["max_length"])
        merged["mean_length"] = (mine["mean_length"] * total_a + theirs["mean_length"] * total_b) / (total_a + total_b)
        self.stats = StringStats(**merged)
        self.lengths = (pl.concat([self.lengths, lengths], how="vertical_relaxed")
                        .group_by("len").agg(pl.col("count").sum()))

    def merge(self, other: StringPart) -> StringPart:
        out = StringPart(self.stats, self.lengths)
        if other.stats is not None and other.lengths is not None:
            out._merge_in(other.stats, other.lengths)
        return out

    def result(self) -> StringStats:
        """The statistics, with the median length and the length histogram from the merged length counts."""
        if self.stats is None or self.lengths is None:
            return StringStats()
        lengths = self.lengths.sort("len")
        lens, counts = lengths["len"].to_numpy(), lengths["count"].to_numpy().astype(np.int64)
        cum, total = np.cumsum(counts), int(counts.sum())
        mid = (total - 1) / 2
        lo = lens[np.searchsorted(cum, math.floor(mid) + 1)]
        hi = lens[np.searchsorted(cum, math.ceil(mid) + 1)]
        bins = max(1, min(HISTOGRAM_BINS, int(lens[-1] - lens[0]) + 1))
        hist = _weighted_histogram(lens.astype(np.float64), counts, bins)
        return self.stats.model_copy(update={"median_length": (float(lo) + float(hi)) / 2, "length_histogram": hist})


def _kind(dtype: pl.DataType) -> str:
    if dtype == pl.Boolean:
        return "boolean"
    if dtype.is_numeric() and not isinstance(dtype, pl.Decimal):
        return "numeric"
    if dtype == pl.Date or isinstance(dtype, pl.Datetime):
        return "temporal"
    if dtype in (pl.String, pl.Categorical) or isinstance(dtype, pl.Categorical | pl.Enum):
        return "string"
    if dtype == pl.Null:
        return "null"
    return "other"


@dataclass
class ColumnSketch:
    """The mergeable summary of one column over the chunks seen so far."""

    dtype: pl.DataType
    rows: int = 0
    missing: int = 0
    memory_bytes: int = 0
    true_count: int = 0
    future_values: int = 0
    tally: ValueTally | None = None
    numeric: NumericPart | None = None
    strings: StringPart | None = None
    minimum: Any = None
    maximum: Any = None

    @classmethod
    def empty(cls, dtype: pl.DataType) -> ColumnSketch:
        kind = _kind(dtype)
        return cls(dtype=dtype, tally=None if kind == "null" else ValueTally(kind == "string"),
                   numeric=NumericPart() if kind == "numeric" else None,
                   strings=StringPart() if kind == "string" else None)

    @property
    def kind(self) -> str:
        return _kind(self.dtype)

    def update(self, series: pl.Series, *, now: datetime | None = None) -> None:
        """Add one chunk of the column. ``now`` is what future dates are counted against."""
        kind = self.kind
        self.rows += series.len()
        self.memory_bytes += int(series.estimated_size())
        present = series.drop_nulls()
        if kind == "numeric":
            assert self.numeric is not None
            before = self.numeric.nan
            self.numeric.update(present.to_numpy())
            nan = self.numeric.nan - before
            self.missing += series.null_count() + nan
            if nan:
                present = present.filter(present.is_not_nan())
        else:
            self.missing += series.null_count()
        if kind == "null" or self.tally is None:
            return
        if kind == "boolean":
            self.true_count += int(present.sum())
        if kind == "temporal":
            physical = present.to_physical()
            if physical.len():
                low, high = physical.min(), physical.max()
                self.minimum = low if self.minimum is None else min(self.minimum, low)
                self.maximum = high if self.maximum is None else max(self.maximum, high)
            if now is not None:
                self.future_values += int((present > _now_for(self.dtype, now)).sum())
            present = physical
        if kind == "string":
            present = present.cast(pl.String)
        elif kind == "other":
            try:
                present = present.cast(pl.String)
            except pl.exceptions.PolarsError:
                present = present.hash().cast(pl.Int64)
        counts = present.rename("value").value_counts(name="count").with_columns(pl.col("count").cast(pl.UInt32))
        if self.strings is not None:
            self.strings.update(counts)
        self.tally._add(counts)

    def merge(self, other: ColumnSketch) -> ColumnSketch:
        """The sketch of this column's chunks and ``other``'s together."""
        def pick(fn: Any, a: Any, b: Any) -> Any:
            return b if a is None else a if b is None else fn(a, b)

        return ColumnSketch(
            dtype=self.dtype, rows=self.rows + other.rows, missing=self.missing + other.missing,
            memory_bytes=self.memory_bytes + other.memory_bytes, true_count=self.true_count + other.true_count,
            future_values=self.future_values + other.future_values,
            tally=pick(ValueTally.merge, self.tally, other.tally), numeric=pick(NumericPart.merge, self.numeric, other.numeric),
            strings=pick(StringPart.merge, self.strings, other.strings), minimum=pick(min, self.minimum, other.minimum),
            maximum=pick(max, self.maximum, other.maximum),
        )

    def facts(self, name: str, *, semantic_type: str | None, now: datetime) -> ColumnFacts:
        """The column's profile (estimated figures named in ``approximate``) and what the alerts reuse."""
        given = semantic_type if _is_semantic_type(semantic_type) else None
        kind, rows, missing = self.kind, self.rows, self.missing
        count = rows - missing
        base: dict[str, Any] = {"name": name, "physical_type": str(self.dtype), "count": count, "missing": missing,
                                "missing_fraction": missing / rows if rows else 0.0, "memory_bytes": self.memory_bytes}
        if kind == "null" or self.tally is None:
            return ColumnFacts(profile=ColumnProfile(**base, semantic_type=given or "unsupported", distinct=0,
                                                     distinct_fraction=0.0, unique=0))
        tally = self.tally
        approximate: list[str] = []
        ranked = tally.ranked()
        distinct = min(tally.distinct(), count)
        if tally.exact:
            unique = int((ranked["count"] == 1).sum())
            entropy = entropy_bits(ranked["count"].to_numpy())
        else:
            approximate += ["distinct", "distinct_fraction", "unique", "top_values"]
            unique = max(0, 2 * distinct - count)  # a value seen more than once takes at least two of the values
            entropy = math.log2(distinct) if distinct else 0.0
        if kind == "temporal" and ranked.height:
            ranked = ranked.with_columns(pl.col("value").cast(self.dtype))
        top = [ValueCount(value=_json_value(v), count=int(c))
               for v, c in zip(ranked["value"].head(TOP_VALUES).to_list(),
                               ranked["count"].head(TOP_VALUES).to_list(), strict=True)]
        semantic = given or infer_semantic_type(self.dtype, distinct=distinct, count=count)
        facts = ColumnFacts(profile=None)  # type: ignore[arg-type]
        facts.entropy = _with_missing(entropy, count, missing)
        extra: dict[str, Any] = {}
        if kind == "numeric":
            assert self.numeric is not None
            stats, hist = self.numeric.stats(min(HISTOGRAM_BINS, max(distinct, 1)))
            extra["numeric"], extra["histogram"] = stats, hist
            if stats.finite:
                approximate += ["numeric.p5", "numeric.p25", "numeric.p50", "numeric.p75", "numeric.p95",
                                "numeric.iqr", "numeric.mad", "numeric.outliers_iqr", "numeric.outliers_mad",
                                "histogram"]
            facts.is_numeric = True
            facts.sentinel_counts = dict(self.numeric.sentinels)
        elif kind == "boolean":
            extra["boolean_true"] = self.true_count
        elif kind == "string":
            assert self.strings is not None
            extra["strings"] = self.strings.result()
            facts.is_string = True
            facts.case_merges = True  # the row fingerprints are always taken on normalised text
            facts.value_counts = ranked
        elif kind == "temporal":
            facts.is_temporal = True
            extra["dates"] = self._dates(ranked, now)
            if not tally.exact:
                approximate += ["dates.distinct_steps", "dates.median_step_seconds", "dates.frequency", "dates.gaps",
                                "dates.largest_gap_seconds"]
        if facts.value_counts is None and tally.exact and distinct <= 10_000:
            facts.value_counts = ranked
        facts.profile = ColumnProfile(**base, semantic_type=semantic, distinct=distinct,
                                      distinct_fraction=distinct / count if count else 0.0, unique=unique,
                                      top_values=top, approximate=approximate, **extra)
        return facts

    def _dates(self, ranked: pl.DataFrame, now: datetime) -> DateStats:
        assert self.tally is not None
        if self.tally.exact:
            stats = _date_stats(ranked["value"], now)
            return stats.model_copy(update={"future_values": self.future_values})
        if self.minimum is None:
            return DateStats()
        bounds = pl.Series([self.minimum, self.maximum]).cast(self.dtype)
        as_dt = bounds.cast(pl.Datetime("us")) if self.dtype == pl.Date else bounds
        micros = as_dt.dt.epoch("us").to_list()
        return DateStats(min=as_dt[0], max=as_dt[1], time_zone=getattr(self.dtype, "time_zone", None),
                         range_seconds=(micros[1] - micros[0]) / 1e6, future_values=self.future_values)


def approximations(columns: list[ColumnProfile]) -> list[Approximation]:
    """One :class:`Approximation` per kind of sketched figure, naming the columns it concerns."""
    def having(prefix: str) -> list[str]:
        return [c.name for c in columns if any(a == prefix or a.startswith(prefix + ".") for a in c.approximate)]

    out = []
    distinct = having("distinct")
    if distinct:
        err = hll_relative_error()
        out.append(Approximation(
            statistic="distinct", columns=distinct, relative_error=err, confidence=_HLL_CONFIDENCE,
            method=f"HyperLogLog sketch (Apache DataSketches, lg_k={HLL_LG_K}) of the values of each chunk, merged; "
                   f"these columns have more than {EXACT_DISTINCT_VALUES} distinct values",
            error_bound=f"within +/-{err:.2%} of the true distinct count ({HLL_STD_DEVS} standard deviations); "
                        "unique is the lower bound 2 x distinct - count implied by it"))
        eps = frequent_epsilon()
        out.append(Approximation(
            statistic="top_values", columns=distinct, relative_error=eps, confidence=1.0,
            method=f"frequent-items sketch (Apache DataSketches, lg_max_k={FREQUENT_LG_MAX_K}) of each chunk's "
                   "value counts, merged; only values whose count is certainly above the error are listed",
            error_bound=f"each count within {eps:.4%} of the column's values of the true count, plus at most one "
                        "per chunk read (a hard bound)"))
    quantiles = having("numeric")
    if quantiles:
        err = kll_rank_error()
        out.append(Approximation(
            statistic="quantiles", columns=quantiles, relative_error=err, confidence=KLL_CONFIDENCE,
            method=f"KLL sketch (Apache DataSketches, k={KLL_K}) of the finite values of each chunk, merged: p5, p25, "
                   "p50, p75, p95, iqr; mad from the sketch's ranks around the median; outlier counts from the "
                   "ranks of the fences",
            error_bound=f"each quantile is a value whose rank is within +/-{err:.2%} of the requested one; "
                        f"outlier counts within +/-{2 * err:.2%} of the values"))
        hist = having("histogram")
        if hist:
            pmf = kll_rank_error(pmf=True)
            out.append(Approximation(
                statistic="histogram", columns=hist, relative_error=pmf, confidence=KLL_CONFIDENCE,
                method="bin counts from the KLL sketch's mass function between the exact minimum and maximum",
                error_bound=f"each bin's count within +/-{pmf:.2%} of the column's finite values"))
    steps = having("dates")
    if steps:
        out.append(Approximation(
            statistic="date_steps", columns=steps, method=f"not computed: the columns have more than "
            f"{EXACT_DISTINCT_VALUES} distinct values, whose sorted steps are not kept",
            error_bound="distinct_steps, median step, frequency, gaps and largest gap are left empty; min, max, "
                        "range and future values are exact"))
    return out
