"""Valid but hostile CSVs: each is read correctly with its changes reported, or refused with a typed code, and
never crashes a later stage. The files are written by the tests; memory is measured on the 10,000-column one."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest
from dsp_ingest.domain import IngestError, ingest_file
from dsp_ingest.domain.reader import MAX_COLUMNS, safe_column_name
from dsp_profile.domain.profiler import profile_dataset
from shared_contracts.events import IngestOptions

from .conftest import IngestFn


def _peak_rss_reset() -> None:
    Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM, the peak resident size, to the current one


def _rss_kib(field: str) -> int:
    line = next(x for x in Path("/proc/self/status").read_text().splitlines() if x.startswith(field + ":"))
    return int(line.split()[1])


def test_selector_like_names_are_renamed_and_reported(ingest_bytes: IngestFn, tmp_path: Path) -> None:
    rows = "".join(f"{i},{i * 2},{i % 3},{i % 5}\n" for i in range(60))
    report, frame = ingest_bytes("^other$,*,^.*$,x\n" + rows)
    assert frame.columns == ["_^other$", "_*", "_^.*$", "x"]
    assert [c.source_name for c in report.columns][:3] == ["^other$", "*", "^.*$"]
    renamed = [w for w in report.warnings if "was renamed" in w]
    assert len(renamed) == 3 and "'*' was renamed '_*'" in renamed[1]
    assert frame["_*"].to_list() == [i * 2 for i in range(60)]  # the column itself, not every column
    frame.write_parquet(tmp_path / "d.parquet")
    profile = profile_dataset(tmp_path / "d.parquet")  # the next stage selects each column by its name
    assert [c.name for c in profile.columns] == frame.columns
    assert safe_column_name("a^b$") == "a^b$" and safe_column_name("plain") == "plain"


def test_nul_bytes_in_names_and_past_the_first_64_kib_are_removed_and_counted(ingest_bytes: IngestFn) -> None:
    body = b"".join(b"v%05d,%d\n" % (i, i) for i in range(20_000))  # ~200 KB before the NULs further down
    report, frame = ingest_bytes(b"na\x00me,c\n" + body + b"x\x00y,5\n" + b"z\x00\x00,6\n")
    assert frame.columns == ["name", "c"]
    assert frame.height == 20_002
    assert frame["name"].to_list()[-2:] == ["xy", "z"]
    assert not any("\x00" in v for v in frame["name"].to_list())
    assert "Removed 4 NUL byte(s) from the text, 1 of them in the header (column names)" in " ".join(report.warnings)


def test_a_year_0_date_is_nulled_and_counted_per_column_and_the_profile_reads_the_rest(
        ingest_bytes: IngestFn, tmp_path: Path) -> None:
    days = [(dt.date(2020, 1, 1) + dt.timedelta(days=i % 20)).isoformat() for i in range(200)]
    days[5] = "0000-01-01"
    report, frame = ingest_bytes("d,x\n" + "".join(f"{d},{i % 7}\n" for i, d in enumerate(days)),
                                 type_overrides={"d": "date"})
    column = report.columns[0]
    assert frame.schema["d"] == pl.Date and column.unparseable_count == 1
    assert frame["d"].null_count() == 1 and frame["d"].min() == dt.date(2020, 1, 1)
    assert "Column 'd': 1 value(s) did not fit type date" in " ".join(report.warnings)
    frame.write_parquet(tmp_path / "d.parquet")
    profile = profile_dataset(tmp_path / "d.parquet")  # once crashed: "year 0 is out of range"
    assert profile.columns[0].semantic_type == "date"


def test_a_field_over_1_mib_and_a_field_of_100k_newlines_are_read_whole(ingest_bytes: IngestFn) -> None:
    big = "x" * ((1 << 20) + 4096)
    report, frame = ingest_bytes(f"a,b\n{big},1\nshort,2\n")
    assert frame.columns == ["a", "b"] and frame["a"].to_list() == [big, "short"] and frame["b"].to_list() == [1, 2]
    lines = "start" + "\n" * 100_000 + "end"
    report, frame = ingest_bytes(f'a,b\n"{lines}",1\nshort,2\n"two\nlines",3\n')
    assert frame["a"].to_list() == [lines, "short", "two\nlines"]
    assert report.bad_rows.count == 0


def test_infinities_and_underflow_are_counted_per_column(ingest_bytes: IngestFn) -> None:
    rows = "".join(f"{i}.5,{i}.25\n" for i in range(40))
    far = "".join(f"{i}.5,{i}.75\n" for i in range(30_000)) + "0.5,2.5E-0400\n"  # past the sample
    report, frame = ingest_bytes("a,b\n1e400,1e-400\n-1e999,2.5\n" + rows + far)
    assert frame["a"][0] == float("inf") and frame["b"][0] == 0.0 and frame["b"][-1] == 0.0
    text = " ".join(report.warnings)
    assert "Column 'a': 2 value(s) are infinite" in text
    # plain numbers the CSV parser would read itself: it reads 1e-400 as 0 silently, so they are read from text
    assert "Column 'b': 2 value(s) are too close to zero" in text
    assert "Column 'a': " not in text.replace("Column 'a': 2 value(s) are infinite", "")
    by_name = {c.name: c for c in report.columns}
    assert by_name["a"].physical_type == by_name["b"].physical_type == "Float64"
    assert frame["b"][5] == 3.25 and frame.height == 30_043


def test_underflow_in_a_column_read_from_text(ingest_bytes: IngestFn) -> None:
    rows = "".join(f" {i}.5 ,{i}\n" for i in range(40))  # blanks around the values: converted from text
    report, frame = ingest_bytes("a,b\n 1e-400 ,0\n 1e400 ,1\n" + rows)
    assert frame["a"][0] == 0.0
    text = " ".join(report.warnings)
    assert "Column 'a': 1 value(s) are too close to zero" in text and "Column 'a': 1 value(s) are infinite" in text


def test_10000_columns_are_refused_with_a_typed_code_in_bounded_memory(tmp_path: Path) -> None:
    src = tmp_path / "wide.csv"
    header = ",".join(f"c{i}" for i in range(10_000))
    row = ",".join(str(i % 97) for i in range(10_000))
    src.write_text(header + "\n" + (row + "\n") * 50)  # ~2.4 MB, as in the report that took a worker to 7.9 GB
    assert MAX_COLUMNS == 2_000
    _peak_rss_reset()
    before = _rss_kib("VmRSS")
    with pytest.raises(IngestError) as info:
        ingest_file(src, tmp_path / "out.parquet", options=IngestOptions())
    growth_mib = (_rss_kib("VmHWM") - before) / 1024
    assert info.value.code == "too_many_columns"
    assert info.value.details == {"columns": 10_000, "limit": 2_000}
    assert "10000 columns" in info.value.message and "Traceback" not in info.value.message
    print(f"10,000 columns: refused, peak RSS growth {growth_mib:.1f} MiB")
    assert growth_mib < 100
