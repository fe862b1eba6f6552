"""CSV dialect sniffing on a text sample: delimiter, quoting, escaping, line ending."""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from dataclasses import dataclass

from .errors import IngestError

__all__ = ["Dialect", "parse_sample_records", "sniff_dialect"]

DELIMITERS = (",", ";", "\t", "|")
QUOTES = ('"', "'")
SNIFF_CHARS = 1 << 16
SNIFF_RECORDS = 400


@dataclass(frozen=True)
class Dialect:
    """How the records and fields of a CSV are written."""

    delimiter: str
    quote_char: str | None
    escape_char: str | None
    line_terminator: str
    space_before_quotes: bool = False
    """Fields are written ``a, "b"``: blanks between a delimiter and an opening quote are to be ignored."""


def _line_terminator(text: str) -> str:
    crlf = text.count("\r\n")
    cr = text.count("\r") - crlf
    lf = text.count("\n") - crlf
    if crlf and crlf >= lf and crlf >= cr:
        return "\r\n"
    if cr > lf:
        return "\r"
    return "\n"


# Python's csv module refuses fields over 128 KiB by default; a CSV may hold far larger ones (a 1 MiB
# field was once read as "no columns"). The sample is at most a few MiB, so the field is bounded anyway.
csv.field_size_limit(1 << 30)


def parse_sample_records(
    text: str, dialect: Dialect, *, limit: int | None = None, complete_only: bool = True
) -> list[list[str]]:
    """Split sample text into records of fields with Python's csv module.

    The last record is dropped when ``complete_only`` and the text was cut mid-record.
    """
    reader = csv.reader(
        io.StringIO(text, newline=""),
        delimiter=dialect.delimiter,
        quotechar=dialect.quote_char or '"',
        quoting=csv.QUOTE_MINIMAL if dialect.quote_char else csv.QUOTE_NONE,
        escapechar=dialect.escape_char,
        doublequote=dialect.escape_char is None,
        skipinitialspace=dialect.space_before_quotes,
        strict=False,
    )
    records: list[list[str]] = []
    cut = False
    try:
        for record in reader:
            records.append(record)
            if limit is not None and len(records) > limit:
                break
    except csv.Error:
        cut = True  # the record it stopped in is not among the records
    if complete_only and not cut and records and not text.endswith(("\n", "\r")) and (limit is None or len(records) <= limit):
        records.pop()
    return records[:limit] if limit is not None else records


def quoted_fields(text: str, dialect: Dialect, *, skip_lines: int = 0, limit: int = 200) -> list[list[bool]]:
    """For the first records of ``text`` (one per line), which fields were written inside quotes.

    Stops at the first record spanning several lines; empty when the dialect has no quote
    character or uses escapes, where quoting says little.
    """
    q = dialect.quote_char
    if not q or dialect.escape_char:
        return []
    d, qq = re.escape(dialect.delimiter), re.escape(q)
    field = re.compile(rf"\s*{qq}(?:[^{qq}]|{qq}{qq})*{qq}\s*(?={d}|$)|[^{d}]*")
    out: list[list[bool]] = []
    for line in text.splitlines()[skip_lines : skip_lines + limit]:
        if line.count(q) % 2:
            break
        marks: list[bool] = []
        pos = 0
        while True:
            m = field.match(line, pos)
            assert m is not None  # the second alternative matches the empty string
            marks.append(m.group().lstrip().startswith(q))
            pos = m.end()
            if line.startswith(dialect.delimiter, pos):
                pos += len(dialect.delimiter)
                continue
            break
        out.append(marks)
    return out


def _consistency(records: list[list[str]]) -> tuple[float, int]:
    """Share of non-blank records having the most common field count, and that count."""
    counts = Counter(len(r) for r in records if r and r != [""])
    if not counts:
        return 0.0, 0
    modal, hits = counts.most_common(1)[0]
    return hits / sum(counts.values()), modal


def _quote_usage(text: str, delimiter: str, quote: str) -> int:
    """How many fields are wholly quoted with ``quote``: opened after a delimiter (or a line start)
    and closed before a delimiter (or a line end)."""
    d = re.escape(delimiter)
    q = re.escape(quote)
    return len(re.findall(rf"(?:^|{d})[ \t]*{q}(?:[^{q}]|{q}{q})*{q}[ \t]*(?={d}|\r?$)", text, flags=re.MULTILINE))


def sniff_dialect(text: str, *, delimiter: str | None = None) -> Dialect:
    """Guess the dialect of CSV ``text`` (a sample from the start of the file).

    Parameters
    ----------
    text
        Decoded sample, without a byte-order mark.
    delimiter
        Forces the delimiter instead of guessing it.

    Raises
    ------
    IngestError
        ``no_columns`` when the sample holds no field at all.
    """
    sample = text[:SNIFF_CHARS]
    if len(text) > SNIFF_CHARS:
        cut = max(sample.rfind("\n"), sample.rfind("\r"))
        if cut > 0:
            sample = sample[: cut + 1]
    if not sample.strip(" \t\r\n,;|"):
        raise IngestError("no_columns", "The file holds no columns: no field has any content.", {})
    terminator = _line_terminator(sample)
    candidates = [delimiter] if delimiter else list(DELIMITERS)
    best: tuple[tuple[float, ...], Dialect] | None = None
    for order, delim in enumerate(candidates):
        dialect = _dialect_for(sample, delim, terminator)
        consistency, modal = _consistency(parse_sample_records(sample, dialect, limit=SNIFF_RECORDS))
        score: tuple[float, ...] = (0.0, 0.0, -order) if modal < 2 else (round(consistency, 2), min(modal, 50) / 50, -order)
        if best is None or score > best[0]:
            best = (score, dialect)
    assert best is not None
    if best[0][0] > 0.0 or delimiter:
        return best[1]
    # No delimiter splits the records: space-separated values, or a single column.
    spaced = _dialect_for(sample, " ", terminator)
    consistency, modal = _consistency(parse_sample_records(sample, spaced, limit=SNIFF_RECORDS))
    if modal >= 2 and consistency >= 0.99 and "  " not in sample:
        return spaced
    return Dialect(",", '"', None, terminator)


def _dialect_for(sample: str, delim: str, terminator: str) -> Dialect:
    quote_scores = {q: _quote_usage(sample, delim, q) for q in QUOTES}
    quote = "'" if quote_scores["'"] > quote_scores['"'] else '"'
    escape = None
    if re.search(re.escape("\\" + quote), sample) and not re.search(re.escape(quote * 2) + r"[^\r\n]", sample):
        escape = "\\"
    d, q = re.escape(delim), re.escape(quote)
    blanks = " " if delim == "\t" else "[ \t]"
    spaced = bool(re.search(rf"{d}{blanks}+{q}(?!{q})", sample))
    return Dialect(delim, quote, escape, terminator, spaced)
