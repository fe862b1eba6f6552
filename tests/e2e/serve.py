"""``dsp serve`` as a process for tests: started on a free port over a data directory, stopped or killed.

>>> server = ServeProcess(data_dir=tmp_path / "data")  # doctest: +SKIP
>>> server.start()                                     # doctest: +SKIP
>>> headers = server.sign_in()                         # the local admin, through the printed address
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from .helpers import upload

ADMIN_EMAIL = "admin@serve.example"
ADMIN_PASSWORD = "serve-admin-password-long-enough"
_LOGIN = re.compile(r"open (http://127\.0\.0\.1:\d+/local-login#(\S+))")


def free_port() -> int:
    from .conftest import _free_ports

    return _free_ports(1)[0]


@dataclass
class ServeProcess:
    """One ``dsp serve`` over ``data_dir``; a restart keeps the directory and the port."""

    data_dir: Path
    port: int = field(default_factory=free_port)
    extra_env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[str] | None = None
    login_url: str | None = None
    token: str | None = None
    output: list[str] = field(default_factory=list)
    started_in_s: float | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://")

    def start(self, timeout_s: float = 90) -> float:
        """Start and wait for the sign-in address; returns the seconds it took."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("DSP_")}
        env.update({"DSP_BOOTSTRAP_ADMIN_EMAIL": ADMIN_EMAIL, "DSP_BOOTSTRAP_ADMIN_PASSWORD": ADMIN_PASSWORD,
                    "PYTHONUNBUFFERED": "1", **self.extra_env})
        started = time.monotonic()
        self.login_url = self.token = None
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "dsp_cli.main", "serve", "--port", str(self.port), "--data", str(self.data_dir),
             "--log-level", "warning"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, start_new_session=True)
        found = threading.Event()

        def read() -> None:
            assert self.proc is not None and self.proc.stdout is not None
            for line in self.proc.stdout:
                self.output.append(line)
                match = _LOGIN.search(line)
                if match and not found.is_set():
                    self.login_url, self.token = match.group(1), match.group(2)
                    found.set()

        threading.Thread(target=read, daemon=True).start()
        while not found.wait(0.2):
            if self.proc.poll() is not None or time.monotonic() - started > timeout_s:
                self.kill()
                raise RuntimeError("dsp serve did not start:\n" + "".join(self.output[-80:]))
        self.started_in_s = time.monotonic() - started
        return self.started_in_s

    def sign_in(self) -> dict[str, str]:
        """The local admin's Authorization header, as the page at the printed address gets it."""
        response = httpx.post(f"{self.url}/api/v1/auth/local", json={"token": self.token}, timeout=30,
                              headers={"Origin": self.url})
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['access_token']}"}

    def stop(self, timeout_s: float = 30) -> int | None:
        """Ctrl-C, as a user stops it; returns the exit status."""
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()
            return None

    def kill(self) -> None:
        """kill -9 the server and anything it started, as a crash or a power cut would."""
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(30)


TERMINAL = ("completed", "failed")


def wait_for(api: httpx.Client, path: str, *, until: Any, timeout_s: float) -> dict[str, Any]:
    """GET ``path`` until ``until`` holds of its data, or ``timeout_s`` passed; the last data."""
    deadline = time.monotonic() + timeout_s
    while True:
        body = api.get(path).json()["data"]
        if until(body) or time.monotonic() > deadline:
            return body
        time.sleep(0.3)


def analysis_in_ml(api: httpx.Client, samples: Path, *, budget_s: float) -> str:
    """Upload the penguins, analyse them for Species, and wait until the job is in its ml stage; the job's id."""
    dataset = upload(api, samples / "penguins-raw.csv").json()["data"]
    started = api.post("/api/v1/analyze", json={"dataset_id": dataset["dataset_id"], "target": "Species",
                                                "options": {"time_budget_s": budget_s}})
    assert started.status_code == 202, started.text
    job = str(started.json()["data"]["analysis_id"])
    state = wait_for(api, f"/api/v1/analysis/{job}", timeout_s=120,
                     until=lambda j: j["stage"] == "ml" or j["status"] in TERMINAL)
    assert (state["stage"], state["status"]) == ("ml", "running"), state
    return job


def kill_during_ml(server: ServeProcess, samples: Path) -> str:
    """Start an analysis of the penguins, and kill -9 the server a few seconds into its ml stage; the job's id."""
    server.start()
    with httpx.Client(base_url=server.url, headers=server.sign_in(), timeout=120) as api:
        job = analysis_in_ml(api, samples, budget_s=20)
        time.sleep(3)  # well inside AutoML's budget
    server.kill()
    return job


