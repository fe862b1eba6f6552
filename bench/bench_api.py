"""Latency of ``GET /api/v1/datasets`` under 20 concurrent clients, against the gateway as it is deployed.

    .venv/bin/python bench/bench_api.py [--clients 20] [--seconds 20] [--datasets 200] [--workers N] [--pool N]
                                        [--checkout DIR] [--profile FILE]

A database of its own is created on the local PostgreSQL (``DSP_BENCH_PG_ADMIN``, default
postgresql://postgres@127.0.0.1:5432/postgres) and migrated; one analyst and ``--datasets`` ingested datasets
of theirs are seeded. ``python -m dsp_gateway serve`` then runs in a process of its own (uvicorn, its server
limits, the RabbitMQ and Redis of the machine on queues, an exchange and a Redis namespace named for the run).
The client, in this process, signs in once and opens ``--clients`` keep-alive connections over loopback;
each sends ``GET /api/v1/datasets`` (the first page, 50 items) as soon as its previous answer is read, for
``--seconds`` after a warm-up (before it, the latencies of the first three requests one by one are taken). With
``--checkout DIR`` the gateway is that other checkout's (its ``.venv`` and sources), for a comparison side by side. Latency is from the first byte sent to the last byte of the answer read. The
client is a few lines of asyncio streams, so that its own cost stays small beside the server's.

Prints a markdown table (p50/p95/p99/max, requests per second, non-200 answers), the CPU seconds of the
gateway process(es) and of the client, the load average, the versions, and the exact command. Everything it
created (the database, the queues and exchange, the Redis keys) is removed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import time
import uuid
from importlib.metadata import version
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parents[1]
PG_ADMIN = os.environ.get("DSP_BENCH_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")
AMQP_URL = os.environ.get("DSP_BENCH_AMQP", "amqp://guest:guest@127.0.0.1:5672/")
REDIS_URL = os.environ.get("DSP_BENCH_REDIS", "redis://127.0.0.1:6379/0")
PASSWORD = "a-benchmark-password"


def _with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{database}"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _seed(url: str, datasets: int) -> str:
    """One analyst of a new organisation and ``datasets`` ingested datasets of theirs; the analyst's e-mail."""
    from dsp_gateway.domain.passwords import hash_password

    email = f"bench-{uuid.uuid4().hex[:6]}@bench.example"
    organization_id, user_id = uuid.uuid4(), uuid.uuid4()
    columns = json.dumps([{"name": f"c{i}", "dtype": "Int64"} for i in range(12)])
    with psycopg.connect(url) as conn:
        conn.execute("SET search_path = gateway")
        conn.execute("INSERT INTO organizations (organization_id, name) VALUES (%s, %s)", (organization_id, email))
        conn.execute("INSERT INTO users (user_id, organization_id, email, password_hash, role)"
                     " VALUES (%s, %s, %s, %s, 'analyst')", (user_id, organization_id, email, hash_password(PASSWORD)))
        with conn.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO datasets (dataset_id, display_name, status, size_bytes, raw, row_count, columns,"
                " quality_score, upload_job_id, organization_id, owner_id, created_at)"
                " VALUES (%s, %s, 'profiled', %s, %s, 1000, %s, 0.93, %s, %s, %s, now() - %s * interval '1 minute')",
                [(uuid.uuid4(), f"sales-{i:04d}.csv", 50_000 + i, json.dumps({"key": f"datasets/{i}/raw"}), columns,
                  uuid.uuid4(), organization_id, user_id, i) for i in range(datasets)])
    return email


def _revision(checkout: Path) -> str:
    """The commit of ``checkout`` (with ``+changes`` when its files differ from it)."""
    def git(*command: str) -> str:
        return subprocess.run(["git", "-C", str(checkout), *command], capture_output=True, text=True).stdout.strip()

    return (git("rev-parse", "--short", "HEAD") or "?") + ("+changes" if git("status", "--porcelain", "-uno") else "")


def _tail(log_file: Any) -> str:
    log_file.flush()
    log_file.seek(0)
    return log_file.read().decode("utf-8", "replace")[-3000:]


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _tree(pid: int) -> list[int]:
    """The processes of the gateway's session (it starts one): uvicorn's supervisor and its workers."""
    pids = [pid]
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == pid and int(stat.parent.name) != pid:
            pids.append(int(stat.parent.name))
    return pids


def _workers(pids: list[int]) -> int:
    """The uvicorn worker processes among ``pids`` (multiprocessing's resource tracker is not one)."""
    spawned = 0
    for pid in pids[1:]:
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        spawned += b"spawn_main" in command
    return spawned or 1


async def _request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, raw: bytes) -> tuple[int, int]:
    """Send one request on a keep-alive connection; its status and body length."""
    writer.write(raw)
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    await reader.readexactly(length)
    return status, length


