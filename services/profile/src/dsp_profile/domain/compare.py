"""Comparing two datasets: what changed between A (the reference) and B.

The comparison is pure: it reads only its arguments, the two typed frames as ingested and their
profiles (whose semantic types decide how each column is compared).

How each common column is compared, by its kind (from A's semantic type):

* **numeric** (integer, float, currency, percent, latitude, longitude): PSI over A's decile bins,
  the two-sample Kolmogorov-Smirnov D and its p-value, means, medians, standard deviations;
* **datetime** (date, datetime): as numbers, in seconds since 1970-01-01 (``unit="epoch_seconds"``);
* **categorical** and **boolean**: chi-square over the levels, Cramér's V (bias-corrected), PSI
  over the levels (levels under :data:`RARE_LEVEL_SHARE` on both sides pooled as ``other``), the
  levels B has and A never had, and those of A that B lacks;
* **identifier**: only the missing share, and which share of B's values A also holds;
* **text** (text, email, url) and anything else: only the missing share.

Every shift is put on one PSI-like scale, the column's ``score`` (see :func:`column_score`), so
that columns of every kind rank together: 0.1 is a small shift, 0.25 a large one (the thresholds'
``psi_small`` and ``psi_large``). Effect sizes rank and gate the findings. A distribution or
missingness change also needs its test's p-value below ``thresholds.alpha``: on small samples the
effect sizes are noisy (two halves of 300 rows differ by a KS D of 0.1 by chance), so a change the
test cannot tell from sampling noise does not count, however large its effect size; on large samples
every difference is significant and the effect size alone decides.

Past :data:`SAMPLE_ROWS` rows a side, the distributions are compared on a seeded uniform sample of
that many rows of each side (``sample_rows`` and ``notes`` say so); row counts, missing shares and
the row overlap are always exact.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from datetime import UTC, datetime
from types import ModuleType

import numpy as np
import polars as pl
from shared_contracts.cancel import CancelToken
from shared_contracts.compare import (
    CategoricalShift,
    ColumnShift,
    CompareFinding,
    Comparison,
    LevelShare,
    NumericShift,
    RowOverlap,
    SchemaDiff,
    Severity,
    ShiftThresholds,
    TypeChange,
)
from shared_contracts.profile import Profile
from shared_contracts.progress import ProgressFn, no_progress

from .columns import NUMERIC_SEMANTICS, infer_semantic_type

__all__ = [
    "MIN_VALUES",
    "PSI_EPSILON",
    "RARE_LEVEL_SHARE",
    "SAMPLE_ROWS",
    "column_kind",
    "column_score",
    "compare_datasets",
    "population_stability_index",
    "rank_findings",
    "severity",
]

SAMPLE_ROWS = 200_000
"""Rows per side the distributions are compared on; a larger side is sampled (seeded)."""

PSI_EPSILON = 1e-4
"""Share given to an empty bin in the PSI, so that a bin empty on one side adds a finite term.

