"""Prove the reader keeps the values of a CSV: ingest it, read it back, compare with pandas.

``compare_csv`` ingests a file with ``dsp_ingest.domain.ingest_csv``, reads the Parquet with
Polars and compares every column with ``pandas.read_csv`` of the same file: row counts, header,
missing counts and means of numeric columns (relative tolerance 1e-6), distinct values (no two
values merged into one), text values, dates. Every difference is classified:

- **documented**: the ingest report says what was done to that column (an NA token it lists for
  the column, a coercion it lists, a non-number it counted as unparseable, an identifier kept as
  text), or the reader kept a value pandas takes as missing (R writes missing values as a bare
  ``NA`` only);
- **silent**: the values changed and the report does not say so.

The reader's report grows; the classifier reads the fields below with ``getattr`` defaults, so it
works on today's report and on the richer one without a change here.
"""

from __future__ import annotations

import math
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import polars as pl

__all__ = ["Difference", "FileResult", "compare_csv", "compare_frames"]

# Per-column report fields that may list the NA tokens taken in that column (token -> count, or a list).
COLUMN_NA_FIELDS = ("na_tokens", "na_tokens_taken", "na_tokens_found", "missing_tokens")
# Report-level fields mapping a column name to the NA tokens taken in it.
REPORT_NA_FIELDS = ("na_tokens_by_column", "column_na_tokens")
# Per-column fields counting values coerced (changed or nulled) on purpose, and report-level lists of them.
COLUMN_COERCION_FIELDS = ("coerced_count", "coercions", "coerced", "coercion_count")
REPORT_COERCION_FIELDS = ("coercions", "coerced_values", "value_changes")

REL_TOL = 1e-6


@dataclass(frozen=True)
class Difference:
    """One way a column (or the file) came out of the reader different from pandas' reading."""

    column: str
    kind: str
    detail: str
    documented: bool
    evidence: str = ""

    @property
    def silent(self) -> bool:
        return not self.documented


