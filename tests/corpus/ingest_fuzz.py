"""The properties the ingest reader keeps for any bytes, as fuzz targets (``bench/fuzz_ingest.py`` drives them).

Each target takes arbitrary bytes and returns normally when the property holds; any other
exception, or an ``AssertionError``, is a finding. The properties:

``sniff``
    The front of the reader (encoding detection, decoding check, dialect sniffing, sample records,
    quoted-field map) either accepts the bytes or raises :class:`IngestError`; nothing else.
``infer``
    The type inference of one column (number format, :func:`infer_column`, the plan's conversion
    and its unparseable mask) never raises, keeps one output value per input value, and every
    value the mask calls parseable is non-null after conversion.
``ingest``
    The whole reader (:func:`ingest_file`, compressed inputs included) either raises a typed
    :class:`IngestError` whose message and code carry no exception text, or writes a Parquet
    file whose row and column counts match the report, with unique column names.

The regression inputs found by fuzzing live in ``tests/corpus/ingest/<target>/`` and are replayed in CI
(``tests/corpus/test_ingest_fuzz.py``).
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable
from pathlib import Path

import polars as pl
from dsp_ingest.domain import IngestError, ingest_file
from dsp_ingest.domain.dialect import parse_sample_records, quoted_fields, sniff_dialect
from dsp_ingest.domain.encoding import check_decoded_text, detect_encoding
from dsp_ingest.domain.types import clean_strings, infer_column, infer_number_format
from shared_contracts.events import IngestOptions

__all__ = ["CORPUS", "TARGETS", "check_error", "target_infer", "target_ingest", "target_sniff"]

CORPUS = Path(__file__).resolve().parent / "ingest"
"""One folder per target of inputs replayed in CI: seeds and every crash found, kept as regressions."""

MAX_INPUT = 1 << 16
_CODE = re.compile(r"^[a-z][a-z0-9_]*$")
# What a raw exception carries that a message for the person who uploaded the file must not.
_LEAK = re.compile(r"Traceback|Error\b|Exception|File \"|line \d+, in|polars|pyarrow|0x[0-9a-f]{6,}")


def check_error(exc: IngestError) -> None:
    """A typed ingest error: a stable code and a plain message with no exception text in it."""
    assert _CODE.match(exc.code), f"code {exc.code!r} is not snake_case"
    assert exc.message and exc.message.strip(), f"{exc.code}: empty message"
    assert not _LEAK.search(exc.message), f"{exc.code}: exception text in the message: {exc.message[:300]!r}"
    assert isinstance(exc.details, dict)


def target_sniff(data: bytes) -> None:
    data = data[:MAX_INPUT]
    try:
        guess = detect_encoding(data, [], size=len(data))
        text = data[len(guess.bom):].decode(guess.encoding, errors="replace")
        check_decoded_text(text, guess)
        dialect = sniff_dialect(text)
        records = parse_sample_records(text, dialect, limit=200, complete_only=False)
        quoted = quoted_fields(text, dialect, limit=200)
    except IngestError as exc:
        check_error(exc)
        return
    assert len(dialect.delimiter) == 1, dialect
    assert len(records) <= 200 and len(quoted) <= 200


def _values(data: bytes) -> list[str | None]:
    text = data[:4096].decode("utf-8", errors="replace")
    return [None if v == "\x00" else v for v in text.split("\n")]


def target_infer(data: bytes) -> None:
    values = pl.Series("v", _values(data), dtype=pl.String)
    cleaned = values.to_frame().select(clean_strings(pl.col("v").str.strip_chars())).to_series()
    european = data[:1] == b";"
    number_format = infer_number_format(cleaned.drop_nulls(), european_hint=european)
    plan = infer_column("v", "v", cleaned, number_format, prefer_day_first=data[1:2] == b"d")
    out = values.to_frame().select(plan.output(pl.col("v")), plan.unparseable(pl.col("v")).alias("bad"))
    assert out.height == len(values)
    assert out[plan.name].dtype == plan.dtype, (plan.semantic_type, out[plan.name].dtype, plan.dtype)
    converted_null = out[plan.name].is_null()
    # a value that did convert is not counted as unparseable
    assert not (out["bad"] & ~converted_null).any(), plan.semantic_type


def target_ingest(data: bytes, *, scratch: Path | None = None) -> None:
    data = data[:MAX_INPUT]
    with tempfile.TemporaryDirectory(prefix="fuzz-ingest-", dir=scratch) as tmp:
        src, dst = Path(tmp) / "upload", Path(tmp) / "out" / "data.parquet"
        src.write_bytes(data)
        options = IngestOptions(bad_rows="skip") if data[:1] == b"s" else IngestOptions()
        try:
            report = ingest_file(src, dst, options=options, max_columns=200, max_decompressed_bytes=1 << 20)
        except IngestError as exc:
            check_error(exc)
            assert not dst.exists(), "a rejected file left its Parquet behind"
            return
        frame = pl.read_parquet(dst)
        assert frame.height == report.row_count, (frame.height, report.row_count)
        assert frame.width == report.column_count == len(report.columns)
        names = [c.name for c in report.columns]
        assert frame.columns == names
        assert len(set(names)) == len(names), names
        assert report.bad_rows.count >= len(report.bad_rows.sample)
        for column in report.columns:
            assert 0 <= column.null_count <= report.row_count, column
            assert 0 <= column.unparseable_count <= column.null_count, column
            assert 0.0 <= column.confidence <= 1.0, column
        assert not any(_LEAK.search(w) for w in report.warnings), report.warnings


TARGETS: dict[str, Callable[[bytes], None]] = {"sniff": target_sniff, "infer": target_infer, "ingest": target_ingest}