A bin of A holding none of B's values adds ``share_a * ln(share_a / 1e-4)``: for a decile bin
(share 0.1) about 0.69, a large shift, as it should be when B never takes A's values there.
"""

RARE_LEVEL_SHARE = 0.005
"""Levels under this share of the known values on both sides are pooled as ``other`` for the PSI."""

MAX_LEVELS = 30
"""At most this many levels are compared one by one (the most common); the rest are ``other``."""

MIN_VALUES = 20
"""Known values each side needs before its distributions are compared."""

TOP_LEVELS = 20
_SEED = 20_240_601
_DECILES = np.linspace(0.1, 0.9, 9)
_HASH_SEEDS = (7, 1_000_003)
_OTHER = "other"

_DATETIME_SEMANTICS = frozenset({"date", "datetime"})
_TEXT_SEMANTICS = frozenset({"text", "email", "url"})


def _scipy_stats() -> ModuleType:
    """``scipy.stats``, imported on first use: it takes seconds to import, and a profile run never needs it."""
    from scipy import stats

    return stats


def column_kind(semantic_type: str | None) -> str:
    """How a column with this semantic type is compared.

    Parameters
    ----------
    semantic_type
        The profile's semantic type of the column.

    Returns
    -------
    str
        One of ``numeric``, ``datetime``, ``categorical``, ``boolean``, ``identifier``, ``text``, ``other``.

    Examples
    --------
    >>> column_kind("currency"), column_kind("date"), column_kind("email"), column_kind("unsupported")
    ('numeric', 'datetime', 'text', 'other')
    """
    if semantic_type in NUMERIC_SEMANTICS:
        return "numeric"
    if semantic_type in _DATETIME_SEMANTICS:
        return "datetime"
    if semantic_type in ("categorical", "boolean", "identifier"):
        return semantic_type
    if semantic_type in _TEXT_SEMANTICS:
        return "text"
    return "other"


def population_stability_index(share_a: np.ndarray, share_b: np.ndarray) -> float:
    """PSI of two share vectors over the same bins: ``sum((b - a) * ln(b / a))``.

    Empty bins get the share :data:`PSI_EPSILON`.

    Examples
    --------
    >>> round(population_stability_index(np.array([0.5, 0.5]), np.array([0.5, 0.5])), 6)
    0.0
    >>> round(population_stability_index(np.array([0.5, 0.5]), np.array([0.7, 0.3])), 4)
    0.1695
    """
    a = np.clip(np.asarray(share_a, dtype=float), PSI_EPSILON, None)
    b = np.clip(np.asarray(share_b, dtype=float), PSI_EPSILON, None)
    a, b = a / a.sum(), b / b.sum()
    return float(np.sum((b - a) * np.log(b / a)))


def severity(score: float, thresholds: ShiftThresholds) -> Severity:
    """The severity of a score on the PSI-like scale.

    ``none`` under ``psi_small``, ``small`` up to halfway to ``psi_large``, ``moderate`` up to
    ``psi_large``, ``large`` from it.

    Examples
    --------
    >>> t = ShiftThresholds()
    >>> [severity(s, t) for s in (0.05, 0.12, 0.2, 0.41)]
    ['none', 'small', 'moderate', 'large']
    """
    if score >= thresholds.psi_large:
        return "large"
    if score >= (thresholds.psi_small + thresholds.psi_large) / 2:
        return "moderate"
    if score >= thresholds.psi_small:
        return "small"
    return "none"


def column_score(shift: ColumnShift, thresholds: ShiftThresholds, *, significant: bool = True,
                 missing_significant: bool = True) -> dict[str, float]:
    """The parts of a column's score, each mapped onto the PSI scale.

    Each effect size is scaled so that its own finding threshold lands on ``psi_small``:

    * PSI as it is;
    * KS D times ``psi_small / ks_small`` (D 0.1 scores 0.1);
    * Cramér's V times ``psi_small / cramers_v_small``;
    * the absolute change of the missing share times ``psi_small / missing_change`` (a change of
      5 points scores 0.1, of 12.5 points 0.25);
    * the share of B's values in new levels (or of A's in levels B lacks) times
      ``psi_small / new_level_share``.

    The column's score is the largest part. The distribution parts count only when
    ``significant`` (their test's p-value is under ``alpha``), the missingness part only when
    ``missing_significant``.

    Returns
    -------
    dict[str, float]
        ``distribution``, ``missingness`` and ``levels`` parts (0 when absent).
    """
    small = thresholds.psi_small
    distribution = 0.0
    levels = 0.0
    if shift.numeric is not None and significant:
        distribution = max(shift.numeric.psi, shift.numeric.ks_statistic * small / thresholds.ks_small)
    if shift.categorical is not None and significant:
        cat = shift.categorical
        distribution = max(cat.psi, (cat.cramers_v or 0.0) * small / thresholds.cramers_v_small)
        levels = max(cat.new_levels_share, cat.missing_levels_share) * small / thresholds.new_level_share
    missing = abs(shift.missing_b - shift.missing_a) * small / thresholds.missing_change if missing_significant else 0.0
    return {"distribution": distribution, "missingness": missing, "levels": levels}


# --- helpers on series (never ``pl.col(name)``: a column may be named like a regular expression) ---


def _missing_share(series: pl.Series) -> float:
    if series.len() == 0:
        return 0.0
    missing = series.null_count()
    if series.dtype.is_float():
        missing += int(series.is_nan().fill_null(False).sum())
    return missing / series.len()


def _semantic(profile: Profile, frame: pl.DataFrame) -> dict[str, str]:
    types = {c.name: str(c.semantic_type) for c in profile.columns}
    for name in frame.columns:
        if name not in types:
            series = frame.get_column(name)
            count = series.len() - series.null_count()
            types[name] = infer_semantic_type(series.dtype, distinct=series.drop_nulls().n_unique(), count=count)
    return types


def _as_numbers(series: pl.Series, kind: str) -> np.ndarray:
    """The finite values of a numeric or datetime column as float64 (datetimes in epoch seconds)."""
    if kind == "datetime":
        if series.dtype == pl.Date:
            values = series.cast(pl.Int64).cast(pl.Float64) * 86_400.0
        elif isinstance(series.dtype, pl.Datetime):
            values = series.dt.epoch("us").cast(pl.Float64) / 1e6
        else:
            return np.empty(0)
    elif series.dtype.is_numeric() or series.dtype == pl.Boolean:
        values = series.cast(pl.Float64)
    else:
        return np.empty(0)
    array = values.drop_nulls().to_numpy()
    return array[np.isfinite(array)]


def _level_counts(series: pl.Series, labels: Sequence[str] | None = None) -> dict[str, int]:
    """Counts of the known values as text; a boolean's as the file writes them (``labels``: false, true)."""
    counted = series.drop_nulls().cast(pl.String).rename("value").value_counts(sort=True)
    names = dict(zip(("false", "true"), labels, strict=True)) if series.dtype == pl.Boolean and labels else {}
    return {names.get(str(level), str(level)): int(count) for level, count in counted.iter_rows()}


def _numeric_shift(a: np.ndarray, b: np.ndarray, *, unit: str | None) -> NumericShift:
    cuts = np.unique(np.quantile(a, _DECILES))
    bins = cuts.size + 1
    count_a = np.bincount(np.searchsorted(cuts, a, side="left"), minlength=bins)
    count_b = np.bincount(np.searchsorted(cuts, b, side="left"), minlength=bins)
    share_a, share_b = count_a / a.size, count_b / b.size
    with warnings.catch_warnings():  # scipy falls back to the asymptotic p-value, and says so on stderr
        warnings.simplefilter("ignore", RuntimeWarning)
        ks = _scipy_stats().ks_2samp(a, b, method="auto" if max(a.size, b.size) <= 1000 else "asymp")
    lo, hi = float(min(a.min(), b.min())), float(max(a.max(), b.max()))
    return NumericShift(
        psi=population_stability_index(share_a, share_b),
        ks_statistic=float(ks.statistic),
        ks_pvalue=float(ks.pvalue),
        mean_a=float(a.mean()), mean_b=float(b.mean()),
        median_a=float(np.median(a)), median_b=float(np.median(b)),
        std_a=float(a.std(ddof=1)) if a.size > 1 else None,
        std_b=float(b.std(ddof=1)) if b.size > 1 else None,
        bin_edges=[lo, *(float(c) for c in cuts), hi],
        share_a=[float(s) for s in share_a],
        share_b=[float(s) for s in share_b],
        unit=unit,
    )


def _cramers_v(table: np.ndarray, chi2: float) -> float:
    """Bias-corrected Cramér's V (Bergsma 2013): about 0 on two samples of one population."""
    n = table.sum()
    rows, cols = table.shape
    if n <= 1 or min(rows, cols) < 2:
        return 0.0
    phi2 = max(0.0, chi2 / n - (rows - 1) * (cols - 1) / (n - 1))
    r = rows - (rows - 1) ** 2 / (n - 1)
    c = cols - (cols - 1) ** 2 / (n - 1)
    denominator = min(r - 1, c - 1)
    return float(math.sqrt(phi2 / denominator)) if denominator > 0 else 0.0


def _categorical_shift(counts_a: dict[str, int], counts_b: dict[str, int]) -> CategoricalShift:
    total_a, total_b = sum(counts_a.values()), sum(counts_b.values())
    levels = sorted(set(counts_a) | set(counts_b),
                    key=lambda v: (-max(counts_a.get(v, 0) / total_a, counts_b.get(v, 0) / total_b), v))
    kept = [v for v in levels[:MAX_LEVELS]
            if max(counts_a.get(v, 0) / total_a, counts_b.get(v, 0) / total_b) >= RARE_LEVEL_SHARE]
    if _OTHER in counts_a or _OTHER in counts_b:
        kept = [v for v in kept if v != _OTHER]  # a real level named 'other' is pooled with the rare ones
    other_a = total_a - sum(counts_a.get(v, 0) for v in kept)
    other_b = total_b - sum(counts_b.get(v, 0) for v in kept)
    row_a = [counts_a.get(v, 0) for v in kept] + ([other_a] if other_a or other_b else [])
    row_b = [counts_b.get(v, 0) for v in kept] + ([other_b] if other_a or other_b else [])
    table = np.array([row_a, row_b], dtype=float)
    table = table[:, table.sum(axis=0) > 0]
    psi = population_stability_index(table[0] / total_a, table[1] / total_b)
    chi2 = p_value = None
    cramers_v = 0.0
    if table.shape[1] >= 2:
        result = _scipy_stats().chi2_contingency(table, correction=False)
        chi2, p_value = float(result.statistic), float(result.pvalue)
        cramers_v = _cramers_v(table, chi2)
    new = [v for v in sorted(counts_b, key=lambda v: -counts_b[v]) if v not in counts_a]
    gone = [v for v in sorted(counts_a, key=lambda v: -counts_a[v]) if v not in counts_b]
    return CategoricalShift(
        psi=psi,
        chi2=chi2,
        chi2_pvalue=p_value,
        cramers_v=cramers_v,
        new_levels=new[:10],
        new_levels_share=sum(counts_b[v] for v in new) / total_b,
        missing_levels=gone[:10],
        missing_levels_share=sum(counts_a[v] for v in gone) / total_a,
        levels=[LevelShare(level=v, share_a=counts_a.get(v, 0) / total_a, share_b=counts_b.get(v, 0) / total_b)
                for v in levels[:TOP_LEVELS]],
    )


def _missing_pvalue(series_a: pl.Series, series_b: pl.Series, share_a: float, share_b: float) -> float:
    """Two-sided p-value of the difference of two missing shares (chi-square on the 2x2 table)."""
    n_a, n_b = series_a.len(), series_b.len()
    table = np.array([[share_a * n_a, (1 - share_a) * n_a], [share_b * n_b, (1 - share_b) * n_b]])
    if (table.sum(axis=0) == 0).any() or (table.sum(axis=1) == 0).any():
        return 1.0
    return float(_scipy_stats().chi2_contingency(table, correction=False).pvalue)


def _sample(frame: pl.DataFrame, rows: int, seed: int) -> pl.DataFrame:
    if frame.height <= rows:
        return frame
    picked = np.sort(np.random.default_rng(seed).choice(frame.height, rows, replace=False))
    return frame[pl.Series(picked)]


def _row_hashes(frame: pl.DataFrame, columns: Sequence[str], casts: dict[str, pl.DataType]) -> pl.DataFrame:
    """Two independent 64-bit hashes of every row on ``columns`` (NaN hashed as null), as columns h0, h1."""
    parts = []
    for name in columns:
        series = frame.get_column(name)
        if name in casts:
            series = series.cast(casts[name], strict=False)
        if series.dtype.is_float():
            series = series.fill_nan(None)
        parts.append(series)
    keyed = pl.DataFrame(parts) if parts else pl.DataFrame()
    if not parts or frame.height == 0:
        return pl.DataFrame({"h0": pl.Series([], dtype=pl.UInt64), "h1": pl.Series([], dtype=pl.UInt64)})
    return pl.DataFrame({f"h{i}": keyed.hash_rows(seed=seed) for i, seed in enumerate(_HASH_SEEDS)})


def _row_overlap(a: pl.DataFrame, b: pl.DataFrame, common: list[str]) -> RowOverlap:
    casts: dict[str, pl.DataType] = {}
    for name in common:
        dtype_a, dtype_b = a.schema[name], b.schema[name]
        if dtype_a != dtype_b and dtype_a.is_numeric() and dtype_b.is_numeric():
            casts[name] = pl.Float64()  # 3 and 3.0 are one value
        elif dtype_a != dtype_b:
            casts[name] = pl.String()  # equal values of differently typed columns hash alike as text
        elif isinstance(dtype_a, pl.Categorical | pl.Enum):
            casts[name] = pl.String()
    hashes_a, hashes_b = _row_hashes(a, common, casts), _row_hashes(b, common, casts)
    in_a = hashes_b.join(hashes_a.unique(), on=["h0", "h1"], how="semi").height if common else 0
    return RowOverlap(
        rows_a=a.height,
        rows_b=b.height,
        row_change=(b.height - a.height) / a.height if a.height else None,
        compared_on=list(common),
        rows_of_b_in_a=in_a,
        share_of_b_in_a=in_a / b.height if b.height else 0.0,
        duplicates_in_a=hashes_a.height - hashes_a.n_unique() if common else 0,
        duplicates_in_b=hashes_b.height - hashes_b.n_unique() if common else 0,
    )


# --- plain language ---


def _number(value: float | None, unit: str | None = None) -> str:
    """A value as a person reads it: 2,401; 0.731; 3.1e-05; dates as ISO dates."""
    if value is None or not math.isfinite(value):
        return "n/a"
    if unit == "epoch_seconds":
        stamp = datetime.fromtimestamp(value, UTC)
        return stamp.date().isoformat() if stamp.hour == stamp.minute == stamp.second == 0 else stamp.isoformat(
            timespec="seconds").replace("+00:00", "")
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.0f}"
    if magnitude >= 100:
        return f"{value:.1f}".rstrip("0").rstrip(".")
    if magnitude == 0 or magnitude >= 1e-3:
        return f"{value:.3g}"
    return f"{value:.2e}"