async def _load(port: int, token: str, *, clients: int, seconds: float, warmup: float,
                path: str) -> tuple[list[float], dict[int, int], float]:
    raw = (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
           "Accept: application/json\r\n\r\n").encode()
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    started = time.perf_counter()
    measure_from, stop_at = started + warmup, started + warmup + seconds

    async def client() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while True:
                sent = time.perf_counter()
                if sent >= stop_at:
                    return
                try:
                    status, _ = await _request(reader, writer, raw)
                except (asyncio.IncompleteReadError, ConnectionError):
                    writer.close()
                    statuses[-1] = statuses.get(-1, 0) + 1
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                    continue
                done = time.perf_counter()
                if sent >= measure_from:
                    latencies.append(done - sent)
                    statuses[status] = statuses.get(status, 0) + 1
        finally:
            writer.close()

    await asyncio.gather(*(client() for _ in range(clients)))
    return latencies, statuses, seconds


async def _first_answers(port: int, token: str, path: str, count: int = 3) -> list[float]:
    """The latencies (ms) of the first ``count`` requests to a gateway that just started, one after the other on a
    new connection: what the first users of a new process wait (anything lazily set up on the first call)."""
    raw = (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
           "Accept: application/json\r\n\r\n").encode()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    latencies = []
    try:
        for _ in range(count):
            sent = time.perf_counter()
            status, _ = await _request(reader, writer, raw)
            if status != 200:
                raise SystemExit(f"the first GET {path} answered {status}")
            latencies.append((time.perf_counter() - sent) * 1000)
    finally:
        writer.close()
    return latencies


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def _login(port: int, email: str) -> str:
    import httpx

    answer = httpx.post(f"http://127.0.0.1:{port}/api/v1/auth/token", data={"username": email, "password": PASSWORD},
                        headers={"Host": "127.0.0.1"}, timeout=30)
    answer.raise_for_status()
    return str(answer.json()["access_token"])


