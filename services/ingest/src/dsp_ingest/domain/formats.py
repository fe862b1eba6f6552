"""``ingest_file``: recognise a file's format from its content, and read any supported format as a CSV is read.

Parquet, Arrow IPC/Feather, Excel and OpenDocument workbooks, JSON and NDJSON are first written as
UTF-8 CSV text in a scratch directory, every value exactly (numbers as their shortest round-trip
text, dates in ISO 8601), and that text goes through ``ingest_csv``: the same typed inference,
missing-value tokens, validation and report, so "$1,234" in a spreadsheet or a JSON string is money as
it is in a CSV. gzip, zstd and bzip2 files are decompressed as a stream, up to a cap on the expanded
size, and read by what they hold. The file name plays no part: uploads are stored without one.
"""

from __future__ import annotations

import bz2
import gzip
import json
import os
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import IO, Any

import polars as pl
from shared_contracts.cancel import CancelToken, never_cancelled
from shared_contracts.events import IngestOptions
from shared_contracts.ingest import SUPPORTED_FORMATS, IngestReport
from shared_contracts.progress import ProgressFn, no_progress

from .dialect import Dialect
from .errors import IngestError
from .reader import ingest_csv

__all__ = ["MAX_DECOMPRESSED_BYTES", "detect_format", "ingest_file"]

MAX_DECOMPRESSED_BYTES = 4 << 30
"""Largest expanded size of a compressed file, unless ``DSP_MAX_DECOMPRESSED_BYTES`` or the argument says otherwise."""
HEAD_BYTES = 1 << 16
CHUNK_BYTES = 1 << 20
_COMMA = Dialect(delimiter=",", quote_char='"', escape_char=None, line_terminator="\n")
_COMPRESSION_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x1f\x8b", "gzip"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
    (b"BZh", "bz2"),
)
_ODS_MIMETYPE = b"application/vnd.oasis.opendocument.spreadsheet"


def supported_list() -> str:
    """The supported formats in words, for error messages."""
    return "; ".join(SUPPORTED_FORMATS)


def unsupported(what: str, **details: Any) -> IngestError:
    """The typed error for a file in a format ingest does not read: what it is, and what is read."""
    return IngestError(
        "unsupported_format",
        f"This file is {what}, which is not a table ingest can read. Supported: {supported_list()}.",
        {"detected": what, "supported": list(SUPPORTED_FORMATS), **details},
    )


def _head(path: Path, n: int = HEAD_BYTES) -> bytes:
    with path.open("rb") as fh:
        return fh.read(n)


def _zip_format(path: Path) -> str:
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            if "mimetype" in names and archive.read("mimetype").strip() == _ODS_MIMETYPE:
                return "ods"
    except (zipfile.BadZipFile, OSError, KeyError) as exc:
        raise unsupported("a damaged ZIP archive") from exc
    if "xl/workbook.xml" in names:
        return "xlsx"
    if "xl/workbook.bin" in names:
        return "xlsb"
    raise unsupported("a ZIP archive that is not a workbook", entries=names[:10])


def _json_kind(head: bytes) -> str | None:
    """``json`` or ``ndjson`` when the text starts as JSON does, else None."""
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text.startswith(b"["):
        # an array of records, or an empty one; a CSV whose first field starts with "[" is not JSON
        return "json" if text[1:].lstrip(b" \t\r\n")[:1] in (b"{", b"]") else None
    if not text.startswith(b"{") or text[1:].lstrip(b" \t\r\n")[:1] not in (b'"', b"}"):
        return None
    first, _, rest = text.partition(b"\n")
    try:
        record = json.loads(first)
    except ValueError:
        return "json"  # an object over several lines: a document such as {"data": [...]}
    if isinstance(record, dict) and (not rest.strip() or rest.lstrip().startswith(b"{")):
        if not rest.strip() and isinstance(record.get("data"), list):
            return "json"
        return "ndjson"
    return "json"


