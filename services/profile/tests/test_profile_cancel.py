"""A cancelled profile stops between columns or between sections."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from dsp_profile.domain import profile_dataset
from shared_contracts.cancel import Cancelled, CancelToken

SAMPLE = Path(__file__).resolve().parents[3] / "samples" / "penguins.csv"


@pytest.fixture
def penguins(tmp_path: Path) -> Path:
    path = tmp_path / "penguins.parquet"
    pl.read_csv(SAMPLE, null_values=["NA"]).write_parquet(path)
    return path


@pytest.mark.parametrize(("message", "step", "workers"), [
    ("column island", "column bill_length_mm", "1"),  # the next column is not profiled
    # two columns at a time: bill_length_mm was already in flight when island was done; no later one starts
    ("column island", "column bill_depth_mm", "2"),
    ("duplicate rows", "missingness", "2"),
    ("correlations", "alerts", "2"),
])
def test_a_cancelled_profile_stops_at_the_next_column_or_section(
    penguins: Path, message: str, step: str, workers: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DSP_PROFILE_COLUMN_WORKERS", workers)
    token = CancelToken()
    reported: list[str] = []

    def progress(fraction: float, text: str = "") -> None:
        reported.append(text)
        if text == message:
            token.cancel("asked by the test")

    with pytest.raises(Cancelled) as info:
        profile_dataset(penguins, progress=progress, cancel=token)
    assert info.value.step == step
    assert reported[-1] == message  # nothing is reported after the cancel, a column still in flight included


def test_a_token_cancelled_before_the_start_stops_before_the_first_column(penguins: Path) -> None:
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled) as info:
        profile_dataset(penguins, cancel=token)
    assert info.value.step == "column species"
