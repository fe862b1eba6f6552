"""Formats beyond CSV, recognised by content: the same table as CSV, Parquet, Arrow, xlsx, JSON, NDJSON and
compressed CSV/JSON reads to the same typed Parquet, values exact; a decompression bomb and a format nothing
reads get typed errors. Every input file is written by the test, under a name without an extension."""

from __future__ import annotations

import bz2
import gzip
import io
import json
import sqlite3
import zipfile
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import xlsxwriter
import zstandard
from dsp_ingest.domain import IngestError, ingest_file
from polars.testing import assert_frame_equal
from shared_contracts.events import IngestOptions

ROOT = Path(__file__).resolve().parents[3]


def _penguins() -> pl.DataFrame:
    """Real data (palmerpenguins), with a money column written as text, as spreadsheets and APIs hold it."""
    frame = pl.read_csv(ROOT / "samples" / "penguins.csv", null_values=["NA"])
    price = [f"${v:,.2f}" if v is not None else None for v in (frame["body_mass_g"] * 1.5).to_list()]
    return frame.with_columns(pl.Series("price", price))


def _xlsx(frame: pl.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.write_excel(buffer, autofit=False)
    return buffer.getvalue()


def _write_all(frame: pl.DataFrame, folder: Path) -> dict[str, Path]:
    """The table in every format, each file named without an extension."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {name: folder / f"upload-{name}" for name in
             ("csv", "tsv", "parquet", "arrow", "xlsx", "json", "json-data", "ndjson", "csv-gzip", "csv-zstd", "json-bz2")}
    csv_bytes = frame.write_csv().encode()
    paths["csv"].write_bytes(csv_bytes)
    paths["tsv"].write_bytes(frame.write_csv(separator="\t").encode())
    frame.write_parquet(paths["parquet"])
    frame.write_ipc(paths["arrow"])
    paths["xlsx"].write_bytes(_xlsx(frame))
    records = frame.to_dicts()
    paths["json"].write_text(json.dumps(records))
    paths["json-data"].write_text(json.dumps({"data": records, "meta": {"source": "palmerpenguins"}}, indent=2))
    paths["ndjson"].write_text(frame.write_ndjson())
    paths["csv-gzip"].write_bytes(gzip.compress(csv_bytes))
    paths["csv-zstd"].write_bytes(zstandard.ZstdCompressor().compress(csv_bytes))
    paths["json-bz2"].write_bytes(bz2.compress(json.dumps(records).encode()))
    return paths


EXPECTED_FORMAT = {"csv": ("csv", None), "tsv": ("csv", None), "parquet": ("parquet", None), "arrow": ("arrow", None),
                   "xlsx": ("xlsx", None), "json": ("json", None), "json-data": ("json", None),
                   "ndjson": ("ndjson", None), "csv-gzip": ("csv", "gzip"), "csv-zstd": ("csv", "zstd"),
                   "json-bz2": ("json", "bz2")}


def test_the_same_table_in_every_format_reads_to_the_same_typed_parquet(tmp_path: Path) -> None:
    frame = _penguins()
    paths = _write_all(frame, tmp_path / "in")
    outputs: dict[str, pl.DataFrame] = {}
    reports = {}
    for name, path in paths.items():
        dst = tmp_path / "out" / f"{name}.parquet"
        reports[name] = ingest_file(path, dst)
        outputs[name] = pl.read_parquet(dst)
        assert (reports[name].source_format, reports[name].compression) == EXPECTED_FORMAT[name], name
    reference = outputs["csv"]
    assert reference.height == 344 and reference["price"].dtype == pl.Float64
    assert reports["csv"].column("price").semantic_type == "currency"
    for name, output in outputs.items():
        assert_frame_equal(output, reference, check_exact=True), name
        assert [(c.name, c.semantic_type, c.unit, c.null_count) for c in reports[name].columns] == [
            (c.name, c.semantic_type, c.unit, c.null_count) for c in reports["csv"].columns], name
    assert reports["xlsx"].sheet == "Sheet1" and reports["xlsx"].sheets == ["Sheet1"]
    assert reports["csv-gzip"].decompressed_bytes == paths["csv"].stat().st_size
    assert reports["csv-gzip"].source_bytes == paths["csv-gzip"].stat().st_size


def test_floats_of_every_magnitude_stay_bit_for_bit_exact_through_each_format(tmp_path: Path) -> None:
    rng = np.random.default_rng(14)
    values = rng.normal(size=2000) * 10.0 ** rng.integers(-300, 300, 2000)
    frame = pl.DataFrame({"x": values, "small": rng.normal(size=2000).astype(np.float32),
                          "big": rng.integers(-(2**62), 2**62, 2000)})
    paths = {"parquet": tmp_path / "a", "json": tmp_path / "b", "ndjson": tmp_path / "c", "xlsx": tmp_path / "d"}
    frame.write_parquet(paths["parquet"])
    paths["json"].write_text(json.dumps(frame.with_columns(pl.col("small").cast(pl.Float64)).to_dicts()))
    paths["ndjson"].write_text(frame.with_columns(pl.col("small").cast(pl.Float64)).write_ndjson())
    # Excel keeps 15 significant digits (and the writer 16): the workbook holds the values rounded so, and no
    # 62-bit integers, its numbers being doubles
    in_excel = frame.select(pl.col("x", "small").cast(pl.Float64).map_elements(lambda v: float(f"{v:.15g}"),
                                                                                   return_dtype=pl.Float64))
    paths["xlsx"].write_bytes(_xlsx(in_excel))
    for name, path in paths.items():
        ingest_file(path, tmp_path / f"{name}.parquet")
        out = pl.read_parquet(tmp_path / f"{name}.parquet")
        expected = in_excel if name == "xlsx" else frame
        assert out["x"].dtype == pl.Float64 and (out["x"] == expected["x"]).all(), name
        assert (out["small"] == (in_excel if name == "xlsx" else frame)["small"].cast(pl.Float64)).all(), name
        if name != "xlsx":
            assert out["big"].dtype == pl.Int64 and (out["big"] == frame["big"]).all(), name


def test_json_nested_objects_become_dotted_columns_and_arrays_stay_json_text(tmp_path: Path) -> None:
    records = [
        {"id": 1, "user": {"name": "Ann", "address": {"city": "Lyon"}}, "tags": ["a", "b"], "amount": "$1,234.50",
         "extra": False},
        {"id": 2, "user": {"name": "Bob", "address": {"city": "Oslo"}}, "tags": [], "amount": "$10.00", "extra": True},
    ]
    src = tmp_path / "records"
    src.write_text("\n".join(json.dumps(r) for r in records) + '\n{"id": 3, "user": {"name": "Cy"}, "tags": [1.50, 2], '
                   '"amount": null}\n')
    report = ingest_file(src, tmp_path / "out.parquet")
    out = pl.read_parquet(tmp_path / "out.parquet")
    assert report.source_format == "ndjson"
    assert out.columns == ["id", "user.name", "user.address.city", "tags", "amount", "extra"]  # first-seen order
    assert out["user.address.city"].to_list() == ["Lyon", "Oslo", None]
    assert out["tags"].to_list() == ['["a","b"]', "[]", "[1.50,2]"]  # numbers as written
    assert report.column("amount").semantic_type == "currency" and out["amount"].to_list() == [1234.5, 10.0, None]
    assert out["extra"].to_list() == [False, True, None]


def _workbook(path: Path, sheets: dict[str, list[list[object]]]) -> None:
    book = xlsxwriter.Workbook(str(path))
    for name, rows in sheets.items():
        sheet = book.add_worksheet(name)
        for r, row in enumerate(rows):
            for c, value in enumerate(row):
                if value is not None:
                    sheet.write(r, c, value)
    book.close()


def test_a_workbook_reads_its_first_non_empty_sheet_or_the_one_asked_for(tmp_path: Path) -> None:
    src = tmp_path / "book"
    _workbook(src, {
        "Notes": [],
        "Sales": [["Quarterly sales"], [], ["region", "amount", "units"], ["North", "$1,234.00", 3],
                  ["South", "$99.50", 7], ["East", "$5.00", 1]],
        "Raw": [[1.5, 2], [2.5, 3], [3.5, 4]],
    })
    report = ingest_file(src, tmp_path / "a.parquet")
    out = pl.read_parquet(tmp_path / "a.parquet")
    assert report.source_format == "xlsx" and report.sheet == "Sales" and report.sheets == ["Notes", "Sales", "Raw"]
    assert report.has_header and out.columns == ["region", "amount", "units"]
    assert report.column("amount").semantic_type == "currency" and out["amount"].to_list() == [1234.0, 99.5, 5.0]
    assert out["units"].dtype == pl.Int64 and out["units"].to_list() == [3, 7, 1]
    assert any("before the table" in w for w in report.warnings) and any("'Raw'" in w for w in report.warnings)

    by_name = ingest_file(src, tmp_path / "b.parquet", options=IngestOptions(sheet="Raw"))
    by_position = ingest_file(src, tmp_path / "c.parquet", options=IngestOptions(sheet=2))
    assert by_name.sheet == by_position.sheet == "Raw"
    raw = pl.read_parquet(tmp_path / "b.parquet")
    assert not by_name.has_header and raw.columns == ["column_1", "column_2"]  # numbers all the way down
    assert raw["column_1"].to_list() == [1.5, 2.5, 3.5] and raw["column_2"].to_list() == [2, 3, 4]
    with pytest.raises(IngestError) as info:
        ingest_file(src, tmp_path / "d.parquet", options=IngestOptions(sheet="Missing"))
    assert info.value.code == "unknown_sheet" and info.value.details["sheets"] == ["Notes", "Sales", "Raw"]


def _ods(rows: list[list[str]]) -> bytes:
    """A minimal OpenDocument spreadsheet, as the format defines it: a mimetype entry first, then content.xml."""
    cells = "".join(
        "<table:table-row>" + "".join(
            f'<table:table-cell office:value-type="float" office:value="{v}"><text:p>{v}</text:p></table:table-cell>'
            if v.replace(".", "", 1).isdigit() else
            f'<table:table-cell office:value-type="string"><text:p>{v}</text:p></table:table-cell>' for v in row)
        + "</table:table-row>" for row in rows)
    content = (
        '<?xml version="1.0" encoding="UTF-8"?><office:document-content '
        'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
        'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
        'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2">'
        f'<office:body><office:spreadsheet><table:table table:name="Data">{cells}</table:table>'
        "</office:spreadsheet></office:body></office:document-content>")
    manifest = (
        '<?xml version="1.0" encoding="UTF-8"?><manifest:manifest '
        'xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2">'
        '<manifest:file-entry manifest:full-path="/" manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/>'
        '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/></manifest:manifest>')
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(zipfile.ZipInfo("mimetype"), "application/vnd.oasis.opendocument.spreadsheet")
        archive.writestr("content.xml", content, compress_type=zipfile.ZIP_DEFLATED)
        archive.writestr("META-INF/manifest.xml", manifest, compress_type=zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def test_an_opendocument_spreadsheet_is_recognised_by_its_mimetype_entry(tmp_path: Path) -> None:
    src = tmp_path / "sheet"
    src.write_bytes(_ods([["city", "price"], ["Lyon", "$1,234.00"], ["Oslo", "12.5"]]))
    report = ingest_file(src, tmp_path / "out.parquet")
    out = pl.read_parquet(tmp_path / "out.parquet")
    assert (report.source_format, report.sheet) == ("ods", "Data")
    assert out.columns == ["city", "price"] and out["city"].to_list() == ["Lyon", "Oslo"]
    assert out["price"].to_list() == [1234.0, 12.5]


@pytest.mark.parametrize("compression", ["gzip", "zstd", "bz2"])
def test_a_decompression_bomb_stops_at_the_cap_with_a_typed_error(tmp_path: Path, compression: str) -> None:
    expanded = b"a,b\n" + b"0,0\n" * (2 << 20)  # 8 MiB of CSV in well under a megabyte
    packed = {"gzip": lambda d: gzip.compress(d, compresslevel=9), "bz2": bz2.compress,
              "zstd": lambda d: zstandard.ZstdCompressor(level=19).compress(d)}[compression](expanded)
    assert len(packed) < 1 << 20
    src = tmp_path / "bomb"
    src.write_bytes(packed)
    with pytest.raises(IngestError) as info:
        ingest_file(src, tmp_path / "out.parquet", max_decompressed_bytes=1 << 20)
    assert info.value.code == "decompressed_too_large"
    assert info.value.details == {"compression": compression, "limit_bytes": 1 << 20, "compressed_bytes": len(packed)}
    assert not (tmp_path / "out.parquet").exists() and not list(tmp_path.glob(".formats-*"))


def test_the_cap_comes_from_the_environment_when_not_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "small"
    src.write_bytes(gzip.compress(b"a,b\n" + b"1,2\n" * 1000))
    monkeypatch.setenv("DSP_MAX_DECOMPRESSED_BYTES", "1000")
    with pytest.raises(IngestError) as info:
        ingest_file(src, tmp_path / "out.parquet")
    assert info.value.code == "decompressed_too_large" and info.value.details["limit_bytes"] == 1000
    monkeypatch.delenv("DSP_MAX_DECOMPRESSED_BYTES")
    assert ingest_file(src, tmp_path / "out.parquet").row_count == 1000


def test_damaged_compressed_data_is_a_typed_error(tmp_path: Path) -> None:
    src = tmp_path / "cut"
    rows = "".join(f"{i},{i * 7919 % 10007}\n" for i in range(20000)).encode()
    packed = gzip.compress(b"a,b\n" + rows)
    src.write_bytes(packed[: len(packed) // 2])
    with pytest.raises(IngestError) as info:
        ingest_file(src, tmp_path / "out.parquet")
    assert info.value.code == "decompression_failed" and info.value.details["compression"] == "gzip"


def _zip_of_csv() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("data.csv", "a,b\n1,2\n")
    return buffer.getvalue()


def _sqlite(path: Path) -> bytes:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE t (a)")
    return path.read_bytes()


def test_a_format_nothing_reads_names_what_it_saw_and_lists_what_is_supported(tmp_path: Path) -> None:
    cases = {
        "a ZIP archive that is not a workbook": _zip_of_csv(),
        "a PDF document": b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n" + bytes(range(256)),
        "an SQLite database": _sqlite(tmp_path / "db.sqlite"),
        "gzip data compressed twice": gzip.compress(gzip.compress(b"a,b\n1,2\n")),
        "an OLE2 (Office) document that is not a readable Excel workbook":
            b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(512),
    }
    for what, data in cases.items():
        src = tmp_path / "upload"
        src.write_bytes(data)
        with pytest.raises(IngestError) as info:
            ingest_file(src, tmp_path / "out.parquet")
        error = info.value
        assert error.code == "unsupported_format", (what, error)
        assert error.details["detected"] == what
        assert what in error.message and "Parquet" in error.message and "NDJSON" in error.message
        assert "Export the data as CSV" not in error.message
        assert len(error.details["supported"]) >= 6


def test_json_that_holds_no_table_or_does_not_parse_gets_a_typed_error(tmp_path: Path) -> None:
    cases = {'{\n  "a": 1,\n  "b": [1, 2]\n}\n': "json_unsupported_shape", '[{"a": 1}, 2]': "json_unsupported_shape",
             '[{"a": 1}, {"a": ]': "json_unparseable", '{"a": 1}\n{"a": 2\n': "json_unparseable"}
    for text, code in cases.items():
        src = tmp_path / "j"
        src.write_text(text)
        with pytest.raises(IngestError) as info:
            ingest_file(src, tmp_path / "out.parquet")
        assert info.value.code == code, text


def test_parquet_types_beyond_csv_keep_their_values_or_say_what_changed(tmp_path: Path) -> None:
    import datetime as dt
    import decimal

    frame = pl.DataFrame({
        "ns": pl.Series([1577836800123456789, 1577836900000000000, None]).cast(pl.Datetime("ns")),
        "paris": pl.Series([dt.datetime(2020, 1, 1, 12), dt.datetime(2020, 6, 1, 12), None]).dt.replace_time_zone(
            "Europe/Paris"),
        "wait": pl.Series([dt.timedelta(seconds=5), dt.timedelta(days=1, hours=2), None]),
        "price": pl.Series([decimal.Decimal("1.10"), decimal.Decimal("22.25"), None], dtype=pl.Decimal(10, 2)),
        "level": pl.Series(["low", "high", "low"]).cast(pl.Categorical),
        "tags": [[1, 2], [3], None],
        "user": [{"age": 31, "city": "Lyon"}, {"age": 42, "city": "Oslo"}, None],
        "big": pl.Series([2**64 - 1, 0, 5], dtype=pl.UInt64),
        "ratio": pl.Series([0.1, 1 / 3, None], dtype=pl.Float32),
    })
    src = tmp_path / "typed"
    frame.write_parquet(src)
    report = ingest_file(src, tmp_path / "out.parquet")
    out = pl.read_parquet(tmp_path / "out.parquet")
    assert out.columns == ["ns", "paris", "wait", "price", "level", "tags", "user.age", "user.city", "big", "ratio"]
    assert out["ns"].to_list()[1] == dt.datetime(2020, 1, 1, 0, 1, 40)
    utc = dt.UTC
    assert out["paris"].dtype == pl.Datetime("us", "UTC")  # still instants: the same ones, in UTC
    assert out["paris"].to_list()[:2] == [dt.datetime(2020, 1, 1, 11, tzinfo=utc), dt.datetime(2020, 6, 1, 10, tzinfo=utc)]
    assert out["wait"].to_list() == ["PT5S", "P1DT2H", None]
    assert out["price"].to_list() == [1.1, 22.25, None]
    assert out["tags"].to_list() == ["[1,2]", "[3]", None]
    assert out["user.age"].to_list() == [31, 42, None] and out["user.city"].to_list() == ["Lyon", "Oslo", None]
    assert out["big"].to_list() == [str(2**64 - 1), "0", "5"]  # too long for 64-bit signed: exact as text
    assert out["ratio"].to_list()[:2] == [float(np.float32(0.1)), float(np.float32(1 / 3))]
    assert any("'ns': 1 value(s) have nanoseconds" in w for w in report.warnings)
    assert any("'paris': times are read in UTC" in w for w in report.warnings)


def test_an_old_xls_workbook_is_recognised_by_its_ole2_signature(tmp_path: Path) -> None:
    import xlwt

    book = xlwt.Workbook()
    sheet = book.add_sheet("Data")
    frame = _penguins().select("species", "island", "bill_length_mm", "price").drop_nulls()
    for c, name in enumerate(frame.columns):
        sheet.write(0, c, name)
    for r, row in enumerate(frame.iter_rows(), start=1):
        for c, value in enumerate(row):
            sheet.write(r, c, value)
    src = tmp_path / "old"
    book.save(str(src))
    assert src.read_bytes()[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
    report = ingest_file(src, tmp_path / "out.parquet")
    (tmp_path / "same.csv").write_text(frame.write_csv())
    ingest_file(tmp_path / "same.csv", tmp_path / "csv.parquet")
    assert (report.source_format, report.sheet) == ("xls", "Data")
    assert report.column("price").semantic_type == "currency"
    assert_frame_equal(pl.read_parquet(tmp_path / "out.parquet"), pl.read_parquet(tmp_path / "csv.parquet"),
                       check_exact=True)


def test_ndjson_with_lines_longer_than_the_sniffed_head_and_utf16_json_are_recognised(tmp_path: Path) -> None:
    long = tmp_path / "long"
    long.write_text("".join(json.dumps({"id": i, "note": "x" * 70_000}) + "\n" for i in range(3)))
    report = ingest_file(long, tmp_path / "a.parquet")
    assert (report.source_format, report.row_count) == ("ndjson", 3)
    wide = tmp_path / "utf16"
    wide.write_text(json.dumps([{"ville": "Besançon", "n": 1}, {"ville": "Zoé", "n": 2}]), encoding="utf-16")
    report = ingest_file(wide, tmp_path / "b.parquet")
    assert report.source_format == "json"
    assert pl.read_parquet(tmp_path / "b.parquet").to_dicts() == [{"ville": "Besançon", "n": 1}, {"ville": "Zoé", "n": 2}]
