"""Reading the dataset and turning it into the bounded sample the page embeds.

The page never carries the whole dataset: it carries a uniform random sample of
at most ``max_rows`` rows and ``max_columns`` columns, dictionary-encoded, so the
file stays under the size cap whatever the input size. Statistics shown as
numbers (counts, means, quantiles) are computed here on every row.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import polars as pl

__all__ = [
    "ColumnChange",
    "ColumnKind",
    "ColumnStats",
    "DataSample",
    "EmbeddedColumn",
    "classify_column",
    "column_changes",
    "column_stats",
    "load_sample",
    "read_columns",
]

ColumnKind = Literal["numeric", "categorical", "datetime", "text"]

MAX_CATEGORY_LEVELS = 60
"""A string column with more distinct values than this is shown as free text."""

TEXT_MAX_CHARS = 80
"""Free-text values are cut to this many characters in the embedded sample."""

SIGNIFICANT_DIGITS = 6
"""Floats are embedded with this many significant digits: plenty for a chart, and half the bytes."""

STATS_ON_ALL_ROWS_MAX = 100_000
"""Up to this many rows the page's own statistics use every row; beyond, the sample (the profile,
when there is one, supplies the whole-data figures)."""


@dataclass(frozen=True)
class ColumnStats:
    """Whole-dataset statistics of one column."""

    count: int
    nulls: int
    distinct: int | None
    mean: float | None = None
    std: float | None = None
    min: Any = None
    q25: float | None = None
    median: float | None = None
    q75: float | None = None
    max: Any = None
    top: list[tuple[str, int]] = field(default_factory=list)


@dataclass(frozen=True)
class EmbeddedColumn:
    """One column of the embedded sample, encoded for the browser."""

    index: int
    name: str
    kind: ColumnKind
    dtype: str
    values: list[Any]
    levels: list[str] | None = None
    stats: ColumnStats | None = None

    def to_json(self) -> dict[str, Any]:
        """The column as the JSON object the page's script reads."""
        payload: dict[str, Any] = {"name": self.name, "kind": self.kind, "dtype": self.dtype, "values": self.values}
        if self.levels is not None:
            payload["levels"] = self.levels
        return payload


@dataclass(frozen=True)
class DataSample:
    """The embedded sample plus what the page needs to say about it."""

    total_rows: int
    total_columns: int
    columns: list[EmbeddedColumn]
    sampled: bool
    seed: int
    stats_on_all_rows: bool = True

    @property
    def rows(self) -> int:
        return len(self.columns[0].values) if self.columns else 0

    def by_name(self, name: str) -> EmbeddedColumn | None:
        return next((c for c in self.columns if c.name == name), None)

    def of_kind(self, kind: ColumnKind) -> list[EmbeddedColumn]:
        return [c for c in self.columns if c.kind == kind]

    def to_json(self) -> dict[str, Any]:
        return {
            "total_rows": self.total_rows,
            "sample_rows": self.rows,
            "sampled": self.sampled,
            "columns": [c.to_json() for c in self.columns],
        }


def classify_column(dtype: pl.DataType, distinct: int | None, semantic_type: str | None = None) -> ColumnKind:
    """Decide how the page shows a column.

    Parameters
    ----------
    dtype
        The Polars type of the column.
    distinct
        Number of distinct non-null values, when known.
    semantic_type
        The profile's semantic type, which wins where it is decisive.

    Returns
    -------
    ColumnKind
        ``numeric``, ``categorical``, ``datetime`` or ``text``.
    """
    semantic = (semantic_type or "").lower()
    if semantic in {"categorical", "boolean"} and (distinct is None or distinct <= MAX_CATEGORY_LEVELS):
        return "categorical"
    if semantic in {"identifier", "text", "email", "url", "unsupported"}:
        return "text"
    if dtype == pl.Boolean:
        return "categorical"
    if dtype.is_temporal() and dtype != pl.Duration and dtype != pl.Time:
        return "datetime"
    if dtype.is_numeric():
        return "numeric"
    if dtype in (pl.String, pl.Categorical) or isinstance(dtype, pl.Enum | pl.Categorical):
        return "categorical" if distinct is not None and distinct <= MAX_CATEGORY_LEVELS else "text"
    return "text"


