"""Alerts: what in the data deserves attention, with the numbers behind each one.

Thresholds follow ydata-profiling's defaults where it has the same alert (for example
skewness above 20, correlation above 0.9, more than 50 categories, uniformity p-value
above 0.999, zeros above 5 %).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
import polars as pl
from shared_contracts.profile import (
    Alert,
    AlertType,
    ColumnProfile,
    CorrelationMatrix,
    Correlations,
    DatasetStats,
    Severity,
)

from .columns import CATEGORICAL_SEMANTICS, NUMERIC_SEMANTICS, ColumnFacts
from .numerics import chi_square_uniform_p

__all__ = ["AlertThresholds", "find_alerts"]

_SENTINEL_TEXT = frozenset(
    {"unknown", "n/a", "na", "n.a.", "none", "null", "nil", "-", "--", "?", "missing", "not available",
     "nan", "undefined", "tbd", "not applicable", "no data", "#n/a", "empty", "blank", "."}
)
_ID_NAME = re.compile(r"(?i:(^|[_\s.-])(id|uuid|guid|key|code|number|no)$|^id[_\s.-])|[a-z]Id$|ID$")
_AGE_LIKE = re.compile(r"(^|[_\s])(age|height|weight|price|income|salary)($|[_\s])", re.IGNORECASE)


@dataclass(frozen=True)
class AlertThresholds:
    """Where each alert fires."""

    high_correlation: float = 0.9
    high_cardinality: int = 50
    skewness: float = 20.0
    imbalance: float = 0.5
    zeros: float = 0.05
    uniform_p_value: float = 0.999
    outliers: float = 0.01
    leakage: float = 0.99
    """A near-identity with the target: strong drivers (diamonds' carat, Spearman 0.96) stay below it."""
    mixed_types_low: float = 0.05
    numbers_as_text: float = 0.95
    type_date: float = 0.9


def _alert(type_: AlertType, columns: list[str], severity: Severity, message: str, **evidence) -> Alert:
    return Alert(type=type_, columns=columns, severity=severity, evidence=evidence, message=message)


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _entropy_imbalance(counts: np.ndarray) -> float:
    """1 - normalised Shannon entropy of the category counts (0 balanced, 1 one class)."""
    total = counts.sum()
    if counts.size < 2 or total == 0:
        return 0.0
    p = counts / total
    p = p[p > 0]
    return float(1.0 - (-(p * np.log(p)).sum()) / math.log(counts.size))


def _column_alerts(c: ColumnProfile, f: ColumnFacts, rows: int, t: AlertThresholds) -> list[Alert]:
    out: list[Alert] = []
    name = [c.name]
    if rows and c.count == 0:
        out.append(_alert("EMPTY", name, "critical", f"Column '{c.name}' has no values at all.", missing=c.missing))
        out.append(_alert("REJECTED", name, "warning", f"Column '{c.name}' is empty and is left out of the analysis."))
        return out
    if c.semantic_type == "unsupported":
        out.append(_alert("UNSUPPORTED", name, "warning",
                          f"Column '{c.name}' has type {c.physical_type}, which is not analysed.",
                          physical_type=c.physical_type))
        out.append(_alert("REJECTED", name, "warning", f"Column '{c.name}' is left out of the analysis."))
    if c.missing:
        frac = c.missing_fraction
        sev: Severity = "critical" if frac >= 0.5 else "warning" if frac >= 0.05 else "info"
        out.append(_alert("MISSING", name, sev, f"{_pct(frac)} of '{c.name}' is missing ({c.missing} rows).",
                          missing=c.missing, fraction=frac))
    if c.count and c.distinct == 1:
        out.append(_alert("CONSTANT", name, "warning",
                          f"Column '{c.name}' holds a single value ({c.top_values[0].value!r}).",
                          distinct=1, value=c.top_values[0].value if c.top_values else None))
        out.append(_alert("REJECTED", name, "info", f"Column '{c.name}' is constant and carries no information."))
    if c.count > 1 and c.distinct == c.count:
        out.append(_alert("UNIQUE", name, "info", f"Every value of '{c.name}' is different.", distinct=c.distinct))
    id_like = c.count > 1 and c.distinct_fraction >= 0.99 and (
        c.semantic_type == "identifier"
        or (c.physical_type.startswith(("Int", "UInt")) and c.numeric is not None
            and c.numeric.monotonicity in ("strictly_increasing", "strictly_decreasing"))
        or (bool(_ID_NAME.search(c.name)) and c.semantic_type not in ("float", "currency", "percent", "latitude", "longitude"))
        or (c.strings is not None and c.strings.min_length == c.strings.max_length and c.semantic_type != "text")
    )
    if id_like:
        out.append(_alert("ID_LIKE", name, "warning",
                          f"'{c.name}' looks like an identifier: {_pct(c.distinct_fraction)} distinct values. "
                          "It identifies rows rather than describing them; leave it out of models.",
                          distinct_fraction=c.distinct_fraction))

    many_labels = c.semantic_type == "categorical" or (
        c.semantic_type == "text" and c.distinct_fraction < 0.5 and not id_like
    )
    if many_labels and c.distinct > t.high_cardinality:
        out.append(_alert("HIGH_CARDINALITY", name, "warning",
                          f"'{c.name}' has {c.distinct} distinct values (more than {t.high_cardinality}).",
                          distinct=c.distinct))
    labels = c.semantic_type in CATEGORICAL_SEMANTICS or (c.strings is not None and c.semantic_type != "text")
    if labels and f.value_counts is not None and 2 <= c.distinct <= 10_000 and f.value_counts.height == c.distinct:
        counts = f.value_counts["count"].to_numpy().astype(np.float64)
        imbalance = _entropy_imbalance(counts)
        if imbalance > t.imbalance:
            out.append(_alert("IMBALANCE", name, "warning",
                              f"'{c.name}' is dominated by few values (imbalance {imbalance:.2f}; "
                              f"the most frequent holds {_pct(counts.max() / counts.sum())}).",
                              imbalance=imbalance, top_share=float(counts.max() / counts.sum())))
        if counts.size > 2 and not id_like and c.distinct_fraction < 0.5:
            p = chi_square_uniform_p(counts)
            if p > t.uniform_p_value:
                out.append(_alert("UNIFORM", name, "info",
                                  f"The values of '{c.name}' are uniformly spread (chi-square p={p:.4f}).",
                                  p_value=p))

    n = c.numeric
    if n is not None and n.finite:
        if n.infinite:
            out.append(_alert("INFINITE", name, "warning",
                              f"'{c.name}' holds {n.infinite} infinite values.", infinite=n.infinite,
                              fraction=n.infinite / max(c.count, 1)))
        zero_frac = n.zeros / max(c.count, 1)
        if zero_frac > t.zeros and c.semantic_type != "boolean":
            out.append(_alert("ZEROS", name, "info", f"{_pct(zero_frac)} of '{c.name}' is zero.",
                              zeros=n.zeros, fraction=zero_frac))
        if n.skewness is not None and abs(n.skewness) > t.skewness:
            out.append(_alert("SKEWED", name, "info",
                              f"'{c.name}' is highly skewed (skewness {n.skewness:.1f}).", skewness=n.skewness))
        out_frac = n.outliers_iqr / n.finite
        if n.outliers_iqr and out_frac > t.outliers:
            out.append(_alert("OUTLIERS", name, "warning" if out_frac > 0.05 else "info",
                              f"{n.outliers_iqr} values of '{c.name}' ({_pct(out_frac)}) lie beyond 1.5 IQR of the "
                              f"quartiles; {n.outliers_mad} have a robust z-score above 3.5.",
                              outliers_iqr=n.outliers_iqr, outliers_mad=n.outliers_mad, fraction=out_frac,
                              lower_fence=(n.p25 or 0) - 1.5 * (n.iqr or 0), upper_fence=(n.p75 or 0) + 1.5 * (n.iqr or 0)))
        if (c.histogram is not None and len(c.histogram.counts) > 2 and c.distinct > len(c.histogram.counts)
                and not id_like):
            p = chi_square_uniform_p(np.asarray(c.histogram.counts))
            if p > t.uniform_p_value:
                out.append(_alert("UNIFORM", name, "info",
                                  f"The values of '{c.name}' are uniformly spread (chi-square p={p:.4f}).",
                                  p_value=p))
        out.extend(_disguised_numeric(c, n, f.sentinel_counts))

    if c.strings is not None and f.value_counts is not None:
        out.extend(_string_alerts(c, f.value_counts, t))
    return out


def _disguised_numeric(c: ColumnProfile, n, sentinel_counts: dict[float, int]) -> list[Alert]:
    out = []
    for sentinel, hits in sorted(sentinel_counts.items(), key=lambda kv: -kv[1]):
        if hits >= c.count / 2 or hits < max(2, 0.001 * c.count):
            continue  # the bulk of the column, or too rare to be a habit rather than chance
        # a code stands apart from the other values: opposite sign, or ten times beyond the bulk
        apart = (
            (sentinel < 0 and n.p5 is not None and n.p5 >= 0)
            or (sentinel > 0 and n.p95 is not None and n.p95 < sentinel / 10)
            or (sentinel < 0 and n.p5 is not None and n.p5 > sentinel / 10)
        )
        if apart:
            out.append(_alert("DISGUISED_MISSING", [c.name], "warning",
                              f"'{c.name}' holds {hits} values of {sentinel:g}, a usual code for a missing value.",
                              value=sentinel, count=hits))
            break
    if n.zeros and _AGE_LIKE.search(c.name) and n.zeros / max(c.count, 1) < 0.5:
        out.append(_alert("DISGUISED_MISSING", [c.name], "info",
                          f"'{c.name}' holds {n.zeros} zeros, which for this quantity likely mean 'unknown'.",
                          value=0, count=n.zeros))
    return out


def _string_alerts(c: ColumnProfile, vc: pl.DataFrame, t: AlertThresholds) -> list[Alert]:
    out = []
    name = [c.name]
    s = c.strings
    assert s is not None
    value_col = vc.columns[0]
    v = pl.col(value_col)
    if c.distinct > 1 and s.min_length == s.max_length and c.semantic_type not in ("boolean",):
        out.append(_alert("CONSTANT_LENGTH", name, "info",
                          f"Every value of '{c.name}' has {s.min_length} characters.", length=s.min_length))
    non_empty = c.count - s.empty
    if non_empty and not c.overridden:  # the user chose the type: suggesting another one is noise
        numeric_share = s.numeric_like / non_empty
        if numeric_share >= t.numbers_as_text:
            out.append(_alert("NUMBERS_AS_TEXT", name, "warning",
                              f"{_pct(numeric_share)} of '{c.name}' are numbers stored as text.",
                              fraction=numeric_share))
        elif numeric_share >= t.mixed_types_low:
            out.append(_alert("MIXED_TYPES", name, "warning",
                              f"'{c.name}' mixes numbers ({_pct(numeric_share)}) and text.",
                              numeric_fraction=numeric_share))
    sentinel = vc.filter(v.str.strip_chars().str.to_lowercase().is_in(list(_SENTINEL_TEXT)) | (v.str.strip_chars() == ""))
    if sentinel.height:
        hits = int(sentinel["count"].sum())
        out.append(_alert("DISGUISED_MISSING", name, "warning",
                          f"'{c.name}' holds {hits} values such as {sentinel[value_col][0]!r} that mean 'missing'.",
                          count=hits, values=", ".join(repr(x) for x in sentinel[value_col].head(5).to_list())))
    if c.semantic_type in ("categorical", "boolean") or c.distinct <= 1000:
        folded = vc.with_columns(v.str.strip_chars().str.to_lowercase().alias("__fold"))
        groups = folded.group_by("__fold").agg(pl.len().alias("variants"), pl.col("count").sum()).filter(pl.col("variants") > 1)
        if groups.height:
            example = folded.filter(pl.col("__fold") == groups["__fold"][0])[value_col].head(3).to_list()
            out.append(_alert("INCONSISTENT_CATEGORY", name, "warning",
                              f"'{c.name}' spells {groups.height} categories in several ways "
                              f"(case or surrounding spaces), e.g. {example}.",
                              categories=groups.height, rows=int(groups["count"].sum())))
        dirty = (
            folded.with_columns(pl.col("__fold").str.replace_all(r"[^\p{L}\p{N}]", "").alias("__dirty"))
            .group_by("__dirty")
            .agg(pl.col("__fold").n_unique().alias("variants"), pl.col("count").sum())
            .filter((pl.col("variants") > 1) & (pl.col("__dirty") != ""))
        )
        if dirty.height:
            out.append(_alert("DIRTY_CATEGORY", name, "warning",
                              f"'{c.name}' has {dirty.height} categories that differ only by punctuation or spacing.",
                              categories=dirty.height, rows=int(dirty["count"].sum())))
    if c.semantic_type in ("categorical", "text") and c.count and not c.overridden:
        sample = vc.head(1000)
        parsed = sample.select(v.str.strip_chars().str.to_datetime(strict=False).is_not_null().cast(pl.Int64).mul(pl.col("count")).sum()).item()
        share = parsed / int(sample["count"].sum())
        if share >= t.type_date:
            out.append(_alert("TYPE_DATE", name, "warning",
                              f"'{c.name}' holds dates stored as text ({_pct(share)} parse as dates).",
                              fraction=share))
    return out


def _matrices(corr: Correlations) -> list[CorrelationMatrix]:
    """The correlation matrices that were computed, in alert order."""
    return [m for m in (corr.pearson, corr.spearman, corr.cramers_v, corr.correlation_ratio) if m is not None]


def _pairs(matrix: CorrelationMatrix, threshold: float) -> list[tuple[str, str, float]]:
    out = []
    symmetric = matrix.rows == matrix.columns
    for i, a in enumerate(matrix.rows):
        for j, b in enumerate(matrix.columns):
            if symmetric and j <= i:
                continue
            v = matrix.values[i][j]
            if v is not None and a != b and abs(v) > threshold:
                out.append((a, b, v))
    return out


def _correlation_alerts(corr: Correlations, t: AlertThresholds, target: str | None) -> list[Alert]:
    out = []
    seen: set[frozenset[str]] = set()
    for matrix in _matrices(corr):
        for a, b, v in _pairs(matrix, t.high_correlation):
            key = frozenset((a, b))
            if key in seen or target in key:
                continue
            seen.add(key)
            out.append(_alert("HIGH_CORRELATION", [a, b], "warning",
                              f"'{a}' and '{b}' are strongly associated ({matrix.method} {v:.3f}).",
                              method=matrix.method, value=v))
    if target is not None:
        for matrix in _matrices(corr):
            for a, b, v in _pairs(matrix, t.leakage):
                if target not in (a, b):
                    continue
                other = b if a == target else a
                key = frozenset((other, "__leak"))
                if key in seen:
                    continue
                seen.add(key)
                out.append(_alert("TARGET_LEAKAGE", [other, target], "critical",
                                  f"'{other}' is all but identical to the target '{target}' ({matrix.method} "
                                  f"{v:.3f}); it may be computed from the target or known only after it.",
                                  method=matrix.method, value=v))
    return out


def _time_series_alerts(facts: dict[str, ColumnFacts], sample: pl.DataFrame, rows: int) -> list[Alert]:
    """NON_STATIONARY and SEASONAL, when rows are ordered by a date column (time-series data)."""
    time_cols = [n for n, f in facts.items() if f.is_temporal and f.profile.dates is not None
                 and f.profile.dates.frequency is not None and f.profile.count == rows
                 and f.profile.distinct == rows]
    if not time_cols or rows < 24 or sample.height != rows:
        return []
    out = []
    for name, f in facts.items():
        c = f.profile
        if not f.is_numeric or c.semantic_type not in NUMERIC_SEMANTICS or c.missing or not c.numeric or not c.numeric.std:
            continue
        if c.numeric.monotonicity != "none" and c.distinct == rows:
            continue  # a row counter, not a measurement
        y = sample[name].cast(pl.Float64).to_numpy()
        if not np.all(np.isfinite(y)):
            continue
        x = np.arange(y.size, dtype=np.float64)
        slope, intercept = np.polyfit(x, y, 1)
        resid = y - (slope * x + intercept)
        r2 = 1 - resid.var() / y.var() if y.var() > 0 else 0.0
        if r2 > 0.5:
            out.append(_alert("NON_STATIONARY", [name], "info",
                              f"'{name}' trends over time (a linear trend explains {_pct(r2)} of its variance).",
                              trend_r2=float(r2), slope_per_row=float(slope)))
        if resid.var() <= 1e-9 * y.var():
            continue
        best_lag, best_acf = 0, 0.0
        centred = resid - resid.mean()
        denom = float(np.dot(centred, centred))
        for lag in (4, 7, 12, 24, 52, 365):
            if lag * 2 >= y.size:
                break
            acf = float(np.dot(centred[:-lag], centred[lag:])) / denom
            if acf > best_acf:
                best_lag, best_acf = lag, acf
        if best_acf > 0.5:
            out.append(_alert("SEASONAL", [name], "info",
                              f"'{name}' repeats with a period of {best_lag} rows (autocorrelation {best_acf:.2f}).",
                              period=best_lag, autocorrelation=best_acf))
    return out


def find_alerts(
    *,
    dataset: DatasetStats,
    facts: dict[str, ColumnFacts],
    correlations: Correlations,
    sample: pl.DataFrame,
    target: str | None = None,
    thresholds: AlertThresholds | None = None,
) -> list[Alert]:
    """Every alert for a profiled dataset.

    Parameters
    ----------
    dataset
        Table-level statistics.
    facts
        Column profiles with their intermediates, by column name.
    correlations
        The association matrices.
    sample
        The rows the correlations used (all rows when small), in row order.
    target
        Target column, for the leakage check.
    thresholds
        Where alerts fire; ydata-profiling's defaults when None.

    Returns
    -------
    list of Alert
        Dataset alerts first, then column alerts in column order, then pairwise alerts.
    """
    t = thresholds or AlertThresholds()
    out: list[Alert] = []
    if dataset.rows == 0:
        out.append(_alert("EMPTY", [], "critical", "The dataset has no rows.", rows=0))
    if dataset.duplicate_rows:
        sev: Severity = "warning" if dataset.duplicate_fraction >= 0.01 else "info"
        out.append(_alert("DUPLICATES", [], sev,
                          f"{dataset.duplicate_rows} rows ({_pct(dataset.duplicate_fraction)}) repeat an earlier row exactly.",
                          duplicate_rows=dataset.duplicate_rows, fraction=dataset.duplicate_fraction))
    if dataset.near_duplicate_rows:
        out.append(_alert("NEAR_DUPLICATES", [], "info",
                          f"{dataset.near_duplicate_rows} more rows repeat an earlier row once case, spaces and "
                          "rounding are ignored.",
                          near_duplicate_rows=dataset.near_duplicate_rows,
                          fraction=dataset.near_duplicate_rows / max(dataset.rows, 1)))
    for f in facts.values():
        out.extend(_column_alerts(f.profile, f, dataset.rows, t))
    out.extend(_correlation_alerts(correlations, t, target))
    out.extend(_time_series_alerts(facts, sample, dataset.rows))
    return out
