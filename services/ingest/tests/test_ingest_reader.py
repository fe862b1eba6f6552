"""Messy hand-made CSVs: every reading feature of ingest_csv, checked on its output."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from dsp_ingest.domain import IngestError


def test_plain_csv_types_and_report(ingest_bytes):
    report, df = ingest_bytes("id,name,age,score\n1,Ann,34,1.5\n2,Bob,41,2.25\n3,Cy,29,3.0\n")
    assert report.delimiter == ","
    assert report.has_header
    assert report.row_count == 3 == df.height
    assert df.columns == ["id", "name", "age", "score"]
    assert df.schema["age"] == pl.Int64
    assert df.schema["score"] == pl.Float64
    assert df["score"].to_list() == [1.5, 2.25, 3.0]
    assert report.column("id").semantic_type == "identifier"
    assert report.column("age").semantic_type == "integer"
    assert report.column("age").physical_type == "Int64"


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_delimiters_are_sniffed(ingest_bytes, delimiter):
    rows = [["city", "temp", "note"], ["Oslo", "3", "cold"], ["Rome", "18", "warm, sunny"], ["Lima", "20", "mild"]]
    text = "\n".join(delimiter.join(f'"{v}"' if delimiter in v or "," in v else v for v in r) for r in rows) + "\n"
    report, df = ingest_bytes(text)
    assert report.delimiter == delimiter
    assert df["temp"].to_list() == [3, 18, 20]
    assert df["note"].to_list() == ["cold", "warm, sunny", "mild"]


def test_quoted_delimiters_doubled_quotes_and_newlines(ingest_bytes):
    text = 'id,comment,value\n1,"Hello, world",10\n2,"She said ""hi""",20\n3,"two\nlines",30\n4,plain,40\n'
    report, df = ingest_bytes(text)
    assert df["comment"].to_list() == ["Hello, world", 'She said "hi"', "two\nlines", "plain"]
    assert df["value"].to_list() == [10, 20, 30, 40]
    assert report.escape_char is None
    assert report.quote_char == '"'


def test_backslash_escaped_quotes(ingest_bytes):
    text = 'id,comment\n1,"say \\"yes\\" now"\n2,"ok"\n3,"path \\"x\\""\n'
    report, df = ingest_bytes(text)
    assert report.escape_char == "\\"
    assert df["comment"].to_list() == ['say "yes" now', "ok", 'path "x"']


def test_single_quote_char(ingest_bytes):
    text = "id;name;city\n1;'Smith, J';'Paris'\n2;'Doe, A';'Lyon'\n3;'Roe, B';'Nice'\n"
    report, df = ingest_bytes(text)
    assert report.quote_char == "'"
    assert df["name"].to_list() == ["Smith, J", "Doe, A", "Roe, B"]


@pytest.mark.parametrize(
    ("encoding", "bom"),
    [("utf-8", b""), ("utf-8", b"\xef\xbb\xbf"), ("utf-16-le", b"\xff\xfe"), ("utf-16-be", b"\xfe\xff"), ("cp1252", b"")],
)
def test_encodings(ingest_bytes, encoding, bom):
    text = "nom;ville;prix\nRené;Zürich;12,50 €\nJosé;São Paulo;3,20 €\nFrançois;Besançon;7,00 €\n"
    report, df = ingest_bytes(bom + text.encode(encoding))
    assert report.had_bom == bool(bom)
    assert report.encoding.replace("_", "-") == encoding
    assert df["nom"].to_list() == ["René", "José", "François"]
    assert df["ville"].to_list() == ["Zürich", "São Paulo", "Besançon"]
    assert df["prix"].to_list() == [12.5, 3.2, 7.0]
    assert report.column("prix").semantic_type == "currency"
    assert report.column("prix").unit == "€"
    assert report.decimal_separator == ","


def test_latin1_non_cp1252_bytes_still_read(ingest_bytes):
    text = "name,city\nJürgen,Köln\nAndré,Orléans\nÅsa,Malmö\n"
    report, df = ingest_bytes(text.encode("latin-1"))
    assert report.encoding == "cp1252"
    assert df["city"].to_list() == ["Köln", "Orléans", "Malmö"]


