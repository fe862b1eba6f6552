"""Property tests: generated frames written in various dialects and encodings read back unchanged."""

from __future__ import annotations

import csv
import datetime as dt
import io
import tempfile
from pathlib import Path

import polars as pl
from dsp_ingest.domain import ingest_csv
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

_WORDS = st.text(alphabet="abcdefghijklmnopqrstuvwxyzéüßçøåÆ ,;|\"'\n\t", min_size=1, max_size=12).map(str.strip).filter(
    lambda s: bool(s) and s.lower() not in {"na", "n/a", "null", "none", "nan", "-", "--", "?", "#n/a", "true", "false", "yes", "no", "y", "n", "t", "f", "on", "off"}
)


@st.composite
def frames(draw: st.DrawFn) -> dict[str, list]:
    n_rows = draw(st.integers(min_value=3, max_value=40))
    # At least two columns: a lone text column holding delimiters is ambiguous by nature.
    n_ints = draw(st.integers(min_value=1, max_value=2))
    n_floats = draw(st.integers(min_value=0, max_value=2))
    n_text = draw(st.integers(min_value=1, max_value=2))
    columns: dict[str, list] = {}
    for i in range(n_ints):
        columns[f"int_{i}"] = draw(st.lists(st.integers(-(10**9), 10**9), min_size=n_rows, max_size=n_rows))
    for i in range(n_floats):
        values = draw(st.lists(st.floats(-1e6, 1e6, allow_nan=False).map(lambda x: round(x, 3)), min_size=n_rows, max_size=n_rows))
        columns[f"float_{i}"] = [v + 0.5 if v == int(v) else v for v in values]
    if draw(st.booleans()):
        columns["day"] = draw(st.lists(st.dates(dt.date(1950, 1, 1), dt.date(2050, 12, 31)), min_size=n_rows, max_size=n_rows))
    if draw(st.booleans()):
        flags = draw(st.lists(st.booleans(), min_size=n_rows, max_size=n_rows))
        columns["flag"] = [*flags[:-2], True, False]
    if draw(st.booleans()):
        columns["maybe"] = draw(st.lists(st.none() | st.integers(0, 1000), min_size=n_rows, max_size=n_rows).map(lambda v: [*v[:-1], 7]))
    for i in range(n_text):
        # A leading letter keeps the text column from looking numeric or boolean.
        columns[f"text_{i}"] = ["w" + v for v in draw(st.lists(_WORDS, min_size=n_rows, max_size=n_rows))]
    return columns


def _cell(value: object, *, decimal_comma: bool, na: str) -> object:
    if value is None:
        return na
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return repr(value).replace(".", ",") if decimal_comma else repr(value)
    return value


def _write(columns: dict[str, list], *, delimiter: str, quoting: int, line_terminator: str, na: str) -> str:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, delimiter=delimiter, quoting=quoting, lineterminator=line_terminator)
    writer.writerow(columns)
    decimal_comma = delimiter == ";"
    for row in zip(*columns.values(), strict=True):
        writer.writerow([_cell(v, decimal_comma=decimal_comma, na=na) for v in row])
    return buffer.getvalue()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    columns=frames(),
    delimiter=st.sampled_from([",", ";", "\t", "|"]),
    quoting=st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL]),
    line_terminator=st.sampled_from(["\n", "\r\n"]),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "cp1252"]),
    na=st.sampled_from(["", "NA", "null", "N/A"]),
)
def test_generated_frames_round_trip(columns, delimiter, quoting, line_terminator, encoding, na):
    text = _write(columns, delimiter=delimiter, quoting=quoting, line_terminator=line_terminator, na=na)
    try:
        data = text.encode(encoding)
    except UnicodeEncodeError:
        data = text.encode("utf-8")
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "in.csv", Path(tmp) / "out.parquet"
        src.write_bytes(data)
        report = ingest_csv(src, dst)
        df = pl.read_parquet(dst)
    assert report.delimiter == delimiter
    assert report.has_header
    assert df.columns == list(columns)
    assert report.row_count == len(next(iter(columns.values())))
    if delimiter == ";" and any(n.startswith("float_") for n in columns):
        assert report.decimal_separator == ","
    for name, values in columns.items():
        if name == "day":
            assert df.schema[name] == pl.Date
            assert df[name].to_list() == values
        elif name == "flag":
            assert df[name].to_list() == values
        elif name == "maybe":
            assert df[name].to_list() == values
            assert report.na_tokens_found.get(na, 0) == sum(v is None for v in values)
        elif name.startswith("int_"):
            assert df[name].to_list() == values, name
        elif name.startswith("float_"):
            assert df.schema[name] == pl.Float64
            assert df[name].to_list() == values, name
        else:
            assert df[name].to_list() == values, name
