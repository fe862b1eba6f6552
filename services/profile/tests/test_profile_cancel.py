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


@pytest.mark.parametrize(("message", "step"), [
    ("column island", "column bill_length_mm"),  # the next column is not profiled
    ("duplicate rows", "missingness"),
    ("correlations", "alerts"),
])
def test_a_cancelled_profile_stops_at_the_next_column_or_section(penguins: Path, message: str, step: str) -> None:
    token = CancelToken()

    def progress(fraction: float, text: str = "") -> None:
        if text == message:
            token.cancel("asked by the test")

    with pytest.raises(Cancelled) as info:
        profile_dataset(penguins, progress=progress, cancel=token)
    assert info.value.step == step


def test_a_token_cancelled_before_the_start_stops_before_the_first_column(penguins: Path) -> None:
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled) as info:
        profile_dataset(penguins, cancel=token)
    assert info.value.step == "column species"