def _percent(share: float) -> str:
    return f"{100 * share:.1f}%" if share < 0.995 or share == 1 else f"{100 * share:.2f}%"


def _size(sev: Severity) -> str:
    return {"large": "a large", "moderate": "a moderate", "small": "a small", "none": "no notable"}[sev]


def _numeric_finding(shift: ColumnShift, num: NumericShift, score: float, sev: Severity,
                     thresholds: ShiftThresholds) -> tuple[str, str]:
    unit = num.unit
    scale = num.std_a or abs(num.median_a or 0.0) or 1.0
    moved = (num.median_b or 0.0) - (num.median_a or 0.0)
    mean_moved = (num.mean_b or 0.0) - (num.mean_a or 0.0)
    spread = (num.std_b or 0.0) / num.std_a if num.std_a else 1.0
    by_ks = num.ks_statistic * thresholds.psi_small / thresholds.ks_small > num.psi
    measure = f"KS D {num.ks_statistic:.2f}" if by_ks else f"PSI {num.psi:.2f}"
    if abs(moved) >= 0.1 * scale or abs(mean_moved) >= 0.1 * scale:
        use_median = abs(moved) >= 0.1 * scale
        which, before, after = ("median", num.median_a, num.median_b) if use_median else ("mean", num.mean_a, num.mean_b)
        direction = "up" if (moved if use_median else mean_moved) > 0 else "down"
        verb = "moved later" if unit == "epoch_seconds" and direction == "up" else (
            "moved earlier" if unit == "epoch_seconds" else f"moved {direction}")
        title = f"{shift.column} {verb}: {which} {_number(before, unit)} -> {_number(after, unit)}"
    elif spread >= 1.2 or spread <= 1 / 1.2:
        word = "widened" if spread > 1 else "narrowed"
        std_unit = None if unit == "epoch_seconds" else unit
        title = (f"{shift.column}'s spread {word}: standard deviation {_number(num.std_a, std_unit)} -> "
                 f"{_number(num.std_b, std_unit)}")
    else:
        title = f"{shift.column}'s distribution changed shape (median {_number(num.median_a, unit)} -> " \
                f"{_number(num.median_b, unit)})"
    title += f"; {measure}, {_size(sev)} shift"
    detail = (f"Over A's decile bins, PSI {num.psi:.3f}; Kolmogorov-Smirnov D {num.ks_statistic:.3f} "
              f"(p {num.ks_pvalue:.2g}). Mean {_number(num.mean_a, unit)} -> {_number(num.mean_b, unit)}.")
    return title, detail


