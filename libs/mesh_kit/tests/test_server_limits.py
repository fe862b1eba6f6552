"""The server limits of a real uvicorn on loopback: a client that sends its headers too slowly is cut off,
and one that stalls its body gets 408 body_timeout; a prompt client is served, and a WebSocket stays open past
the headers timeout."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn
import websockets
from fastapi import FastAPI, Request, WebSocket
from mesh_kit.hardening import harden
from mesh_kit.server import server_config
from mesh_kit.settings import MeshSettings


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server() -> Iterator[int]:
    port = _free_port()
    settings = MeshSettings(http_host="127.0.0.1", http_port=port, http_headers_timeout_s=0.5, body_timeout_s=0.5,
                            allowed_hosts=["*"], metrics_port=0)
    app = FastAPI()
    harden(app, settings)

    @app.post("/echo")
    async def echo(request: Request) -> dict[str, int]:
        return {"bytes": len(await request.body())}

    @app.websocket("/ticks")
    async def ticks(ws: WebSocket) -> None:
        await ws.accept()
        for n in range(4):
            await asyncio.sleep(0.5)
            await ws.send_text(str(n))
        await ws.close(code=1000, reason="done")

    running = uvicorn.Server(server_config(app, settings, log_level="warning", timeout_graceful_shutdown=1))
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not running.started and time.monotonic() < deadline:
        time.sleep(0.02)
    yield port
    running.should_exit = True
    thread.join(timeout=10)


def _read_all(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def test_slow_headers_are_cut_off_and_a_stalled_body_gets_408(server: int) -> None:
    with socket.create_connection(("127.0.0.1", server), timeout=5) as slow:
        slow.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\n")  # and never the rest of the headers
        started = time.monotonic()
        assert _read_all(slow) == b""
        assert time.monotonic() - started < 3, "closed after the headers timeout"

    with socket.create_connection(("127.0.0.1", server), timeout=5) as stalled:
        stalled.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789")
        answer = _read_all(stalled)
        assert answer.startswith(b"HTTP/1.1 408") and b'"body_timeout"' in answer

    with socket.create_connection(("127.0.0.1", server), timeout=5) as prompt:
        prompt.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc")
        assert b'{"bytes":3}' in _read_all(prompt)


def test_a_websocket_outlives_the_headers_timeout(server: int) -> None:
    async def follow() -> tuple[list[str], int | None]:
        async with websockets.connect(f"ws://127.0.0.1:{server}/ticks", open_timeout=5) as ws:
            got = [str(m) async for m in ws]
            return got, ws.close_code

    got, code = asyncio.run(follow())  # 2 s of messages, four times the 0.5 s headers timeout
    assert (got, code) == (["0", "1", "2", "3"], 1000)
