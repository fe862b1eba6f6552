"""Hostile clients against the gateway (in process, over the run's PostgreSQL, RabbitMQ and Redis): each attack
gets a typed 4xx at once, and the process' peak resident memory (VmHWM, reset before each attack through
/proc/self/clear_refs) grows by a bounded amount while the attack streams.

The bodies come from generators that yield the same chunk again and again, so the client holds one chunk;
what grows is what the gateway keeps. The figures are printed (``-s``) for docs and the report.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from .gateway_harness import Account, running_gateway
from .test_gateway_upload import SAMPLES, gateway_database  # noqa: F401 (a fixture)

pytestmark = pytest.mark.integration

PASSWORD = "a-bounds-test-password"
MIB = 1024 * 1024
BODY_TIMEOUT_S = 0.5


@dataclass
class Gateway:
    client: httpx.AsyncClient
    spool: Path


@pytest.fixture
async def gateway(infra, gateway_database: str, tmp_path: Path,  # noqa: F811
                  monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Gateway]:
    suffix = uuid.uuid4().hex[:8]
    monkeypatch.setenv("DSP_REDIS_NAMESPACE", f"{infra.redis_namespace}-bounds-{suffix}")
    monkeypatch.setenv("DSP_UPLOADS_PER_MINUTE", "1000")
    monkeypatch.setenv("DSP_BODY_TIMEOUT_S", str(BODY_TIMEOUT_S))
    accounts = {"ana": Account(f"ana-{suffix}@bounds.example", "analyst", f"bounds-{suffix}")}
    async with running_gateway(infra, gateway_database, tmp_path, accounts, password=PASSWORD, prefix="b") as gw:
        yield Gateway(client=gw.clients["ana"], spool=tmp_path / "artifacts" / ".spool")


def _reset_peak() -> int:
    """Reset the peak resident size to the current one; return the current one (KiB)."""
    Path("/proc/self/clear_refs").write_text("5")
    return _status("VmRSS")


def _status(field: str) -> int:
    line = next(x for x in Path("/proc/self/status").read_text().splitlines() if x.startswith(field + ":"))
    return int(line.split()[1])


def _growth_mib(before_kib: int) -> float:
    return (_status("VmHWM") - before_kib) / 1024


async def _repeat(chunk: bytes, times: int, *, head: bytes = b"", tail: bytes = b"",
                  pause_s: float = 0.0) -> AsyncIterator[bytes]:
    if head:
        yield head
    for _ in range(times):
        if pause_s:
            await asyncio.sleep(pause_s)
        yield chunk
    if tail:
        yield tail


def _code(answer: httpx.Response) -> str:
    return answer.json()["errors"][0]["code"]


async def test_an_800_mb_predict_body_to_an_unknown_model_answers_404_without_reading_it(gateway: Gateway) -> None:
    chunk = b"a,b\n" + b"1,2\n" * (MIB // 4 - 1)
    sent = 0

    async def body() -> AsyncIterator[bytes]:
        nonlocal sent
        async for piece in _repeat(chunk, 800):
            sent += len(piece)
            yield piece

    before = _reset_peak()
    answer = await gateway.client.post(f"/api/v1/models/{uuid.uuid4()}/predict", content=body(),
                                       headers={"content-type": "text/csv"})
    growth = _growth_mib(before)
    print(f"\n800 MB predict body, unknown model: {answer.status_code}, {sent / MIB:.0f} MiB pulled, "
          f"peak RSS growth {growth:.1f} MiB")
    assert answer.status_code == 404 and _code(answer) == "not_found"
    assert sent <= 2 * MIB, "the body of an unknown model's predict is never read"
    assert growth < 50


async def test_an_800_mb_json_body_is_refused_at_the_cap_while_it_streams(gateway: Gateway) -> None:
    chunk = b" " * MIB
    sent = 0

    async def body() -> AsyncIterator[bytes]:
        nonlocal sent
        async for piece in _repeat(chunk, 800, head=b'{"dataset_id": "' + str(uuid.uuid4()).encode() + b'", "x": "'):
            sent += len(piece)
            yield piece

    before = _reset_peak()
    answer = await gateway.client.post("/api/v1/analyze", content=body(), headers={"content-type": "application/json"})
    growth = _growth_mib(before)
    print(f"\n800 MB JSON body: {answer.status_code} {_code(answer)}, {sent / MIB:.0f} MiB pulled, "
          f"peak RSS growth {growth:.1f} MiB")
    assert answer.status_code == 413 and _code(answer) == "body_too_large"
    assert sent <= 34 * MIB, "refused at the 32 MiB cap, not after the whole body"
    assert growth < 120  # the 32 MiB the JSON route may hold, and its copies


async def test_8000_form_fields_are_refused_at_the_33rd_with_the_spool_removed(gateway: Gateway) -> None:
    boundary = "bounds" + uuid.uuid4().hex
    field = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\n".encode()
             + b"v" * (60 * 1024) + b"\r\n")
    tail = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"p.csv\"\r\n"
            f"Content-Type: text/csv\r\n\r\n").encode() + (SAMPLES / "penguins.csv").read_bytes() + \
        f"\r\n--{boundary}--\r\n".encode()
    sent = 0

    async def body() -> AsyncIterator[bytes]:
        nonlocal sent
        async for piece in _repeat(field, 8000, tail=tail):
            sent += len(piece)
            yield piece

    before = _reset_peak()
    answer = await gateway.client.post("/api/v1/upload", content=body(),
                                       headers={"content-type": f"multipart/form-data; boundary={boundary}"})
    growth = _growth_mib(before)
    print(f"\n8,000 form fields of 60 KiB: {answer.status_code} {_code(answer)}, {sent / MIB:.1f} MiB pulled, "
          f"peak RSS growth {growth:.1f} MiB")
    assert answer.status_code == 413 and _code(answer) in ("too_many_fields", "form_too_large")
    assert sent < 5 * MIB
    assert growth < 50
    assert not list(gateway.spool.glob(".upload-*"))

    few = await gateway.client.post("/api/v1/upload", data={"wait": "false", "options": "{}"},
                                    files={"file": ("p.csv", (SAMPLES / "penguins.csv").read_bytes(), "text/csv")})
    assert few.status_code == 202, few.text  # a normal form is not affected


async def test_bins_of_10_to_the_8_answer_422_at_once_and_commit_nothing(gateway: Gateway) -> None:
    options = {"etl_config": {"features": {"bins": 100_000_000}}}
    before = _reset_peak()
    answer = await gateway.client.post("/api/v1/upload", data={"target": "species", "options": json.dumps(options)},
                                       files={"file": ("p.csv", (SAMPLES / "penguins.csv").read_bytes(), "text/csv")})
    growth = _growth_mib(before)
    print(f"\nbins of 10^8: {answer.status_code} {_code(answer)}, peak RSS growth {growth:.1f} MiB")
    assert answer.status_code == 422 and _code(answer) == "invalid_options"
    assert "etl_config.features.bins" in answer.json()["errors"][0]["message"]
    assert "features.bins must be at most 1000; got 100000000" in answer.json()["errors"][0]["message"]
    listed = await gateway.client.get("/api/v1/datasets")
    assert listed.json()["data"]["total"] == 0
    assert growth < 20


async def test_slow_bodies_time_out_with_408_and_leave_no_spool_file(gateway: Gateway) -> None:
    boundary = "slow" + uuid.uuid4().hex
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"p.csv\"\r\n"
            f"Content-Type: text/csv\r\n\r\nspecies,mass\n").encode()

    async def slow_upload() -> httpx.Response:
        return await gateway.client.post(
            "/api/v1/upload", content=_repeat(b"Adelie,3000\n", 5, head=head, pause_s=BODY_TIMEOUT_S * 4),
            headers={"content-type": f"multipart/form-data; boundary={boundary}"})

    before = _reset_peak()
    answers = await asyncio.gather(*(slow_upload() for _ in range(50)))
    growth = _growth_mib(before)
    codes = {(a.status_code, _code(a)) for a in answers}
    print(f"\n50 slow-body uploads: {codes}, peak RSS growth {growth:.1f} MiB")
    assert codes == {(408, "body_timeout")}
    assert not list(gateway.spool.glob(".upload-*")), "each slow upload's spool file is removed"
    assert growth < 50