def detect_format(path: Path) -> str:
    """The format of an uncompressed file from its first bytes (and, for a ZIP, its entry names).

    Returns one of ``csv``, ``parquet``, ``arrow``, ``feather1``, ``xlsx``, ``xlsb``, ``xls``, ``ods``,
    ``json``, ``ndjson``; anything else that is not text is left to the CSV reader, which refuses it.
    """
    head = _head(path)
    if head.startswith(b"PAR1"):
        return "parquet"
    if head.startswith(b"ARROW1"):
        return "arrow"
    if head.startswith(b"FEA1"):
        return "feather1"
    if head.startswith(b"\xff\xff\xff\xff") and len(head) > 8:
        return "arrow_stream"
    if head.startswith(b"PK\x03\x04"):
        return _zip_format(path)
    if head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        return "xls"
    for magic, name in _COMPRESSION_MAGIC:
        if head.startswith(magic):
            raise unsupported(f"{name} data compressed twice", compression=name)
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):  # UTF-16 text: JSON or CSV, told apart once decoded
        text = head[: len(head) // 2 * 2].decode("utf-16", errors="replace")
        return _json_kind(text.encode("utf-8")) or "csv"
    return _json_kind(head) or "csv"


def _decompressed_limit(limit: int | None) -> int:
    if limit is not None:
        return limit
    raw = os.environ.get("DSP_MAX_DECOMPRESSED_BYTES", "").strip()
    if not raw:
        return MAX_DECOMPRESSED_BYTES
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"DSP_MAX_DECOMPRESSED_BYTES must be a whole number of bytes of at least 1, not {raw!r}")
    return int(raw)


def _open_decompressed(fh: IO[bytes], compression: str) -> Any:
    if compression == "gzip":
        return gzip.GzipFile(fileobj=fh)
    if compression == "bz2":
        return bz2.BZ2File(fh)
    import zstandard

    return zstandard.ZstdDecompressor().stream_reader(fh, read_across_frames=True)


def decompress(src: Path, dst: Path, compression: str, *, limit: int, progress: Callable[[int], None]) -> int:
    """Expand ``src`` into ``dst`` a chunk at a time; stop at ``limit`` bytes with ``decompressed_too_large``."""
    written = 0
    try:
        with src.open("rb") as raw, _open_decompressed(raw, compression) as stream, dst.open("wb") as out:
            while chunk := stream.read(CHUNK_BYTES):
                written += len(chunk)
                if written > limit:
                    raise IngestError(
                        "decompressed_too_large",
                        f"The {compression} file expands to more than the limit of {limit} bytes "
                        f"({src.stat().st_size} bytes compressed); it was not read. Upload a smaller file, "
                        "or raise DSP_MAX_DECOMPRESSED_BYTES.",
                        {"compression": compression, "limit_bytes": limit, "compressed_bytes": src.stat().st_size},
                    )
                out.write(chunk)
                progress(written)
    except IngestError:
        dst.unlink(missing_ok=True)
        raise
    except (OSError, EOFError, ValueError, Exception) as exc:  # zstandard raises its own ZstdError
        dst.unlink(missing_ok=True)
        cut = isinstance(exc, EOFError)  # the stream ended before its end marker: a partial download or copy
        raise IngestError(
            "decompression_failed",
            f"The {compression} data is {'cut short' if cut else 'damaged'} and could not be decompressed"
            + (f" past its first {written} bytes" if written else "") + ". Upload the file again, or uncompressed.",
            {"compression": compression, "reason": "truncated" if cut else "corrupt",
             "compressed_bytes": src.stat().st_size, "decompressed_bytes": written},
        ) from exc
    return written


# ---- writing a table as CSV text -------------------------------------------------------------------