def _categorical_finding(shift: ColumnShift, cat: CategoricalShift, sev: Severity,
                         thresholds: ShiftThresholds) -> tuple[str, str]:
    moved = max(cat.levels, key=lambda lv: abs(lv.share_b - lv.share_a), default=None)
    by_v = (cat.cramers_v or 0.0) * thresholds.psi_small / thresholds.cramers_v_small > cat.psi
    measure = f"Cramér's V {cat.cramers_v:.2f}" if by_v else f"PSI {cat.psi:.2f}"
    title = f"{shift.column}'s mix changed"
    if moved is not None:
        title += f": {moved.level} {_percent(moved.share_a)} -> {_percent(moved.share_b)}"
    title += f"; {measure}, {_size(sev)} shift"
    detail = (f"Chi-square {cat.chi2 or 0.0:.1f} (p {cat.chi2_pvalue if cat.chi2_pvalue is not None else 1.0:.2g}), "
              f"Cramér's V {cat.cramers_v or 0.0:.3f}, PSI over the levels {cat.psi:.3f}.")
    return title, detail


def _finding(kind: str, score: float, title: str, thresholds: ShiftThresholds, *, column: str | None = None,
             detail: str = "", evidence: dict[str, float | str | None] | None = None) -> CompareFinding:
    return CompareFinding(rank=1, kind=kind, column=column, severity=severity(score, thresholds),  # type: ignore[arg-type]
                          score=score, title=title, detail=detail, evidence=evidence or {},
                          chart_id=f"compare:column:{column}" if column is not None else None)


