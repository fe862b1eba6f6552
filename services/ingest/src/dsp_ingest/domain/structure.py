"""One streaming pass over the raw lines of a CSV to find ragged records, blank lines and line numbers.

The CSV parser numbers records, not lines, and pads or truncates records whose field count
differs from the header's. This pass reads the file as plain lines (one column, no quoting),
tracks quote parity to know where each record starts, and counts the delimiters outside
quotes, all with Polars expressions. Only records spanning several lines, and records whose
count is wrong, come back to Python.
"""

from __future__ import annotations

import csv
import io
import os
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import numpy as np
import polars as pl

from .dialect import Dialect
from .errors import IngestError

__all__ = ["BadRecord", "Structure", "record_chunks", "scan_structure"]

T = TypeVar("T")
_UNUSED_SEPARATORS = ("\x1f", "\x1e", "\x1d", "\x01")
CHUNK_BYTES = 16 << 20
TINY_EXPONENT = r"[eE]-0*(?:30[89]|3[1-9][0-9]|[4-9][0-9]{2}|[0-9]{4,})"
"""An exponent at or below -308, where a 64-bit float loses digits and then reads as 0: the fast parser reads such
a number as 0 (or subnormal) without a word, so a file holding one has its float columns read the counting way."""


@dataclass(frozen=True)
class BadRecord:
    """A record whose field count differs from the header's."""

    record: int
    line_number: int
    field_count: int
    raw: str


@dataclass
class Structure:
    """Where records start and which ones are ragged or blank.

    Record numbers count from the first line after any skipped preamble, header included.
    """

    skip_lines: int
    line_count: int
    record_count: int
    bad: list[BadRecord] = field(default_factory=list)
    blank_records: list[int] = field(default_factory=list)
    multiline: dict[int, int] = field(default_factory=dict)
    """Record -> number of extra physical lines it spans."""
    tiny_exponent: bool = False
    """Whether a number is written with an exponent at or below -308 (see :data:`TINY_EXPONENT`)."""

    def line_numbers(self, records: np.ndarray) -> np.ndarray:
        """1-based physical line numbers where the given records start."""
        records = np.asarray(records, dtype=np.int64)
        extra = np.zeros(len(records), dtype=np.int64)
        if self.multiline:
            starts = np.array(sorted(self.multiline), dtype=np.int64)
            spans = np.cumsum([self.multiline[r] for r in starts])
            idx = np.searchsorted(starts, records, side="left")
            extra = np.where(idx > 0, spans[np.maximum(idx - 1, 0)], 0)
        return records + extra + self.skip_lines + 1


def _unused_separator(sample: str) -> str:
    for sep in _UNUSED_SEPARATORS:
        if sep not in sample:
            return sep
    return _UNUSED_SEPARATORS[0]