def _finite(value: Any) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def column_stats(frame: pl.DataFrame, kinds: dict[str, ColumnKind]) -> dict[str, ColumnStats]:
    """Statistics of every column on all rows, in a single Polars pass.

    Parameters
    ----------
    frame
        The whole dataset.
    kinds
        Column name -> kind, as decided by :func:`classify_column`.

    Returns
    -------
    dict[str, ColumnStats]
        One entry per column of ``kinds``.
    """
    exprs: list[pl.Expr] = []
    names = list(kinds)
    for i, name in enumerate(names):
        col = pl.col(name)
        missing = col.null_count()
        if frame.schema[name].is_float():
            missing = missing + col.is_nan().sum()  # NaN is a missing value, as in the profile
        exprs += [missing.alias(f"{i}_nulls"), col.n_unique().alias(f"{i}_distinct")]
        if kinds[name] == "numeric":
            num = col.cast(pl.Float64)
            num = pl.when(num.is_finite()).then(num)
            exprs += [
                num.mean().alias(f"{i}_mean"),
                num.std().alias(f"{i}_std"),
                num.min().alias(f"{i}_min"),
                num.quantile(0.25).alias(f"{i}_q25"),
                num.median().alias(f"{i}_median"),
                num.quantile(0.75).alias(f"{i}_q75"),
                num.max().alias(f"{i}_max"),
            ]
        elif kinds[name] == "datetime":
            exprs += [col.min().alias(f"{i}_min"), col.max().alias(f"{i}_max")]
    row = frame.select(exprs).row(0, named=True) if exprs else {}
    height = frame.height
    stats: dict[str, ColumnStats] = {}
    for i, name in enumerate(names):
        nulls = int(row.get(f"{i}_nulls", 0) or 0)
        distinct = row.get(f"{i}_distinct")
        if distinct is not None and nulls:
            distinct -= 1  # n_unique counts null as a value
        top: list[tuple[str, int]] = []
        if kinds[name] in {"categorical", "text"}:
            counts = (
                frame.get_column(name)
                .drop_nulls()
                .cast(pl.String)
                .rename("value")  # a column named "n" would clash with the counts
                .value_counts(sort=True, name="n")
                .head(5)
            )
            top = [(str(v), int(n)) for v, n in counts.iter_rows()]
        kind = kinds[name]
        stats[name] = ColumnStats(
            count=height - nulls,
            nulls=nulls,
            distinct=distinct,
            mean=_finite(row.get(f"{i}_mean")),
            std=_finite(row.get(f"{i}_std")),
            min=_finite(row.get(f"{i}_min")) if kind == "numeric" else row.get(f"{i}_min"),
            q25=_finite(row.get(f"{i}_q25")),
            median=_finite(row.get(f"{i}_median")),
            q75=_finite(row.get(f"{i}_q75")),
            max=_finite(row.get(f"{i}_max")) if kind == "numeric" else row.get(f"{i}_max"),
            top=top,
        )
    return stats


def _encode(series: pl.Series, kind: ColumnKind) -> tuple[list[Any], list[str] | None]:
    if kind == "numeric":
        if series.dtype.is_integer():
            return series.to_list(), None
        finite = series.cast(pl.Float64).to_frame("v").select(
            pl.when(pl.col("v").is_finite()).then(pl.col("v")).round_sig_figs(SIGNIFICANT_DIGITS))
        return finite.to_series().to_list(), None
    if kind == "datetime":
        if series.dtype == pl.Date:
            series = series.cast(pl.Datetime("ms"))
        millis = series.dt.epoch("ms").to_list()
        return millis, None
    strings = series.cast(pl.String)
    if kind == "categorical":
        counts = strings.drop_nulls().rename("value").value_counts(sort=True, name="n")
        levels = [str(v) for v in counts.get_column("value").to_list()]
        position = {level: i for i, level in enumerate(levels)}
        return [None if v is None else position[v] for v in strings.to_list()], levels
    return [None if v is None else (v if len(v) <= TEXT_MAX_CHARS else v[: TEXT_MAX_CHARS - 1] + "…")
            for v in strings.to_list()], None