def test_crlf_and_cr_line_endings(ingest_bytes):
    report, df = ingest_bytes(b"a,b\r\n1,x\r\n2,y\r\n")
    assert report.line_terminator == "\r\n"
    assert df["b"].to_list() == ["x", "y"]
    report, df = ingest_bytes(b"a,b\r1,x\r2,y\r")
    assert report.line_terminator == "\r"
    assert df["a"].to_list() == [1, 2]


def test_decimal_comma_and_thousands(ingest_bytes):
    text = "produit;montant;quantite\nA;1.234,50;3\nB;12,75;1.200\nC;0,5;7\nD;2.000.000,00;10\n"
    report, df = ingest_bytes(text)
    assert report.decimal_separator == ","
    assert report.thousands_separator == "."
    assert df["montant"].to_list() == [1234.5, 12.75, 0.5, 2_000_000.0]
    assert df["quantite"].to_list() == [3, 1200, 7, 10]


def test_us_thousands(ingest_bytes):
    text = 'item,amount\na,"1,234.50"\nb,"12,000.00"\nc,7.25\nd,"1,000,000.10"\n'
    report, df = ingest_bytes(text)
    assert report.thousands_separator == ","
    assert df["amount"].to_list() == [1234.5, 12000.0, 7.25, 1_000_000.1]


def test_currency_and_percent_keep_units(ingest_bytes):
    text = 'item,price,discount,cost\na,"$1,234.50",12.5%,(£3.00)\nb,$12.00,5%,£4.50\nc,$0.99,0.5 %,£1\n'
    report, df = ingest_bytes(text)
    price, discount, cost = report.column("price"), report.column("discount"), report.column("cost")
    assert (price.semantic_type, price.unit) == ("currency", "$")
    assert (discount.semantic_type, discount.unit) == ("percent", "%")
    assert (cost.semantic_type, cost.unit) == ("currency", "£")
    assert df["price"].to_list() == [1234.5, 12.0, 0.99]
    assert df["discount"].to_list() == [12.5, 5.0, 0.5]
    assert df["cost"].to_list() == [-3.0, 4.5, 1.0]


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["yes", "no", "Yes", "NO"], [True, False, True, False]),
        (["true", "false", "TRUE", "False"], [True, False, True, False]),
        (["Y", "N", "y", "n"], [True, False, True, False]),
        (["1", "0", "0", "1"], [True, False, False, True]),
    ],
)
def test_booleans(ingest_bytes, values, expected):
    report, df = ingest_bytes("flag,x\n" + "".join(f"{v},{i}\n" for i, v in enumerate(values)))
    assert report.column("flag").semantic_type == "boolean"
    assert df["flag"].to_list() == expected


def test_na_tokens_are_null_and_reported(ingest_bytes):
    text = "a,b,c\n1,x,2.5\nNA,N/A,null\n3,None,-\n?,,4.5\n5,y,NaN\n"
    report, df = ingest_bytes(text)
    assert df["a"].to_list() == [1, None, 3, None, 5]
    assert df["b"].to_list() == ["x", None, None, None, "y"]
    assert df["c"].to_list() == [2.5, None, None, 4.5, None]
    assert report.na_tokens_found == {"NA": 1, "N/A": 1, "null": 1, "None": 1, "-": 1, "?": 1, "": 1, "NaN": 1}
    assert report.column("a").null_count == 2
    assert report.column("a").unparseable_count == 0


def test_surrounding_whitespace_is_trimmed(ingest_bytes):
    report, df = ingest_bytes("name , qty\n  apple ,  3 \nbanana,4\n pear,  5\n")
    assert df.columns == ["name", "qty"]
    assert df["name"].to_list() == ["apple", "banana", "pear"]
    assert df["qty"].to_list() == [3, 4, 5]


