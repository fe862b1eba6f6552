"""Hostile uploads against the gateway as it is deployed (``python -m dsp_gateway serve``), with its peak memory.

- a gzip bomb: the gateway stores it without expanding it (bounded memory); the ingest core, in a process of its
  own, stops expanding it at ``DSP_MAX_DECOMPRESSED_BYTES`` with the typed ``decompressed_too_large``;
- a 1 GiB chunked body, generated as it is sent: 413 at the upload cap, gateway memory growth under 50 MB, and
  no spool file left behind;
- hostile file names (paths, NUL, bidirectional controls, shell metacharacters, Windows device names, 5,000
  characters; 5,000 characters are a typed 400): stored as a plain name and answered as JSON text.

Figures are printed (``-s``); ``bench/prove_hostile.py`` runs the same attacks and writes them for docs.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
import zlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from ..corpus.hostile import FILENAMES
from .test_gateway_bounds_process import (  # noqa: F401 (fixtures)
    MIB,
    PASSWORD,
    ServedGateway,
    _reset_peak,
    _status_kib,
    gateway_database,
    serve_gateway,
)

pytestmark = pytest.mark.integration

UPLOAD_CAP = 64 * MIB


def figures(scenario: str, **values: object) -> None:
    """One line of figures for ``bench/prove_hostile.py`` (run with ``-s``)."""
    print("\nHOSTILE-FIGURES " + json.dumps({"scenario": scenario, **values}))


@pytest.fixture
def served(infra, gateway_database: str, tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str, str]]:  # noqa: F811
    yield from serve_gateway(infra, gateway_database, tmp_path, {"DSP_MAX_UPLOAD_BYTES": str(UPLOAD_CAP)})


@pytest.fixture
async def gateway(served) -> AsyncIterator[ServedGateway]:
    from ..auth_helpers import login

    process, url, email = served
    async with httpx.AsyncClient(base_url=url, timeout=120) as client:
        headers = await login(client, email, PASSWORD)
    yield ServedGateway(pid=process.pid, url=url, headers=headers)


def multipart(filename: bytes, content: bytes, boundary: str, *, wait: bool = False) -> bytes:
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"wait\"\r\n\r\n{str(wait).lower()}\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"").encode()
    return (head + filename + b"\"\r\nContent-Type: application/octet-stream\r\n\r\n" + content
            + f"\r\n--{boundary}--\r\n".encode())


def gzip_bomb(expanded: int) -> bytes:
    """A gzip stream of ``expanded`` bytes of a valid two-column CSV, made in memory (about 1 MB per GiB)."""
    body = zlib.compressobj(9, zlib.DEFLATED, 31)
    parts = [body.compress(b"a,b\n")]
    block = b"0,0\n" * (MIB // 4)
    for _ in range(expanded // MIB):
        parts.append(body.compress(block))
    parts.append(body.flush())
    return b"".join(parts)


INGEST_IN_A_PROCESS = """
import json, resource, sys
from pathlib import Path
from dsp_ingest.domain import IngestError, ingest_file
try:
    ingest_file(Path(sys.argv[1]), Path(sys.argv[2]))
    out = {"code": None}
except IngestError as exc:
    out = {"code": exc.code, "message": exc.message}
