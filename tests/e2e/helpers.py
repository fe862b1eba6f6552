"""Small clients for driving the mesh from tests, as a user would: HTTP, WebSocket, AMQP, SQL."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import subprocess
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import websockets
from mesh_kit.local_mesh import LocalMesh
from shared_contracts.manifest import SERVICES


def login(base_url: str, email: str, password: str) -> dict[str, str]:
    """The Authorization header of a user, from the OAuth2 password flow."""
    response = httpx.post(f"{base_url}/api/v1/auth/token", data={"username": email, "password": password},
                          timeout=30)
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def create_user(mesh: LocalMesh, email: str, role: str, organization: str, password: str) -> dict[str, str]:
    """A user made with the gateway's own command, logged in: their Authorization header."""
    done = subprocess.run([mesh.python, "-m", SERVICES["gateway"].package, "create-user", "--email", email,
                           "--role", role, "--organization", organization],
                          env={**mesh.env_for("gateway"), "DSP_NEW_USER_PASSWORD": password},
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return login(mesh.url("gateway"), email, password)


def ws_url(mesh: LocalMesh) -> str:
    return mesh.url("gateway").replace("http://", "ws://")


def upload(api: httpx.Client, path: Path, **fields: str) -> httpx.Response:
    with path.open("rb") as fh:
        return api.post("/api/v1/upload", files={"file": (path.name, fh, "text/csv")}, data=fields)


def wait_for_job(client: httpx.Client, job_id: str, *, timeout: float = 300,
                 until: tuple[str, ...] = ("completed", "failed")) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        body = client.get(f"/api/v1/jobs/{job_id}").json()
        job = body["data"]
        if job["status"] in until or time.monotonic() > deadline:
            return job
        time.sleep(0.5)


async def follow(ws_url: str, job_id: str, *, token: str, timeout: float = 300) -> list[dict[str, Any]]:
    """Every message of the job's progress stream until the server closes it."""
    messages: list[dict[str, Any]] = []
    async with websockets.connect(f"{ws_url}/api/v1/ws?job_id={job_id}&token={quote(token)}",
                                  open_timeout=30) as ws:
        try:
            async with asyncio.timeout(timeout):
                async for raw in ws:
                    messages.append(json.loads(raw))
        except TimeoutError:
            messages.append({"type": "test.timeout"})
    return messages


def two_penguin_rows(samples: Path) -> tuple[str, set[str]]:
    """Two complete rows of the penguins of different species (the first and the last of the file with no NA),
    as CSV without their Species; and the species of the file."""
    with (samples / "penguins-raw.csv").open(newline="", encoding="utf-8") as handle:
        every = list(csv.DictReader(handle))
    rows = [r for r in every if all(v not in ("", "NA") for k, v in r.items() if k != "Comments")]
    first = rows[0]
    last = next(r for r in reversed(rows) if r["Species"] != first["Species"])
    picked = [first, last]
    out = io.StringIO()
    columns = [c for c in picked[0] if c != "Species"]
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    writer.writerows(picked)
    return out.getvalue(), {r["Species"] for r in every}