def rank_findings(findings: Sequence[CompareFinding]) -> list[CompareFinding]:
    """Findings most important first (highest score; ties: schema, then by column order), ranked 1..n.

    Parameters
    ----------
    findings
        The findings in the order they were made (a stable sort keeps it among equal scores).

    Returns
    -------
    list[CompareFinding]
        Copies with ``rank`` set from 1.
    """
    ordered = sorted(findings, key=lambda f: -f.score)
    return [f.model_copy(update={"rank": i}) for i, f in enumerate(ordered, start=1)]


def _column_findings(shift: ColumnShift, parts: dict[str, float], thresholds: ShiftThresholds) -> list[CompareFinding]:
    found: list[CompareFinding] = []
    small = thresholds.psi_small
    name = shift.column
    if parts["distribution"] >= small:
        sev = severity(parts["distribution"], thresholds)
        if shift.numeric is not None:
            title, detail = _numeric_finding(shift, shift.numeric, parts["distribution"], sev, thresholds)
            num = shift.numeric
            evidence: dict[str, float | str | None] = {
                "psi": num.psi, "ks_statistic": num.ks_statistic, "ks_pvalue": num.ks_pvalue,
                "median_a": num.median_a, "median_b": num.median_b, "mean_a": num.mean_a, "mean_b": num.mean_b,
                "std_a": num.std_a, "std_b": num.std_b}
        else:
            assert shift.categorical is not None
            cat = shift.categorical
            title, detail = _categorical_finding(shift, cat, sev, thresholds)
            evidence = {"psi": cat.psi, "chi2": cat.chi2, "chi2_pvalue": cat.chi2_pvalue, "cramers_v": cat.cramers_v}
        found.append(_finding("distribution", parts["distribution"], title, thresholds, column=name, detail=detail,
                              evidence=evidence))
    if parts["levels"] >= small and shift.categorical is not None:
        cat = shift.categorical
        bits = []
        if cat.new_levels_share * small / thresholds.new_level_share >= small:
            shown = ", ".join(repr(v) for v in cat.new_levels[:3]) + (", ..." if len(cat.new_levels) > 3 else "")
            bits.append(f"{_percent(cat.new_levels_share)} of B's values are in levels A never had ({shown})")
        if cat.missing_levels_share * small / thresholds.new_level_share >= small:
            shown = ", ".join(repr(v) for v in cat.missing_levels[:3]) + (", ..." if len(cat.missing_levels) > 3 else "")
            bits.append(f"levels holding {_percent(cat.missing_levels_share)} of A's values never occur in B ({shown})")
        found.append(_finding("levels", parts["levels"], f"{name}: " + "; ".join(bits), thresholds, column=name,
                              evidence={"new_levels_share": cat.new_levels_share,
                                        "new_levels": ", ".join(cat.new_levels),
                                        "missing_levels_share": cat.missing_levels_share,
                                        "missing_levels": ", ".join(cat.missing_levels)}))
    if parts["missingness"] >= small:
        direction = "more" if shift.missing_b > shift.missing_a else "less"
        found.append(_finding("missingness", parts["missingness"],
                              f"{name} is missing {direction} often: {_percent(shift.missing_a)} of rows in A -> "
                              f"{_percent(shift.missing_b)} in B", thresholds, column=name,
                              evidence={"missing_a": shift.missing_a, "missing_b": shift.missing_b}))
    return found


