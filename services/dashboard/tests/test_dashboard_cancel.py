"""A cancelled dashboard build stops between its sections."""

from __future__ import annotations

import pytest
from dsp_dashboard.domain import build_dashboard
from shared_contracts.cancel import Cancelled, CancelToken


@pytest.mark.parametrize(("message", "step"), [("sampling the dataset", "choosing charts"),
                                               ("choosing charts", "rendering HTML")])
def test_a_cancelled_build_stops_at_its_next_section(penguins, write_parquet, message: str, step: str) -> None:
    token = CancelToken()

    def progress(fraction: float, text: str) -> None:
        if text == message:
            token.cancel("asked by the test")

    with pytest.raises(Cancelled) as info:
        build_dashboard(data=write_parquet(penguins), profile=None, progress=progress, cancel=token)
    assert info.value.step == step
