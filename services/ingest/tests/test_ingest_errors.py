"""Bad inputs get their IngestError code; bad rows are counted with line numbers, never silently dropped."""

from __future__ import annotations

import random

import pytest
from dsp_ingest.domain import IngestError


def _undecodable() -> list[int]:
    rng = random.Random(1)
    return [rng.choice([*range(0x80, 0x100), 0x2C, 0x0A]) for _ in range(5000)]


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", "empty_file"),
        (b"\xef\xbb\xbf", "empty_file"),
        (b"  \n\n \r\n", "empty_file"),
        (b"PK\x03\x04\x14\x00\x06\x00" + bytes(range(256)) * 4, "unsupported_format"),
        (b"%PDF-1.7\n" + bytes(range(256)), "unsupported_format"),
        (random.Random(0).randbytes(4000), "binary_file"),
        (b"a,b\n1,2\n\x00\x01\x02\x03\x04\x05" * 50, "binary_file"),
        (bytes(_undecodable()), "unknown_encoding"),
        (b",,,\n,,,\n", "no_columns"),
        (b"a,b,c\n1,2,3\n4,5\n6,7,8,9\n10,11,12\n", "csv_ragged_rows"),
        (b'a,b\n1,"x\n2,y\n', "csv_unclosed_quote"),
    ],
    ids=["empty", "bom-only", "blank", "zip", "pdf", "random-bytes", "control-bytes", "undecodable", "no-columns", "ragged", "unclosed-quote"],
)
def test_bad_inputs_raise_their_code(ingest_bytes, data, code):
    with pytest.raises(IngestError) as info:
        ingest_bytes(data)
    assert info.value.code == code
    assert info.value.message
    assert str(info.value).startswith(code)


def test_ragged_reject_reports_count_and_line_numbers(ingest_bytes):
    text = "a,b,c\n1,2,3\n4,5\n6,7,8,9\n10,11,12\n\"multi\nline\",x\n13,14,15\n"
    with pytest.raises(IngestError) as info:
        ingest_bytes(text)
    err = info.value
    assert err.code == "csv_ragged_rows"
    assert err.details["count"] == 3
    assert err.details["sample_line_numbers"] == [3, 4, 6]
    assert err.details["expected_fields"] == 3


def test_ragged_skip_drops_and_reports_rows(ingest_bytes):
    text = 'a,b,c\n1,2,3\n4,5\n6,7,8,9\n10,11,12\n"multi\nline",x\n13,14,15\n'
    report, df = ingest_bytes(text, bad_rows="skip")
    assert df["a"].to_list() == [1, 10, 13]
    assert report.row_count == 3
    bad = report.bad_rows
    assert bad.policy == "skip"
    assert bad.count == 3
    assert [r.line_number for r in bad.sample] == [3, 4, 6]
    assert bad.sample[0].raw == "4,5"
    assert bad.sample[0].reason == "expected 3 fields, found 2"
    assert bad.sample[2].raw == '"multi\nline",x'
    assert any("ragged" in w for w in report.warnings)


def test_skip_keeps_line_numbers_of_later_cells_right(ingest_bytes):
    rows = ["k,v"] + [f"{i},{i}" for i in range(60)]
    rows[5] = "4,4,extra"
    rows[10] = "9,nine"
    report, df = ingest_bytes("\n".join(rows) + "\n", bad_rows="skip", bad_values="null")
    assert report.bad_rows.sample[0].line_number == 6
    cell = report.column("v").unparseable_sample[0]
    assert (cell.line_number, cell.value) == (11, "nine")
    assert df.height == 59


def test_ingest_error_carries_details():
    err = IngestError("csv_ragged_rows", "Two rows are ragged.", {"count": 2})
    assert (err.code, err.message, err.details) == ("csv_ragged_rows", "Two rows are ragged.", {"count": 2})
    assert IngestError("empty_file", "Empty.").details == {}


def _wide_csv(columns: int) -> bytes:
    header = ",".join(f'"v{i}"' for i in range(columns))
    row = ",".join(str(i % 7) for i in range(columns))
    return f"{header}\n{row}\n{row}\n".encode()


def test_too_many_columns_names_the_count_and_the_limit(tmp_path, monkeypatch):
    from dsp_ingest.domain import ingest_csv

    src = tmp_path / "wide.csv"
    src.write_bytes(_wide_csv(301))
    with pytest.raises(IngestError) as info:
        ingest_csv(src, tmp_path / "out.parquet", max_columns=300)
    assert info.value.code == "too_many_columns"
    assert "301 columns" in info.value.message and "limit of 300" in info.value.message
    assert info.value.details == {"columns": 301, "limit": 300}
    assert not (tmp_path / "out.parquet").exists()

    monkeypatch.setenv("DSP_MAX_COLUMNS", "100")
    with pytest.raises(IngestError) as info:
        ingest_csv(src, tmp_path / "out.parquet")
    assert info.value.details == {"columns": 301, "limit": 100}
    monkeypatch.setenv("DSP_MAX_COLUMNS", "301")
    report = ingest_csv(src, tmp_path / "out.parquet")
    assert len(report.columns) == 301