def _schema_findings(diff: SchemaDiff, thresholds: ShiftThresholds) -> list[CompareFinding]:
    found: list[CompareFinding] = []

    def names(columns: list[str]) -> str:
        return ", ".join(columns[:5]) + (f" and {len(columns) - 5} more" if len(columns) > 5 else "")

    if diff.removed:
        found.append(_finding("schema", thresholds.psi_large,
                              f"{len(diff.removed)} column{'s' if len(diff.removed) > 1 else ''} of A "
                              f"{'are' if len(diff.removed) > 1 else 'is'} missing from B: {names(diff.removed)}",
                              thresholds, detail="Whatever reads B as it read A (a model, a report) lacks them.",
                              evidence={"removed": ", ".join(diff.removed)}))
    for change in diff.changed_type:
        # a number read as another kind of number (integer as float) is compared all the same: a small finding
        same_kind = column_kind(change.type_a) == column_kind(change.type_b)
        found.append(_finding("schema", thresholds.psi_small if same_kind else thresholds.psi_large,
                              f"{change.column} changed type: {change.type_a} in A, {change.type_b} in B"
                              + (" (still compared as one kind)" if same_kind else ""),
                              thresholds, column=change.column,
                              evidence={"type_a": change.type_a, "type_b": change.type_b}))
    if diff.added:
        found.append(_finding("schema", thresholds.psi_small,
                              f"B has {len(diff.added)} column{'s' if len(diff.added) > 1 else ''} A does not: "
                              f"{names(diff.added)}", thresholds, evidence={"added": ", ".join(diff.added)}))
    return found


