"""``ingest_csv``: sniff a CSV on a sample, check its record structure, convert it to typed Parquet."""

from __future__ import annotations

import codecs
import os
import re
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from shared_contracts.cancel import CancelToken, never_cancelled
from shared_contracts.events import IngestOptions
from shared_contracts.ingest import (
    BadRow,
    BadRowsReport,
    CellIssue,
    ColumnReport,
    IngestReport,
    RuleResult,
)
from shared_contracts.progress import ProgressFn, no_progress

from .dialect import Dialect, parse_sample_records, quoted_fields, sniff_dialect
from .encoding import (
    EncodingGuess,
    check_decoded_text,
    count_nul_bytes,
    detect_encoding,
    invalid_utf8_error,
    read_probe,
    strip_nul_bytes,
    transcode_to_utf8,
)
from .errors import IngestError, numbers_named
from .rules import Rule, parse_rules
from .structure import Structure, record_chunks, scan_structure
from .types import (
    ACCEPT_SHARE,
    EMPTY_STATS,
    STAT_GROUPS,
    ColumnPlan,
    ColumnStats,
    MissingStats,
    NaTokens,
    NumberFormat,
    clean_strings,
    column_stats,
    infer_column,
    infer_number_format,
    is_na_token,
    number_convert,
    override_column,
    text_convert,
)

__all__ = ["ingest_csv", "is_selector_name", "safe_column_name"]

SAMPLE_ROWS = 10_000
BAD_ROW_SAMPLE = 20
CELL_SAMPLE = 5
RULE_SAMPLE = 10
# A column whose inferred type fails on more than this share of its full-data values is read as text.
DEMOTE_SHARE = 0.05
MAX_COLUMNS = 2_000
"""Most columns a file may have, unless ``DSP_MAX_COLUMNS`` or the ``max_columns`` argument says otherwise."""
PLAN_BLOCK_COLUMNS = 512
"""Columns of the sample examined by one query while planning."""
PLAN_BLOCK_CELLS = 1 << 20
"""Sampled values examined by one query in long form (one row per value) while planning."""
# Files up to this size (and an eighth of the free memory) are converted in one piece, which is
# faster; larger ones stream through in chunks of about 16 MiB of CSV.
IN_MEMORY_MAX_BYTES = 1 << 30