def _ordered_map(fn: Callable[[bytes], T], items: Iterator[bytes]) -> Iterator[T]:
    """``map`` over a thread pool, in order, with at most two tasks per worker in flight (bounded memory)."""
    workers = max(1, min(4, os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        pending: deque[Future[T]] = deque()
        for item in items:
            pending.append(pool.submit(fn, item))
            if len(pending) >= 2 * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def record_chunks(path: Path, skip_lines: int, quote: str | None, *, chunk_bytes: int | None = None) -> Iterator[bytes]:
    """The file after ``skip_lines`` lines, in chunks of whole records (never cut inside quotes)."""
    chunk_bytes = chunk_bytes or CHUNK_BYTES
    q = quote.encode() if quote else b""
    with path.open("rb") as fh:
        for _ in range(skip_lines):
            fh.readline()
        carry = b""
        while True:
            block = fh.read(chunk_bytes)
            if not block:
                if carry:
                    yield carry
                return
            data = carry + block
            cut = data.rfind(b"\n")
            # Each chunk starts on a record boundary, so an odd quote count before the cut means inside quotes.
            while cut >= 0 and q and data.count(q, 0, cut + 1) % 2:
                cut = data.rfind(b"\n", 0, cut)
            if cut < 0:
                carry = data
                continue
            carry = data[cut + 1 :]
            yield data[: cut + 1]


def _field_count(text: str, dialect: Dialect) -> int:
    reader = csv.reader(
        io.StringIO(text, newline=""),
        delimiter=dialect.delimiter,
        quotechar=dialect.quote_char or '"',
        quoting=csv.QUOTE_MINIMAL if dialect.quote_char else csv.QUOTE_NONE,
        doublequote=True,
        strict=False,
    )
    try:
        return len(next(reader))
    except (StopIteration, csv.Error):
        return 0


def scan_structure(path: Path, dialect: Dialect, n_fields: int, *, skip_lines: int, sample_text: str) -> Structure:
    """Find ragged records, blank lines and multi-line records in one streaming pass.

    Raises
    ------
    IngestError
        ``csv_unclosed_quote`` when a quoted field is never closed.
    """
    sep = _unused_separator(sample_text)

    def read_lines(chunk: bytes) -> pl.DataFrame:
        return pl.read_csv(
            chunk,
            has_header=False,
            separator=sep,
            quote_char=None,
            schema={"line": pl.String},
            empty_string_is_null=False,
            truncate_ragged_lines=True,
        )

    line = pl.col("line")
    quote = dialect.quote_char
    delim = dialect.delimiter
    naive_fields = line.str.count_matches(delim, literal=True) + 1
    if quote:
        q = "\\" + quote if quote in ".^$*+?()[]{}|\\" else quote
        exact = line.str.replace_all(f"{q}[^{q}]*{q}", "").str.count_matches(delim, literal=True) + 1
    else:
        exact = naive_fields
    blank = line.str.strip_chars() == ""

    def scan_chunk(chunk: bytes) -> tuple[int, int, int, pl.DataFrame | None, bool]:
        """Lines, record starts, quote parity, flagged lines (numbers local to it) and tiny exponents of one chunk."""
        batch = read_lines(chunk).with_columns(line.fill_null(""))
        if quote:
            n_quotes = batch.select(line.str.count_matches(quote, literal=True).cast(pl.Int64)).to_series()
        else:
            n_quotes = pl.Series("nq", [0] * batch.height, dtype=pl.Int64)
        starts = ((n_quotes.cum_sum() - n_quotes) % 2) == 0
        frame = batch.with_columns(
            ln=pl.int_range(0, batch.height, dtype=pl.Int64),
            rec=starts.cast(pl.Int64).cum_sum() - 1,
            single=starts & (n_quotes % 2 == 0),
        )
        # Cheap literal counts first; the quote-aware regex only runs on the few lines they cannot settle.
        candidates = frame.filter(~pl.col("single") | (naive_fields != n_fields) | blank)
        flagged = None
        if candidates.height:
            flagged = candidates.with_columns(fields=exact.cast(pl.Int64)).filter(
                ~pl.col("single") | (pl.col("fields") != n_fields) | blank
            ).select("ln", "rec", "line", "fields", "single")
        tiny = bool(batch.select(line.str.contains(TINY_EXPONENT).any()).item())
        return batch.height, int(starts.sum()), int(n_quotes.sum() or 0) % 2, flagged, tiny

    # Chunks end on record boundaries, so each starts outside quotes and they can be scanned in
    # parallel; only line and record offsets carry from one to the next.
    parity = 0
    n_lines = 0
    n_records = 0
    flagged_parts: list[pl.DataFrame] = []
    tiny_exponent = False
    for lines_in, starts_in, parity_in, flagged, tiny in _ordered_map(scan_chunk, record_chunks(path, skip_lines, quote)):
        tiny_exponent |= tiny
        if flagged is not None and flagged.height:
            flagged_parts.append(flagged.with_columns(pl.col("ln") + n_lines, pl.col("rec") + n_records))
        parity = parity_in
        n_lines += lines_in
        n_records += starts_in
    schema = {"ln": pl.Int64, "rec": pl.Int64, "line": pl.String, "fields": pl.Int64, "single": pl.Boolean}
    flagged_df = pl.concat(flagged_parts) if flagged_parts else pl.DataFrame(schema=schema)
    summary_df = pl.DataFrame({"parity": [parity]})
    structure = Structure(skip_lines=skip_lines, line_count=n_lines, record_count=n_records, tiny_exponent=tiny_exponent)
    if summary_df["parity"][0]:
        opened = flagged_df.filter(~pl.col("single"))
        start_line = int(opened["ln"][-1]) if len(opened) else n_lines - 1
        # The last record that opens a quote without closing it.
        starts = flagged_df.filter(~pl.col("single")).group_by("rec", maintain_order=True).agg(pl.col("ln").min())
        if len(starts):
            start_line = int(starts["ln"][-1])
        raise IngestError(
            "csv_unclosed_quote",
            f"A quoted field opened on line {start_line + skip_lines + 1} is never closed.",
            {"line_number": start_line + skip_lines + 1},
        )
    records: dict[int, list[tuple[int, str]]] = {}
    for ln, rec, text, count, is_single in flagged_df.iter_rows():
        if is_single:
            if not text.strip():
                if n_fields > 1:
                    structure.blank_records.append(rec)
            elif count != n_fields:
                structure.bad.append(BadRecord(rec, ln + skip_lines + 1, count, text[:500]))
        else:
            records.setdefault(rec, []).append((ln, text))
    for rec, parts in records.items():
        parts.sort()
        text = "\n".join(t for _, t in parts)
        structure.multiline[rec] = len(parts) - 1
        count = _field_count(text, dialect)
        if count != n_fields:
            structure.bad.append(BadRecord(rec, parts[0][0] + skip_lines + 1, count, text[:500]))
    structure.bad.sort(key=lambda b: b.record)
    return structure
