"""What every step kind reads, learns and does.

A step kind is a ``StepImpl``: ``fit`` turns a step and the data it sees into a JSON-able state,
``apply`` turns a lazy frame into the transformed lazy frame using only that state. Every
``apply`` is row-local (a row's output depends on that row and the state alone) except the
row filters marked ``row_local=False`` (deduplication), so that replaying a fitted pipeline on a
slice of rows gives the same rows as transforming the whole table.

A fit is either a batch of scalar aggregations per column (``Aggregations``), which the pipeline
merges with the aggregations of other steps into one pass over the data (``select_per_key``), or a
function of the lazy frame for the few steps that need their own query (group-bys, samples).
Numeric statistics are learned as small frozen records (``Scaling``, ``Bounds``, ``PowerParams``)
whose ``to_json``/``from_json`` keep the stored pipeline format.
"""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, TypeVar

import numpy as np
import polars as pl
from shared_contracts.etl import EtlStep

__all__ = [
    "INTERNAL_PREFIX",
    "PLUGIN_STEP_KIND",
    "STEP_IMPLS",
    "STEP_KINDS",
    "Aggregations",
    "ApplyContext",
    "Bounds",
    "PowerParams",
    "Scaling",
    "StepImpl",
    "feature_name",
    "select_per_key",
]

_TEXT_DTYPES = (pl.String, pl.Categorical, pl.Enum)
_DATE_FORMATS = (
    "%Y-%m-%d",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M:%S%.f",
    "%d/%m/%Y",
    "%m/%d/%Y",
    "%d.%m.%Y",
    "%Y/%m/%d",
    "%d-%m-%Y",
    "%m-%d-%Y",
    "%Y%m%d",
    "%d/%m/%Y %H:%M",
    "%m/%d/%Y %H:%M",
)
_TRUE = ("true", "t", "yes", "y", "1", "on")
_FALSE = ("false", "f", "no", "n", "0", "off")
_MISSING_LABEL = "(missing)"
_OTHER_LABEL = "__other__"


def feature_name(column: str, suffix: str) -> str:
    """Name of a column derived from ``column``."""
    return f"{column}__{suffix}"


@dataclass
class ApplyContext:
    """How a pipeline is being applied."""

    schema: dict[str, pl.DataType]
    target: str | None = None
    filter_rows: bool = True

    def has(self, column: str) -> bool:
        return column in self.schema


ColumnValues = dict[str, tuple[Any, ...]]
"""Per column, the values of its aggregations, in the order they were asked for."""


@dataclass(frozen=True)
class Aggregations:
    """Scalar aggregations a fit needs, per column, and how to turn their values into a state.

    ``exprs`` maps a column to the aggregations its statistics need; ``finish`` receives, for
    every column of ``exprs``, the values of those aggregations in the same order.
    """

    exprs: Mapping[str, tuple[pl.Expr, ...]]
    finish: Callable[[ColumnValues], dict[str, Any]]


K = TypeVar("K", bound=Hashable)


def select_per_key(lf: pl.LazyFrame, exprs: Mapping[K, Sequence[pl.Expr]]) -> dict[K, tuple[Any, ...]]:
    """Evaluate the scalar aggregations of every key in one select; values come back per key, in order.

    Examples
    --------
    >>> lf = pl.LazyFrame({"x": [1.0, 2.0, 6.0]})
    >>> select_per_key(lf, {"x": (pl.col("x").min(), pl.col("x").max()), "rows": (pl.len(),)})
    {'x': (1.0, 6.0), 'rows': (3,)}
    """
    flat = [e.alias(f"v{n}") for n, e in enumerate(e for group in exprs.values() for e in group)]
    row = lf.select(flat).collect().row(0) if flat else ()
    out: dict[K, tuple[Any, ...]] = {}
    start = 0
    for key, group in exprs.items():
        out[key] = tuple(row[start : start + len(group)])
        start += len(group)
    return out


Fit = Aggregations | Callable[[pl.LazyFrame], dict[str, Any]] | None


@dataclass
class StepImpl:
    """The behaviour of one step kind."""

    fit: Callable[[EtlStep, ApplyContext], Fit]
    apply: Callable[[EtlStep, dict[str, Any], pl.LazyFrame, ApplyContext], pl.LazyFrame]
    outputs: Callable[[EtlStep, dict[str, Any]], list[str]] = field(default=lambda step, state: [])
    row_filter: bool = False
    row_local: bool = True
    needs_target: bool = False
    reads_all: bool = False


def _present(step: EtlStep, ctx: ApplyContext) -> list[str]:
    return [c for c in step.columns if ctx.has(c)]


def _is_numeric(dtype: pl.DataType) -> bool:
    return dtype.is_numeric()


def _is_text(dtype: pl.DataType) -> bool:
    return isinstance(dtype, _TEXT_DTYPES) or dtype == pl.String


