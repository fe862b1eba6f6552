"""Real public CSVs shipped in installed packages (scikit-learn, palmerpenguins)."""

from __future__ import annotations

import gzip
from pathlib import Path

import polars as pl
import pytest
import sklearn
from dsp_ingest.domain import ingest_csv

SKLEARN_DATA = Path(sklearn.__file__).parent / "datasets" / "data"
REPO = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize(("name", "rows", "cols"), [("iris.csv", 150, 5), ("wine_data.csv", 178, 14), ("breast_cancer.csv", 569, 31)])
def test_sklearn_csvs(tmp_path, name, rows, cols):
    report = ingest_csv(SKLEARN_DATA / name, tmp_path / "out.parquet")
    df = pl.read_parquet(tmp_path / "out.parquet")
    assert (report.row_count, report.column_count) == (rows, cols)
    assert df.shape == (rows, cols)
    # The first line of these files is "<n_samples>,<n_features>,<class names...>".
    reference = pl.read_csv(SKLEARN_DATA / name, skip_rows=1, has_header=False)
    assert df.select(pl.all().cast(pl.Float64)).to_numpy().tolist() == reference.select(pl.all().cast(pl.Float64)).to_numpy().tolist()
    assert all(c.semantic_type in ("float", "integer", "boolean", "categorical") for c in report.columns[:-1])
    assert report.bad_rows.count == 0


def test_breast_cancer_title_line_is_skipped(tmp_path):
    # 4 fields on the first line, 31 on the others: a title line, not a header.
    report = ingest_csv(SKLEARN_DATA / "breast_cancer.csv", tmp_path / "out.parquet")
    assert not report.has_header
    assert any("before the table" in w for w in report.warnings)


def test_space_separated_sklearn_file(tmp_path):
    src = tmp_path / "diabetes.csv"
    src.write_bytes(gzip.decompress((SKLEARN_DATA / "diabetes_data_raw.csv.gz").read_bytes()))
    report = ingest_csv(src, tmp_path / "out.parquet")
    df = pl.read_parquet(tmp_path / "out.parquet")
    assert report.delimiter == " "
    assert not report.has_header
    assert df.shape == (442, 10)
    assert df["column_1"][:3].to_list() == [59, 48, 72]
    assert df["column_9"][0] == pytest.approx(4.8598)


@pytest.mark.skipif(not (REPO / "samples" / "penguins-raw.csv").exists(), reason="samples/penguins-raw.csv not in this checkout")
def test_penguins_raw(tmp_path):
    report = ingest_csv(REPO / "samples" / "penguins-raw.csv", tmp_path / "out.parquet")
    df = pl.read_parquet(tmp_path / "out.parquet")
    assert report.row_count == 344 == df.height
    assert report.column("Date Egg").semantic_type == "date"
    assert report.column("Clutch Completion").semantic_type == "boolean"
    assert report.column("Body Mass (g)").physical_type == "Int64"
    assert report.column("Species").semantic_type == "categorical"
    assert report.na_tokens_found.get("NA", 0) > 0
    assert report.column("Body Mass (g)").null_count == 2