def _no_library_text(err: IngestError, *fragments: str) -> None:
    """What the user sees holds none of the library's error text: no ``error`` detail, none of its words."""
    assert "error" not in err.details, err.details
    shown = f"{err.message} {err.details}"
    for fragment in fragments:
        assert fragment not in shown, shown


def test_utf8_text_with_one_bad_byte_is_refused_not_read_as_cp1252(ingest_bytes):
    """A UTF-8 file whose sample holds one byte that is not UTF-8 is refused with that byte's place: read as cp1252,
    every other non-ASCII character of the file would silently change (``Zürich`` to ``ZÃ¼rich``)."""
    body = b"id,city\n" + b"".join(b"%d,Z\xc3\xbcrich\n" % i for i in range(150_000))
    with pytest.raises(IngestError) as info:
        ingest_bytes(body + b"150000,Z\xfcrich\n")
    err = info.value
    assert err.code == "unknown_encoding"
    assert err.details == {"encoding": "utf-8", "byte_offset": len(body) + 8, "line": 150_002}


def test_cp1252_text_is_still_read_as_cp1252(ingest_bytes):
    """A file that is cp1252 throughout (no UTF-8 sequences) still reads, with its accents kept."""
    report, frame = ingest_bytes(b"id,city\n" + b"".join(b"%d,Z\xfcrich\n" % i for i in range(1_000)))
    assert report.encoding == "cp1252"
    assert frame["city"].unique().to_list() == ["Zürich"]


def test_text_that_stops_being_utf8_past_the_head_names_the_byte_and_line(ingest_bytes):
    body = b"a,b\n" + b"".join(b"%d,hello\n" % i for i in range(100_000))  # past the head the encoding is read on
    with pytest.raises(IngestError) as info:
        ingest_bytes(body + b"1,caf\xff\n")
    err = info.value
    assert err.code == "unknown_encoding"
    assert err.details == {"encoding": "utf-8", "byte_offset": len(body) + 5, "line": 100_002}
    _no_library_text(err, "invalid utf-8 sequence", "ComputeError")


def test_a_parser_failure_is_csv_unparseable_with_its_place_and_no_parser_text(ingest_bytes, monkeypatch):
    """The parser's message (here naming a server path) stays in the log; the user gets where, not what (the
    scan of the whole file fails first here: its error explains the file best)."""
    import polars as pl
    from dsp_ingest.domain import reader

    def failing(*args, **kwargs):
        raise pl.exceptions.ComputeError("could not parse /srv/dsp/spool/x.csv: bad field at line 7 (column 2)")

    monkeypatch.setattr(reader.pl, "read_csv", failing)
    with pytest.raises(IngestError) as info:
        ingest_bytes("a,b\n1,2\n3,4\n")
    err = info.value
    assert err.code == "csv_unparseable" and err.details == {"part": "whole_file", "line": 7, "column": 2}
    assert "near line 7" in err.message
    _no_library_text(err, "/srv/dsp", "bad field", "could not parse")


@pytest.mark.parametrize("damage", ["cut", "flipped"])
def test_damaged_compressed_data_says_how_without_the_decompressor_text(ingest_bytes, damage):
    import gzip

    packed = bytearray(gzip.compress(b"a,b\n" + "".join(f"{i},{i * 7919 % 10007}\n" for i in range(20000)).encode()))
    if damage == "cut":
        packed = packed[: len(packed) // 2]
    else:
        packed[len(packed) // 2] ^= 0xFF
    with pytest.raises(IngestError) as info:
        ingest_bytes(bytes(packed))
    err = info.value
    assert err.code == "decompression_failed"
    assert err.details == {"compression": "gzip", "reason": "truncated" if damage == "cut" else "corrupt",
                           "compressed_bytes": len(packed), "decompressed_bytes": 0}
    assert ("cut short" if damage == "cut" else "damaged") in err.message
    _no_library_text(err, "Compressed file ended", "Error -3", "invalid")


def test_unreadable_rules_name_their_line_not_the_yaml_parser_text():
    from dsp_ingest.domain.rules import load_rules

    with pytest.raises(IngestError) as info:
        load_rules("- type: range\n  column: [a\n  x: }")
    err = info.value
    assert err.code == "invalid_rules" and err.details == {"line": 3, "column": 4}
    _no_library_text(err, "while parsing", "expected ',' or ']'")


def test_no_reader_error_puts_the_library_text_in_its_details():
    """Every IngestError of the ingest core is built from its own words: none passes str(exc) on."""
    import re
    from pathlib import Path

    domain = Path(__file__).resolve().parents[1] / "src" / "dsp_ingest" / "domain"
    leaks = [f"{path.name}:{n}" for path in sorted(domain.glob("*.py"))
             for n, line in enumerate(path.read_text().splitlines(), 1)
             if re.search(r"str\(exc\)|\{exc\}|error=str", line) and "re.search" not in line
             and "splitlines" not in line]
    assert leaks == []
