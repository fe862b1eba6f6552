"""A cancelled ETL run stops between pipeline steps."""

from __future__ import annotations

from pathlib import Path

import pytest
from etl_core import run_etl
from etl_core.quick_profile import quick_profile
from shared_contracts.cancel import Cancelled, CancelToken


def test_a_cancelled_run_stops_before_its_next_pipeline_step(dataset, tmp_path: Path) -> None:
    frame = dataset("penguins_raw")
    source = tmp_path / "in.parquet"
    frame.write_parquet(source)
    profile = quick_profile(frame)
    done = run_etl(source, profile, out_dir=tmp_path / "whole", target="Species")
    assert len(done.report.plan.steps) >= 2  # there is a step after the first to stop before

    token = CancelToken()
    fitted: list[str] = []

    def progress(fraction: float, message: str) -> None:
        if message.startswith("fitted"):
            fitted.append(message)
            token.cancel("asked by the test")

    with pytest.raises(Cancelled) as info:
        run_etl(source, profile, out_dir=tmp_path / "out", target="Species", progress=progress, cancel=token)
    assert len(fitted) == 1
    assert info.value.step.startswith("step ") or info.value.step == "writing cleaned data", info.value.step
    assert not (tmp_path / "out" / "cleaned.parquet").exists()


def test_a_token_cancelled_before_the_start_stops_after_planning(dataset, tmp_path: Path) -> None:
    frame = dataset("penguins")
    source = tmp_path / "in.parquet"
    frame.write_parquet(source)
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled) as info:
        run_etl(source, quick_profile(frame), out_dir=tmp_path / "out", cancel=token)
    assert info.value.step == "planning"