out["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(out))
"""


def ingest_in_a_process(raw: Path, scratch: Path, limit: int) -> dict:
    done = subprocess.run([sys.executable, "-c", INGEST_IN_A_PROCESS, str(raw), str(scratch / "out.parquet")],
                          capture_output=True, text=True, timeout=300,
                          env={**__import__("os").environ, "DSP_MAX_DECOMPRESSED_BYTES": str(limit)})
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


async def test_a_gzip_bomb_is_stored_unexpanded_and_refused_typed_by_ingest(gateway: ServedGateway, tmp_path: Path):
    bomb = gzip_bomb(1024 * MIB)
    boundary = "hb" + uuid.uuid4().hex
    async with httpx.AsyncClient(base_url=gateway.url, headers=gateway.headers, timeout=120) as client:
        before = _reset_peak(gateway.pid)
        answer = await client.post("/api/v1/upload", content=multipart(b"bomb.csv.gz", bomb, boundary),
                                   headers={"content-type": f"multipart/form-data; boundary={boundary}"})
        growth = (_status_kib(gateway.pid, "VmHWM") - before) / 1024
        assert answer.status_code == 202, answer.text
        dataset_id = answer.json()["data"]["dataset_id"]
    raw = next((tmp_path / "artifacts").rglob(f"*{dataset_id}*/raw*"), None) or next(
        p for p in (tmp_path / "artifacts").rglob("*") if p.is_file() and dataset_id in str(p))
    assert raw.stat().st_size == len(bomb), "the gateway stores the compressed bytes as sent"
    verdict = ingest_in_a_process(raw, tmp_path, 64 * MIB)
    print(f"\n[process] gzip bomb {len(bomb) / MIB:.1f} MiB -> 1 GiB: gateway {answer.status_code}, peak growth "
          f"{growth:.1f} MiB; ingest {verdict['code']}, peak RSS {verdict['peak_rss_mib']:.0f} MiB")
    figures("gzip bomb", compressed_mib=round(len(bomb) / MIB, 2), expands_to_mib=1024, gateway_status=answer.status_code,
            gateway_peak_growth_mib=round(growth, 1), ingest_code=verdict["code"],
            ingest_limit_mib=64, ingest_peak_rss_mib=round(verdict["peak_rss_mib"]))
    assert growth < 50
    assert verdict["code"] == "decompressed_too_large"
    assert "67108864" in verdict["message"]
    assert verdict["peak_rss_mib"] < 600  # the interpreter, Polars and one read buffer; the expansion is streamed
    assert not (tmp_path / "out.parquet").exists()


async def test_a_1_gib_chunked_upload_gets_413_with_flat_memory_and_no_spool_file_left(gateway: ServedGateway,
                                                                                      tmp_path: Path):
    boundary = "hc" + uuid.uuid4().hex
    head = multipart(b"big.csv", b"", boundary).split(b"\r\n--" + boundary.encode() + b"--")[0]
    chunk = b"1,2\n" * (MIB // 4)
    sent = [0]

    async def body() -> AsyncIterator[bytes]:
        yield head + b"a,b\n"
        for _ in range(1024):
            sent[0] += len(chunk)
            yield chunk

    spool = tmp_path / "artifacts" / ".spool"
    async with httpx.AsyncClient(base_url=gateway.url, headers=gateway.headers, timeout=300) as client:
        before = _reset_peak(gateway.pid)
        started = time.monotonic()
        answer = await client.post("/api/v1/upload", content=body(),
                                   headers={"content-type": f"multipart/form-data; boundary={boundary}"})
        growth = (_status_kib(gateway.pid, "VmHWM") - before) / 1024
    left = sorted(p.name for p in spool.iterdir()) if spool.exists() else []
    print(f"\n[process] 1 GiB chunked upload, cap {UPLOAD_CAP // MIB} MiB: {answer.status_code} "
          f"{answer.json()['errors'][0]['code']}, {sent[0] / MIB:.0f} MiB sent in {time.monotonic() - started:.1f} s, "
          f"peak growth {growth:.1f} MiB, spool files left {len(left)}")
    figures("1 GiB chunked upload", sent_mib=round(sent[0] / MIB), cap_mib=UPLOAD_CAP // MIB, status=answer.status_code,
            code=answer.json()["errors"][0]["code"], peak_growth_mib=round(growth, 1), spool_files_left=len(left),
            seconds=round(time.monotonic() - started, 1))
    assert answer.status_code == 413 and answer.json()["errors"][0]["code"] == "file_too_large"
    assert growth < 50
    assert left == []
    assert not any(p.name.startswith(".upload-") for p in tmp_path.rglob(".upload-*"))


async def test_hostile_file_names_are_stored_as_plain_names(gateway: ServedGateway):
    boundary = "hn" + uuid.uuid4().hex
    async with httpx.AsyncClient(base_url=gateway.url, headers=gateway.headers, timeout=60) as client:
        for sent, expected in FILENAMES.items():
            answer = await client.post("/api/v1/upload", content=multipart(sent.encode(), b"a,b\n1,2\n", boundary),
                                       headers={"content-type": f"multipart/form-data; boundary={boundary}"})
            assert answer.status_code == 202, (sent[:40], answer.text)
            dataset = await client.get(f"/api/v1/datasets/{answer.json()['data']['dataset_id']}")
            assert dataset.status_code == 200
            assert dataset.headers["content-type"].startswith("application/json")
            assert dataset.headers.get("x-content-type-options") == "nosniff"
            assert dataset.json()["data"]["name"] == expected, sent[:40]
        huge = await client.post("/api/v1/upload", content=multipart(b"a" * 5000 + b".csv", b"a,b\n1,2\n", boundary),
                                 headers={"content-type": f"multipart/form-data; boundary={boundary}"})
        assert huge.status_code == 400 and huge.json()["errors"][0]["code"] == "malformed_multipart"
        listed = await client.get("/api/v1/datasets", params={"limit": 100})
        names = {item["display_name"] for item in listed.json()["data"]["items"]}
    figures("hostile file names", names=len(FILENAMES) + 1, stored_as_expected=len(names & set(FILENAMES.values())),
            distinct_expected=len(set(FILENAMES.values())), over_header_limit_status=huge.status_code)
    assert names == set(FILENAMES.values())
    assert not any(ch in name for name in names for ch in "/\\\x00\u202e\r\n")
