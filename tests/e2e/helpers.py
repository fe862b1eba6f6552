"""Small clients for driving the mesh from tests, as a user would: HTTP, WebSocket, AMQP, SQL."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
import websockets


def wait_for_job(client: httpx.Client, job_id: str, *, timeout: float = 300,
                 until: tuple[str, ...] = ("completed", "failed")) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        body = client.get(f"/api/v1/jobs/{job_id}").json()
        job = body["data"]
        if job["status"] in until or time.monotonic() > deadline:
            return job
        time.sleep(0.5)


async def follow(ws_url: str, job_id: str, *, timeout: float = 300) -> list[dict[str, Any]]:
    """Every message of the job's progress stream until the server closes it."""
    messages: list[dict[str, Any]] = []
    async with websockets.connect(f"{ws_url}/api/v1/ws?job_id={job_id}", open_timeout=30) as ws:
        try:
            async with asyncio.timeout(timeout):
                async for raw in ws:
                    messages.append(json.loads(raw))
        except TimeoutError:
            messages.append({"type": "test.timeout"})
    return messages