def _row_findings(rows: RowOverlap, thresholds: ShiftThresholds) -> list[CompareFinding]:
    found: list[CompareFinding] = []
    small = thresholds.psi_small
    if rows.row_change is not None and abs(rows.row_change) >= thresholds.row_change:
        score = abs(rows.row_change) * small / thresholds.row_change
        word = "more" if rows.row_change > 0 else "fewer"
        found.append(_finding("rows", score, f"B has {abs(rows.row_change):.0%} {word} rows than A: "
                                             f"{rows.rows_a:,} -> {rows.rows_b:,}", thresholds,
                              evidence={"rows_a": float(rows.rows_a), "rows_b": float(rows.rows_b),
                                        "row_change": rows.row_change}))
    # rows of B that repeat within B say how often rows coincide by the nature of the data (few columns of
    # few values): only the copies beyond that share are a finding
    chance = rows.duplicates_in_b / rows.rows_b if rows.rows_b else 0.0
    excess = rows.share_of_b_in_a - chance
    if rows.rows_b and excess >= thresholds.overlap_share:
        score = excess * small / thresholds.overlap_share
        found.append(_finding("overlap", score, f"{rows.rows_of_b_in_a:,} rows of B ({_percent(rows.share_of_b_in_a)}) "
                                                f"are copies of rows of A", thresholds,
                              detail=f"Matched on the {len(rows.compared_on)} common columns ({_percent(chance)} of "
                                     "B's rows repeat within B). A model trained on A and evaluated on B has seen "
                                     "these rows.",
                              evidence={"rows_of_b_in_a": float(rows.rows_of_b_in_a),
                                        "share_of_b_in_a": rows.share_of_b_in_a, "duplicate_share_b": chance}))
    return found