def test_iso_dates_and_datetimes(ingest_bytes):
    text = "d,ts\n2024-01-05,2024-01-05 10:30:00\n2023-12-31,2023-12-31T23:59:59\n2024-02-29,2024-02-29 00:00:00\n"
    report, df = ingest_bytes(text)
    assert report.column("d").semantic_type == "date"
    assert df["d"].to_list() == [dt.date(2024, 1, 5), dt.date(2023, 12, 31), dt.date(2024, 2, 29)]
    # Mixed ISO separators: the chosen format parses most rows; the rest is reported, not hidden.
    ts = report.column("ts")
    assert ts.semantic_type in ("datetime", "text")


def test_day_first_dates_decided_by_data(ingest_bytes):
    report, df = ingest_bytes("when,v\n03/04/2024,1\n25/12/2023,2\n01/02/2024,3\n")
    decision = report.column("when").date
    assert decision is not None and decision.day_first is True and not decision.ambiguous
    assert decision.day_first_evidence == 1
    assert (report.column("when").date_format, report.column("when").day_first) == ("%d/%m/%Y", True)
    assert df["when"].to_list() == [dt.date(2024, 4, 3), dt.date(2023, 12, 25), dt.date(2024, 2, 1)]


def test_month_first_dates_decided_by_data(ingest_bytes):
    report, df = ingest_bytes("when,v\n03/04/2024,1\n12/25/2023,2\n01/02/2024,3\n")
    decision = report.column("when").date
    assert decision is not None and decision.day_first is False and not decision.ambiguous
    assert df["when"].to_list() == [dt.date(2024, 3, 4), dt.date(2023, 12, 25), dt.date(2024, 1, 2)]


def test_ambiguous_dates_are_reported(ingest_bytes):
    report, df = ingest_bytes("when,v\n03/04/2024,1\n05/06/2023,2\n")
    decision = report.column("when").date
    assert decision is not None and decision.ambiguous
    assert decision.day_first is False
    assert any("day/month" in w for w in report.warnings)
    # European conventions (semicolons, decimal comma) tip the default to day first.
    report, _ = ingest_bytes("when;v\n03/04/2024;1,5\n05/06/2023;2,5\n")
    assert report.column("when").date.day_first is True


def test_datetime_with_am_pm_and_named_months(ingest_bytes):
    report, df = ingest_bytes("a,b\n12/31/2020 1:05 PM,5 Jan 2020\n01/15/2021 11:00 AM,17 Feb 2021\n")
    assert df["a"].to_list() == [dt.datetime(2020, 12, 31, 13, 5), dt.datetime(2021, 1, 15, 11, 0)]
    assert df["b"].to_list() == [dt.date(2020, 1, 5), dt.date(2021, 2, 17)]


def test_semantic_text_types(ingest_bytes):
    rows = [
        f"{i},user{i}@mail.com,https://example.com/p/{i},{['red', 'green', 'blue'][i % 3]},{lat},{lon},word {i} and more words"
        for i, (lat, lon) in enumerate([(48.85, 2.35), (-33.9, 151.2), (40.7, -74.0), (35.7, 139.7)] * 5)
    ]
    report, _ = ingest_bytes("customer_id,email,homepage,color,latitude,longitude,bio\n" + "\n".join(rows) + "\n")
    kinds = {c.name: c.semantic_type for c in report.columns}
    assert kinds == {
        "customer_id": "identifier",
        "email": "email",
        "homepage": "url",
        "color": "categorical",
        "latitude": "latitude",
        "longitude": "longitude",
        "bio": "text",
    }


def test_leading_zero_codes_stay_text(ingest_bytes):
    report, df = ingest_bytes("zip,n\n02134,1\n10001,2\n00501,3\n")
    assert df.schema["zip"] == pl.String
    assert df["zip"].to_list() == ["02134", "10001", "00501"]


def test_header_detection_without_header(ingest_bytes):
    report, df = ingest_bytes("1,2.5,x\n2,3.5,y\n3,4.5,z\n")
    assert not report.has_header
    assert df.columns == ["column_1", "column_2", "column_3"]
    assert df.height == 3


def test_blank_duplicate_and_missing_header_names(ingest_bytes):
    report, df = ingest_bytes("a,a,,b\n1,2,3,4\n5,6,7,8\n")
    assert df.columns == ["a", "a_2", "column_3", "b"]