def _quoted(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def _number_text(value: float) -> str:
    if value != value or value in (float("inf"), float("-inf")):
        return repr(value)  # nan, inf: the reader's missing-value and float rules decide
    if value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(value)  # the shortest text that reads back as the same double


def _cell(value: Any) -> str:
    """One value as CSV field text: strings quoted, numbers, booleans and dates bare, None empty."""
    if value is None:
        return ""
    if isinstance(value, _Number):
        return str(value)
    if isinstance(value, str):
        return _quoted(value) if value else ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _number_text(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return _quoted(str(value))
    if isinstance(value, list | dict):
        return _quoted(_json_text(value))
    return _quoted(str(value))


def _write_rows(rows: Iterable[list[Any]], dst: Path) -> int:
    count = 0
    with dst.open("w", encoding="utf-8", newline="") as out:
        for row in rows:
            out.write(",".join(_cell(v) for v in row) + "\n")
            count += 1
    return count


# ---- Parquet and Arrow -----------------------------------------------------------------------------


def _flat_columns(schema: pl.Schema, prefix: str = "") -> list[tuple[str, pl.Expr, pl.DataType]]:
    """Every leaf column of ``schema``, struct fields as dotted names, with an expression reaching it."""
    out: list[tuple[str, pl.Expr, pl.DataType]] = []

    def walk(name: str, expr: pl.Expr, dtype: Any) -> None:
        if isinstance(dtype, pl.Struct):
            for f in dtype.fields:
                walk(f"{name}.{f.name}", expr.struct.field(f.name), f.dtype)
        else:
            out.append((name, expr, dtype))

    for name, dtype in schema.items():
        walk(prefix + name, pl.col(name), dtype)
    return out


def _text_expr(expr: pl.Expr, dtype: pl.DataType, name: str, warnings: list[str]) -> pl.Expr:
    """A typed column as the CSV writer should write it, keeping every value."""
    if dtype == pl.Float32:
        return expr.cast(pl.Float64)  # each float32 exactly, as the double it widens to
    if dtype.is_numeric() or dtype in (pl.Boolean, pl.Date, pl.String, pl.Time) or isinstance(dtype, pl.Datetime):
        if isinstance(dtype, pl.Datetime) and dtype.time_zone:
            warnings.append(f"Column {name!r}: times are read in UTC (the file stores them in {dtype.time_zone}).")
            return expr.dt.convert_time_zone("UTC")  # written with its offset, +0000: read back as instants in UTC
        return expr
    if isinstance(dtype, pl.List | pl.Array):
        encoded = pl.struct(expr.alias("v")).struct.json_encode().str.slice(5).str.head(-1)
        return pl.when(expr.is_null()).then(None).otherwise(encoded)
    if isinstance(dtype, pl.Duration):
        return expr.dt.to_string("iso")  # ISO 8601 durations (P1DT2H...), exact, read as text
    if dtype == pl.Binary:
        warnings.append(f"Column {name!r}: binary values are read as their hexadecimal text.")
        return expr.bin.encode("hex")
    return expr.cast(pl.String)


def _arrow_frame(path: Path, kind: str) -> pl.LazyFrame:
    if kind == "parquet":
        return pl.scan_parquet(path)
    if kind == "arrow":
        return pl.scan_ipc(path)
    if kind == "arrow_stream":
        return pl.read_ipc_stream(path).lazy()
    import pyarrow.feather as feather

    return pl.from_arrow(feather.read_table(path)).lazy()  # type: ignore[union-attr]


def _arrow_to_csv(path: Path, kind: str, dst: Path, warnings: list[str]) -> None:
    try:
        lf = _arrow_frame(path, kind)
        schema = lf.collect_schema()
    except (pl.exceptions.PolarsError, OSError, ValueError) as exc:
        what = {"parquet": "a Parquet file", "feather1": "a Feather file"}.get(kind, "an Arrow IPC file")
        raise IngestError("unreadable_file", f"This looks like {what}, but it could not be read.",
                          {"detected": kind}) from exc
    if not schema:
        raise IngestError("no_columns", "The file holds no columns.", {})
    leaves = _flat_columns(schema)
    columns = [_text_expr(expr, dtype, name, warnings).alias(name) for name, expr, dtype in leaves]
    nanos = [(name, expr) for name, expr, dtype in leaves if isinstance(dtype, pl.Datetime) and dtype.time_unit == "ns"]
    if nanos:  # the reader keeps microseconds: say how many values lose their nanoseconds, never silently
        counts = lf.select([(expr.dt.nanosecond() % 1000 != 0).sum().alias(name) for name, expr in nanos]).collect()
        for name, count in counts.row(0, named=True).items():
            if count:
                warnings.append(f"Column {name!r}: {count} value(s) have nanoseconds; they are kept to the microsecond.")
    try:
        lf.select(columns).sink_csv(dst, include_header=True, null_value="", quote_style="necessary")
    except pl.exceptions.PolarsError as exc:
        raise IngestError("unreadable_file", "The file's data could not be read.",
                          {"detected": kind}) from exc


# ---- Excel and OpenDocument ----------------------------------------------------------------------


def _choose_sheet(names: list[str], rows_of: Callable[[int], list[list[Any]]], sheet: str | int | None) -> int:
    if isinstance(sheet, str):
        if sheet in names:
            return names.index(sheet)
        raise IngestError("unknown_sheet", f"The workbook has no sheet named {sheet!r}; its sheets: "
                          f"{', '.join(map(repr, names))}.", {"sheet": sheet, "sheets": names})
    if isinstance(sheet, int):
        if 0 <= sheet < len(names):
            return sheet
        raise IngestError("unknown_sheet", f"The workbook has {len(names)} sheet(s); position {sheet} (counted "
                          f"from 0) is not one of them. Its sheets: {', '.join(map(repr, names))}.",
                          {"sheet": sheet, "sheets": names})
    for i in range(len(names)):
        if any(v not in (None, "") for row in rows_of(i) for v in row):
            return i
    raise IngestError("no_columns", "Every sheet of the workbook is empty.", {"sheets": names})


def _table_rows(rows: list[list[Any]], warnings: list[str]) -> Iterator[list[Any]]:
    """The sheet's rows as a rectangle; title rows above the table (one value on a wide sheet) become blank."""
    width = max((len(r) for r in rows), default=0)
    filled = [sum(v not in (None, "") for v in r) for r in rows]
    preamble = 0
    if width > 1:
        while preamble < len(rows) and filled[preamble] <= 1 and any(f > 1 for f in filled[preamble:]):
            preamble += 1
    if any(filled[:preamble]):
        warnings.append(f"Skipped {sum(1 for f in filled[:preamble] if f)} row(s) before the table (a title or notes).")
    for i, row in enumerate(rows):
        if i < preamble or not filled[i]:
            yield []  # a blank line: the reader skips it and counts it, and later rows keep their numbers
        else:
            yield list(row) + [None] * (width - len(row))


def _excel_to_csv(path: Path, kind: str, dst: Path, sheet: str | int | None,
                  warnings: list[str]) -> tuple[str, list[str]]:
    import python_calamine

    try:
        with path.open("rb") as fh:
            workbook = python_calamine.CalamineWorkbook.from_filelike(fh)
            names = list(workbook.sheet_names)
            cache: dict[int, list[list[Any]]] = {}

            def rows_of(i: int) -> list[list[Any]]:
                if i not in cache:
                    cache[i] = workbook.get_sheet_by_index(i).to_python(skip_empty_area=False)
                return cache[i]

            chosen = _choose_sheet(names, rows_of, sheet)
            rows = rows_of(chosen)
    except IngestError:
        raise
    except Exception as exc:  # calamine raises its own errors for damaged or protected workbooks
        if kind == "xls":
            raise unsupported("an OLE2 (Office) document that is not a readable Excel workbook") from exc
        raise IngestError("unreadable_file", f"This looks like a {kind} workbook, but it could not be read "
                          "(damaged, or protected by a password).", {"detected": kind}) from exc
    others = [n for i, n in enumerate(names) if i != chosen]
    if others and sheet is None:
        warnings.append(f"Read sheet {names[chosen]!r}; the workbook also has {', '.join(map(repr, others))} "
                        "(choose one with the sheet option).")
    _write_rows(_table_rows(rows, warnings), dst)
    return names[chosen], names


# ---- JSON and NDJSON -------------------------------------------------------------------------------


class _Number(str):
    """A JSON number, kept as the text it was written as."""


def _json_text(value: Any) -> str:
    if isinstance(value, _Number):
        return str(value)
    if isinstance(value, list):
        return "[" + ",".join(_json_text(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(json.dumps(k, ensure_ascii=False) + ":" + _json_text(v) for k, v in value.items()) + "}"
    return json.dumps(value, ensure_ascii=False)


def _loads(text: str | bytes) -> Any:
    return json.loads(text, parse_float=_Number, parse_int=_Number, parse_constant=_Number)


def _flatten(record: dict[str, Any], prefix: str = "", into: dict[str, Any] | None = None) -> dict[str, Any]:
    """Nested objects as dotted columns: ``{"a": {"b": 1}}`` -> ``{"a.b": 1}``; arrays stay JSON text."""
    out = {} if into is None else into
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            _flatten(value, f"{name}.", out)
        else:
            out[name] = value
    return out


def _json_error(exc: json.JSONDecodeError, line_offset: int = 0) -> IngestError:
    return IngestError("json_unparseable", f"The JSON is not valid at line {exc.lineno + line_offset}, column "
                       f"{exc.colno}: {exc.msg}.", {"line": exc.lineno + line_offset, "column": exc.colno,
                                                    "error": exc.msg})


def _records_of(document: Any) -> list[Any]:
    if isinstance(document, list):
        return document
    if isinstance(document, dict):
        if isinstance(document.get("data"), list):
            return list(document["data"])
        lists = [v for v in document.values() if isinstance(v, list) and v and all(isinstance(r, dict) for r in v)]
        if len(lists) == 1:
            return lists[0]
    raise IngestError("json_unsupported_shape", "The JSON holds no table: send an array of records "
                      '([{"a": 1}, ...]), an object whose "data" is such an array, or NDJSON (one record per line).',
                      {"top_level": type(document).__name__})


@dataclass
class _Columns:
    names: dict[str, None] = field(default_factory=dict)

    def add(self, row: dict[str, Any]) -> None:
        for key in row:
            self.names.setdefault(key, None)


def _check_record(record: Any, number: int) -> dict[str, Any]:
    if not isinstance(record, dict):
        raise IngestError("json_unsupported_shape", f"Record {number} is a JSON {type(record).__name__}, not an "
                          "object: every record must be an object of column names and values.",
                          {"record": number, "found": type(record).__name__})
    return _flatten(record)


def _ndjson_records(path: Path, encoding: str) -> Iterator[tuple[int, dict[str, Any]]]:
    with path.open("r", encoding=encoding, newline="") as fh:
        for line_number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                record = _loads(line)
            except json.JSONDecodeError as exc:
                raise _json_error(exc, line_number - 1) from exc
            yield line_number, _check_record(record, line_number)


def _json_encoding(path: Path) -> str:
    head = _head(path, 4)
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    return "utf-8-sig"


def _json_to_csv(path: Path, kind: str, dst: Path) -> str:
    """Write the JSON or NDJSON records as CSV; returns which of the two the file turned out to be."""
    encoding = _json_encoding(path)
    columns = _Columns()
    try:
        if kind == "ndjson":
            for _, row in _ndjson_records(path, encoding):  # first pass: the columns, in order of appearance
                columns.add(row)
            records: Iterable[dict[str, Any]] = (row for _, row in _ndjson_records(path, encoding))
        else:
            try:
                document = _loads(path.read_text(encoding=encoding))
            except json.JSONDecodeError as exc:
                if exc.msg == "Extra data" and exc.lineno > 1:  # NDJSON whose first line is longer than the head
                    return _json_to_csv(path, "ndjson", dst)
                raise _json_error(exc) from exc
            rows = [_check_record(r, i) for i, r in enumerate(_records_of(document), start=1)]
            for row in rows:
                columns.add(row)
            records = rows
    except UnicodeDecodeError as exc:
        raise IngestError("unknown_encoding", "JSON text must be UTF-8 (or UTF-16 with a byte-order mark).",
                          {"encoding": exc.encoding}) from exc
    names = list(columns.names)
    if not names:
        raise IngestError("no_columns", "The JSON records hold no fields.", {})
    header: list[Any] = [n for n in names]
    _write_rows(_chain([header], ([row.get(n) for n in names] for row in records)), dst)
    return kind


def _chain(first: list[list[Any]], rest: Iterable[list[Any]]) -> Iterator[list[Any]]:
    yield from first
    yield from rest


# ---- the use case ------------------------------------------------------------------------------------


def ingest_file(
    src: Path,
    dst_parquet: Path,
    *,
    options: IngestOptions = IngestOptions(),
    progress: ProgressFn | None = None,
    max_columns: int | None = None,
    max_decompressed_bytes: int | None = None,
    cancel: CancelToken | None = None,
) -> IngestReport:
    """Read a table in any supported format, recognised by its content, type its columns and write it as Parquet.

    Parameters
    ----------
    src
        The file: CSV or other delimited text, Parquet, Arrow IPC/Feather, an Excel or OpenDocument
        workbook, JSON or NDJSON, any of the text ones possibly gzip, zstd or bzip2 compressed.
    dst_parquet
        Where to write the typed Parquet file.
    options
        As for ``ingest_csv``; ``options.sheet`` chooses a workbook's sheet.
    progress
        Called with (fraction done, message) as the work advances.
    max_columns
        Most columns accepted (see ``ingest_csv``).
    max_decompressed_bytes
        Largest expanded size of a compressed file; None reads ``DSP_MAX_DECOMPRESSED_BYTES``, else
        :data:`MAX_DECOMPRESSED_BYTES`.
    cancel
        The job's cancellation token, checked after decompressing, after converting a non-CSV table and between
        ``ingest_csv``'s steps; None is never cancelled.

    Returns
    -------
    IngestReport
        As ``ingest_csv``'s, with ``source_format``, ``compression`` and, for a workbook, ``sheet``.

    Raises
    ------
    IngestError
        ``ingest_csv``'s codes, and ``unsupported_format`` (naming what the file is and listing what
        is supported), ``decompressed_too_large``, ``decompression_failed``, ``unreadable_file``,
        ``unknown_sheet``, ``json_unparseable`` or ``json_unsupported_shape``.
    Cancelled
        When ``cancel`` is cancelled; nothing is written to ``dst_parquet``.
    """
    report_progress = progress or no_progress
    token = cancel or never_cancelled()
    src, dst_parquet = Path(src), Path(dst_parquet)
    size = src.stat().st_size
    head = _head(src, 8)
    compression = next((name for magic, name in _COMPRESSION_MAGIC if head.startswith(magic)), None)
    dst_parquet.parent.mkdir(parents=True, exist_ok=True)
    warnings: list[str] = []
    with tempfile.TemporaryDirectory(prefix=".formats-", dir=dst_parquet.parent) as tmp_dir:
        tmp = Path(tmp_dir)
        work, expanded = src, None
        if compression is not None:
            report_progress(0.0, f"Decompressing ({compression})")
            expanded = decompress(src, tmp / "decompressed", compression,
                                  limit=_decompressed_limit(max_decompressed_bytes), progress=lambda _: None)
            work = tmp / "decompressed"
            token.check("decompressing")
        kind = detect_format(work)
        sheet: str | None = None
        sheets: list[str] = []
        header: bool | None = None
        dialect: Dialect | None = None
        if kind != "csv":
            report_progress(0.02, f"Reading {kind}")
            text = tmp / "table.csv"
            if kind in ("parquet", "arrow", "arrow_stream", "feather1"):
                _arrow_to_csv(work, kind, text, warnings)
                header, dialect = True, _COMMA
            elif kind in ("xlsx", "xlsb", "xls", "ods"):
                sheet, sheets = _excel_to_csv(work, kind, text, options.sheet, warnings)
                dialect = _COMMA
            else:
                kind = _json_to_csv(work, kind, text)
                header, dialect = True, _COMMA
            work = text
            token.check(f"reading {kind}")
        report = ingest_csv(work, dst_parquet, options=options, progress=report_progress, max_columns=max_columns,
                            header=header, dialect=dialect, cancel=token)
    source_format = {"arrow_stream": "arrow", "feather1": "arrow"}.get(kind, kind)
    return report.model_copy(update={
        "source_bytes": size, "source_format": source_format, "compression": compression,
        "decompressed_bytes": expanded, "sheet": sheet, "sheets": sheets,
        "warnings": warnings + list(report.warnings),
    })