def read_columns(
    data: Path | pl.DataFrame, *, max_columns: int = 60, priority_columns: list[str] | None = None,
    exclude: set[str] | frozenset[str] = frozenset(),
) -> tuple[pl.DataFrame, int]:
    """Read the columns the page can carry, priority columns first, in file order.

    Parameters
    ----------
    data
        A Parquet file, or a DataFrame already in memory.
    max_columns
        Most columns kept.
    priority_columns
        Columns kept first when the file has more than ``max_columns``.
    exclude
        Columns never read (the ones the cleaning engineered, which the page describes only in its lineage).

    Returns
    -------
    tuple[pl.DataFrame, int]
        The kept columns, and the number of columns of the whole dataset (less ``exclude``).
    """
    names = list(data.columns) if isinstance(data, pl.DataFrame) else list(pl.read_parquet_schema(data))
    names = [c for c in names if c not in exclude]
    wanted = [c for c in (priority_columns or []) if c in names]
    chosen = set(list(dict.fromkeys(wanted + names))[:max_columns])
    kept = [c for c in names if c in chosen]
    frame = data.select(kept) if isinstance(data, pl.DataFrame) else pl.read_parquet(data, columns=kept)
    return frame, len(names)


def load_sample(
    data: Path | pl.DataFrame,
    *,
    max_rows: int = 5000,
    max_columns: int = 60,
    max_cells: int = 250_000,
    semantic_types: dict[str, str] | None = None,
    distinct_counts: dict[str, int] | None = None,
    priority_columns: list[str] | None = None,
    total_columns: int | None = None,
    seed: int = 0,
) -> DataSample:
    """Read a dataset and keep the bounded, encoded sample the page embeds.

    Parameters
    ----------
    data
        A Parquet file (or a DataFrame already in memory).
    max_rows, max_columns, max_cells
        Bounds on the sample; rows shrink so that rows x columns stays under ``max_cells``.
    semantic_types
        Column name -> semantic type from the profile, if there is one.
    distinct_counts
        Column name -> distinct values in the whole dataset, from the profile; without it
        categorical and free-text columns are told apart on the statistics rows.
    priority_columns
        Columns kept first when there are more than ``max_columns`` (a target, important features).
    total_columns
        Columns of the whole dataset, when ``data`` holds only some of them.
    seed
        Seed of the row sample, so that the same input gives the same page.

    Returns
    -------
    DataSample
        The sample, its encoding and the statistics of each kept column (on every row up
        to :data:`STATS_ON_ALL_ROWS_MAX` rows, else on the sample).
    """
    sub, width = read_columns(data, max_columns=max_columns, priority_columns=priority_columns)
    semantic_types = semantic_types or {}
    distinct_counts = distinct_counts or {}
    kept = sub.columns

    row_budget = max(200, max_cells // max(1, len(kept)))
    n_rows = min(sub.height, max_rows, row_budget)
    sampled = n_rows < sub.height
    rows = sub.sample(n=n_rows, seed=seed, shuffle=False) if sampled else sub
    basis = sub if sub.height <= STATS_ON_ALL_ROWS_MAX else rows

    string_like = [c for c in kept if c not in distinct_counts and (
        sub.schema[c] in (pl.String, pl.Categorical) or isinstance(sub.schema[c], pl.Enum))]
    distinct = dict(distinct_counts)
    if string_like:
        distinct.update(basis.select([pl.col(c).drop_nulls().n_unique().alias(c) for c in string_like]).row(0, named=True))
    kinds = {c: classify_column(sub.schema[c], distinct.get(c), semantic_types.get(c)) for c in kept}
    stats = column_stats(basis, kinds)

    columns = []
    for i, name in enumerate(kept):
        values, levels = _encode(rows.get_column(name), kinds[name])
        columns.append(
            EmbeddedColumn(
                index=i,
                name=name,
                kind=kinds[name],
                dtype=str(sub.schema[name]),
                values=values,
                levels=levels,
                stats=stats[name],
            )
        )
    return DataSample(
        total_rows=sub.height, total_columns=total_columns or width, columns=columns, sampled=sampled, seed=seed,
        stats_on_all_rows=basis is sub,
    )


@dataclass(frozen=True)
class ColumnChange:
    """One column before and after the cleaning, as two distributions on the same bins.

    Numeric columns are counted in ``edges`` bins (``after_edges`` when a transform moved the
    values out of the range they had), other columns per level; ``None`` levels count the
    missing values.
    """

    name: str
    kind: Literal["numeric", "categorical"]
    steps: list[str]
    before_counts: list[int]
    after_counts: list[int]
    edges: list[float] = field(default_factory=list)
    after_edges: list[float] | None = None
    levels: list[str | None] = field(default_factory=list)
    before: ColumnStats | None = None
    after: ColumnStats | None = None


def _numeric_values(series: pl.Series) -> Any:
    values = series.cast(pl.Float64).to_numpy()
    return values[np.isfinite(values)]


def _histogram_edges(low: float, high: float, bins: int) -> list[float]:
    if high <= low:
        return [low - 0.5, low + 0.5]
    return list(np.linspace(low, high, bins + 1))


def column_changes(
    before: pl.DataFrame, after: pl.DataFrame, steps: dict[str, list[str]], *, bins: int = 30, max_levels: int = 12
) -> list[ColumnChange]:
    """The distributions of the columns the cleaning changed, as ingested and as cleaned, on every row.

    Parameters
    ----------
    before
        The typed data as ingested.
    after
        The cleaned data (its rows need not match ``before``'s: some may have been dropped).
    steps
        Column -> the kinds of the steps that changed its values, in order (``outliers``, ``fill_missing``...).
        Columns absent from either frame, or whose kind the cleaning changed, are left out.
    bins, max_levels
        Histogram bins of a numeric column; most levels shown of another one (the most frequent as ingested).

    Returns
    -------
    list[ColumnChange]
        One entry per column, in the order of ``steps``.
    """
    out: list[ColumnChange] = []
    for name, kinds in steps.items():
        if name not in before.columns or name not in after.columns:
            continue
        old, new = before.get_column(name), after.get_column(name)
        numeric = old.dtype.is_numeric() and new.dtype.is_numeric() and old.dtype != pl.Boolean
        categorical = not any(d.is_numeric() or d.is_temporal() for d in (old.dtype, new.dtype))
        if numeric:
            a, b = _numeric_values(old), _numeric_values(new)
            if not a.size or not b.size:
                continue
            edges = _histogram_edges(float(a.min()), float(a.max()), bins)
            span = edges[-1] - edges[0]
            inside = b.min() >= edges[0] - 1e-9 * span and b.max() <= edges[-1] + 1e-9 * span
            after_edges = None if inside else _histogram_edges(float(b.min()), float(b.max()), bins)
            kinds_of: dict[str, ColumnKind] = {name: "numeric"}
            out.append(ColumnChange(
                name=name, kind="numeric", steps=kinds, edges=[float(e) for e in edges],
                after_edges=[float(e) for e in after_edges] if after_edges is not None else None,
                before_counts=[int(c) for c in np.histogram(a, bins=edges)[0]],
                after_counts=[int(c) for c in np.histogram(b, bins=after_edges or edges)[0]],
                before=column_stats(before.select(name), kinds_of)[name],
                after=column_stats(after.select(name), kinds_of)[name],
            ))
        elif categorical:
            old_s, new_s = old.cast(pl.String), new.cast(pl.String)
            counts_old = dict(old_s.rename("value").value_counts(sort=True, name="n").iter_rows())
            counts_new = dict(new_s.rename("value").value_counts(sort=True, name="n").iter_rows())
            ranked = [v for v in counts_old if v is not None][:max_levels]
            ranked += [v for v in counts_new if v is not None and v not in ranked][: max(0, max_levels - len(ranked))]
            levels: list[str | None] = [*ranked, None] if None in counts_old or None in counts_new else ranked
            kinds_of = {name: "categorical"}
            out.append(ColumnChange(
                name=name, kind="categorical", steps=kinds, levels=levels,
                before_counts=[int(counts_old.get(v, 0)) for v in levels],
                after_counts=[int(counts_new.get(v, 0)) for v in levels],
                before=column_stats(before.select(name), kinds_of)[name],
                after=column_stats(after.select(name), kinds_of)[name],
            ))
    return out
