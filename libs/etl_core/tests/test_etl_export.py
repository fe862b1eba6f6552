"""CSV export defuses spreadsheet formulas in text cells and leaves numbers alone."""

from __future__ import annotations

import csv
import re

import polars as pl
from etl_core import defuse_formulas, write_safe_csv
from hypothesis import given, settings
from hypothesis import strategies as st

FORMULAS = [
    "=1+1",
    "=HYPERLINK(\"http://evil.example\",\"click\")",
    "+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(A1:A9)",
    "\t=1+1",
    "\r=1+1",
    "-cmd|' /C notepad'!A0",
    "=cmd|' /C powershell'!A0",
    "+1+1",
]
TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def _cells(path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))


def test_a_file_full_of_formulas_has_no_live_formula_cell(tmp_path):
    frame = pl.DataFrame({f"c{i}": FORMULAS for i in range(4)})
    path = write_safe_csv(frame.lazy(), tmp_path / "out.csv")
    rows = _cells(path)
    assert len(rows) == 1 + len(FORMULAS)
    for row in rows[1:]:
        for cell in row:
            assert not cell.startswith(TRIGGERS), repr(cell)
            assert cell.startswith("'")
    # The text is kept, only prefixed.
    assert [row[0] for row in rows[1:]] == ["'" + f for f in FORMULAS]


def test_numbers_and_number_literals_are_not_touched(tmp_path):
    frame = pl.DataFrame(
        {
            "amount": [-12.5, 3.0, -0.001],
            "count": [-1, 2, -3],
            "as_text": ["-12.5", "+3", "-1e-3"],
            "plain": ["hello", "a=b", "x-1"],
        }
    )
    rows = _cells(write_safe_csv(frame, tmp_path / "out.csv"))
    assert rows[1] == ["-12.5", "-1", "-12.5", "hello"]
    assert rows[3] == ["-0.001", "-3", "-1e-3", "x-1"]
    back = pl.read_csv(tmp_path / "out.csv")
    assert back["amount"].to_list() == [-12.5, 3.0, -0.001]
    assert back["count"].to_list() == [-1, 2, -3]


def test_nulls_dates_and_categoricals(tmp_path):
    frame = pl.DataFrame(
        {"d": [None, "2024-01-01"], "k": ["=x", None]}, schema={"d": pl.String, "k": pl.String}
    ).with_columns(pl.col("d").str.to_date(), pl.col("k").cast(pl.Categorical))
    rows = _cells(write_safe_csv(frame, tmp_path / "out.csv"))
    assert rows[1:] == [["", "'=x"], ["2024-01-01", ""]]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet=st.sampled_from("=+-@\t\r 1.e'aZ,\"\n"), max_size=8), min_size=1, max_size=20))
def test_no_text_cell_is_left_live(cells):
    frame = pl.DataFrame({"c": cells})
    out = defuse_formulas(frame).collect()["c"].to_list()
    for before, after in zip(cells, out, strict=True):
        if before.startswith(TRIGGERS) and not re.fullmatch(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?", before):
            assert after == "'" + before
        else:
            assert after == before