def test_preamble_lines_are_skipped(ingest_bytes):
    report, df = ingest_bytes("Sales export\nGenerated 2024-01-01\nregion,units,price\nNorth,3,1.5\nSouth,4,2.5\n")
    assert df.columns == ["region", "units", "price"]
    assert df["units"].to_list() == [3, 4]
    assert any("before the table" in w for w in report.warnings)


def test_blank_lines_are_dropped_and_counted(ingest_bytes):
    report, df = ingest_bytes("a,b\n1,x\n\n2,y\n\n\n3,z\n")
    assert df["a"].to_list() == [1, 2, 3]
    assert report.bad_rows.empty_lines_skipped == 3
    assert report.bad_rows.count == 0


def test_header_only_file_gives_empty_table(ingest_bytes):
    report, df = ingest_bytes("a,b,c\n")
    assert report.row_count == 0
    assert df.columns == ["a", "b", "c"]


def test_type_overrides(ingest_bytes):
    report, df = ingest_bytes("zip,amount,code\n12345,10,1\n54321,20,0\n11111,30,1\n", type_overrides={"zip": "categorical", "code": "integer"})
    assert df.schema["zip"] == pl.String
    assert df.schema["code"] == pl.Int64
    assert report.column("zip").overridden and report.column("zip").semantic_type == "categorical"
    assert report.column("zip").confidence == 1.0
    assert not report.column("amount").overridden


@pytest.mark.parametrize("overrides", [{"nope": "integer"}, {"a": "complex_number"}])
def test_invalid_type_override(ingest_bytes, overrides):
    with pytest.raises(IngestError) as info:
        ingest_bytes("a,b\n1,2\n", type_overrides=overrides)
    assert info.value.code == "invalid_type_override"


def test_values_beyond_the_sample_that_do_not_fit_are_reported_with_lines(ingest_bytes):
    rows = [f"{i},{i * 2}" for i in range(12_000)]
    rows[11_000] = "11000,oops"
    report, df = ingest_bytes("k,v\n" + "\n".join(rows) + "\n", bad_values="null")
    col = report.column("v")
    assert col.semantic_type == "integer"
    assert col.unparseable_count == 1
    assert col.unparseable_sample[0].value == "oops"
    assert col.unparseable_sample[0].line_number == 11_002
    assert df["v"][11_000] is None
    assert any("did not fit" in w for w in report.warnings)
    assert report.bad_values == "null" and report.values_nulled == 1


def test_column_contradicted_beyond_the_sample_is_demoted_to_text(ingest_bytes):
    rows = [f"{i % 7},{i}" for i in range(11_000)] + [f"1,code-{i}" for i in range(2_000)]
    report, df = ingest_bytes("k,v\n" + "\n".join(rows) + "\n")
    assert report.column("v").semantic_type == "text"
    assert df.schema["v"] == pl.String
    assert df["v"][-1] == "code-1999"


def test_padding_beyond_the_sample_is_trimmed(ingest_bytes):
    rows = [f"{i}" for i in range(11_000)] + ["  42 "]
    report, df = ingest_bytes("v\n" + "\n".join(rows) + "\n")
    assert df["v"][-1] == 42
    assert report.column("v").unparseable_count == 0


def test_progress_is_reported(tmp_path):
    from dsp_ingest.domain import ingest_csv

    src = tmp_path / "a.csv"
    src.write_text("a,b\n1,2\n")
    seen: list[tuple[float, str]] = []
    ingest_csv(src, tmp_path / "a.parquet", progress=lambda f, m: seen.append((f, m)))
    fractions = [f for f, _ in seen]
    assert fractions[0] == 0.0 and fractions[-1] == 1.0
    assert fractions == sorted(fractions)


def test_report_round_trips_as_json(ingest_bytes):
    from shared_contracts.ingest import IngestReport

    report, _ = ingest_bytes("a,b\n1,2020-01-01\n2,2020-01-02\n")
    assert IngestReport.model_validate_json(report.model_dump_json()) == report


