"""Nothing the gateway does holds its event loop: every callback the loop runs (a step of a task) is timed in CPU
seconds of the loop's thread, while the real app (its lifespan, Postgres, RabbitMQ, Redis) serves password
logins, an API key, a 30 MiB upload, the list and the reads of datasets and jobs, and the export of the user's
data, each kind once before the clock watches (the first call of a route fills lazy caches once, for about
0.17 s) and again while it does. CPU time of the thread, not wall time: on this shared machine the process may wait for a core in the middle
of any step, which says nothing of the step (asyncio's debug mode, ``slow_callback_duration``, times the wall).

An upload parsed and written in one piece (30 MiB: about 0.1 s), a JSON document of some MB parsed, an export
zipped on the loop would show here, while a 64 KiB chunk of an upload takes about 0.2 ms and a page of datasets
a few ms; the test first checks that the instrument catches a callback that computes for 0.1 s. Argon2 is below
it: its four lanes hash in threads of their own, so a login verified on the loop would spend only some 15 ms of
the loop thread's CPU (the login runs it with ``asyncio.to_thread`` all the same).
"""

from __future__ import annotations

import asyncio
import io
import time
import uuid
from asyncio import events
from pathlib import Path

import pytest

from .gateway_harness import Account, running_gateway
from .test_gateway_upload import gateway_database  # noqa: F401 (a fixture)

pytestmark = pytest.mark.integration

PASSWORD = "an-event-loop-password"
LIMIT_CPU_S = 0.05


def _where(handle: events.Handle) -> str:
    """Where the task of a step stands after it: the chain of coroutines it awaits, innermost last."""
    task = getattr(getattr(handle, "_callback", None), "__self__", None)
    coro = task.get_coro() if isinstance(task, asyncio.Task) else None
    chain = []
    while coro is not None and len(chain) < 30:
        frame = getattr(coro, "cr_frame", None) or getattr(coro, "ag_frame", None)
        if frame is not None:
            chain.append(f"{frame.f_code.co_filename.rsplit('/', 2)[-1]}:{frame.f_lineno} {frame.f_code.co_name}")
        coro = getattr(coro, "cr_await", None) or getattr(coro, "ag_await", None)
    return " > ".join(chain)


class CallbackClock:
    """Wraps ``asyncio.Handle._run``: records each callback that spends more than ``LIMIT_CPU_S`` of the loop
    thread's CPU."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.reports: list[str] = []
        self.watching = True
        run = events.Handle._run
        clock = self

        def timed(handle: events.Handle) -> None:
            started = time.thread_time()
            try:
                run(handle)
            finally:
                spent = time.thread_time() - started
                if clock.watching and spent > LIMIT_CPU_S:
                    clock.reports.append(f"{spent * 1000:.0f} ms of CPU, then at: ...{_where(handle)[-700:]}")

        monkeypatch.setattr(events.Handle, "_run", timed)


async def test_no_request_holds_the_gateway_event_loop(infra, gateway_database: str, tmp_path: Path,  # noqa: F811
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    suffix = uuid.uuid4().hex[:8]
    monkeypatch.setenv("DSP_REDIS_NAMESPACE", f"{infra.redis_namespace}-loop-{suffix}")
    monkeypatch.setenv("DSP_UPLOADS_PER_MINUTE", "1000")
    # every pooled connection opened at the start: libpq opens one on the loop (its TLS or GSSAPI negotiation took
    # up to 170 ms of the loop thread's CPU here), which a pool growing under load would do amid the requests
    monkeypatch.setenv("DSP_DB_POOL_MIN_SIZE", "10")
    monkeypatch.setenv("DSP_DB_POOL_MAX_SIZE", "10")
    accounts = {"ana": Account(f"ana-{suffix}@loop.example", "analyst", f"loop-{suffix}")}
    big = b"id,value,label\n" + b"".join(b"%d,%d.5,row number %d\n" % (i, i, i) for i in range(1_100_000))
    assert len(big) > 30 * 1024 * 1024
    clock = CallbackClock(monkeypatch)

    async def computes() -> None:
        until = time.thread_time() + 0.1
        while time.thread_time() < until:
            pass

    await asyncio.create_task(computes())
    assert clock.reports, "the clock did not catch a callback that computed for 0.1 s"
    clock.reports.clear()

    async with running_gateway(infra, gateway_database, tmp_path, accounts, password=PASSWORD, prefix="loop") as gw:
        client, anonymous = gw.clients["ana"], gw.anonymous

        async def requests() -> None:
            logins = await asyncio.gather(*(anonymous.post("/api/v1/auth/token", data={
                "username": accounts["ana"].email, "password": PASSWORD}) for _ in range(4)))
            assert [answer.status_code for answer in logins] == [200] * 4
            key = await client.post("/api/v1/api-keys", json={"name": "loop"})
            assert key.status_code == 201, key.text
            # a file object: the client sends it in 64 KiB chunks, as a server hands a body to the app (bytes
            # would reach the app in one piece through the in-process transport)
            upload = await client.post("/api/v1/upload", data={"wait": "false"},
                                       files={"file": ("big.csv", io.BytesIO(big), "text/csv")})
            assert upload.status_code == 202, upload.text
            data = upload.json()["data"]
            paths = ("/api/v1/datasets", f"/api/v1/datasets/{data['dataset_id']}", f"/api/v1/jobs/{data['job_id']}")
            reads = await asyncio.gather(*(client.get(path) for path in paths * 5))
            assert {answer.status_code for answer in reads} == {200}
            export = await client.get("/api/v1/me/export")
            assert export.status_code == 200 and export.content[:2] == b"PK"

        await requests()  # the first of each kind (lazy imports and caches filled once) is not watched
        clock.reports.clear()
        await requests()
        clock.watching = False
    assert not clock.reports, "\n".join(clock.reports)
