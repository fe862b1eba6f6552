"""A boolean column keeps how the file writes it: penguins' Clutch Completion reads No/Yes, not False/True."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from dsp_ingest.domain import ingest_csv

REPO = Path(__file__).resolve().parents[3]
PENGUINS_RAW = REPO / "samples" / "penguins-raw.csv"


def test_the_file_s_yes_and_no_are_recorded_with_the_boolean(tmp_path):
    report = ingest_csv(PENGUINS_RAW, tmp_path / "out.parquet")
    clutch = report.column("Clutch Completion")
    assert clutch.semantic_type == "boolean" and clutch.physical_type == "Boolean"
    assert clutch.boolean_labels == ["No", "Yes"]
    assert pl.read_parquet(tmp_path / "out.parquet")["Clutch Completion"].dtype == pl.Boolean
    assert report.column("Species").boolean_labels is None


@pytest.mark.parametrize(("values", "labels"), [
    (["Yes", "No", "yes", "Yes"], ["No", "Yes"]),
    (["TRUE", "FALSE", "TRUE"], ["FALSE", "TRUE"]),
    (["y", "n", "N", "n", "Y", "y"], ["n", "y"]),
    (["1", "0", "0", "1"], ["0", "1"]),
])
def test_the_most_frequent_spelling_of_each_half_is_the_label(ingest_bytes, values, labels):
    report, df = ingest_bytes("flag,x\n" + "".join(f"{v},{i}\n" for i, v in enumerate(values)))
    assert df["flag"].dtype == pl.Boolean
    assert report.column("flag").boolean_labels == labels


def test_a_boolean_by_override_keeps_the_file_s_labels(ingest_bytes):
    report, _ = ingest_bytes("flag,x\nsi,1\nno,2\n", type_overrides={"flag": "categorical"})
    assert report.column("flag").boolean_labels is None
    report, df = ingest_bytes("flag,x\nOn,1\nOff,2\nOn,3\n", type_overrides={"flag": "boolean"})
    assert df["flag"].to_list() == [True, False, True]
    assert report.column("flag").boolean_labels == ["Off", "On"]
