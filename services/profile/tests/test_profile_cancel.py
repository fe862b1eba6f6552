"""A cancelled profile stops between columns or between sections."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import pytest
from dsp_profile.domain import profile_dataset, profiler
from shared_contracts.cancel import Cancelled, CancelToken

SAMPLE = Path(__file__).resolve().parents[3] / "samples" / "penguins.csv"


@pytest.fixture
def penguins(tmp_path: Path) -> Path:
    path = tmp_path / "penguins.parquet"
    pl.read_csv(SAMPLE, null_values=["NA"]).write_parquet(path)
    return path


COLUMNS = ["species", "island", "bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "sex", "year"]


@pytest.mark.parametrize(("message", "steps", "workers"), [
    ("column island", {"column bill_length_mm"}, "1"),  # the next column is not profiled
    # two workers: a column starts as soon as one is free, so the columns after a slow island may have started
    # (and ended) before it was done; the step is the first of those that had not, and none starts after it
    ("column island", {f"column {c}" for c in COLUMNS[2:]} | {"duplicate rows"}, "2"),
    ("duplicate rows", {"missingness"}, "2"),
    ("correlations", {"alerts"}, "2"),
])
def test_a_cancelled_profile_stops_at_the_next_column_or_section(
    penguins: Path, message: str, steps: set[str], workers: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DSP_PROFILE_COLUMN_WORKERS", workers)
    token = CancelToken()
    reported: list[str] = []
    started: list[str] = []
    profile_column = profiler.profile_taken_column

    def recording(holder: list[pl.Series], **kwargs: Any) -> Any:
        started.append(holder[0].name)
        return profile_column(holder, **kwargs)

    monkeypatch.setattr(profiler, "profile_taken_column", recording)

    def progress(fraction: float, text: str = "") -> None:
        reported.append(text)
        if text == message:
            token.cancel("asked by the test")

    with pytest.raises(Cancelled) as info:
        profile_dataset(penguins, progress=progress, cancel=token)
    assert info.value.step in steps
    assert reported[-1] == message  # nothing is reported after the cancel, a column still in flight included
    if info.value.step.startswith("column "):  # the step is the first column that did not start
        assert sorted(started, key=COLUMNS.index) == COLUMNS[: COLUMNS.index(info.value.step.removeprefix("column "))]
    else:
        assert started == COLUMNS


def test_a_token_cancelled_before_the_start_stops_before_the_first_column(penguins: Path) -> None:
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled) as info:
        profile_dataset(penguins, cancel=token)
    assert info.value.step == "column species"
