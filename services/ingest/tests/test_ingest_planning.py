"""Type inference decides the same from counts computed for many columns at once as from one column's values."""

from __future__ import annotations

import polars as pl
import pytest
from dsp_ingest.domain import reader
from dsp_ingest.domain.types import STAT_GROUPS, MissingStats, NumberFormat, column_stats, infer_column

# One column per kind of decision: boolean, integer, float, coordinates, currency, percent, date
# (ambiguous day/month), datetime, email, url, uuid, identifier, leading-zero codes, categories, text.
COLUMNS: dict[str, list[str | None]] = {
    "flag": ["yes", "no", "no", None, "yes", "no"],
    "count": ["1", "2", "30", "4", None, "-6"],
    "ratio": ["1.5", "2", ".25", "1e3", "-0.5", None],
    "lat": ["45.1", "-12.5", "0", "33.3", "10", "1"],
    "lon": ["145.1", "-120.5", "0", "33.3", "10", "1"],
    "price": ["$1.50", "$2", "$30.25", "$4", "5", "$6"],
    "share": ["10%", "5 %", "7.5%", "1%", "0%", "99%"],
    "when": ["01/02/2020", "03/04/2020", "05/06/2020", "07/08/2020", None, "11/12/2020"],
    "stamp": ["2020-01-02 10:00", "2020-01-03 11:30", "2020-01-04 12:00", None, "2020-01-05 13:15", "2020-01-06 14:00"],
    "mail": ["a@b.org", "c@d.com", "e@f.net", "g@h.io", "i@j.fr", "k@l.de"],
    "site": ["https://a.org", "www.b.com", "http://c.net/x", "https://d.io", "www.e.fr", "ftp://f.de"],
    "uuid": [
        "123e4567-e89b-12d3-a456-426614174000", "123e4567-e89b-12d3-a456-426614174001",
        "123e4567-e89b-12d3-a456-426614174002", "123e4567-e89b-12d3-a456-426614174003",
        "123e4567-e89b-12d3-a456-426614174004", "123e4567-e89b-12d3-a456-426614174005",
    ],
    "user_id": ["u1", "u2", "u3", "u4", "u5", "u6"],
    "zip": ["01234", "02345", "03456", "04567", "05678", "06789"],
    "level": ["low", "high", "low", "mid", "high", "low"],
    "note": ["a long note", "another one here", "more words", "free text", "yet more", "the end"],
    "long_ids": ["12345678901234567890", "2", "3", "4", "5", "6"],
    "empty": [None] * 6,
}


def _long(columns: dict[str, list[str | None]]) -> pl.DataFrame:
    rows = [(k, v) for k, values in enumerate(columns.values()) for v in values if v is not None]
    return pl.DataFrame(rows, schema={"column": pl.UInt32, "value": pl.String}, orient="row")


@pytest.mark.parametrize("accept_share", [0.95, 1.0])
def test_counts_for_many_columns_give_the_per_column_decisions(accept_share):
    number_format = NumberFormat()
    stats = column_stats(_long(COLUMNS), number_format)
    for group in STAT_GROUPS[1:]:
        stats = column_stats(_long(COLUMNS), number_format, group=group, into=stats)
    for k, (name, values) in enumerate(COLUMNS.items()):
        series = pl.Series(name, values, dtype=pl.String)
        alone = infer_column(name, name, series, number_format, accept_share=accept_share)
        together = infer_column(name, name, series, number_format, accept_share=accept_share, stats=stats.get(k))
        assert (together.semantic_type, together.dtype, together.confidence, together.unit, together.date) == (
            alone.semantic_type, alone.dtype, alone.confidence, alone.unit, alone.date
        ), name


def test_a_decision_asks_for_the_counts_it_lacks():
    number_format = NumberFormat()
    base = column_stats(_long({"level": COLUMNS["level"], "count": COLUMNS["count"]}), number_format)
    with pytest.raises(MissingStats) as text:
        infer_column("level", "level", pl.Series(COLUMNS["level"]), number_format, stats=base[0])
    assert text.value.group == "text"
    with pytest.raises(MissingStats) as integer:
        infer_column("count", "count", pl.Series(COLUMNS["count"]), number_format, stats=base[1])
    assert integer.value.group == "integer"


def test_planning_blocks_do_not_change_the_types(ingest_bytes, monkeypatch):
    """A file planned a column or two per query reads as when planned in one query."""
    names = list(COLUMNS) * 3
    header = ",".join(f"{name}_{k}" for k, name in enumerate(names))
    rows = [
        ",".join("" if COLUMNS[name][r] is None else f'"{COLUMNS[name][r]}"' for name in names)
        for r in range(6)
    ]
    text = header + "\n" + "\n".join(rows * 3) + "\n"
    whole, whole_df = ingest_bytes(text)
    monkeypatch.setattr(reader, "PLAN_BLOCK_CELLS", 40)
    blocked, blocked_df = ingest_bytes(text)
    assert blocked.model_dump() == whole.model_dump()
    assert blocked_df.equals(whole_df)
    types = {c.name.rsplit("_", 1)[0]: c.semantic_type for c in whole.columns}
    assert types["flag"] == "boolean" and types["count"] == "integer" and types["price"] == "currency"
    assert types["when"] == "date" and types["mail"] == "email" and types["zip"] == "categorical"