def _in_memory_limit() -> int:
    try:
        free = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        free = 8 << 30
    return min(IN_MEMORY_MAX_BYTES, free // 8)


def _raw_name(i: int) -> str:
    return f"_c{i}"


def _decode_head(head: bytes, guess: EncodingGuess) -> str:
    decoder = codecs.getincrementaldecoder(guess.encoding)(errors="replace")
    return decoder.decode(head[len(guess.bom) :], final=False).lstrip("\ufeff")


def _layout(records: list[list[str]]) -> tuple[int, int]:
    """Field count of the table and how many preamble lines (titles, notes) come before it."""
    non_blank = [r for r in records if r and r != [""]]
    if not non_blank:
        raise IngestError("no_columns", "The file holds no columns: no record has any field.", {})
    counts = Counter(len(r) for r in non_blank)
    n_fields = counts.most_common(1)[0][0]
    skip = 0
    for i, record in enumerate(records[:20]):
        if len(record) == n_fields:
            skip = i
            break
    else:
        skip = 0
    if skip and any(len(r) > n_fields for r in records[:skip]):
        skip = 0
    if n_fields == 1 and not any(f.strip() for r in non_blank for f in r):
        raise IngestError("no_columns", "The file holds no columns: every field is empty.", {})
    return n_fields, skip


def _scan_options(dialect: Dialect, n_fields: int, plans: list[ColumnPlan] | None = None) -> dict[str, Any]:
    dtypes = [plan.dtype if plan.native else pl.String() for plan in plans] if plans else [pl.String()] * n_fields
    return {
        "has_header": False,
        "separator": dialect.delimiter,
        "quote_char": dialect.quote_char,
        "schema": {_raw_name(i): dtype for i, dtype in enumerate(dtypes)},
        "missing_columns": "insert",
        "truncate_ragged_lines": True,
        "empty_string_is_null": False,
        "extra_columns": "ignore",
    }


_NUMERICISH = re.compile(r"^[\s(+-]*[$€£¥]?\s*[+-]?[\d.,' ]*\d[\d.,' ]*\s*[%€$£¥)]*$")


def _long(frame: pl.DataFrame, block: list[str]) -> pl.DataFrame:
    """The columns ``block`` of ``frame`` one after the other: ``column`` (the position in ``block``) and ``value``.

    Few expressions over such a frame do the work of one expression per column: building
    thousands of expressions costs more than running them.
    """
    height = frame.height
    values = pl.concat([frame[name] for name in block]) if block and height else pl.Series([], dtype=pl.String)
    positions = np.repeat(np.arange(len(block), dtype=np.uint32), height)
    return pl.DataFrame({"column": pl.Series(positions, dtype=pl.UInt32), "value": values.alias("value")})


def _present_values(cleaned: pl.DataFrame, block: list[str]) -> pl.DataFrame:
    """The present (non-null) values of ``cleaned``'s columns ``block`` in long form (see ``_long``)."""
    return _long(cleaned, block).drop_nulls("value")


def _header_facts(first: list[str], rest: pl.DataFrame) -> dict[str, tuple[int, int, bool]]:
    """Per column of ``rest`` holding a value that is not a missing-value token: how many such
    values, how many look numeric, and whether the first 1000 of them include ``first``'s value."""
    out: dict[str, tuple[int, int, bool]] = {}
    value = pl.col("value")
    start = 0
    for block in _blocks(rest.columns, rest.height):
        firsts = pl.Series(first[start : start + len(block)], dtype=pl.String)
        start += len(block)
        table = (
            _long(rest, block).lazy()
            .drop_nulls("value")
            .filter(~is_na_token(value.str.strip_chars()))
            .with_columns((value == pl.lit(firsts).gather(pl.col("column"))).alias("__repeats"))
            .group_by("column", maintain_order=True)
            .agg(
                pl.len().alias("present"),
                value.str.contains(_NUMERICISH.pattern).sum().alias("numeric"),
                pl.col("__repeats").head(1000).any(),
            )
            .collect()
        )
        for position, present, numeric, repeats in table.iter_rows():
            out[block[position]] = (int(present), int(numeric), bool(repeats))
    return out


def _header_votes(first: list[str | None], rest: pl.DataFrame, quoted: list[list[bool]] | None = None) -> tuple[bool, str]:
    """Decide whether the first record is a header by comparing it with the records below.

    A quoted first value over a column of bare numbers is a name (R and many tools quote names
    and strings but not numbers), even when it looks numeric: "2000" over populations is a year.
    Returns the decision and the evidence in words.
    """
    quoted = quoted or []
    first_quoted = quoted[0] if quoted else []
    below = quoted[1:]
    votes = 0
    string_columns = 0
    quoted_names = text_over_numbers = numbers_over_numbers = repeated = 0
    facts = _header_facts([(v or "").strip() for v in first], rest)
    for j, (value, name) in enumerate(zip(first, rest.columns, strict=True)):
        if name not in facts:
            continue
        present, numeric, repeats_first = facts[name]
        typed_share = numeric / present
        value = (value or "").strip()
        if typed_share >= 0.9:
            marks = [r[j] for r in below if len(r) > j]
            bare_below = bool(marks) and sum(marks) / len(marks) < 0.5
            if j < len(first_quoted) and first_quoted[j] and bare_below:
                votes += 2
                quoted_names += 1
            elif not value and j == 0:
                continue  # an empty corner over row numbers: the other columns decide
            elif not value or _NUMERICISH.match(value):
                votes -= 1
                numbers_over_numbers += 1
            else:
                votes += 1
                text_over_numbers += 1
        else:
            string_columns += 1
            if value and repeats_first:
                votes -= 1
                repeated += 1
    evidence = []
    if quoted_names:
        evidence.append(f"{quoted_names} numeric column(s) have a quoted first value over bare numbers")
    if text_over_numbers:
        evidence.append(f"{text_over_numbers} numeric column(s) have a text first value")
    if numbers_over_numbers:
        evidence.append(f"{numbers_over_numbers} numeric column(s) start with a number like the rest")
    if repeated:
        evidence.append(f"{repeated} text column(s) repeat their first value further down")
    if votes:
        decision = votes > 0
        why = "; ".join(evidence)
    else:
        values = [(v or "").strip() for v in first]
        # R's write.csv and pandas' to_csv head their row-names column with an empty corner cell
        corner = len(values) > 1 and not values[0] and not rest.is_empty() and rest[rest.columns[0]].null_count() == 0 \
            and bool(rest[rest.columns[0]].str.strip_chars().str.len_chars().min())
        names_part = values[1:] if corner else values
        decision = all(names_part) and len(set(names_part)) == len(names_part) and not any(
            _NUMERICISH.match(v) for v in names_part)
        why = "no column type settles it; the first record's values are " + (
            ("an empty corner over row names, then " if corner else "")
            + ("all present, distinct and non-numeric" if decision else "not all distinct non-numeric names")
        )
    return decision, ("The first record is the header: " if decision else "The first record is data: ") + why + "."


def is_selector_name(name: str) -> bool:
    """Whether Polars would read ``pl.col(name)`` as a selector of several columns: ``*``, or a regular
    expression ``^...$``."""
    return name == "*" or (name.startswith("^") and name.endswith("$"))


def safe_column_name(name: str) -> str:
    """``name`` as every stage can select it: selector-like names (``*``, ``^other$``) get a leading
    underscore (``_*``, ``_^other$``)."""
    return f"_{name}" if is_selector_name(name) else name


def _column_names(header: list[str | None] | None, n_fields: int) -> tuple[list[str], list[str]]:
    sources = [(h or "").strip() for h in header] if header else [""] * n_fields
    names: list[str] = []
    seen: set[str] = set()
    for i, source in enumerate(sources):
        base = safe_column_name(source) or f"column_{i + 1}"
        name, k = base, 2
        while name in seen:
            name, k = f"{base}_{k}", k + 1
        seen.add(name)
        names.append(name)
    return names, sources


def _column_limit(max_columns: int | None) -> int:
    if max_columns is not None:
        return max_columns
    raw = os.environ.get("DSP_MAX_COLUMNS", "").strip()
    if not raw:
        return MAX_COLUMNS
    try:
        limit = int(raw)
    except ValueError:
        raise ValueError(f"DSP_MAX_COLUMNS must be a whole number of columns, not {raw!r}") from None
    if limit < 1:
        raise ValueError(f"DSP_MAX_COLUMNS must be at least 1, not {limit}")
    return limit


def _check_width(n_fields: int, max_columns: int | None) -> None:
    limit = _column_limit(max_columns)
    if n_fields > limit:
        raise IngestError(
            "too_many_columns",
            f"The file has {n_fields} columns, more than the limit of {limit}. Split it into narrower "
            "files, keep only the columns needed, or raise DSP_MAX_COLUMNS.",
            {"columns": n_fields, "limit": limit},
        )


def _check_overrides(options: IngestOptions, names: list[str]) -> None:
    unknown = [c for c in options.type_overrides if c not in names]
    if unknown:
        raise IngestError(
            "invalid_type_override",
            f"Type override for column(s) not in the file: {', '.join(map(repr, unknown))}.",
            {"unknown_columns": unknown, "columns": names},
        )


def _check_rule_columns(rules: list[Rule], names: list[str]) -> None:
    for rule in rules:
        missing = [c for c in rule.used_columns() if c not in names]
        if missing:
            raise IngestError(
                "invalid_rules",
                f"Rule {rule.name or rule.label()!r} names column(s) not in the file: {', '.join(map(repr, missing))}.",
                {"rule": rule.name or rule.label(), "unknown_columns": missing, "columns": names},
            )


def _blocks(raw_names: list[str], height: int) -> list[list[str]]:
    """Groups of columns examined by one query in long form: at most ``PLAN_BLOCK_CELLS`` cells each."""
    width = max(1, min(PLAN_BLOCK_COLUMNS, PLAN_BLOCK_CELLS // max(1, height)))
    return [raw_names[k : k + width] for k in range(0, len(raw_names), width)]


@dataclass
class _SampleFacts:
    """What planning needs from the raw sample, gathered in long form (see ``_long``), a block of columns at a time."""

    cleaned: pl.DataFrame
    """The sample trimmed, with the always-missing tokens as null (raw column names)."""
    blocks: list[list[str]] = field(default_factory=list)
    padded: dict[str, bool] = field(default_factory=dict)
    token_counts: dict[str, dict[str, int]] = field(default_factory=dict)
    """Per column, how often each missing-value spelling occurs (after trimming); columns without any are absent."""
    number_values: pl.Series = field(default_factory=lambda: pl.Series([], dtype=pl.String))
    """Up to 2000 present values per column, to decide the number format on."""


NUMBER_FORMAT_VALUES = 2000
"""Present values per column the number format is decided on."""


def _sample_facts(sample: pl.DataFrame, raw_names: list[str], always: tuple[str, ...], spellings: tuple[str, ...]) -> _SampleFacts:
    """Clean the sample and find, per column, padded values and missing-value spellings.

    Blocks bound the memory of each long frame.
    """
    height = sample.height
    cleaned_columns: list[pl.Series] = []
    facts = _SampleFacts(cleaned=sample.select([]), blocks=_blocks(raw_names, height))
    number_values: list[pl.Series] = []
    value, stripped, clean = pl.col("value"), pl.col("__stripped"), pl.col("cleaned")
    for block in facts.blocks:
        long = (
            _long(sample, block).lazy()
            .with_columns(value.str.strip_chars().alias("__stripped"))
            .select(
                "column",
                # as ``clean_strings(value, always)``, trimming once
                pl.when(is_na_token(stripped, always)).then(None).otherwise(stripped).alias("cleaned"),
                (value != stripped).alias("padded"),
                pl.when(stripped.is_in(list(spellings))).then(stripped).alias("token"),
            )
            .collect()
        )
        column = long["cleaned"]
        cleaned_columns += [column.slice(k * height, height).alias(raw) for k, raw in enumerate(block)]
        present = long.lazy().select("column", clean.alias("value")).drop_nulls("value")
        firsts = present if height <= NUMBER_FORMAT_VALUES else present.group_by("column", maintain_order=True).head(NUMBER_FORMAT_VALUES)
        padded, tokens, first_values = pl.collect_all([
            long.lazy().group_by("column", maintain_order=True).agg(pl.col("padded").any()),
            long.lazy().drop_nulls("token").group_by("column", "token").len(),
            firsts.select(value),
        ])
        facts.padded.update((block[position], bool(flag)) for position, flag in padded.iter_rows())
        for position, token, count in tokens.iter_rows():
            facts.token_counts.setdefault(block[position], {})[token] = int(count)
        number_values.append(first_values["value"])
    if cleaned_columns:
        facts.cleaned = pl.DataFrame(cleaned_columns)
    if number_values:
        facts.number_values = pl.concat(number_values)
    return facts


def _plan_columns(
    sample: pl.DataFrame,
    names: list[str],
    sources: list[str],
    options: IngestOptions,
    *,
    dialect: Dialect,
    na: NaTokens,
    has_header: bool,
) -> tuple[list[ColumnPlan], NumberFormat, list[set[str]]]:
    """Plan every column from the sample; also return, per column, the NA tokens read as missing in the sample.

    Tokens that only sometimes mean missing (``none``, ``-``, ``?`` ...) are missing in a column
    typed numeric, date or boolean without them, or when they are rare in a text column;
    otherwise they stay values (a category level), and the plan says so.
    """
    always = na.always_spellings()
    evidence = na.spellings(na.evidence)
    raw_names = [_raw_name(i) for i in range(len(names))]
    facts = _sample_facts(sample, raw_names, always, always + evidence)
    cleaned = facts.cleaned.rename(dict(zip(raw_names, names, strict=True)))
    padded = [facts.padded.get(raw, False) for raw in raw_names]
    all_values = facts.number_values
    number_format = infer_number_format(all_values, european_hint=dialect.delimiter == ";")
    prefer_day_first = number_format.decimal == "," or dialect.delimiter == ";"
    accept = 1.0 if options.bad_values == "keep" else ACCEPT_SHARE

    def plan_for(name: str, source: str, values: pl.Series, stats: ColumnStats | None = None) -> ColumnPlan:
        if name in options.type_overrides:
            return override_column(
                name, source, values, number_format, options.type_overrides[name], prefer_day_first=prefer_day_first
            )
        return infer_column(
            name, source, values, number_format, prefer_day_first=prefer_day_first, accept_share=accept, stats=stats
        )

    token_counts = facts.token_counts
    evidence_found: list[dict[str, int]] = []
    for raw in raw_names:
        counts = token_counts.get(raw, {})
        found = set(counts)
        evidence_found.append({t: sum(counts[s] for s in found & set(sp)) for t, sp in na.evidence.items() if found & set(sp)})
    # Columns without evidence-based tokens are inferred from counts computed for many columns per
    # query; a group of counts is computed only for the columns whose decision gets that far.
    settled: dict[int, ColumnPlan] = {}
    pending = {i: raw for i, raw in enumerate(raw_names) if not evidence_found[i] and names[i] not in options.type_overrides}
    stats: dict[str, ColumnStats] = {}
    for block in facts.blocks:
        counted = column_stats(_present_values(facts.cleaned, block), number_format)
        stats.update((block[position], counts) for position, counts in counted.items())
    for _ in STAT_GROUPS:  # each round completes one more group of counts
        if not pending:
            break
        wanted: dict[str, dict[int, str]] = {}
        for i, raw in pending.items():
            try:
                settled[i] = plan_for(names[i], sources[i], cleaned[names[i]], stats.get(raw, EMPTY_STATS))
            except MissingStats as missing:
                wanted.setdefault(missing.group, {})[i] = raw
        for group, columns in wanted.items():
            chosen = set(columns.values())
            for block in facts.blocks:
                picked = [name for name in block if name in chosen]
                if picked:
                    known = {k: stats[name] for k, name in enumerate(picked) if name in stats}
                    counted = column_stats(_present_values(facts.cleaned, picked), number_format, group=group, into=known)
                    stats.update((picked[position], counts) for position, counts in counted.items())
        pending = {i: raw for columns in wanted.values() for i, raw in columns.items()}

    plans = []
    tokens_seen = []
    for i, (name, source, pad) in enumerate(zip(names, sources, padded, strict=True)):
        counts = token_counts.get(_raw_name(i), {})
        found = set(counts)
        seen = {t for t, spellings in na.always.items() if found & set(spellings)}
        ev_found = evidence_found[i]
        values = cleaned[name]
        if not ev_found:
            plan = settled[i] if i in settled else plan_for(name, source, values)  # overrides, and any column still pending
            plan.na_spellings = na.numeric_spellings() if plan.dtype != pl.String else always
        else:
            stripped = sample[_raw_name(i)].str.strip_chars()
            without = pl.select(pl.when(pl.lit(stripped).is_in(list(evidence))).then(None).otherwise(pl.lit(values))).to_series()
            plan = plan_for(name, source, without)
            if plan.dtype != pl.String:
                plan.na_spellings = na.numeric_spellings()
                seen |= set(ev_found)
            else:
                others = without.drop_nulls()
                present = others.len() + sum(ev_found.values())
                # Among (nearly) unique values - names, emails, free text - a repeated token is a placeholder.
                placeholder = others.len() >= 2 and others.n_unique() >= 0.9 * others.len()
                accepted = {t for t, count in ev_found.items() if placeholder or count < present * na.rare_share(t)}
                kept = set(ev_found) - accepted
                if kept:
                    keep_spellings = na.spellings(kept)
                    with_kept = pl.select(
                        pl.when(pl.lit(stripped).is_in(list(keep_spellings))).then(pl.lit(stripped)).otherwise(pl.lit(without))
                    ).to_series()
                    retyped = plan_for(name, source, with_kept)
                    if retyped.dtype == pl.String:
                        plan = retyped
                plan.na_spellings = always + na.spellings(sorted(accepted))
                plan.kept_tokens = tuple(sorted(kept))
                seen |= accepted
        plan.strip = bool(pad)
        plans.append(plan)
        tokens_seen.append(seen)
    for plan, native in zip(plans, _parser_can_read(plans, facts.cleaned, tokens_seen), strict=True):
        plan.native = native
    if plans and names[0] not in options.type_overrides:
        first_values = pl.select(clean_strings(pl.lit(sample[_raw_name(0)]), plans[0].na_spellings)).to_series()
        reason = _first_column_identifier(plans[0], first_values, sources[0], has_header=has_header)
        if reason:
            plans[0] = replace(plans[0], semantic_type="identifier", identifier_reason=reason,
                               fallback_semantic=plans[0].semantic_type)
    return plans, number_format, tokens_seen


# Header names under which R (``""``), R readers (``X``, ``rownames``) and pandas (``Unnamed: 0``,
# ``index``) write row names.
ROW_NAME_HEADERS = ("", "rownames", "unnamed: 0", "index")  # and "X", case and all
# A strictly increasing first column with such a name is a time axis, not a row counter.
_TIME_NAME = re.compile(r"^(year|yr|years|date|time|t|period|month|day|week|quarter)$", re.IGNORECASE)


def _first_column_identifier(plan: ColumnPlan, values: pl.Series, source: str, *, has_header: bool) -> str | None:
    """Why the first column identifies rows (row names, a counter, unique labels), or None.

    The full data checks again that the values are unique (see ``_check_identifier``).
    """
    n = len(values)
    if n < 1 or values.null_count() or values.n_unique() != n:
        return None
    if has_header and (source.strip().lower() in ROW_NAME_HEADERS or source.strip() == "X"):
        shown = source.strip() or '""'
        return f"The first column is named {shown}, as row names are written, and its values are unique."
    if n < 2:  # one row: only the name can tell a counter or a label from data
        return None
    if _TIME_NAME.match(source.strip()):
        return None
    if plan.dtype == pl.Int64:
        ints = plan.convert(pl.lit(values))
        series = pl.select(ints).to_series()
        if series.null_count() == 0 and bool((series.diff().drop_nulls() > 0).all()):
            return "The first column holds unique, strictly increasing whole numbers (a row counter)."
        return None
    if plan.dtype == pl.String and plan.semantic_type in ("identifier", "categorical", "text"):
        return "The first column holds a unique label on every row (row names)."
    return None


_NATIVE_INT = r"^-?\d{1,18}$"
_NATIVE_FLOAT = r"^-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$"


def _parser_can_read(plans: list[ColumnPlan], cleaned: pl.DataFrame, tokens_seen: list[set[str]]) -> list[bool]:
    """Per column, True when every sampled value is a plain number the CSV parser reads itself, which is much faster.

    A value further down that the parser rejects makes it fail loudly; the column then goes
    through the string conversion instead (see ``_NativeParseError``). The candidate columns
    are checked in long form (see ``_long``), a block of them per query.
    """
    candidates = {
        _raw_name(i): _NATIVE_INT if plan.dtype == pl.Int64 else _NATIVE_FLOAT
        for i, (plan, tokens) in enumerate(zip(plans, tokens_seen, strict=True))
        if plan.dtype in (pl.Int64, pl.Float64) and not plan.strip and tokens <= {""}
    }
    rejected: set[str] = set()
    value = pl.col("value")
    for pattern in (_NATIVE_INT, _NATIVE_FLOAT):
        columns = [name for name, p in candidates.items() if p == pattern]
        for block in _blocks(columns, cleaned.height):
            misfits = _present_values(cleaned, block).filter(~value.str.contains(pattern))["column"].unique()
            rejected.update(block[position] for position in misfits.to_list())
    return [_raw_name(i) in candidates and _raw_name(i) not in rejected for i in range(len(plans))]


def _structure_of(job: Future[Structure], work: Path) -> Structure:
    """The structure scan's result; its parser's failure as a typed error (text that is not UTF-8 past the
    head the encoding was detected on, with the first bad byte's offset and line)."""
    try:
        return job.result()
    except pl.exceptions.PolarsError as exc:
        bad = invalid_utf8_error(work)
        if bad is not None:
            raise bad from exc
        raise _unparseable(exc, "whole_file") from exc


def _unparseable(reason: BaseException, part: str) -> IngestError:
    """``csv_unparseable``: where the parser stopped (``first_rows``, the sample the types are inferred from, or
    ``whole_file``), with the line or column it named; never its message."""
    where = numbers_named(reason)
    line = f" near line {where['line']}" if "line" in where else ""
    return IngestError("csv_unparseable", f"The CSV parser could not read the file{line}. Check that every record "
                       "has the same delimiter and quoting, or save the file again as CSV (UTF-8).",
                       {"part": part, **where})


class _NativeParseError(Exception):
    def __init__(self, column: int | None) -> None:
        super().__init__(column)
        self.column = column


def _raw_frame(
    work: Path, dialect: Dialect, n_fields: int, *, skip_lines: int, has_header: bool, drop: np.ndarray | None,
    plans: list[ColumnPlan] | None = None,
) -> pl.LazyFrame:
    lf = pl.scan_csv(work, skip_rows=skip_lines + (1 if has_header else 0), **_scan_options(dialect, n_fields, plans))
    if drop is not None and len(drop):
        lf = lf.with_row_index("__rec").filter(~pl.col("__rec").is_in(pl.Series(drop, dtype=pl.UInt32).implode())).drop("__rec")
    return lf


def _raw_chunks(
    work: Path, dialect: Dialect, n_fields: int, plans: list[ColumnPlan], *, skip_lines: int, dropped: np.ndarray
) -> Iterator[pl.DataFrame]:
    """The data records as raw frames, chunk by chunk, without the dropped records."""
    first_record = 0
    for chunk in record_chunks(work, skip_lines, dialect.quote_char):
        frame = pl.read_csv(chunk, **_scan_options(dialect, n_fields, plans))
        height = frame.height
        local = dropped[(dropped >= first_record) & (dropped < first_record + height)] - first_record
        if len(local):
            frame = frame.with_row_index("__rec").filter(~pl.col("__rec").is_in(local.tolist())).drop("__rec")
        first_record += height
        yield frame


def _plan_tokens(plan: ColumnPlan, na: NaTokens) -> list[str]:
    """The canonical missing-value tokens read as missing in the column."""
    spellings = set(plan.na_spellings)
    return [t for t, sp in na.all.items() if spellings & set(sp)]


def _unseen_evidence(plan: ColumnPlan, na: NaTokens) -> list[str]:
    """Spellings of evidence-based tokens a text column neither reads as missing nor keeps yet."""
    if plan.dtype != pl.String:
        return []
    decided = set(plan.na_spellings) | set(na.spellings(plan.kept_tokens))
    return [sp for sp in na.spellings(na.evidence) if sp not in decided]


@dataclass(frozen=True)
class ColumnCounts:
    """Whole-file counts for one column, from the conversion pass or from a recount of its raw strings."""

    null: int = 0
    """Nulls in the converted column."""
    bad: int = 0
    """Values that did not fit the column's type (null after conversion but no missing-value token)."""
    na_total: int = 0
    """Values read as missing, all missing-value tokens together."""
    padded: int = 0
    """Values with blanks around them, in a column not trimmed."""
    longint: int = 0
    """Whole numbers too long for 64 bits, in an integer column."""
    trimmed: int = 0
    """Text values that trimming changed."""
    years: int = 0
    """Dates with a year outside 1000-9999."""
    infinite: int = 0
    """Infinite numbers in a float column (``inf``, or a value too large for 64 bits such as ``1e400``)."""
    underflow: int = 0
    """Numbers too close to zero for 64 bits (``1e-400``), read as 0, in a float column parsed from text."""
    maybe: int = 0
    """Values of a text column spelled as an evidence-based token not decided on yet."""
    tokens: dict[str, int] = field(default_factory=dict)
    """Per missing-value token counted, the values it made missing."""
    kept: dict[str, int] = field(default_factory=dict)
    """Per token kept as a value, its occurrences."""
    evidence: dict[str, int] = field(default_factory=dict)
    """Per evidence-based token, its occurrences (text columns, in a recount with every token)."""


_TOKEN_COUNTS = {"na": "tokens", "kept": "kept", "ev": "evidence"}
"""Kinds of per-token counts in query output names, and the ``ColumnCounts`` field each fills."""


def _count_name(kind: str, i: int, token: str | None = None) -> str:
    """The name of the query output holding one count for column ``i`` (read back by ``_column_counts``)."""
    return f"{kind}|{i}" if token is None else f"{kind}|{i}|{token}"


def _column_counts(row: dict[str, Any], n_columns: int) -> list[ColumnCounts]:
    """Per column, the counts in a query's result row, named by ``_count_name``; counts not in the row are 0."""
    scalars: list[dict[str, int]] = [{} for _ in range(n_columns)]
    per_token: list[dict[str, dict[str, int]]] = [{f: {} for f in _TOKEN_COUNTS.values()} for _ in range(n_columns)]
    for name, value in row.items():
        kind, column, *token = name.split("|", 2)
        if token:
            per_token[int(column)][_TOKEN_COUNTS[kind]][token[0]] = int(value or 0)
        else:
            scalars[int(column)][kind] = int(value or 0)
    return [
        ColumnCounts(
            null=c.get("null", 0), bad=c.get("bad", 0), na_total=c.get("na_total", 0), padded=c.get("padded", 0),
            longint=c.get("longint", 0), trimmed=c.get("trimmed", 0), years=c.get("years", 0), maybe=c.get("maybe", 0),
            infinite=c.get("infinite", 0), underflow=c.get("underflow", 0),
            tokens=t["tokens"], kept=t["kept"], evidence=t["evidence"],
        )
        for c, t in zip(scalars, per_token, strict=True)
    ]


def _stats_frame(
    lf: pl.LazyFrame, plans: list[ColumnPlan], tokens_seen: list[set[str]], na: NaTokens, *, all_tokens: bool = False
) -> pl.LazyFrame:
    """Whole-file statistics computed from the raw strings (used only when the fast path left a doubt).

    With ``all_tokens``, every token the column reads as missing is counted, and in text columns
    every evidence-based token too (``ColumnCounts.evidence``), to decide on tokens the sample did not show.
    """
    exprs: list[pl.Expr] = []
    for i, plan in enumerate(plans):
        raw = pl.col(_raw_name(i))
        base = raw.str.strip_chars() if plan.strip else raw
        exprs.append(is_na_token(base, plan.na_spellings).sum().alias(_count_name("na_total", i)))
        for token in _plan_tokens(plan, na) if all_tokens else tokens_seen[i]:
            exprs.append(base.is_in(list(na.all[token])).sum().alias(_count_name("na", i, token)))
        if all_tokens and plan.dtype == pl.String:
            for token, spellings in na.evidence.items():
                exprs.append(base.is_in(list(spellings)).sum().alias(_count_name("ev", i, token)))
    return lf.select(exprs)


def _representable(output: pl.Expr, plan: ColumnPlan) -> pl.Expr:
    """A date column's values outside years 1-9999 (year 0, say) as null: no stage could read them back as a
    date, and the reader counts them with the values that did not fit the column's type."""
    if plan.dtype not in (pl.Date, pl.Datetime) and not isinstance(plan.dtype, pl.Datetime):
        return output
    return pl.when(output.dt.year().is_between(1, 9999)).then(output).otherwise(None).alias(plan.name)


def _convert_and_measure(
    raw: pl.LazyFrame,
    plans: list[ColumnPlan],
    tokens_seen: list[set[str]],
    dst: Path,
    *,
    na: NaTokens,
    expected_rows: int,
    chunks: Iterator[pl.DataFrame] | None,
    progress: Callable[[float], None],
) -> tuple[int, list[ColumnCounts]]:
    """Convert the raw values, write Parquet and count nulls, NA tokens and misfits, from one parse.

    Without ``chunks`` the whole file is converted at once (fastest, for files that fit in memory
    with room to spare); otherwise the raw chunks stream through, so memory stays bounded.
    """
    flags: list[pl.Expr] = []
    for i, plan in enumerate(plans):
        col = pl.col(_raw_name(i))
        if plan.native:
            flags.append(col.is_null().alias(_count_name("na", i, "")))
            if plan.dtype == pl.Float64:
                flags.append(col.is_nan().fill_null(False).alias(_count_name("na", i, "NaN")))
            continue
        base = col.str.strip_chars() if plan.strip else col
        if plan.dtype != pl.String:
            flags.append(is_na_token(base, plan.na_spellings).alias(_count_name("na_total", i)))
            if not plan.strip:
                padded = col.str.starts_with(" ") | col.str.ends_with(" ") | col.str.starts_with("\t") | col.str.ends_with("\t")
                flags.append(padded.alias(_count_name("padded", i)))
            if plan.dtype == pl.Int64:
                flags.append(base.str.contains(r"^[+-]?\d{19,}$").fill_null(False).alias(_count_name("longint", i)))
            if plan.dtype == pl.Float64:  # a mantissa that is not zero, whose value may come out as 0
                flags.append(base.str.contains(r"^[+-]?[0-9.,]*[1-9][0-9.,]*[eE][+-]?\d").fill_null(False)
                             .alias(_count_name("nonzero", i)))
        elif plan.strip:  # text is trimmed: count the values that changed, so the report says so
            flags.append(((col != base) & ~is_na_token(base, plan.na_spellings)).fill_null(False).alias(_count_name("trimmed", i)))
        for token in tokens_seen[i]:
            flags.append(base.is_in(list(na.all[token])).alias(_count_name("na", i, token)))
        for token in plan.kept_tokens:
            flags.append(base.is_in(list(na.all[token])).alias(_count_name("kept", i, token)))
        unseen = _unseen_evidence(plan, na)
        if unseen:
            flags.append(base.is_in(unseen).alias(_count_name("maybe", i)))
    outputs = [_representable(plan.output(pl.col(_raw_name(i))), plan) for i, plan in enumerate(plans)]
    names = [plan.name for plan in plans]
    measures = [pl.col(name).null_count().alias(_count_name("null", i)) for i, name in enumerate(names)]
    measures += [pl.col(f.meta.output_name()).sum() for f in flags]
    measures += [
        (~pl.col(plan.name).dt.year().is_between(1000, 9999)).sum().alias(_count_name("years", i))
        for i, plan in enumerate(plans)
        if plan.dtype in (pl.Date, pl.Datetime)
    ]
    measures += [
        pl.col(plan.name).is_infinite().sum().alias(_count_name("infinite", i))
        for i, plan in enumerate(plans)
        if plan.dtype == pl.Float64
    ]
    measures += [
        ((pl.col(plan.name) == 0) & pl.col(_count_name("nonzero", i))).sum().alias(_count_name("underflow", i))
        for i, plan in enumerate(plans)
        if plan.dtype == pl.Float64 and not plan.native and plan.dtype != pl.String
    ]
    measures += [
        (pl.col(plan.name).is_null() & ~pl.col(_count_name("na_total", i))).sum().alias(_count_name("bad", i))
        for i, plan in enumerate(plans)
        if plan.dtype != pl.String and not plan.native
    ]
    totals: dict[str, int] = {}
    rows = 0
    writer: Any = None
    query = raw.select(outputs + flags)
    try:
        if chunks is None:
            frame = query.collect()
            totals = {k: int(v or 0) for k, v in frame.select(measures).row(0, named=True).items()}
            frame.select(names).write_parquet(dst, compression="lz4")
            rows = frame.height
            progress(1.0)
        else:
            import pyarrow.parquet as pq  # only the streaming path needs an appending Parquet writer

            for chunk in chunks:
                batch = chunk.select(outputs + flags)
                for key, value in batch.select(measures).row(0, named=True).items():
                    totals[key] = totals.get(key, 0) + int(value or 0)
                table = batch.select(names).to_arrow()
                if writer is None:
                    writer = pq.ParquetWriter(dst, table.schema, compression="lz4")
                writer.write_table(table)
                rows += batch.height
                progress(min(1.0, rows / max(1, expected_rows)))
            if writer is None:
                query.select(names).head(0).collect().write_parquet(dst)
    except pl.exceptions.PolarsError as exc:
        natives = [i for i, plan in enumerate(plans) if plan.native]
        if natives:
            named = re.search(r"at column '_c(\d+)'", str(exc))
            raise _NativeParseError(int(named.group(1)) if named else None) from exc
        raise _unparseable(exc, "whole_file") from exc
    finally:
        if writer is not None:
            writer.close()
    counts = _column_counts(totals, len(plans))
    # Text and natively parsed columns have no misfits: every null is a missing value.
    return rows, [
        replace(c, na_total=c.null) if plan.dtype == pl.String or plan.native else c
        for plan, c in zip(plans, counts, strict=True)
    ]


def _line_of_rows(rows: np.ndarray, structure: Structure, *, header_records: int, dropped: np.ndarray) -> np.ndarray:
    """Source line numbers of output rows, given the records dropped before the output."""
    rows = np.asarray(rows, dtype=np.int64)
    data_records = rows.copy()
    if len(dropped):
        adjusted = np.sort(dropped) - np.arange(len(dropped))
        data_records = rows + np.searchsorted(adjusted, rows, side="right")
    return structure.line_numbers(data_records + header_records)


def _cell_samples(
    work: Path, dialect: Dialect, n_fields: int, plans: list[ColumnPlan], columns: list[int], *,
    skip_lines: int, has_header: bool, drop: np.ndarray, structure: Structure, header_records: int,
) -> dict[int, list[CellIssue]]:
    lf = _raw_frame(work, dialect, n_fields, skip_lines=skip_lines, has_header=has_header, drop=drop).with_row_index("__row")
    out: dict[int, list[CellIssue]] = {}
    queries = []
    for i in columns:
        bad = plans[i].unparseable(pl.col(_raw_name(i)))
        queries.append(lf.filter(bad).select("__row", pl.col(_raw_name(i)).alias("value")).head(CELL_SAMPLE))
    # a few queries at a time: each scans the file, and thousands at once exhaust threads and memory
    frames = [frame for start in range(0, len(queries), 16) for frame in pl.collect_all(queries[start : start + 16])]
    for i, frame in zip(columns, frames, strict=True):
        lines = _line_of_rows(frame["__row"].to_numpy(), structure, header_records=header_records, dropped=drop)
        out[i] = [CellIssue(line_number=int(ln), value=str(v)) for ln, v in zip(lines, frame["value"].to_list(), strict=True)]
    return out


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def _validate(
    dst: Path, rules: list[Rule], structure: Structure, *, header_records: int, dropped: np.ndarray
) -> list[RuleResult]:
    if not rules:
        return []
    lf = pl.scan_parquet(dst).with_row_index("__row")
    schema = lf.collect_schema()
    masks = []
    for rule in rules:
        try:
            mask = rule.violations(schema)
            lf.head(0).select(mask.sum()).collect()
        except (pl.exceptions.PolarsError, ValueError) as exc:
            types = {c: str(schema[c]) for c in rule.used_columns()}
            raise IngestError(
                "invalid_rules",
                f"Rule {rule.name or rule.label()!r} cannot be checked on these columns ({types}).",
                {"rule": rule.name or rule.label(), "column_types": types},
            ) from exc
        masks.append(mask)
    counts = lf.select([m.sum().alias(str(k)) for k, m in enumerate(masks)]).collect().row(0)
    samples = pl.collect_all(
        [lf.filter(m).select("__row", rule.offending().alias("value")).head(RULE_SAMPLE) for rule, m in zip(rules, masks, strict=True)]
    )
    results = []
    for rule, count, sample in zip(rules, counts, samples, strict=True):
        rows = sample["__row"].to_numpy()
        lines = _line_of_rows(rows, structure, header_records=header_records, dropped=dropped)
        count = int(count or 0)
        label = rule.label()
        results.append(
            RuleResult(
                name=rule.name or label,
                kind=rule.type,
                columns=rule.used_columns(),
                passed=count == 0,
                failing_count=count,
                sample_rows=[int(r) for r in rows],
                sample_lines=[int(x) for x in lines],
                sample_values=_jsonable(sample["value"].to_list()),
                severity=rule.severity,
                message=f"All rows satisfy {label}." if count == 0 else f"{count} row(s) break {label}.",
            )
        )
    return results


def _block_on_errors(results: list[RuleResult]) -> None:
    """Refuse the file when a rule of severity ``error`` is broken (the upload asked to block on them)."""
    broken = [r for r in results if not r.passed and r.severity == "error"]
    if not broken:
        return
    first = broken[0]
    raise IngestError(
        "validation_failed",
        f"{len(broken)} validation rule(s) of severity error are broken, and the upload asked to block on them; "
        f"the first: {first.message}",
        {"rules": [{"name": r.name, "columns": r.columns, "failing_count": r.failing_count,
                    "sample_lines": r.sample_lines} for r in broken]},
    )


def _infer(
    sample: pl.DataFrame,
    unusable: list[int],
    options: IngestOptions,
    rules: list[Rule],
    n_fields: int,
    dialect: Dialect,
    *,
    na: NaTokens,
    quoted: list[list[bool]],
    header: bool | None = None,
) -> tuple[bool, str, list[str], list[str], list[ColumnPlan], NumberFormat, list[set[str]]]:
    """Header (with the reason), names and column plans from the sample, leaving out the ``unusable`` records."""
    if unusable:
        sample = sample.with_row_index("__rec").filter(~pl.col("__rec").is_in(unusable)).drop("__rec")
        quoted = [q for k, q in enumerate(quoted) if k not in set(unusable)]
    if sample.height == 0:
        raise IngestError("no_columns", "The file holds no columns.", {})
    first = list(sample.row(0))
    if header is None:
        has_header, header_reason = _header_votes(first, sample.slice(1), quoted)
    else:
        has_header, header_reason = header, "The format names its columns." if header else "The format has no header."
    names, sources = _column_names(first if has_header else None, n_fields)
    data_sample = sample.slice(1) if has_header else sample
    _check_overrides(options, names)
    _check_rule_columns(rules, names)
    plans, number_format, tokens_seen = _plan_columns(
        data_sample, names, sources, options, dialect=dialect, na=na, has_header=has_header
    )
    return has_header, header_reason, names, sources, plans, number_format, tokens_seen


def _check_identifier(parquet: Path, plans: list[ColumnPlan], warnings: list[str]) -> None:
    """Undo a positional identifier decision the full data contradicts (repeated or missing values)."""
    plan = plans[0] if plans else None
    if plan is None or plan.identifier_reason is None:
        return
    col = pl.col(plan.name)
    checks = [col.n_unique().alias("distinct"), col.null_count().alias("nulls"), pl.len().alias("rows")]
    counter = "counter" in plan.identifier_reason and plan.dtype == pl.Int64
    if counter:
        checks.append((col.diff().drop_nulls() > 0).all().alias("increasing"))
    facts = pl.scan_parquet(parquet).select(checks).collect().row(0, named=True)
    if facts["distinct"] == facts["rows"] and not facts["nulls"] and facts.get("increasing", True):
        return
    plans[0] = replace(plan, semantic_type=plan.fallback_semantic or plan.semantic_type, identifier_reason=None)
    warnings.append(f"Column {plan.name!r} looked like row identifiers in the sample but its values repeat further down.")


def _widen(plan: ColumnPlan, number_format: NumberFormat, *, long_ints: bool) -> ColumnPlan:
    """The next wider type for a column whose values do not all fit: integer -> float -> text.

    Whole numbers too long for 64 bits skip float (it would drop digits) and stay exact as text;
    booleans with a third value become categories; identifiers stay identifiers, as text.
    """
    origin = plan.widened_from or plan.semantic_type
    if plan.dtype == pl.Int64 and not long_ints and plan.semantic_type != "identifier":
        return replace(plan, semantic_type="float", dtype=pl.Float64(), widened_from=origin,
                       convert=number_convert(number_format, pl.Float64()))
    semantic = {"boolean": "categorical", "identifier": "identifier"}.get(plan.semantic_type, "text")
    return replace(plan, semantic_type=semantic, dtype=pl.String(), convert=text_convert, unit=None, date=None,
                   native=False, widened_from=origin)


def _decide_unseen_tokens(
    raw: pl.LazyFrame, plans: list[ColumnPlan], tokens_seen: list[set[str]], stats: list[ColumnCounts], na: NaTokens, *,
    row_count: int,
) -> bool:
    """Decide on evidence-based tokens text columns hold beyond the sample; True when one became missing."""
    columns = [i for i, counts in enumerate(stats) if counts.maybe]
    if not columns:
        return False
    recount = _column_counts(_stats_frame(raw, plans, tokens_seen, na, all_tokens=True).collect().row(0, named=True), len(plans))
    changed = False
    for i in columns:
        plan = plans[i]
        present = row_count - stats[i].null
        found = {t: recount[i].evidence.get(t, 0) for t in na.evidence}
        undecided = {t: c for t, c in found.items() if c and t not in tokens_seen[i] and t not in plan.kept_tokens}
        accepted = {t for t, c in undecided.items() if c < present * na.rare_share(t)}
        kept = set(undecided) - accepted
        plans[i] = replace(plan, na_spellings=plan.na_spellings + na.spellings(sorted(accepted)),
                           kept_tokens=tuple(sorted({*plan.kept_tokens, *kept})))
        tokens_seen[i] |= accepted
        changed = changed or bool(accepted or kept)
    return changed


def _progress_between(progress: ProgressFn, low: float, high: float, message: str) -> Callable[[float], None]:
    """Report a stage's own fraction done as a share of the range from ``low`` to ``high``."""

    def report(fraction: float) -> None:
        progress(low + (high - low) * fraction, message)

    return report


def _convert_with_retries(
    work: Path,
    dst: Path,
    dialect: Dialect,
    n_fields: int,
    plans: list[ColumnPlan],
    tokens_seen: list[set[str]],
    structure: Structure,
    *,
    skip_lines: int,
    has_header: bool,
    dropped: np.ndarray,
    size: int,
    warnings: list[str],
    progress: ProgressFn,
    na: NaTokens,
    number_format: NumberFormat,
    bad_values: str,
) -> tuple[int, list[ColumnCounts]]:
    """Convert the whole file, revising plans the full data contradicts (updates ``plans`` in place).

    A value the fast numeric parser rejects sends its column through string conversion; padded
    values beyond the sample switch trimming on. With ``bad_values="keep"`` a column holding a
    value that does not fit its type is widened (integer -> float -> text) and converted again,
    so no value is lost; with ``"null"`` such values become null, unless over ``DEMOTE_SHARE``
    of the column misfits, which is then read as text. Text columns holding evidence-based
    tokens the sample did not show decide on them from full counts. Each revision costs one
    more pass, and there are few.
    """
    header_records = 1 if has_header else 0
    header_lines = 1 + structure.multiline.get(0, 0) if has_header else 0
    expected_rows = max(0, structure.record_count - header_records - len(dropped))
    in_memory = size <= _in_memory_limit()
    tokens_decided = False
    natives = [plan for plan in plans if plan.native and plan.dtype == pl.Float64]
    if natives and structure.tiny_exponent:
        for plan in natives:  # the parser reads 1e-400 as 0 without a word: the string way counts them
            plan.native = False
    for attempt in range(6):
        low, high = (0.3, 0.8) if attempt == 0 else (0.8, 0.85)
        native_failures = 0
        while True:
            raw = _raw_frame(work, dialect, n_fields, skip_lines=skip_lines, has_header=has_header, drop=dropped, plans=plans)
            chunks = None if in_memory else _raw_chunks(
                work, dialect, n_fields, plans, dropped=dropped, skip_lines=skip_lines + header_lines
            )
            try:
                row_count, stats = _convert_and_measure(
                    raw, plans, tokens_seen, dst, na=na, expected_rows=expected_rows, chunks=chunks,
                    progress=_progress_between(progress, low, high, "Converting to Parquet"),
                )
                break
            except _NativeParseError as exc:
                # A value the parser rejected: that column goes the string way (all of them after
                # a second failure, or when the parser did not say which), so a few passes at most.
                native_failures += 1
                for i, plan in enumerate(plans):
                    if exc.column is None or exc.column == i or native_failures >= 2:
                        plan.native = False
        retry = False
        for i, plan in enumerate(plans):
            bad_cells = stats[i].bad
            if not bad_cells or plan.overridden:
                continue
            if not plan.strip and stats[i].padded:
                # The sample had no padded values but some further down are: trim and convert again.
                plan.strip = retry = True
                continue
            present = row_count - stats[i].null + bad_cells
            if bad_values == "keep":
                plans[i] = _widen(plan, number_format, long_ints=bool(stats[i].longint))
                warnings.append(
                    f"Column {plan.name!r} looked {plan.semantic_type} in the sample but {bad_cells} value(s) "
                    f"further down do not fit; it is read as {plans[i].semantic_type}, keeping every value."
                )
                retry = True
            elif present and bad_cells / present > DEMOTE_SHARE and attempt < 2:
                warnings.append(
                    f"Column {plan.name!r} looked {plan.semantic_type} in the sample but {bad_cells} value(s) "
                    "further down do not fit; it is read as text."
                )
                plans[i] = replace(plan, semantic_type="text", dtype=pl.String(), confidence=round(1 - bad_cells / present, 3),
                                   convert=text_convert, unit=None, date=None, widened_from=plan.semantic_type)
                retry = True
        if not retry and not tokens_decided:
            tokens_decided = True
            raw = _raw_frame(work, dialect, n_fields, skip_lines=skip_lines, has_header=has_header, drop=dropped)
            retry = _decide_unseen_tokens(raw, plans, tokens_seen, stats, na, row_count=row_count)
        if not retry:
            break
    na_mismatch = any(
        counts.na_total != sum(counts.tokens.get(t, 0) for t in _plan_tokens(plan, na))
        for plan, counts in zip(plans, stats, strict=True)
    )
    if na_mismatch:
        # An NA spelling the sample did not show: count every spelling in one more (read-only) pass.
        raw = _raw_frame(work, dialect, n_fields, skip_lines=skip_lines, has_header=has_header, drop=dropped)
        recount = _column_counts(_stats_frame(raw, plans, tokens_seen, na, all_tokens=True).collect().row(0, named=True), len(plans))
        stats = [
            replace(c, na_total=r.na_total, tokens={**c.tokens, **r.tokens}, evidence={**c.evidence, **r.evidence})
            for c, r in zip(stats, recount, strict=True)
        ]
    return row_count, stats


def ingest_csv(
    src: Path,
    dst_parquet: Path,
    *,
    options: IngestOptions = IngestOptions(),
    progress: ProgressFn | None = None,
    max_columns: int | None = None,
    header: bool | None = None,
    dialect: Dialect | None = None,
    cancel: CancelToken | None = None,
) -> IngestReport:
    """Read a CSV of unknown dialect and encoding, type its columns and write it as Parquet.

    The encoding, dialect, header and column types are sniffed on a sample. A first pass over
    the raw lines finds ragged and blank records with their line numbers; a second converts
    every column with vectorised Polars expressions and writes Parquet. Large files go through
    both passes in chunks, so files larger than memory work.

    Parameters
    ----------
    src
        The CSV file.
    dst_parquet
        Where to write the typed Parquet file (replaced atomically when it exists).
    options
        Type overrides, the bad-row policy (``reject`` or ``skip``) and validation rules.
    progress
        Called with (fraction done, message) as the work advances.
    max_columns
        Most columns accepted; None reads ``DSP_MAX_COLUMNS`` from the environment, else
        :data:`MAX_COLUMNS`.
    header, dialect
        Known when the text was written from another format (see ``formats.ingest_file``): True
        takes the first record as the header without a vote, and the dialect is not sniffed.
    cancel
        The job's cancellation token, checked after decoding, after reading and after typing (and before the
        Parquet file is put in place); None is never cancelled.

    Returns
    -------
    IngestReport
        Everything detected and decided, with bad rows and validation results.

    Raises
    ------
    IngestError
        With ``code`` one of ``empty_file``, ``binary_file``, ``unknown_encoding``,
        ``no_columns``, ``csv_ragged_rows``, ``csv_unclosed_quote``, ``csv_unparseable``,
        ``invalid_type_override``, ``invalid_rules``, ``too_many_columns``, or ``validation_failed`` (a rule of
        severity ``error`` is broken and ``options.block_on_validation_error`` is set).
    Cancelled
        When ``cancel`` is cancelled; nothing is written to ``dst_parquet``.
    """
    report_progress = progress or no_progress
    token = cancel or never_cancelled()
    src, dst_parquet = Path(src), Path(dst_parquet)
    rules = parse_rules(list(options.validation_rules))
    report_progress(0.0, "Detecting the encoding")
    head, probes, size = read_probe(src)
    guess = detect_encoding(head, probes, size=size)
    if guess.damaged and (invalid := invalid_utf8_error(src)) is not None:
        raise invalid
    head_text = _decode_head(head, guess)
    check_decoded_text(head_text, guess)
    dialect = dialect or sniff_dialect(head_text)
    warnings: list[str] = []
    dst_parquet.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".ingest-", dir=dst_parquet.parent) as tmp_dir:
        tmp = Path(tmp_dir)
        work = src
        if guess.encoding != "utf-8" or dialect.escape_char or dialect.line_terminator == "\r" or dialect.space_before_quotes:
            report_progress(0.05, f"Re-encoding from {guess.encoding} to UTF-8")
            work = tmp / "utf8.csv"
            transcode_to_utf8(
                src, work, guess,
                backslash_quote=dialect.quote_char if dialect.escape_char else None,
                cr_newlines=dialect.line_terminator == "\r",
                space_before_quotes=(dialect.delimiter, dialect.quote_char or '"') if dialect.space_before_quotes else None,
            )
            if dialect.space_before_quotes:
                warnings.append("Blanks between delimiters and quoted fields were ignored.")
        nul_bytes, nul_in_header = count_nul_bytes(work)
        if nul_bytes:  # NUL cannot be stored in a text value: remove it, everywhere, and say how often
            report_progress(0.08, "Removing NUL bytes")
            stripped = tmp / "no-nul.csv"
            strip_nul_bytes(work, stripped)
            work = stripped
            head_text = head_text.replace("\x00", "")
            where = f", {nul_in_header} of them in the header (column names)" if nul_in_header else ""
            warnings.append(f"Removed {nul_bytes} NUL byte(s) from the text{where}; NUL cannot be stored in a value.")
        token.check("decoding")
        report_progress(0.1, "Reading a sample")
        records = parse_sample_records(head_text, dialect, limit=200, complete_only=len(head) < size)
        n_fields, skip_lines = _layout(records)
        _check_width(n_fields, max_columns)
        if skip_lines:
            warnings.append(f"Skipped {skip_lines} line(s) before the table (a title or notes).")
        report_progress(0.15, "Checking the record structure and inferring column types")
        na = NaTokens.from_options(options.na_tokens, options.na_evidence_tokens)
        quoted = quoted_fields(head_text, dialect, skip_lines=skip_lines)
        # The structure scan reads the whole file; the sample inference runs meanwhile.
        with ThreadPoolExecutor(max_workers=1) as pool:
            structure_job = pool.submit(
                scan_structure, work, dialect, n_fields, skip_lines=skip_lines, sample_text=head_text[:65536]
            )
            try:
                sample = pl.read_csv(work, skip_rows=skip_lines, n_rows=SAMPLE_ROWS + 1, **_scan_options(dialect, n_fields))
                inferred = _infer(sample, [], options, rules, n_fields, dialect, na=na, quoted=quoted, header=header)
            except (IngestError, pl.exceptions.PolarsError) as exc:
                _structure_of(structure_job, work)  # its error (an unclosed quote, say) explains the file best
                if isinstance(exc, IngestError):
                    raise
                raise _unparseable(exc, "first_rows") from exc
            structure = _structure_of(structure_job, work)
        # Ragged and blank records must not sway the type inference: infer again without them.
        unusable = [b.record for b in structure.bad if b.record < sample.height] + [
            r for r in structure.blank_records if r < sample.height
        ]
        if unusable:
            inferred = _infer(sample, unusable, options, rules, n_fields, dialect, na=na, quoted=quoted, header=header)
        has_header, header_reason, names, sources, plans, number_format, tokens_seen = inferred
        if has_header:
            for plan in plans:
                if is_selector_name(plan.source_name):
                    warnings.append(f"Column {plan.source_name!r} was renamed {plan.name!r}: the name reads as a "
                                    "pattern that selects columns.")
        token.check("reading")

        header_records = 1 if has_header else 0
        if has_header and structure.multiline.get(0):
            warnings.append("The header spans several lines.")
        bad = [b for b in structure.bad if b.record >= header_records]
        bad_report = BadRowsReport(
            count=len(bad),
            policy=options.bad_rows,
            sample=[BadRow(line_number=b.line_number, raw=b.raw, reason=f"expected {n_fields} fields, found {b.field_count}") for b in bad[:BAD_ROW_SAMPLE]],
            empty_lines_skipped=len(structure.blank_records),
        )
        if bad and options.bad_rows == "reject":
            raise IngestError(
                "csv_ragged_rows",
                f"{len(bad)} row(s) have a different number of fields than the header ({n_fields}). "
                "Fix them, or ingest again skipping bad rows.",
                {"count": len(bad), "expected_fields": n_fields, "sample_line_numbers": [b.line_number for b in bad[:BAD_ROW_SAMPLE]]},
            )
        if bad:
            warnings.append(f"Skipped {len(bad)} ragged row(s); see bad_rows.")
        dropped = np.array(sorted({b.record - header_records for b in bad} | {r - header_records for r in structure.blank_records}), dtype=np.int64)

        tmp_out = tmp / "out.parquet"
        row_count, stats = _convert_with_retries(
            work, tmp_out, dialect, n_fields, plans, tokens_seen, structure,
            skip_lines=skip_lines, has_header=has_header, dropped=dropped, size=size,
            warnings=warnings, progress=report_progress, na=na, number_format=number_format,
            bad_values=options.bad_values,
        )
        token.check("typing")
        _check_identifier(tmp_out, plans, warnings)

        report_progress(0.85, "Summarising")
        bad_columns = [i for i, counts in enumerate(stats) if counts.bad]
        cell_samples = (
            _cell_samples(work, dialect, n_fields, plans, bad_columns, skip_lines=skip_lines, has_header=has_header,
                          drop=dropped, structure=structure, header_records=header_records)
            if bad_columns else {}
        )
        na_found: Counter[str] = Counter()
        columns = []
        schema = pl.scan_parquet(tmp_out).collect_schema()
        for i, (plan, counts) in enumerate(zip(plans, stats, strict=True)):
            missing_tokens = {t: counts.tokens[t] for t in na.all if counts.tokens.get(t, 0)}
            na_found.update(missing_tokens)
            kept_tokens = {t: counts.kept[t] for t in plan.kept_tokens if counts.kept.get(t, 0)}
            if kept_tokens:
                warnings.append(
                    f"Column {plan.name!r}: kept {', '.join(map(repr, kept_tokens))} as value(s), too frequent here to mean missing."
                )
            years = counts.years
            if years:
                warnings.append(f"Column {plan.name!r}: {years} date(s) have a year outside 1000-9999; check the format.")
            if counts.infinite:
                warnings.append(f"Column {plan.name!r}: {counts.infinite} value(s) are infinite (written as inf, or "
                                "too large for a 64-bit number, such as 1e400).")
            if counts.underflow:
                warnings.append(f"Column {plan.name!r}: {counts.underflow} value(s) are too close to zero for a 64-bit "
                                "number (such as 1e-400) and were read as 0.")
            trimmed = counts.trimmed
            if trimmed:
                warnings.append(f"Column {plan.name!r}: {trimmed} value(s) had blanks around them trimmed.")
            bad_cells = counts.bad
            present = row_count - counts.null + bad_cells
            confidence = plan.confidence
            if not plan.overridden and present:
                confidence = round(min(confidence, 1 - bad_cells / present), 3)
            if bad_cells:
                warnings.append(f"Column {plan.name!r}: {bad_cells} value(s) did not fit type {plan.semantic_type} and were stored as null.")
            columns.append(
                ColumnReport(
                    name=plan.name,
                    source_name=plan.source_name,
                    physical_type=str(schema[plan.name]),
                    semantic_type=plan.semantic_type,  # type: ignore[arg-type]
                    confidence=confidence,
                    unit=plan.unit,
                    date_format=plan.date.format if plan.date else None,
                    day_first=plan.date.day_first if plan.date else None,
                    date=plan.date,
                    overridden=plan.overridden,
                    null_count=counts.null,
                    unparseable_count=bad_cells,
                    unparseable_sample=cell_samples.get(i, []),
                    missing_tokens=missing_tokens,
                    kept_tokens=kept_tokens,
                    widened_from=plan.widened_from,  # type: ignore[arg-type]
                    identifier_reason=plan.identifier_reason,
                    out_of_range_years=years,
                    trimmed_values=trimmed,
                    boolean_labels=list(plan.labels) if plan.labels and schema[plan.name] == pl.Boolean else None,
                )
            )
            if plan.date and plan.date.ambiguous:
                warnings.append(f"Column {plan.name!r}: {plan.date.explanation}")
        report_progress(0.9, "Validating")
        validation = _validate(tmp_out, rules, structure, header_records=header_records, dropped=dropped)
        if options.block_on_validation_error:
            _block_on_errors(validation)
        token.check("validating")
        os.replace(tmp_out, dst_parquet)
    report_progress(1.0, "Ingested")
    return IngestReport(
        source_bytes=size,
        encoding=guess.encoding,
        encoding_confidence=guess.confidence,
        had_bom=bool(guess.bom) or head.startswith(codecs.BOM_UTF8),
        delimiter=dialect.delimiter,
        quote_char=dialect.quote_char,
        escape_char=dialect.escape_char,
        line_terminator=dialect.line_terminator,  # type: ignore[arg-type]
        has_header=has_header,
        decimal_separator=number_format.decimal,  # type: ignore[arg-type]
        thousands_separator=number_format.thousands,
        na_tokens_found={k: v for k, v in na_found.items() if v},
        row_count=row_count,
        column_count=len(columns),
        columns=columns,
        bad_rows=bad_report,
        validation=validation,
        warnings=warnings,
        header_reason=header_reason,
        bad_values=options.bad_values,
        values_nulled=sum(c.unparseable_count for c in columns),
    )
