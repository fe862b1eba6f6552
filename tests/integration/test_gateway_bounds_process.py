"""The gateway as it is deployed (``python -m dsp_gateway serve``: uvicorn with its server limits, over the run's
PostgreSQL, RabbitMQ and Redis) against bodies streamed over loopback, with the gateway process' peak resident
memory read from /proc/<pid>/status (VmHWM, reset before each attack through /proc/<pid>/clear_refs).

In process, freed memory the allocator kept can hide what a request holds; a process of its own that only
serves the attack shows it. A client that keeps sending after the answer (a 404 before the body is read, a 413
at the cap) gets that answer: the server shuts its side and drops the rest of the body unparsed (mesh_kit.server). The figures are printed (``-s``) for docs and the report.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from dsp_gateway.bootstrap import service_spec
from mesh_kit.db import role_name, with_user
from mesh_kit.service import topology_of
from mesh_kit.settings import MeshSettings
from mesh_kit.topology import declare_with_url, delete_topology

from ..auth_helpers import login, seed_user
from .test_gateway_upload import SAMPLES, gateway_database  # noqa: F401 (a fixture)

pytestmark = pytest.mark.integration

MIB = 1024 * 1024
PASSWORD = "a-bounds-process-password"


@dataclass
class ServedGateway:
    pid: int
    url: str
    headers: dict[str, str]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _status_kib(pid: int, field: str) -> int:
    line = next(x for x in Path(f"/proc/{pid}/status").read_text().splitlines() if x.startswith(field + ":"))
    return int(line.split()[1])


def _reset_peak(pid: int) -> int:
    Path(f"/proc/{pid}/clear_refs").write_text("5")
    return _status_kib(pid, "VmRSS")


@pytest.fixture
def served(infra, gateway_database: str, tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str, str]]:  # noqa: F811
    yield from serve_gateway(infra, gateway_database, tmp_path)


def serve_gateway(infra, gateway_database: str, tmp_path: Path,  # noqa: F811
                  extra_env: dict[str, str] | None = None, *, measured: bool = True, ready: str = "/health/live",
                  start_timeout_s: float = 60) -> Iterator[tuple[subprocess.Popen[bytes], str, str]]:
    """Start ``python -m dsp_gateway serve`` over the run's infrastructure (with ``extra_env``), wait until
    ``ready`` answers 200, stop it after. ``measured``: its memory is measured, which needs clear_refs."""
    if measured and not os.access("/proc/self/clear_refs", os.W_OK):
        pytest.skip("this kernel does not let the test reset a process' peak memory (/proc/<pid>/clear_refs)")
    suffix = uuid.uuid4().hex[:8]
    email = f"ana-{suffix}@bounds.example"
    seed_user(gateway_database, email, PASSWORD, role="analyst", organization=f"bounds-{suffix}")
    port = _free_port()
    env = {**os.environ, "DSP_ENVIRONMENT": "test", "DSP_DATABASE_URL": with_user(gateway_database, role_name("gateway")),
           "DSP_AMQP_URL": infra.amqp_url, "DSP_REDIS_URL": infra.redis_url,
           "DSP_REDIS_NAMESPACE": f"{infra.redis_namespace}-bp-{suffix}",
           "DSP_ARTIFACT_URL": (tmp_path / "artifacts").as_uri(), "DSP_EXCHANGE": f"dsp.events.bp{suffix}",
           "DSP_QUEUE_PREFIX": f"bp{suffix}", "DSP_HTTP_HOST": "127.0.0.1", "DSP_HTTP_PORT": str(port),
           "DSP_METRICS_PORT": "0", "DSP_ALLOWED_HOSTS": "127.0.0.1", "DSP_JWT_SECRET": secrets.token_urlsafe(48),
           "DSP_UPLOADS_PER_MINUTE": "1000", "DSP_LOG_LEVEL": "WARNING", **(extra_env or {})}
    settings = MeshSettings(amqp_url=infra.amqp_url, exchange=env["DSP_EXCHANGE"], queue_prefix=env["DSP_QUEUE_PREFIX"])
    import asyncio

    asyncio.run(declare_with_url(infra.amqp_url, topology_of(settings)))
    process = subprocess.Popen([sys.executable, "-m", "dsp_gateway", "serve"], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + start_timeout_s
        while True:
            if process.poll() is not None:
                raise AssertionError(f"the gateway ended: {process.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
            try:
                if httpx.get(f"{url}{ready}", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, f"the gateway was not ready within {start_timeout_s:.0f} s"
            time.sleep(0.2)
        yield process, url, email
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
        asyncio.run(delete_topology(infra.amqp_url, topology_of(settings)))
    assert service_spec().name == "gateway"


@pytest.fixture
async def gateway(served: tuple[subprocess.Popen[bytes], str, str]) -> AsyncIterator[ServedGateway]:
    process, url, email = served
    async with httpx.AsyncClient(base_url=url, timeout=120) as client:
        headers = await login(client, email, PASSWORD)
    yield ServedGateway(pid=process.pid, url=url, headers=headers)


async def _streamed(chunk: bytes, times: int, counter: list[int], head: bytes = b"") -> AsyncIterator[bytes]:
    if head:
        yield head
    for _ in range(times):
        counter[0] += len(chunk)
        yield chunk


async def test_800_mb_bodies_leave_the_gateway_process_memory_flat(gateway: ServedGateway) -> None:
    chunk = b"a,b\n" + b"1,2\n" * (MIB // 4 - 1)
    async with httpx.AsyncClient(base_url=gateway.url, headers=gateway.headers, timeout=120) as client:
        small = await client.post(f"/api/v1/models/{uuid.uuid4()}/predict", content=b"a,b\n1,2\n",
                                  headers={"content-type": "text/csv"})
        assert small.status_code == 404 and small.json()["errors"][0]["code"] == "not_found"

        sent = [0]
        before = _reset_peak(gateway.pid)
        started = time.monotonic()
        answer = await client.post(f"/api/v1/models/{uuid.uuid4()}/predict", content=_streamed(chunk, 800, sent),
                                   headers={"content-type": "text/csv"})
        growth = (_status_kib(gateway.pid, "VmHWM") - before) / 1024
        print(f"\n[process] 800 MB predict body, unknown model: {answer.status_code}, {sent[0] / MIB:.0f} MiB "
              f"sent by the client in {time.monotonic() - started:.1f} s (discarded unparsed after the answer), "
              f"gateway RSS {before / 1024:.0f} MiB, peak growth {growth:.1f} MiB")
        # the answer comes before the body is read; the client reads it once it has sent what it wanted to send
        assert answer.status_code == 404 and answer.json()["errors"][0]["code"] == "not_found"
        assert answer.headers.get("connection") == "close"
        assert growth < 50

        sent = [0]
        before = _reset_peak(gateway.pid)
        answer = await client.post("/api/v1/analyze", content=_streamed(b" " * MIB, 800, sent, head=b'{"x": "'),
                                   headers={"content-type": "application/json"})
        growth = (_status_kib(gateway.pid, "VmHWM") - before) / 1024
        print(f"[process] 800 MB JSON body: {answer.status_code} {answer.json()['errors'][0]['code']}, "
              f"{sent[0] / MIB:.0f} MiB sent, peak growth {growth:.1f} MiB")
        assert answer.status_code == 413 and answer.json()["errors"][0]["code"] == "body_too_large"
        assert growth < 120  # at most the 32 MiB cap the JSON route may hold, and its copies

        boundary = "bp" + uuid.uuid4().hex
        field = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\n".encode()
                 + b"v" * (60 * 1024) + b"\r\n")
        sent = [0]
        before = _reset_peak(gateway.pid)
        answer = await client.post("/api/v1/upload", content=_streamed(field, 8000, sent),
                                   headers={"content-type": f"multipart/form-data; boundary={boundary}"})
        growth = (_status_kib(gateway.pid, "VmHWM") - before) / 1024
        print(f"[process] 8,000 form fields of 60 KiB: {answer.status_code} {answer.json()['errors'][0]['code']}, "
              f"{sent[0] / MIB:.0f} MiB sent, peak growth {growth:.1f} MiB")
        assert answer.status_code == 413 and answer.json()["errors"][0]["code"] in ("too_many_fields",
                                                                                     "form_too_large")
        assert growth < 50
