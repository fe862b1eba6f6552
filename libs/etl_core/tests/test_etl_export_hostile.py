"""Hostile header and value cells come out of every CSV writer defused, after NFKC too."""

from __future__ import annotations

import csv
import re
import unicodedata

import polars as pl
import pytest
from etl_core import is_formula, run_etl, write_safe_csv
from etl_core.quick_profile import quick_profile
from shared_contracts.etl import EtlConfig

TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
HOSTILE = [
    "=1+1",
    "+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(A1)",
    '＝HYPERLINK("http://x","y")',
    "＋1+1",
    "－2+3",
    "＠x",
    "﹦1",
    "⁼1",
    "\t=1",
    "\r=1",
    '=HYPERLINK("http://x","y")',
]
HEADERS = ['=HYPERLINK("http://x","y")', "+cmd", "-2+3", "@SUM(A1)", "＝HYPERLINK(1)", "＠x", "\t=1"]


def _frame() -> pl.DataFrame:
    n = len(HOSTILE)
    columns: dict[str, list[object]] = {}
    for i, name in enumerate(HEADERS):
        columns[name] = HOSTILE[i:] + HOSTILE[:i]
    columns["amount"] = [-3.5 - i for i in range(n)]
    columns["-3.5"] = [float(-i) for i in range(n)]
    columns["as_text"] = ["-3.5", "+3", "-1e-3"] + [f"-{i}.25" for i in range(n - 3)]
    return pl.DataFrame(columns)


def _rows(path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))


def _assert_nothing_live(rows: list[list[str]]) -> None:
    for row in rows:
        for cell in row:
            if NUMBER.fullmatch(cell):
                continue
            assert not cell.startswith(TRIGGERS), repr(cell)
            assert not unicodedata.normalize("NFKC", cell).startswith(TRIGGERS), repr(cell)


@pytest.mark.parametrize("cell", HOSTILE + HEADERS)
def test_every_hostile_cell_is_a_formula(cell):
    assert is_formula(cell)


@pytest.mark.parametrize("cell", ["-3.5", "+3", "-1e-3", "", "hello", "a=b", " x", "'=1", "≠1", "x"])
def test_plain_text_and_numbers_are_not_formulas(cell):
    assert not is_formula(cell)


def test_a_full_width_number_is_defused_not_read_as_ascii():
    # NFKC turns it into -3.5, but a spreadsheet would not read it as that number as written.
    assert is_formula("－3.5")


def test_write_safe_csv_defuses_header_and_values_and_keeps_numbers(tmp_path):
    frame = _frame()
    rows = _rows(write_safe_csv(frame.lazy(), tmp_path / "out.csv"))
    _assert_nothing_live(rows)
    assert rows[0] == ["'" + h for h in HEADERS] + ["amount", "-3.5", "as_text"]
    assert [r[0] for r in rows[1:]] == ["'" + v for v in HOSTILE]
    back = pl.read_csv(tmp_path / "out.csv")
    assert back["amount"].to_list() == frame["amount"].to_list()
    assert back["-3.5"].to_list() == frame["-3.5"].to_list()
    assert [r[-1] for r in rows[1:4]] == ["-3.5", "+3", "-1e-3"]
    assert [float(r[-1]) for r in rows[1:4]] == [-3.5, 3.0, -0.001]


def test_a_defused_header_that_meets_another_column_name_is_still_written(tmp_path):
    frame = pl.DataFrame({"=x": ["=a", "b"], "'=x": ["c", "@d"], "n": [-1, 2]})
    rows = _rows(write_safe_csv(frame, tmp_path / "out.csv"))
    assert rows == [["'=x", "'=x", "n"], ["'=a", "c", "-1"], ["b", "'@d", "2"]]


def test_cleaned_csv_of_a_run_without_nfkc_has_no_live_cell(tmp_path):
    frame = pl.concat([_frame()] * 6)
    src = tmp_path / "data.parquet"
    frame.write_parquet(src)
    config = EtlConfig.model_validate({"strings": {"nfkc": False, "merge_near_duplicates": False}})
    result = run_etl(src, quick_profile(frame), out_dir=tmp_path / "out", target=None, config=config,
                     formats=("parquet", "csv"))
    rows = _rows(result.paths["csv"])
    _assert_nothing_live(rows)
    header = rows[0]
    # The hostile names survive the run and are written defused.
    assert {"'" + h for h in HEADERS} <= set(header)
    # Full-width signs were not normalised by the run, and are defused as they are.
    cleaned = pl.read_parquet(result.paths["parquet"])
    text = [v for h in HEADERS for v in cleaned[h].to_list()]
    for sign in "＝＋－＠":
        assert any(v.startswith(sign) for v in text), sign
    by_name = dict(zip(header, zip(*rows[1:], strict=True), strict=True))
    assert all(v.startswith("'") for h in HEADERS for v in by_name["'" + h])
    amounts = [float(v) for v in by_name["amount"]]
    assert sorted(amounts) == sorted(cleaned["amount"].to_list())
    assert all(a < 0 for a in amounts)