def compare_datasets(
    a: pl.DataFrame,
    b: pl.DataFrame,
    *,
    profile_a: Profile,
    profile_b: Profile,
    name_a: str,
    name_b: str,
    thresholds: ShiftThresholds | None = None,
    progress: ProgressFn = no_progress,
    cancel: CancelToken | None = None,
) -> Comparison:
    """Compare dataset B against dataset A (the reference).

    Parameters
    ----------
    a, b
        The typed data as ingested (ingest's Parquet read with Polars).
    profile_a, profile_b
        Their profiles: the semantic types decide how each column is compared.
    name_a, name_b
        Display names of the datasets.
    thresholds
        Effect sizes at which a change becomes a finding; the defaults when not given.
    progress
        Called with (fraction done, message) as the columns are compared.
    cancel
        Checked between columns; a cancelled token raises ``Cancelled``.

    Returns
    -------
    Comparison
        The schema diff, the common columns' shifts (most shifted first), the row overlap and
        the findings ranked 1..n (without the target part, which the ml stage adds).

    Raises
    ------
    shared_contracts.cancel.Cancelled
        When ``cancel`` is cancelled during the comparison.

    Examples
    --------
    >>> from shared_contracts.profile import Profile
    >>> a = pl.DataFrame({"x": [float(i) for i in range(100)]})
    >>> b = pl.DataFrame({"x": [i + 50.5 for i in range(100)]})
    >>> def typed(name):  # a profile giving only the semantic type
    ...     return Profile.model_construct(columns=[type("C", (), {"name": name, "semantic_type": "float"})()])
    >>> result = compare_datasets(a, b, profile_a=typed("x"), profile_b=typed("x"), name_a="A", name_b="B")
    >>> result.findings[0].title
    'x moved up: median 49.5 -> 100; PSI 4.37, a large shift'
    """
    thresholds = thresholds or ShiftThresholds()
    types_a, types_b = _semantic(profile_a, a), _semantic(profile_b, b)
    labels_a = {c.name: c.boolean_labels for c in profile_a.columns if getattr(c, "boolean_labels", None)}
    labels_b = {c.name: c.boolean_labels for c in profile_b.columns if getattr(c, "boolean_labels", None)}
    b_names = set(b.columns)
    a_names = set(a.columns)
    common = [n for n in a.columns if n in b_names]
    diff = SchemaDiff(
        added=[n for n in b.columns if n not in a_names],
        removed=[n for n in a.columns if n not in b_names],
        changed_type=[TypeChange(column=n, type_a=types_a[n], type_b=types_b[n])
                      for n in common if types_a[n] != types_b[n]],
        common=common,
    )
    notes: list[str] = []
    sampled = a.height > SAMPLE_ROWS or b.height > SAMPLE_ROWS
    sample_a, sample_b = _sample(a, SAMPLE_ROWS, _SEED), _sample(b, SAMPLE_ROWS, _SEED + 1)
    if sampled:
        notes.append(f"Distributions compared on a seeded uniform sample of at most {SAMPLE_ROWS:,} rows per side "
                     f"({sample_a.height:,} of A's {a.height:,}, {sample_b.height:,} of B's {b.height:,}); "
                     "row counts, missing shares and the row overlap are exact.")

    shifts: list[ColumnShift] = []
    findings: list[CompareFinding] = _schema_findings(diff, thresholds)
    too_few: list[str] = []
    effect: dict[str, float] = {}  # the effect sizes before the noise gate: order columns of equal score
    progress(0.0, f"comparing {len(common)} common columns")
    for done, name in enumerate(common):
        if cancel is not None:
            cancel.check(f"compare column {name}")
        full_a, full_b = a.get_column(name), b.get_column(name)
        kind_a, kind_b = column_kind(types_a[name]), column_kind(types_b[name])
        missing_a, missing_b = _missing_share(full_a), _missing_share(full_b)
        shift = ColumnShift(column=name, kind=kind_a, semantic_type_a=types_a[name],  # type: ignore[arg-type]
                            semantic_type_b=types_b[name], missing_a=missing_a, missing_b=missing_b,
                            score=0.0, chart_id=f"compare:column:{name}")
        significant = False
        comparable = kind_a == kind_b or {kind_a, kind_b} <= {"categorical", "boolean"}
        col_a, col_b = sample_a.get_column(name), sample_b.get_column(name)
        if comparable and kind_a in ("numeric", "datetime"):
            values_a, values_b = _as_numbers(col_a, kind_a), _as_numbers(col_b, kind_a)
            if min(values_a.size, values_b.size) >= MIN_VALUES:
                shift.numeric = _numeric_shift(values_a, values_b,
                                               unit="epoch_seconds" if kind_a == "datetime" else None)
                significant = (shift.numeric.ks_pvalue or 0.0) < thresholds.alpha
            elif values_a.size or values_b.size:
                too_few.append(name)
        elif comparable and kind_a in ("categorical", "boolean"):
            counts_a = _level_counts(col_a, labels_a.get(name))
            counts_b = _level_counts(col_b, labels_b.get(name) or labels_a.get(name))
            if min(sum(counts_a.values()), sum(counts_b.values())) >= MIN_VALUES:
                shift.categorical = _categorical_shift(counts_a, counts_b)
                p_value = shift.categorical.chi2_pvalue
                significant = p_value is not None and p_value < thresholds.alpha
            elif counts_a or counts_b:
                too_few.append(name)
        elif kind_a == "identifier":
            known_b = full_b.drop_nulls()
            if known_b.len():
                shared = known_b.cast(pl.String).is_in(full_a.drop_nulls().cast(pl.String).unique().implode())
                shift.id_overlap = int(shared.sum()) / shared.len()
        missing_significant = _missing_pvalue(full_a, full_b, missing_a, missing_b) < thresholds.alpha
        parts = column_score(shift, thresholds, significant=significant, missing_significant=missing_significant)
        effect[name] = max(column_score(shift, thresholds).values())
        shift.score = max(parts.values())
        shift.severity = severity(shift.score, thresholds)
        shifts.append(shift)
        findings.extend(_column_findings(shift, parts, thresholds))
        progress(0.9 * (done + 1) / max(len(common), 1), f"column {name}")
    if too_few:
        notes.append(f"Too few known values (under {MIN_VALUES} on a side) to compare the distributions of: "
                     + ", ".join(too_few[:10]) + (" ..." if len(too_few) > 10 else ""))
    notes.append(f"A distribution or missingness change counts when its effect size reaches its threshold and its "
                 f"test's p-value is under {thresholds.alpha} (the p-value alone never makes a finding).")

    if cancel is not None:
        cancel.check("compare rows")
    progress(0.95, "row overlap")
    rows = _row_overlap(a, b, common)
    findings.extend(_row_findings(rows, thresholds))
    position = {n: i for i, n in enumerate(common)}
    shifts.sort(key=lambda s: (-s.score, -effect[s.column], position[s.column]))
    progress(1.0, "comparison done")
    return Comparison(
        name_a=name_a,
        name_b=name_b,
        rows=rows,
        schema_diff=diff,
        columns=shifts,
        findings=rank_findings(findings),
        thresholds=thresholds,
        sample_rows=SAMPLE_ROWS if sampled else None,
        notes=notes,
    )
