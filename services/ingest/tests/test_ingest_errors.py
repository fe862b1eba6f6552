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