def _finite_float(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _finite(values: tuple[Any, ...]) -> list[float | None]:
    return [_finite_float(v) for v in values]


def _missing(column: str, dtype: pl.DataType) -> pl.Expr:
    expr = pl.col(column).is_null()
    if dtype.is_float():
        expr = expr | pl.col(column).is_nan()
    return expr


def _as_float(column: str, dtype: pl.DataType) -> pl.Expr:
    expr = pl.col(column).cast(pl.Float64)
    return expr.fill_nan(None) if dtype.is_float() else expr


def _json_scalar(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


# --- drop_columns ---------------------------------------------------------------------------


def _drop_apply(step, state, lf, ctx):
    return lf.drop(_present(step, ctx))


# --- cast -------------------------------------------------------------------------------------


def _cast_fit(step: EtlStep, ctx: ApplyContext) -> Fit:
    to = step.params.get("to")
    text_cols = [c for c in _present(step, ctx) if _is_text(ctx.schema[c])]
    if to not in ("date", "datetime") or not text_cols or step.params.get("format"):
        return None

    def fit(lf: pl.LazyFrame) -> dict[str, Any]:
        sample = lf.select([pl.col(c).drop_nulls().head(1000).implode() for c in text_cols]).collect()
        formats: dict[str, str | None] = {}
        for c in text_cols:
            values = pl.Series(sample[c][0], dtype=pl.String).str.strip_chars()
            best, best_hits = None, 0
            for fmt in _DATE_FORMATS:
                hits = int(values.str.to_datetime(fmt, strict=False).is_not_null().sum())
                if hits > best_hits:
                    best, best_hits = fmt, hits
            formats[c] = best
        return {"formats": formats}

    return fit


def _cast_expr(column: str, dtype: pl.DataType, to: str, fmt: str | None) -> pl.Expr:
    col = pl.col(column)
    text = _is_text(dtype)
    if to == "float":
        if text:
            cleaned = col.cast(pl.String).str.strip_chars().str.replace_all(r"[,\s$€£¥%]", "")
            return cleaned.cast(pl.Float64, strict=False)
        return col.cast(pl.Float64, strict=False)
    if to == "integer":
        if text:
            cleaned = col.cast(pl.String).str.strip_chars().str.replace_all(r"[,\s$€£¥%]", "")
            return cleaned.cast(pl.Float64, strict=False).round(0).cast(pl.Int64, strict=False)
        return col.cast(pl.Int64, strict=False)
    if to == "boolean":
        if text:
            lowered = col.cast(pl.String).str.strip_chars().str.to_lowercase()
            return (
                pl.when(lowered.is_in(list(_TRUE)))
                .then(pl.lit(True))
                .when(lowered.is_in(list(_FALSE)))
                .then(pl.lit(False))
                .otherwise(pl.lit(None, dtype=pl.Boolean))
            )
        return col.cast(pl.Boolean, strict=False)
    if to in ("string", "categorical"):
        return col.cast(pl.String)
    if to in ("date", "datetime"):
        if text:
            parsed = col.cast(pl.String).str.strip_chars().str.to_datetime(fmt, strict=False, time_unit="us")
        else:
            parsed = col.cast(pl.Datetime("us"), strict=False)
        return parsed.dt.date() if to == "date" else parsed
    raise ValueError(f"unknown cast target {to!r}")


def _cast_apply(step, state, lf, ctx):
    to = step.params["to"]
    formats = state.get("formats", {})
    exprs = [
        _cast_expr(c, ctx.schema[c], to, step.params.get("format") or formats.get(c)).alias(c)
        for c in _present(step, ctx)
    ]
    return lf.with_columns(exprs) if exprs else lf


# --- strings ----------------------------------------------------------------------------------


def _strings_apply(step, state, lf, ctx):
    p = step.params
    exprs = []
    for c in _present(step, ctx):
        if not _is_text(ctx.schema[c]):
            continue
        e = pl.col(c).cast(pl.String)
        if p.get("nfkc", True):
            e = e.str.normalize("NFKC")
        if p.get("trim", True):
            e = e.str.strip_chars()
        case = p.get("case", "none")
        if case == "lower":
            e = e.str.to_lowercase()
        elif case == "upper":
            e = e.str.to_uppercase()
        if p.get("empty_as_null", True):
            e = pl.when(e.str.len_chars() == 0).then(pl.lit(None, dtype=pl.String)).otherwise(e)
        exprs.append(e.alias(c))
    return lf.with_columns(exprs) if exprs else lf


# --- invalid_to_null ----------------------------------------------------------------------------


def _invalid_apply(step, state, lf, ctx):
    p = step.params
    exprs = []
    for c in _present(step, ctx):
        dtype = ctx.schema[c]
        col = pl.col(c)
        invalid = pl.lit(False)
        numeric = _is_numeric(dtype)
        if p.get("nonfinite") and dtype.is_float():
            invalid = invalid | col.is_infinite()
        if p.get("min") is not None and numeric:
            invalid = invalid | (col < p["min"])
        if p.get("max") is not None and numeric:
            invalid = invalid | (col > p["max"])
        if p.get("allowed") is not None:
            allowed = [v for v in p["allowed"] if v is not None]
            if numeric:
                allowed = [float(v) for v in allowed if isinstance(v, int | float) and not isinstance(v, bool)]
                invalid = invalid | ~col.cast(pl.Float64).is_in(allowed)
            else:
                invalid = invalid | ~col.cast(pl.String).is_in([str(v) for v in allowed])
        if p.get("pattern") and _is_text(dtype):
            invalid = invalid | ~col.cast(pl.String).str.contains(f"^(?:{p['pattern']})$")
        if p.get("invalid_values"):
            values = p["invalid_values"]
            if numeric:
                nums = []
                for v in values:
                    try:
                        nums.append(float(v))
                    except (TypeError, ValueError):
                        continue
                if nums:
                    invalid = invalid | col.cast(pl.Float64).is_in(nums)
            else:
                invalid = invalid | col.cast(pl.String).str.strip_chars().is_in([str(v).strip() for v in values])
        exprs.append(pl.when(invalid.fill_null(False)).then(pl.lit(None, dtype=dtype)).otherwise(col).alias(c))
    return lf.with_columns(exprs) if exprs else lf


# --- merge_categories ---------------------------------------------------------------------------


def _merge_key(value: str) -> str:
    return re.sub(r"[\W_]+", "", value.casefold())


def _merge_fit(step: EtlStep, ctx: ApplyContext) -> Fit:
    cols = [c for c in _present(step, ctx) if _is_text(ctx.schema[c])]
    if step.params.get("mapping") is not None or not cols:
        return None

    def fit(lf: pl.LazyFrame) -> dict[str, Any]:
        mappings: dict[str, dict[str, str]] = {}
        for c in cols:
            counts = (
                lf.select(pl.col(c).cast(pl.String))
                .drop_nulls()
                .group_by(c)
                .agg(pl.len().alias("n"))
                .collect()
            )
            groups: dict[str, list[tuple[int, str]]] = {}
            for value, n in counts.iter_rows():
                groups.setdefault(_merge_key(value), []).append((n, value))
            mapping: dict[str, str] = {}
            for key, members in groups.items():
                if len(members) < 2 or not key:
                    continue
                members.sort(key=lambda m: (-m[0], m[1]))
                canonical = members[0][1]
                mapping.update({v: canonical for _, v in members[1:]})
            mappings[c] = dict(sorted(mapping.items()))
        return {"mappings": mappings}

    return fit


def _merge_apply(step, state, lf, ctx):
    given = step.params.get("mapping")
    exprs = []
    for c in _present(step, ctx):
        mapping = given if given is not None else state.get("mappings", {}).get(c, {})
        if mapping and _is_text(ctx.schema[c]):
            exprs.append(pl.col(c).cast(pl.String).replace(mapping).alias(c))
    return lf.with_columns(exprs) if exprs else lf


# --- dedupe -------------------------------------------------------------------------------------


INTERNAL_PREFIX = "__dsp_"


def _data_columns(ctx: ApplyContext) -> list[str]:
    return [c for c in ctx.schema if not c.startswith(INTERNAL_PREFIX)]


def _dedupe_apply(step, state, lf, ctx):
    if not ctx.filter_rows:
        return lf
    subset = [c for c in step.params.get("subset") or [] if ctx.has(c)] or _data_columns(ctx)
    return lf.unique(subset=subset, keep="first", maintain_order=True)


# --- drop_rows_missing -----------------------------------------------------------------------------


def _drop_rows_apply(step, state, lf, ctx):
    if not ctx.filter_rows:
        return lf
    threshold = step.params.get("max_fraction")
    if threshold is not None:
        cols = _data_columns(ctx)
        if not cols:
            return lf
        frac = pl.sum_horizontal([_missing(c, ctx.schema[c]).cast(pl.Int32) for c in cols]) / len(cols)
        return lf.filter(frac <= threshold)
    cols = _present(step, ctx)
    if not cols:
        return lf
    return lf.filter(~pl.any_horizontal([_missing(c, ctx.schema[c]) for c in cols]))


# --- missing_indicator ----------------------------------------------------------------------------


def _indicator_apply(step, state, lf, ctx):
    exprs = [
        _missing(c, ctx.schema[c]).alias(feature_name(c, "missing")) if ctx.has(c) else
        pl.lit(True).alias(feature_name(c, "missing"))
        for c in step.columns
        if c != ctx.target
    ]
    return lf.with_columns(exprs) if exprs else lf


def _indicator_outputs(step, state):
    return [feature_name(c, "missing") for c in step.columns]


# --- fill_missing ---------------------------------------------------------------------------------


def _fill_fit(step: EtlStep, ctx: ApplyContext) -> Fit:
    strategy = step.params.get("strategy", "median")
    cols = _present(step, ctx)
    if strategy == "constant" or not cols:
        return None
    exprs: dict[str, tuple[pl.Expr, ...]] = {}
    needs_mode: list[str] = []
    for c in cols:
        dtype = ctx.schema[c]
        numeric = _is_numeric(dtype) and dtype != pl.Boolean
        use = strategy
        if strategy in ("ffill", "bfill"):
            use = "median" if numeric else "mode"
        if use in ("mean", "median") and not numeric:
            use = "mode"
        if use == "mean":
            exprs[c] = (_as_float(c, dtype).mean(),)
        elif use == "median":
            exprs[c] = (_as_float(c, dtype).median(),)
        else:
            needs_mode.append(c)

    def central(v: ColumnValues) -> dict[str, Any]:
        return {c: _json_scalar(value) for c, (value,) in v.items()}

    if not needs_mode:
        return Aggregations(exprs, lambda v: {"values": central(v)})

    def fit(lf: pl.LazyFrame) -> dict[str, Any]:
        values = central(select_per_key(lf, exprs))
        for c in needs_mode:
            top = (
                lf.select(pl.col(c))
                .drop_nulls()
                .group_by(c)
                .agg(pl.len().alias("n"))
                .sort(["n", c], descending=[True, False])
                .head(1)
                .collect()
            )
            values[c] = _json_scalar(top[c][0]) if top.height else None
        return {"values": values}

    return fit


def _fill_value_expr(value: Any, dtype: pl.DataType) -> pl.Expr:
    if dtype in (pl.Date,) or isinstance(dtype, pl.Datetime):
        return pl.lit(value).str.to_datetime(strict=False).cast(dtype) if isinstance(value, str) else pl.lit(value)
    if dtype == pl.String or isinstance(dtype, _TEXT_DTYPES):
        return pl.lit(str(value))
    return pl.lit(value)


def _fill_apply(step, state, lf, ctx):
    strategy = step.params.get("strategy", "median")
    values = state.get("values", {})
    exprs = []
    for c in _present(step, ctx):
        dtype = ctx.schema[c]
        col = pl.col(c)
        if dtype.is_float():
            col = col.fill_nan(None)
        value = step.params.get("value", _MISSING_LABEL) if strategy == "constant" else values.get(c)
        if strategy == "ffill":
            col = col.fill_null(strategy="forward")
        elif strategy == "bfill":
            col = col.fill_null(strategy="backward")
        if isinstance(value, float) and dtype.is_integer():
            # An integer column stays integer: its mean is rounded to the nearest whole value.
            value = round(value)
        if value is not None:
            col = col.fill_null(_fill_value_expr(value, dtype))
        exprs.append(col.alias(c))
    return lf.with_columns(exprs) if exprs else lf


# --- outliers ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bounds:
    """The range a column's values are held to; None when the fit saw no finite value."""

    lo: float | None
    hi: float | None

    def to_json(self) -> list[float | None]:
        return [self.lo, self.hi]

    @classmethod
    def from_json(cls, value: Sequence[float | None]) -> Bounds:
        lo, hi = value
        return cls(lo, hi)


def _outlier_fit(step: EtlStep, ctx: ApplyContext) -> Fit:
    method = step.params.get("method", "iqr")
    k = float(step.params.get("threshold", 3.0))
    action = step.params.get("action", "cap")
    cols = [c for c in _present(step, ctx) if _is_numeric(ctx.schema[c]) and ctx.schema[c] != pl.Boolean]
    exprs: dict[str, tuple[pl.Expr, ...]] = {}
    for c in cols:
        x = _as_float(c, ctx.schema[c]).filter(_as_float(c, ctx.schema[c]).is_finite())
        if action == "winsorize":
            lo_q, hi_q = step.params.get("quantiles", (0.01, 0.99))
            exprs[c] = (x.quantile(lo_q, interpolation="linear"), x.quantile(hi_q, interpolation="linear"))
        elif method == "iqr":
            exprs[c] = (x.quantile(0.25, interpolation="linear"), x.quantile(0.75, interpolation="linear"))
        elif method == "zscore":
            exprs[c] = (x.mean(), x.std(ddof=0))
        else:
            exprs[c] = (x.median(), (x - x.median()).abs().median())

    def bounds(a: float | None, b: float | None) -> Bounds:
        """Winsorize: (a, b) are the bounds; else a centre and a spread (iqr: the quartiles)."""
        if action == "winsorize":
            return Bounds(a, b)
        if a is None or b is None:
            return Bounds(None, None)
        if method == "iqr":
            return Bounds(a - k * (b - a), b + k * (b - a))
        if method == "zscore":
            return Bounds(a - k * b, a + k * b)
        return Bounds(a - k * 1.4826 * b, a + k * 1.4826 * b)

    def finish(v: ColumnValues) -> dict[str, Any]:
        return {"bounds": {c: bounds(*_finite(values)).to_json() for c, values in v.items()}}

    return Aggregations(exprs, finish)


def _outlier_apply(step, state, lf, ctx):
    action = step.params.get("action", "cap")
    exprs = []
    keep = []
    for c, stored in state.get("bounds", {}).items():
        b = Bounds.from_json(stored)
        if not ctx.has(c) or b.lo is None or b.hi is None:
            continue
        lo, hi = b.lo, b.hi
        dtype = ctx.schema[c]
        col = pl.col(c)
        if action in ("cap", "winsorize"):
            if dtype.is_integer():
                exprs.append(col.clip(math.ceil(lo), math.floor(hi)).alias(c))
            else:
                exprs.append(col.cast(pl.Float64).clip(lo, hi).alias(c))
        elif action == "flag":
            exprs.append(((col < lo) | (col > hi)).fill_null(False).alias(feature_name(c, "outlier")))
        elif action == "remove":
            keep.append(~((col < lo) | (col > hi)).fill_null(False))
    if exprs:
        lf = lf.with_columns(exprs)
    if keep and ctx.filter_rows:
        lf = lf.filter(pl.all_horizontal(keep))
    return lf


def _outlier_outputs(step, state):
    if step.params.get("action") == "flag":
        return [feature_name(c, "outlier") for c in step.columns]
    return []


# --- date_parts ---------------------------------------------------------------------------------------

_DATE_PARTS = ("year", "quarter", "month", "day", "day_of_week", "hour", "is_weekend")


def _date_part_names(step: EtlStep, column: str, has_time: bool) -> list[str]:
    parts = step.params.get("parts") or list(_DATE_PARTS)
    names = [feature_name(column, p) for p in parts if p != "hour" or has_time]
    if step.params.get("cyclical", True):
        for p, _ in _cyclical(has_time):
            if p in parts:
                names += [feature_name(column, f"{p}_sin"), feature_name(column, f"{p}_cos")]
    return names


def _cyclical(has_time: bool) -> list[tuple[str, float]]:
    out = [("month", 12.0), ("day_of_week", 7.0)]
    return out + [("hour", 24.0)] if has_time else out


def _date_apply(step, state, lf, ctx):
    exprs = []
    parts = step.params.get("parts") or list(_DATE_PARTS)
    for c in _present(step, ctx):
        dtype = ctx.schema[c]
        if not (dtype == pl.Date or isinstance(dtype, pl.Datetime)):
            continue
        has_time = bool(state.get("has_time", {}).get(c, isinstance(dtype, pl.Datetime)))
        d = pl.col(c)
        values = {
            "year": d.dt.year().cast(pl.Int32),
            "quarter": d.dt.quarter().cast(pl.Int8),
            "month": d.dt.month().cast(pl.Int8),
            "day": d.dt.day().cast(pl.Int8),
            "day_of_week": d.dt.weekday().cast(pl.Int8),
            "is_weekend": d.dt.weekday() >= 6,
        }
        if has_time:
            values["hour"] = d.cast(pl.Datetime("us")).dt.hour().cast(pl.Int8)
        for p in parts:
            if p in values:
                exprs.append(values[p].alias(feature_name(c, p)))
        if step.params.get("cyclical", True):
            for p, period in _cyclical(has_time):
                if p not in parts:
                    continue
                base = values[p].cast(pl.Float64) - (0.0 if p == "hour" else 1.0)
                angle = base * (2 * math.pi / period)
                exprs.append(angle.sin().alias(feature_name(c, f"{p}_sin")))
                exprs.append(angle.cos().alias(feature_name(c, f"{p}_cos")))
    lf = lf.with_columns(exprs) if exprs else lf
    if step.params.get("drop_source"):
        lf = lf.drop(_present(step, ctx))
    return lf


def _date_fit(step: EtlStep, ctx: ApplyContext) -> Fit:
    cols = [c for c in _present(step, ctx) if isinstance(ctx.schema[c], pl.Datetime)]
    if not cols:
        return Aggregations({}, lambda v: {"has_time": {}})
    # A datetime column whose values all sit at midnight carries no hour.
    exprs = {c: ((pl.col(c).dt.time() != pl.time(0)).any(),) for c in cols}
    return Aggregations(exprs, lambda v: {"has_time": {c: bool(any_time) for c, (any_time,) in v.items()}})


def _date_outputs(step, state):
    has_time = state.get("has_time", {})
    return [n for c in step.columns for n in _date_part_names(step, c, bool(has_time.get(c, False)))]


# --- text_features ------------------------------------------------------------------------------------


def _text_apply(step, state, lf, ctx):
    exprs = []
    for c in _present(step, ctx):
        if not _is_text(ctx.schema[c]):
            continue
        s = pl.col(c).cast(pl.String)
        exprs.append(s.str.len_chars().fill_null(0).cast(pl.Int32).alias(feature_name(c, "length")))
        exprs.append(s.str.count_matches(r"\S+").fill_null(0).cast(pl.Int32).alias(feature_name(c, "words")))
    return lf.with_columns(exprs) if exprs else lf


def _text_outputs(step, state):
    return [feature_name(c, s) for c in step.columns for s in ("length", "words")]


# --- power ------------------------------------------------------------------------------------------------

_POWER_SAMPLE = 100_000


@dataclass(frozen=True)
class PowerParams:
    """A power transform's parameters: the shift that makes values positive, and lambda."""

    shift: float = 0.0
    lam: float | None = None

    def to_json(self) -> dict[str, float | None]:
        return {"shift": self.shift, "lambda": self.lam}

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> PowerParams:
        return cls(shift=value.get("shift", 0.0), lam=value.get("lambda"))


def _power_fit(step: EtlStep, ctx: ApplyContext) -> Fit:
    method = step.params.get("method", "yeojohnson")
    cols = [c for c in _present(step, ctx) if _is_numeric(ctx.schema[c]) and ctx.schema[c] != pl.Boolean]
    if not cols:
        return None

    def fit(lf: pl.LazyFrame) -> dict[str, Any]:
        from scipy import stats

        exprs: dict[str, tuple[pl.Expr, ...]] = {}
        for c in cols:
            x = _as_float(c, ctx.schema[c])
            x = x.filter(x.is_finite())
            exprs[c] = (x.min(), x.shuffle(seed=0).head(_POWER_SAMPLE).implode())
        params: dict[str, dict[str, float | None]] = {}
        for c, (low_value, sample_values) in select_per_key(lf, exprs).items():
            low = _finite_float(low_value)
            sample = np.asarray(sample_values or [], dtype=float)
            shift = 0.0
            if method in ("log", "boxcox") and low is not None and low <= 0:
                shift = 1.0 - low
            lam: float | None = None
            # a sample scipy cannot fit (subnormal spreads, overflowing powers) keeps the column as it is
            with contextlib.suppress(ValueError, FloatingPointError, OverflowError):
                if method == "boxcox" and sample.size > 1 and np.ptp(sample) > 0:
                    lam = float(stats.boxcox(sample + shift)[1])
                elif method == "yeojohnson" and sample.size > 1 and np.ptp(sample) > 0:
                    lam = float(stats.yeojohnson(sample)[1])
            if lam is not None and not np.isfinite(lam):
                lam = None
            params[c] = PowerParams(shift, lam).to_json()
        return {"params": params}

    return fit


def _yeojohnson_expr(x: pl.Expr, lam: float) -> pl.Expr:
    pos = (x + 1).log() if abs(lam) < 1e-12 else ((x + 1).pow(lam) - 1) / lam
    neg = -(-x + 1).log() if abs(lam - 2) < 1e-12 else -(((-x + 1).pow(2 - lam) - 1) / (2 - lam))
    return pl.when(x >= 0).then(pos).otherwise(neg)


def _power_apply(step, state, lf, ctx):
    method = step.params.get("method", "yeojohnson")
    exprs = []
    for c, stored in state.get("params", {}).items():
        if not ctx.has(c):
            continue
        x = _as_float(c, ctx.schema[c])
        p = PowerParams.from_json(stored)
        shift, lam = p.shift, p.lam
        if method == "log":
            # Values at or below -shift have no logarithm; they become null rather than -inf.
            shifted = x + shift
            out = pl.when(shifted > 0).then(shifted.log()).otherwise(None)
        elif method == "boxcox":
            if lam is None:
                continue
            shifted = x + shift
            body = shifted.log() if abs(lam) < 1e-12 else (shifted.pow(lam) - 1) / lam
            out = pl.when(shifted > 0).then(body).otherwise(None)
        else:
            if lam is None:
                continue
            out = _yeojohnson_expr(x, lam)
        exprs.append(out.alias(c))
    return lf.with_columns(exprs) if exprs else lf


# --- scale ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scaling:
    """x -> (x - center) / scale."""

    center: float
    scale: float

    @classmethod
    def fitted(cls, center: float | None, spread: float | None) -> Scaling:
        """From a fitted centre and spread: no centre is 0, no or zero spread is 1."""
        return cls(center or 0.0, spread if spread else 1.0)

    def to_json(self) -> dict[str, float]:
        return {"center": self.center, "scale": self.scale}

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> Scaling:
        return cls(value["center"], value["scale"])


def _scale_fit(step: EtlStep, ctx: ApplyContext) -> Fit:
    method = step.params.get("method", "standard")
    cols = [c for c in _present(step, ctx) if _is_numeric(ctx.schema[c]) and ctx.schema[c] != pl.Boolean]
    exprs: dict[str, tuple[pl.Expr, ...]] = {}
    for c in cols:
        x = _as_float(c, ctx.schema[c])
        x = x.filter(x.is_finite())
        if method == "standard":
            exprs[c] = (x.mean(), x.std(ddof=0))
        elif method == "minmax":
            exprs[c] = (x.min(), x.max() - x.min())
        else:
            iqr = x.quantile(0.75, interpolation="linear") - x.quantile(0.25, interpolation="linear")
            exprs[c] = (x.median(), iqr)

    def finish(v: ColumnValues) -> dict[str, Any]:
        return {"params": {c: Scaling.fitted(*_finite(values)).to_json() for c, values in v.items()}}

    return Aggregations(exprs, finish)


def _scale_apply(step, state, lf, ctx):
    exprs = []
    for c, stored in state.get("params", {}).items():
        if ctx.has(c):
            p = Scaling.from_json(stored)
            exprs.append(((_as_float(c, ctx.schema[c]) - p.center) / p.scale).alias(c))
    return lf.with_columns(exprs) if exprs else lf


# --- bin ---------------------------------------------------------------------------------------------------


def _bin_fit(step: EtlStep, ctx: ApplyContext) -> Fit:
    n = int(step.params.get("n_bins", 5))
    method = step.params.get("method", "quantile")
    cols = [c for c in _present(step, ctx) if _is_numeric(ctx.schema[c]) and ctx.schema[c] != pl.Boolean]
    exprs: dict[str, tuple[pl.Expr, ...]] = {}
    for c in cols:
        x = _as_float(c, ctx.schema[c])
        x = x.filter(x.is_finite())
        if method == "quantile":
            exprs[c] = tuple(x.quantile(i / n, interpolation="linear") for i in range(1, n))
        else:
            exprs[c] = (x.min(), x.max())

    def finish(v: ColumnValues) -> dict[str, Any]:
        edges: dict[str, list[float]] = {}
        for c, values in v.items():
            cuts = _finite(values)
            if method != "quantile":
                lo, hi = cuts
                cuts = [] if lo is None or hi is None else [lo + (hi - lo) * i / n for i in range(1, n)]
            edges[c] = sorted({e for e in cuts if e is not None})
        return {"edges": edges}

    return Aggregations(exprs, finish)


def _bin_apply(step, state, lf, ctx):
    exprs = []
    for c, edges in state.get("edges", {}).items():
        if not ctx.has(c):
            continue
        x = _as_float(c, ctx.schema[c])
        # Vectorised maths may differ in the last bit between batch sizes; a value within a hair of
        # an edge goes below it, whatever the batch, so that replays bin exactly alike.
        index = (
            pl.sum_horizontal([(x > e + 1e-9 * max(1.0, abs(e))).cast(pl.Int32) for e in edges])
            if edges
            else pl.lit(0, pl.Int32)
        )
        exprs.append(pl.when(x.is_null()).then(None).otherwise(index).cast(pl.Int32).alias(feature_name(c, "bin")))
    return lf.with_columns(exprs) if exprs else lf


def _bin_outputs(step, state):
    return [feature_name(c, "bin") for c in step.columns]


# --- encode ------------------------------------------------------------------------------------------------

_TARGET_SMOOTHING = 10.0


def _encode_fit(step: EtlStep, ctx: ApplyContext) -> Fit:
    method = step.params.get("method", "onehot")
    cols = [c for c in _present(step, ctx) if c != ctx.target]
    if not cols:
        return None
    max_categories = int(step.params.get("max_categories", 10))

    def counts(lf: pl.LazyFrame, c: str) -> pl.DataFrame:
        return (
            lf.select(pl.col(c).cast(pl.String))
            .drop_nulls()
            .group_by(c)
            .agg(pl.len().alias("n"))
            .sort(["n", c], descending=[True, False])
            .collect()
        )

    def fit(lf: pl.LazyFrame) -> dict[str, Any]:
        state: dict[str, Any] = {}
        if method == "onehot":
            for c in cols:
                top = counts(lf, c)
                state[c] = {
                    "categories": top[c].head(max_categories).to_list(),
                    "other": top.height > max_categories,
                }
        elif method == "ordinal":
            for c in cols:
                state[c] = {"categories": sorted(counts(lf, c)[c].to_list())}
        elif method == "frequency":
            for c in cols:
                top = counts(lf, c)
                total = int(top["n"].sum()) or 1
                state[c] = {"frequencies": {v: n / total for v, n in top.iter_rows()}}
        elif method == "target":
            state = _target_fit(lf, cols, ctx)
        else:
            raise ValueError(f"unknown encoding {method!r}")
        return {"columns": state}

    return fit


def _target_fit(lf: pl.LazyFrame, cols: list[str], ctx: ApplyContext) -> dict[str, Any]:
    target = ctx.target
    if target is None or not ctx.has(target):
        raise ValueError("target encoding needs the target column in the training data")
    tdtype = ctx.schema[target]
    if _is_numeric(tdtype):
        outputs = [(None, pl.col(target).cast(pl.Float64))]
    else:
        classes = sorted(
            lf.select(pl.col(target).cast(pl.String)).drop_nulls().unique().collect()[target].to_list()
        )
        positives = classes[1:] if len(classes) == 2 else classes
        outputs = [(cls, (pl.col(target).cast(pl.String) == cls).cast(pl.Float64)) for cls in positives]
    state: dict[str, Any] = {}
    for c in cols:
        encodings = []
        for cls, y in outputs:
            frame = lf.select(pl.col(c).cast(pl.String), y.alias("__y")).filter(pl.col("__y").is_not_null())
            prior = frame.select(pl.col("__y").mean()).collect().item()
            grouped = (
                frame.drop_nulls(c).group_by(c).agg(pl.col("__y").sum().alias("s"), pl.len().alias("n")).collect()
            )
            prior = float(prior) if prior is not None else 0.0
            m = _TARGET_SMOOTHING
            mapping = {v: (s + m * prior) / (n + m) for v, s, n in grouped.sort(c).iter_rows()}
            encodings.append({"class": cls, "prior": prior, "mapping": mapping})
        state[c] = {"encodings": encodings}
    return state


def _encode_apply(step, state, lf, ctx):
    method = step.params.get("method", "onehot")
    exprs = []
    drop = []
    for c, s in state.get("columns", {}).items():
        if not ctx.has(c):
            continue
        x = pl.col(c).cast(pl.String)
        if method == "onehot":
            cats = s["categories"]
            for cat in cats:
                exprs.append((x == cat).fill_null(False).cast(pl.Int8).alias(feature_name(c, cat)))
            if s.get("other"):
                other = (~x.is_in(cats) & x.is_not_null()).cast(pl.Int8)
                exprs.append(other.alias(feature_name(c, _OTHER_LABEL)))
            drop.append(c)
        elif method == "ordinal":
            cats = s["categories"]
            exprs.append(
                pl.when(x.is_null())
                .then(None)
                .otherwise(x.replace_strict(cats, list(range(len(cats))), default=-1, return_dtype=pl.Int32))
                .alias(c)
            )
        elif method == "frequency":
            freq = s["frequencies"]
            exprs.append(
                x.replace_strict(list(freq), list(freq.values()), default=0.0, return_dtype=pl.Float64).alias(c)
            )
        else:
            for enc in s["encodings"]:
                mapping = enc["mapping"]
                name = c if enc["class"] is None or len(s["encodings"]) == 1 else feature_name(c, f"te_{enc['class']}")
                exprs.append(
                    x.replace_strict(
                        list(mapping), list(mapping.values()), default=enc["prior"], return_dtype=pl.Float64
                    ).alias(name)
                )
            if len(s["encodings"]) > 1:
                drop.append(c)
    lf = lf.with_columns(exprs) if exprs else lf
    return lf.drop(drop) if drop else lf


def _encode_outputs(step, state):
    method = step.params.get("method", "onehot")
    names = []
    for c, s in state.get("columns", {}).items():
        if method == "onehot":
            names += [feature_name(c, cat) for cat in s["categories"]]
            if s.get("other"):
                names.append(feature_name(c, _OTHER_LABEL))
        elif method == "target" and len(s["encodings"]) > 1:
            names += [feature_name(c, f"te_{e['class']}") for e in s["encodings"]]
    return names


# --- interaction ---------------------------------------------------------------------------------------------


def interaction_name(a: str, b: str) -> str:
    """Name of the product column of ``a`` and ``b``."""
    return f"{a}__x__{b}"


def _interaction_apply(step, state, lf, ctx):
    cols = step.columns
    pairs = [(cols[i], cols[i + 1]) for i in range(0, len(cols) - 1, 2)]
    exprs = [
        (pl.col(a).cast(pl.Float64) * pl.col(b).cast(pl.Float64)).alias(interaction_name(a, b))
        for a, b in pairs
        if ctx.has(a) and ctx.has(b)
    ]
    return lf.with_columns(exprs) if exprs else lf


def _interaction_outputs(step, state):
    cols = step.columns
    return [interaction_name(cols[i], cols[i + 1]) for i in range(0, len(cols) - 1, 2)]


def _no_fit(step: EtlStep, ctx: ApplyContext) -> Fit:
    return None


STEP_IMPLS: dict[str, StepImpl] = {
    "drop_columns": StepImpl(_no_fit, _drop_apply),
    "strings": StepImpl(_no_fit, _strings_apply),
    "cast": StepImpl(_cast_fit, _cast_apply),
    "invalid_to_null": StepImpl(_no_fit, _invalid_apply),
    "merge_categories": StepImpl(_merge_fit, _merge_apply),
    "dedupe": StepImpl(_no_fit, _dedupe_apply, row_filter=True, row_local=False, reads_all=True),
    "drop_rows_missing": StepImpl(_no_fit, _drop_rows_apply, row_filter=True, reads_all=True),
    "outliers": StepImpl(_outlier_fit, _outlier_apply, _outlier_outputs, row_filter=True),
    "missing_indicator": StepImpl(_no_fit, _indicator_apply, _indicator_outputs),
    "fill_missing": StepImpl(_fill_fit, _fill_apply),
    "date_parts": StepImpl(_date_fit, _date_apply, _date_outputs),
    "text_features": StepImpl(_no_fit, _text_apply, _text_outputs),
    "power": StepImpl(_power_fit, _power_apply),
    "scale": StepImpl(_scale_fit, _scale_apply),
    "bin": StepImpl(_bin_fit, _bin_apply, _bin_outputs),
    "encode": StepImpl(_encode_fit, _encode_apply, _encode_outputs, needs_target=True),
    "interaction": StepImpl(_no_fit, _interaction_apply, _interaction_outputs),
}
"""Every built-in step kind, in the order the planner emits them (its phases)."""

PLUGIN_STEP_KIND: Final = "plugin"
"""The kind of a step that runs a ``dsp.etl_plugins`` plugin; the planner puts these last."""

STEP_KINDS: tuple[str, ...] = (*STEP_IMPLS, PLUGIN_STEP_KIND)
"""Every step kind a plan may hold; ``shared_contracts.etl.StepKind`` must list the same, in this order."""
