"""A cancelled ingest stops at its next step and writes no Parquet file."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from dsp_ingest.domain import ingest_file
from shared_contracts.cancel import Cancelled, CancelToken

SAMPLE = Path(__file__).resolve().parents[3] / "samples" / "penguins-raw.csv"


def _cancel_on(token: CancelToken, message: str):
    def progress(fraction: float, text: str = "") -> None:
        if text.startswith(message):
            token.cancel("asked by the test")

    return progress


@pytest.mark.parametrize(("message", "step"), [
    ("Reading a sample", "reading"),  # cancelled while the sample is read: stops once it is typed
    ("Checking the record structure", "reading"),
    ("Summarising", "validating"),
])
def test_a_cancelled_ingest_stops_at_its_next_step_and_writes_nothing(tmp_path: Path, message: str,
                                                                      step: str) -> None:
    token = CancelToken()
    out = tmp_path / "out" / "data.parquet"
    with pytest.raises(Cancelled) as info:
        ingest_file(SAMPLE, out, progress=_cancel_on(token, message), cancel=token)
    assert info.value.step == step
    assert list(out.parent.iterdir()) == []  # no Parquet file, no scratch folder


def test_a_cancelled_token_stops_a_compressed_file_after_decompressing(tmp_path: Path) -> None:
    packed = tmp_path / "penguins.csv.gz"
    packed.write_bytes(gzip.compress(SAMPLE.read_bytes()))
    token = CancelToken()
    token.cancel("asked by the test")
    out = tmp_path / "out" / "data.parquet"
    with pytest.raises(Cancelled) as info:
        ingest_file(packed, out, cancel=token)
    assert info.value.step == "decompressing"
    assert list(out.parent.iterdir()) == []


def test_an_uncancelled_token_changes_nothing(tmp_path: Path) -> None:
    report = ingest_file(SAMPLE, tmp_path / "a.parquet", cancel=CancelToken())
    assert report.row_count == 344 and (tmp_path / "a.parquet").exists()