@dataclass
class FileResult:
    """The comparison of one CSV."""

    name: str
    rows: int = 0
    columns: int = 0
    differences: list[Difference] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0
    report: Any = None
    """The reader's ``IngestReport`` (None when it refused the file)."""
    output: pl.DataFrame | None = None
    """The reader's output, as read back from its Parquet file."""

    @property
    def silent(self) -> list[Difference]:
        return [d for d in self.differences if d.silent]

    def kinds(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for d in self.differences:
            key = f"{d.kind} ({'documented' if d.documented else 'silent'})"
            out[key] = out.get(key, 0) + 1
        return out


def _tokens(value: Any) -> set[str]:
    if not value:
        return set()
    if isinstance(value, dict):
        return {str(k).lower() for k, v in value.items() if v}
    if isinstance(value, str):
        return {value.lower()}
    if isinstance(value, Iterable):
        out: set[str] = set()
        for item in value:
            out |= _tokens(getattr(item, "token", item))
        return out
    return set()


def _na_tokens_listed(report: Any, column: Any) -> set[str]:
    """NA tokens the report says it took in ``column`` (lower-cased)."""
    listed: set[str] = set()
    for name in COLUMN_NA_FIELDS:
        listed |= _tokens(getattr(column, name, None))
    for name in REPORT_NA_FIELDS:
        mapping = getattr(report, name, None) or {}
        if isinstance(mapping, dict):
            listed |= _tokens(mapping.get(column.name))
    return listed


def _count(value: Any) -> int:
    if value is None or isinstance(value, bool):
        return int(bool(value))
    if isinstance(value, int | float):
        return int(value)
    if isinstance(value, dict):
        return sum(_count(v) for v in value.values()) if value else 0
    if isinstance(value, list | tuple):
        return sum(max(1, _count(getattr(v, "count", None) or (v.get("count") if isinstance(v, dict) else 1)))
                   for v in value)
    return 0


def _coercions_listed(report: Any, column: Any) -> int:
    """How many values of ``column`` the report says it coerced on purpose (0 when it says nothing)."""
    total = sum(_count(getattr(column, name, None)) for name in COLUMN_COERCION_FIELDS)
    for name in REPORT_COERCION_FIELDS:
        for item in getattr(report, name, None) or []:
            owner = getattr(item, "column", None) or (item.get("column") if isinstance(item, dict) else None)
            if owner == column.name:
                count = getattr(item, "count", None) or (item.get("count") if isinstance(item, dict) else None)
                total += int(count) if count else 1
    return total


def _close(a: float | None, b: float | None, *, scale: float) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return math.isclose(a, b, rel_tol=REL_TOL, abs_tol=REL_TOL * max(scale, 1e-12))


def _sample(values: pd.Series, limit: int = 5) -> str:
    counts = values.astype(str).value_counts().head(limit)
    return ", ".join(f"{v!r}×{n}" for v, n in counts.items())


def _numeric_reference(name: str, ref: pd.Series, ours: pl.Series, col: Any, report: Any,
                       raw: Callable[[], pd.Series] | None = None) -> list[Difference]:
    """A column pandas reads as numbers: same missing count, same mean, nothing merged."""
    diffs: list[Difference] = []
    ref_values = ref.astype("float64")
    if ours.dtype.is_temporal():
        return [Difference(name, "numbers_read_as_dates", f"read as {ours.dtype}", False)]
    as_float = ours.cast(pl.Float64, strict=False) if ours.dtype != pl.String else ours.str.strip_chars().cast(
        pl.Float64, strict=False)
    ours_values = as_float.to_pandas()
    ref_missing = ref_values.isna()
    ours_missing = ours_values.isna().to_numpy()
    nulled = ~ref_missing.to_numpy() & ours_missing
    semantic = getattr(col, "semantic_type", "")
    if nulled.any():
        lost = raw()[nulled] if raw is not None else ref[nulled]
        coerced = _coercions_listed(report, col)
        if ours.dtype == pl.String and semantic in ("identifier", "categorical"):
            diffs.append(Difference(name, "number_kept_as_code", f"{int(nulled.sum())} value(s) kept as text "
                                    f"({semantic}): {_sample(lost)}", True, f"semantic_type={semantic}"))
            return diffs
        documented = coerced >= int(nulled.sum())
        diffs.append(Difference(name, "numbers_nulled", f"{int(nulled.sum())} number(s) stored as null, e.g. "
                                f"{_sample(lost)}", documented, f"coercions={coerced}" if documented else ""))
    filled = ref_missing.to_numpy() & ~ours_missing
    if filled.any():
        diffs.append(Difference(name, "missing_filled", f"{int(filled.sum())} missing value(s) got a value", False))
    if not nulled.any() and not filled.any():
        both = ~ref_missing.to_numpy()
        scale = float(ref_values[both].abs().mean()) if both.any() else 0.0
        ref_mean = float(ref_values[both].mean()) if both.any() else None
        ours_mean = float(ours_values[both].mean()) if both.any() else None
        if not _close(ref_mean, ours_mean, scale=scale):
            diffs.append(Difference(name, "mean_changed", f"mean {ref_mean!r} -> {ours_mean!r}", False))
        elif ours.drop_nulls().n_unique() < ref.nunique():
            diffs.append(Difference(name, "values_merged", f"{ref.nunique()} distinct values -> "
                                    f"{ours.drop_nulls().n_unique()}", False))
    return diffs


def _taken_as_missing(name: str, lost: pd.Series, col: Any, report: Any, kind: str) -> Difference:
    listed = _na_tokens_listed(report, col)
    values = {str(v).strip().lower() for v in lost.unique()}
    documented = bool(values) and values <= listed
    return Difference(name, kind, f"{len(lost)} value(s) stored as null: {_sample(lost)}", documented,
                      f"listed NA tokens {sorted(listed)}" if documented else "")


def _text_reference(name: str, ref: pd.Series, ours: pl.Series, col: Any, report: Any) -> list[Difference]:
    """A column pandas reads as text (or logicals): the same values, or a one-to-one recoding of them."""
    diffs: list[Difference] = []
    ref_missing = ref.isna().to_numpy()
    ours_pd = ours.to_pandas()
    ours_missing = ours_pd.isna().to_numpy()
    nulled = ~ref_missing & ours_missing
    if nulled.any():
        lost = ref[nulled]
        if ours.dtype.is_numeric() or ours.dtype.is_temporal():
            parses = pd.to_numeric(lost, errors="coerce").notna() if ours.dtype.is_numeric() else pd.Series(
                False, index=lost.index)
            unparseable = int(getattr(col, "unparseable_count", 0) or 0) + _coercions_listed(report, col)
            misfits = lost[~parses.to_numpy()]
            if len(misfits):
                tokens = _taken_as_missing(name, misfits, col, report, "na_token_taken")
                if not tokens.documented:
                    documented = unparseable >= len(misfits)
                    diffs.append(Difference(name, "misfits_nulled", f"{len(misfits)} non-{ours.dtype} value(s) "
                                            f"stored as null: {_sample(misfits)}", documented,
                                            f"unparseable_count={unparseable}" if documented else ""))
                else:
                    diffs.append(tokens)
            if parses.any():
                diffs.append(Difference(name, "numbers_nulled", f"{int(parses.sum())} number(s) stored as null: "
                                        f"{_sample(lost[parses.to_numpy()])}", False))
        else:
            diffs.append(_taken_as_missing(name, lost, col, report, "na_token_taken"))
    filled = ref_missing & ~ours_missing
    if filled.any():
        diffs.append(Difference(name, "kept_pandas_na", f"{int(filled.sum())} value(s) pandas takes as missing were "
                                f"kept: {_sample(ours_pd[filled])}", True, "R writes missing values as bare NA"))
    both = ~ref_missing & ~ours_missing
    if not both.any():
        return diffs
    r, o = ref[both], ours_pd[both]
    if ours.dtype == pl.String:
        written, read = r.astype(str).to_numpy(), o.astype(str).to_numpy()
        changed = written != read
        if changed.any():
            pairs = [f"{a!r}->{b!r}" for a, b in list(zip(r[changed], o[changed], strict=True))[:3]]
            # trimming blanks is a reported decision when the report counts every trimmed value
            only_trimmed = all(a.strip() == b for a, b in zip(written[changed], read[changed], strict=True))
            trimmed = getattr(col, "trimmed_values", 0) if col is not None else 0
            documented = only_trimmed and trimmed >= int(changed.sum())
            diffs.append(Difference(name, "text_trimmed" if only_trimmed else "text_changed",
                                    f"{int(changed.sum())} value(s) changed: {', '.join(pairs)}", documented,
                                    f"trimmed_values={trimmed}" if documented else ""))
        return diffs
    if ours.dtype.is_temporal():
        fmt_first = getattr(col, "day_first", None)
        reference = pd.to_datetime(r.astype(str), format="mixed", dayfirst=bool(fmt_first), errors="coerce")
        values = pd.to_datetime(o)
        if getattr(values.dt, "tz", None) is not None:
            values = values.dt.tz_convert(None)
        if getattr(reference.dt, "tz", None) is not None:
            reference = reference.dt.tz_convert(None)
        known = reference.notna().to_numpy()
        changed = known & (reference.to_numpy() != values.to_numpy())
        if changed.any():
            pairs = [f"{a!r}->{b}" for a, b in list(zip(r[changed], values[changed], strict=True))[:3]]
            diffs.append(Difference(name, "dates_changed", f"{int(changed.sum())} date(s) differ: {', '.join(pairs)}",
                                    False))
        return diffs
    if ours.dtype.is_numeric() and ours.dtype != pl.Boolean:
        numbers = pd.to_numeric(r, errors="coerce")
        known = numbers.notna().to_numpy()
        changed = known & ~pd.Series(o.to_numpy(dtype="float64")).eq(pd.Series(numbers.to_numpy())).to_numpy()
        if changed.any():
            diffs.append(Difference(name, "numbers_changed", f"{int(changed.sum())} value(s) differ", False))
        return diffs
    # A recoding (text to booleans): it must be one-to-one.
    ref_distinct = r.astype(str).nunique()
    ours_distinct = o.astype(str).nunique()
    pairs = pd.DataFrame({"r": r.astype(str).to_numpy(), "o": o.astype(str).to_numpy()}).drop_duplicates()
    if ours_distinct < ref_distinct or len(pairs) > ref_distinct:
        merged = pairs.groupby("o")["r"].apply(lambda s: sorted(s)).to_dict()
        shown = "; ".join(f"{v} -> {k}" for k, v in merged.items() if len(v) > 1)
        diffs.append(Difference(name, "values_collapsed", f"{ref_distinct} distinct values -> {ours_distinct}: {shown}",
                                False))
    return diffs


def compare_frames(reference: pd.DataFrame, ours: pl.DataFrame, report: Any, *, header: list[str],
                   raw: Callable[[int], pd.Series] | None = None) -> list[Difference]:
    """Every difference between pandas' reading and the reader's output of the same file.

    ``raw(position)``, when given, returns a column's text as written in the file, so that the
    differences quote the text the reader saw rather than pandas' reading of it.
    """
    diffs: list[Difference] = []
    if not report.has_header:
        diffs.append(Difference("(header)", "header_read_as_data", f"header {header[:4]}... taken as a data row",
                                False))
        if ours.height == reference.shape[0] + 1:
            ours = ours.slice(1)
    if ours.height != reference.shape[0] or ours.width != reference.shape[1]:
        diffs.append(Difference("(file)", "shape_changed", f"{reference.shape} -> {ours.shape}", False))
        if ours.width != reference.shape[1]:
            return diffs
    if ours.height != reference.shape[0]:
        return diffs
    for position, (col, ref_name) in enumerate(zip(report.columns, reference.columns, strict=True)):
        name = header[position] or col.name
        ref = reference[ref_name]
        values = ours[col.name]
        if position == 0 and header[0] == "" and col.semantic_type != "identifier":
            diffs.append(Difference(name or "(rownames)", "rownames_not_identifier",
                                    f"R's row names read as {col.semantic_type}", False))
        if values.dtype.is_temporal() and values.dtype != pl.Datetime and values.dtype != pl.Date:
            values = values.cast(pl.String)
        if pd.api.types.is_numeric_dtype(ref.dtype) and not pd.api.types.is_bool_dtype(ref.dtype):
            diffs += _numeric_reference(name, ref, values, col, report,
                                        raw=(lambda p=position: raw(p)) if raw is not None else None)
        else:
            diffs += _text_reference(name, ref, values, col, report)
    return diffs


def _r_header(path: Path) -> list[str]:
    import csv

    with path.open(newline="", encoding="utf-8") as handle:
        return next(csv.reader(handle))


def compare_csv(path: Path, *, name: str | None = None, work_dir: Path | None = None,
                options: Any = None) -> FileResult:
    """Ingest ``path`` with the reader and compare it with ``pandas.read_csv`` of the same file."""
    from dsp_ingest.domain import ingest_csv
    from shared_contracts.events import IngestOptions

    path = Path(path)
    result = FileResult(name or path.stem)
    started = time.perf_counter()
    reference = pd.read_csv(path, keep_default_na=True, low_memory=False)
    result.rows, result.columns = reference.shape
    with tempfile.TemporaryDirectory(prefix="dsp-corpus-", dir=work_dir) as tmp:
        parquet = Path(tmp) / "out.parquet"
        try:
            report = ingest_csv(path, parquet, options=options or IngestOptions())
        except Exception as exc:  # noqa: BLE001 - a refused file is a result of the sweep, not a crash of it
            result.error = f"{type(exc).__name__}: {getattr(exc, 'code', '')} {str(exc)[:200]}".strip()
            result.seconds = time.perf_counter() - started
            return result
        ours = pl.read_parquet(parquet)
    def raw_text(position: int) -> pd.Series:
        return pd.read_csv(path, usecols=[position], dtype=str, keep_default_na=False).iloc[:, 0]

    result.differences = compare_frames(reference, ours, report, header=_r_header(path), raw=raw_text)
    result.report, result.output = report, ours
    result.seconds = time.perf_counter() - started
    return result