def test_streaming_chunks_match_in_memory(ingest_bytes, monkeypatch):
    from dsp_ingest.domain import reader, structure

    rows = [
        f"{i},{i * 0.5},{'yes' if i % 2 else 'no'},2024-01-{i % 28 + 1:02d},{'NA' if i % 7 == 0 else 'c' + str(i % 5)},"
        + ('"two\nlines, quoted"' if i % 11 == 0 else "plain")
        for i in range(3_000)
    ]
    rows[1234] = "bad,row"
    rows[2345] = ""
    text = "n,x,flag,day,cat,note\n" + "\n".join(rows) + "\n"
    whole_report, whole = ingest_bytes(text, bad_rows="skip", validation_rules=[{"type": "range", "column": "n", "min": 2000}])
    monkeypatch.setattr(reader, "IN_MEMORY_MAX_BYTES", 0)
    monkeypatch.setattr(structure, "CHUNK_BYTES", 997)
    streamed_report, streamed = ingest_bytes(text, bad_rows="skip", validation_rules=[{"type": "range", "column": "n", "min": 2000}])
    assert streamed.height == 2_998
    assert streamed.equals(whole)
    assert streamed_report == whole_report
    assert streamed_report.na_tokens_found == {"NA": 428}
    assert streamed_report.bad_rows.count == 1 and streamed_report.bad_rows.empty_lines_skipped == 1
    assert streamed["note"].to_list().count("two\nlines, quoted") == 273


def test_nan_and_bad_values_beyond_the_sample_in_plain_numeric_columns(ingest_bytes):
    rows = [f"{i},{i}.5" for i in range(11_000)]
    rows[10_500] = "10500,NaN"
    rows[10_600] = "10600,"
    report, df = ingest_bytes("k,x\n" + "\n".join(rows) + "\n")
    assert df["x"][10_500] is None and df["x"][10_600] is None
    assert df["x"].null_count() == 2
    assert report.na_tokens_found == {"NaN": 1, "": 1}
    assert report.column("x").unparseable_count == 0


def test_single_numeric_row_is_data(ingest_bytes):
    report, df = ingest_bytes("1,2,3\n")
    assert not report.has_header
    assert df.rows() == [(1, 2, 3)]


def test_several_numeric_columns_with_misfits_beyond_the_sample(ingest_bytes):
    rows = [f"{i},{i * 2},{i}.25" for i in range(11_000)]
    rows[10_100] = "x1,20200,10100.25"
    rows[10_200] = "10200,x2,10200.25"
    rows[10_300] = "10300,20600,x3"
    report, df = ingest_bytes("a,b,c\n" + "\n".join(rows) + "\n", bad_values="null")
    for name, value, line in [("a", "x1", 10_102), ("b", "x2", 10_202), ("c", "x3", 10_302)]:
        col = report.column(name)
        assert col.unparseable_count == 1, name
        assert (col.unparseable_sample[0].value, col.unparseable_sample[0].line_number) == (value, line)
    assert df.schema["a"] == pl.Int64 and df.schema["c"] == pl.Float64
    assert df.height == 11_000


def test_na_spelling_only_beyond_the_sample_is_counted(ingest_bytes):
    rows = [f"{i},{'NA' if i % 100 == 0 else 'w' + str(i % 9)}" for i in range(11_000)]
    rows[10_500] = "10500,null"
    rows[10_501] = "10501,?"
    report, df = ingest_bytes("k,v\n" + "\n".join(rows) + "\n")
    assert report.na_tokens_found == {"NA": 109, "null": 1, "?": 1}  # row 10,500 held NA before
    assert df["v"].null_count() == 111


def test_blanks_between_delimiter_and_quoted_field(ingest_bytes):
    text = 'name, city, note\nAnn, "Paris, FR", ok\nBob, "Lyon, FR", "fine, ""thanks"""\nCy, Oslo, good\n'
    report, df = ingest_bytes(text)
    assert df.rows() == [("Ann", "Paris, FR", "ok"), ("Bob", "Lyon, FR", 'fine, "thanks"'), ("Cy", "Oslo", "good")]
    assert report.bad_rows.count == 0