def main(argv: list[str] | None = None) -> int:
    from mesh_kit.db import migrate_service, role_name, with_user
    from mesh_kit.service import topology_of
    from mesh_kit.settings import MeshSettings
    from mesh_kit.topology import declare_with_url, delete_topology

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--datasets", type=int, default=200)
    parser.add_argument("--workers", type=int, default=None, help="DSP_HTTP_WORKERS of the gateway (default: its own)")
    parser.add_argument("--pool", type=int, default=None, help="DSP_DB_POOL_MAX_SIZE of the gateway (default: its own)")
    parser.add_argument("--checkout", type=Path, default=None,
                        help="run the gateway of this other checkout (its .venv and sources), the rest from this one")
    parser.add_argument("--profile", type=Path, default=None,
                        help="run the gateway under cProfile and write its statistics to this file")
    args = parser.parse_args(argv)

    run = uuid.uuid4().hex[:8]
    database = f"dsp_bench_api_{run}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
    admin_url = _with_database(PG_ADMIN, database)
    prefix, namespace = f"bench{run}", f"dsp-bench-api-{run}"
    settings = MeshSettings(amqp_url=AMQP_URL, exchange=f"dsp.events.{prefix}", queue_prefix=prefix)
    process: subprocess.Popen[bytes] | None = None
    log_file = None
    try:
        migrate_service("gateway", admin_url=admin_url, package="dsp_gateway")
        email = _seed(admin_url, args.datasets)
        asyncio.run(declare_with_url(AMQP_URL, topology_of(settings)))
        port = _free_port()
        env = {**os.environ, "DSP_ENVIRONMENT": "test", "DSP_DATABASE_URL": with_user(admin_url, role_name("gateway")),
               "DSP_AMQP_URL": AMQP_URL, "DSP_REDIS_URL": REDIS_URL, "DSP_REDIS_NAMESPACE": namespace,
               "DSP_EXCHANGE": settings.exchange, "DSP_QUEUE_PREFIX": prefix, "DSP_HTTP_HOST": "127.0.0.1",
               "DSP_HTTP_PORT": str(port), "DSP_METRICS_PORT": "0", "DSP_ALLOWED_HOSTS": "127.0.0.1",
               "DSP_JWT_SECRET": secrets.token_urlsafe(48), "DSP_LOG_LEVEL": "INFO",
               "DSP_ARTIFACT_URL": Path(f"/tmp/dsp-bench-api-{run}").as_uri()}
        if args.workers is not None:
            env["DSP_HTTP_WORKERS"] = str(args.workers)
        if args.pool is not None:
            env["DSP_DB_POOL_MAX_SIZE"] = str(args.pool)
        serve = ["-m", "dsp_gateway", "serve"]
        if args.profile is not None:
            serve = ["-c", "import cProfile, runpy, signal, sys; signal.signal(signal.SIGTERM, lambda *_: sys.exit(0)); sys.argv = ['dsp_gateway', 'serve']; profiler = cProfile.Profile()\n"
                     "try:\n profiler.runcall(runpy.run_module, 'dsp_gateway', run_name='__main__')\n"
                     f"finally:\n profiler.dump_stats({str(args.profile.resolve())!r})"]
        log_file = open(f"/tmp/dsp-bench-api-{run}.log", "w+b")  # noqa: SIM115 (read on failure, removed at the end)
        checkout = (args.checkout or ROOT).resolve()
        python = checkout / ".venv/bin/python" if args.checkout is not None else Path(sys.executable)
        process = subprocess.Popen([str(python), *serve], env=env, cwd=checkout,
                                   stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 90
        while True:
            if process.poll() is not None:
                raise SystemExit(f"the gateway ended with {process.returncode} before it answered: {_tail(log_file)}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    pass
                _login(port, email)
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise SystemExit(f"the gateway did not answer within 90 s: {_tail(log_file)}") from None
                time.sleep(0.3)
        token = _login(port, email)
        first = asyncio.run(_first_answers(port, token, "/api/v1/datasets?limit=50"))
        while _workers(_tree(process.pid)) < (args.workers or 1):  # every worker up before the clock starts
            if time.monotonic() > deadline:
                raise SystemExit(f"the gateway's workers did not all start within 90 s: {_tail(log_file)}")
            time.sleep(0.3)
        time.sleep(2 if (args.workers or 1) > 1 else 0)  # the last one's start-up, past its process' birth
        try:
            import uvloop

            uvloop.install()
            loop_name = f"uvloop {version('uvloop')}"
        except ImportError:
            loop_name = "asyncio"
        gateway_pids = _tree(process.pid)
        load_before = os.getloadavg()
        server_cpu = sum(_cpu_s(pid) for pid in gateway_pids)
        client_cpu = time.process_time()
        latencies, statuses, seconds = asyncio.run(_load(port, token, clients=args.clients, seconds=args.seconds,
                                                         warmup=args.warmup, path="/api/v1/datasets?limit=50"))
        client_cpu = time.process_time() - client_cpu
        gateway_pids = _tree(process.pid)
        server_cpu = sum(_cpu_s(pid) for pid in gateway_pids if Path(f"/proc/{pid}").exists()) - server_cpu
        workers = _workers(gateway_pids)
        load_after = os.getloadavg()
    finally:
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if log_file is not None:
            log_file.close()
            Path(log_file.name).unlink(missing_ok=True)
        shutil.rmtree(f"/tmp/dsp-bench-api-{run}", ignore_errors=True)  # the gateway's artifact store
        asyncio.run(delete_topology(AMQP_URL, topology_of(settings)))
        import redis

        client = redis.Redis.from_url(REDIS_URL)
        try:
            keys = list(client.scan_iter(match=f"{namespace}*", count=500))
            if keys:
                client.delete(*keys)
        finally:
            client.close()
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database)))

    ms = [value * 1000 for value in latencies]
    others = {code: n for code, n in statuses.items() if code != 200}
    command = " ".join([".venv/bin/python bench/bench_api.py", *(argv if argv is not None else sys.argv[1:])]).strip()
    print(f"`GET /api/v1/datasets?limit=50` ({args.datasets} datasets in the organisation), {args.clients} keep-alive "
          f"clients, {seconds:.0f} s measured after {args.warmup:.0f} s of warm-up, gateway with "
          f"{workers} worker process(es) ({'default' if args.pool is None else args.pool} DB pool max), "
          f"the gateway of {checkout} at {_revision(checkout)}\n")
    print("| requests | req/s | p50 ms | p95 ms | p99 ms | max ms | non-200 | gateway CPU s | client CPU s |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    print(f"| {len(ms)} | {len(ms) / seconds:.0f} | {statistics.median(ms):.1f} | {_percentile(ms, 95):.1f} | "
          f"{_percentile(ms, 99):.1f} | {max(ms):.1f} | {sum(others.values())} | {server_cpu:.1f} | {client_cpu:.1f} |")
    print(f"\nload average {load_before[0]:.2f} before, {load_after[0]:.2f} after (1 min); {os.cpu_count()} cores; "
          f"Python {platform.python_version()}, uvicorn {version('uvicorn')}, FastAPI {version('fastapi')}, "
          f"starlette {version('starlette')}, psycopg {version('psycopg')}, psycopg-pool {version('psycopg-pool')}, "
          f"client loop {loop_name}; command: `{command}`")
    print(f"\nthe first {len(first)} requests after the start, one by one: "
          f"{', '.join(f'{value:.1f}' for value in first)} ms")
    if others:
        print(f"\nanswers other than 200: {others}")
    return 0 if not others and ms else 1


if __name__ == "__main__":
    sys.exit(main())
