"""The whole mesh as processes behind breakable links, and the exactly-once audit of its jobs.

``ChaosMesh`` starts a ``LocalMesh`` in a database, vhost, Redis namespace and artifact directory of its own,
with every service's broker connection through a ``TcpProxy`` to a ``PrivateRabbit`` node made for the run (the
plain guest user on a vhost of the run; without ``rabbitmq-server``, the machine's RabbitMQ, on a vhost made
for the run and deleted after it) and its database connections through a second proxy to a
``PrivatePostgres`` cluster, so the broker link can be cut or refused, the broker itself restarted, the database
link cut, and the database itself stopped and started, while the machine's shared servers are never touched.

A job is one upload of ``samples/penguins-raw.csv`` that asks for its analysis (target ``Species``, a small
AutoML budget): it flows through every stage (ingest, profile, etl, ml, dashboard). ``audit`` then checks that
each job completed exactly once: its job row completed, and exactly one result of it in each stage's table and
one of each stage's result events in the gateway's read model.
"""

from __future__ import annotations

import json
import random
import secrets
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
from mesh_kit.local_mesh import LocalMesh
from shared_contracts.manifest import SERVICES

from ..auth_helpers import SignedIn
from ..conftest import _delete_redis_keys
from ..e2e.conftest import _free_ports
from ..loopback_proxy import TcpProxy
from .postgres import PrivatePostgres
from .rabbitmq import PrivateRabbit

__all__ = ["WORKERS", "Audit", "ChaosMesh", "Recovery"]

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "samples" / "penguins-raw.csv"
WORKERS = ("ingest", "profile", "etl", "ml", "dashboard")
"""The worker kinds, in the order a job flows through them."""
ADMIN_EMAIL = "admin@chaos.example"
ADMIN_PASSWORD = "chaos-admin-password-long-enough"
AMQP_HOST, AMQP_PORT = "127.0.0.1", 5672

RESULT_ROWS = {  # (table, key column) holding one row per job (or per the job's dataset)
    "ingest.ingested_datasets": "dataset_id",
    "profile.profiles": "job_id",
    "etl.etl_runs": "job_id",
    "ml.analyses": "job_id",
    "ml.models": "job_id",
    "dashboard.dashboards": "job_id",
    "gateway.dashboards": "job_id",
    "gateway.datasets": "dataset_id",
}
RESULT_EVENTS = ("dataset.ingested.v1", "dataset.profiled.v1", "dataset.transformed.v1", "analysis.completed.v1",
                 "dashboard.ready.v1")
"""Each stage's result event: the gateway's read model must hold exactly one of each per job."""


def rabbitmqctl(*args: str, timeout: float = 60) -> str:
    done = subprocess.run(["rabbitmqctl", "-q", *args], capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"rabbitmqctl {' '.join(args)}: {done.stderr.strip()[-500:]}")
    return done.stdout


@dataclass
class Audit:
    """What became of a set of jobs."""

    jobs: int
    completed: int
    lost: int
    duplicates: int
    failures: int = 0
    """stage.failed events of the jobs (a stage gave up on a try, even if a later one completed)."""
    problems: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return (self.jobs > 0 and self.completed == self.jobs and self.lost == 0 and self.duplicates == 0
                and self.failures == 0)


@dataclass
class Recovery:
    """Seconds from the end of a fault until the service (or every service) consumes again."""

    seconds: list[float] = field(default_factory=list)

    def add(self, value: float) -> None:
        self.seconds.append(round(value, 2))

    @property
    def max(self) -> float:
        return max(self.seconds, default=0.0)


class ChaosMesh:
    """A mesh of processes that a scenario can break. Use as a context manager; everything it made is removed."""

    def __init__(self, *, prefetch: int = 1, time_budget_s: float = 3, extra_env: dict[str, str] | None = None,
                 log: Callable[[str], None] = print, private_broker: bool | None = None,
                 keep_logs: Path | None = None) -> None:
        """``private_broker``: run on a RabbitMQ node of the run's own (None: when ``rabbitmq-server`` is there),
        which ``broker_restart`` can stop and start; False: on the machine's shared broker. ``keep_logs``: where
        the services' logs are copied when the mesh goes (everything else it made is removed)."""
        self.keep_logs = keep_logs
        self.prefetch = prefetch
        self.time_budget_s = time_budget_s
        self.log = log
        self.run_id = uuid.uuid4().hex[:10]
        self.vhost = f"dsp-chaos-{self.run_id}"
        self.redis_namespace = f"dsp-chaos-{self.run_id}"
        self.state_dir = Path(tempfile.mkdtemp(prefix="dsp-chaos-mesh-"))
        self.extra_env = extra_env or {}
        self.pg = PrivatePostgres()
        if private_broker is None:
            private_broker = PrivateRabbit.available()
        self.rabbit = PrivateRabbit() if private_broker else None
        self.broker = TcpProxy(AMQP_HOST, self.rabbit.port if self.rabbit is not None else AMQP_PORT)
        self.db: TcpProxy | None = None
        self.mesh: LocalMesh | None = None
        self._client: httpx.Client | None = None
        self._sample = SAMPLE.read_bytes()

    # -- life cycle ------------------------------------------------------------------------
    def __enter__(self) -> ChaosMesh:
        try:
            self._up()
        except BaseException:
            self._down()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self._down()

    def _up(self) -> None:
        if self.rabbit is not None:
            self.rabbit.start()
        self.pg.init()
        self.pg.start()
        self.direct_url = self.pg.create_database("dsp")
        self.db = TcpProxy("127.0.0.1", self.pg.port).start()
        self.broker.start()
        self.ctl("add_vhost", self.vhost)
        self.ctl("set_permissions", "-p", self.vhost, "guest", ".*", ".*", ".*")
        ports = _free_ports(2 * len(SERVICES))
        self.mesh = LocalMesh(
            state_dir=self.state_dir, admin_database_url=self.pg.url("dsp", port=self.db.port),
            amqp_url=f"amqp://guest:guest@127.0.0.1:{self.broker.port}/{self.vhost}",
            redis_url="redis://127.0.0.1:6379/0", redis_namespace=self.redis_namespace,
            ports=dict(zip(SERVICES, ports[: len(SERVICES)], strict=True)),
            metrics_ports=dict(zip(SERVICES, ports[len(SERVICES):], strict=True)),
            extra_env={"DSP_PREFETCH": str(self.prefetch), "DSP_RETRY_DELAYS_MS": "[300, 600]",
                       "DSP_UPLOAD_WAIT_S": "0.1", "DSP_ENVIRONMENT": "test",
                       "DSP_BOOTSTRAP_ADMIN_EMAIL": ADMIN_EMAIL, "DSP_BOOTSTRAP_ADMIN_PASSWORD": ADMIN_PASSWORD,
                       "DSP_JWT_SECRET": "chaos-jwt-secret-" + secrets.token_hex(20),
                       "DSP_UPLOADS_PER_MINUTE": "100000", "DSP_ANALYSES_PER_MINUTE": "100000",
                       "DSP_MAX_CONCURRENT_ANALYSES_PER_ORG": "100000", **self.extra_env},
        )
        self.mesh.up()
        # signed in again whenever the token expires: a full run outlasts its 15 minutes
        self._client = httpx.Client(base_url=self.mesh.url("gateway"), timeout=120,
                                    auth=SignedIn(self.mesh.url("gateway"), ADMIN_EMAIL, ADMIN_PASSWORD))

    def _down(self) -> None:
        if self._client is not None:
            self._client.close()
        if self.mesh is not None:
            self.mesh.down()
        self.broker.close()
        if self.db is not None:
            self.db.close()
        if self.rabbit is not None:
            self.rabbit.destroy()  # the node goes, its vhost with it
        else:
            try:
                rabbitmqctl("delete_vhost", self.vhost)
            except Exception as exc:  # it may not exist if the start failed early
                self.log(f"vhost {self.vhost}: {exc}")
        self.pg.destroy()
        _delete_redis_keys(f"{self.redis_namespace}*")
        if self.keep_logs is not None and (self.state_dir / "log").is_dir():
            shutil.copytree(self.state_dir / "log", self.keep_logs, dirs_exist_ok=True)
        shutil.rmtree(self.state_dir, ignore_errors=True)

    def ctl(self, *args: str) -> str:
        """rabbitmqctl on the run's broker."""
        return self.rabbit.ctl(*args) if self.rabbit is not None else rabbitmqctl(*args)

    @property
    def local(self) -> LocalMesh:
        assert self.mesh is not None
        return self.mesh

    # -- jobs ------------------------------------------------------------------------------
    def submit(self, count: int = 1) -> list[tuple[str, str]]:
        """Start ``count`` jobs; their (job id, dataset id). The upload answers 202 at once (``wait=false``)."""
        assert self._client is not None
        started = []
        for _ in range(count):
            for attempt in range(60):  # the gateway may be reconnecting after a fault: retry until it takes it
                try:
                    response = self._client.post(
                        "/api/v1/upload", files={"file": ("penguins.csv", self._sample, "text/csv")},
                        data={"target": "Species", "wait": "false",
                              "options": json.dumps({"time_budget_s": self.time_budget_s})})
                except httpx.HTTPError as exc:
                    self.log(f"upload attempt {attempt}: {exc!r}")
                    time.sleep(1)
                    continue
                if response.status_code in (201, 202):
                    data = response.json()["data"]
                    started.append((data["job_id"], data["dataset_id"]))
                    break
                self.log(f"upload attempt {attempt}: {response.status_code} {response.text[:300]}")
                time.sleep(1)
            else:
                raise RuntimeError("the gateway took no upload for a minute")
        return started

    def states(self, jobs: Iterable[str]) -> dict[str, tuple[str, str | None]]:
        """(status, stage) of each job, read from the gateway's read model over a direct connection."""
        ids = list(jobs)
        if not ids:
            return {}
        with psycopg.connect(self.direct_url, connect_timeout=5) as conn:
            rows = conn.execute("SELECT job_id::text, status, stage FROM gateway.jobs WHERE job_id = ANY(%s::uuid[])",
                                (ids,)).fetchall()
        return {job: (status, stage) for job, status, stage in rows}

    def wait_done(self, jobs: Iterable[str], timeout_s: float) -> dict[str, tuple[str, str | None]]:
        ids = list(jobs)
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                states = self.states(ids)
            except psycopg.OperationalError:
                states = {}
            if (len(states) == len(ids) and all(s in ("completed", "failed", "cancelled") for s, _ in states.values())) \
                    or time.monotonic() > deadline:
                return states
            time.sleep(0.5)

    def audit(self, jobs: list[tuple[str, str]], timeout_s: float = 300) -> Audit:
        """Wait for the jobs, then count: every job completed, exactly one result of it per stage."""
        states = self.wait_done([job for job, _ in jobs], timeout_s)
        problems: list[str] = []
        completed = sum(1 for job, _ in jobs if states.get(job, ("missing", None))[0] == "completed")
        for job, _ in jobs:
            status, stage = states.get(job, ("missing", None))
            if status != "completed":
                problems.append(f"job {job}: {status} at {stage}")
        duplicates = failures = 0
        with psycopg.connect(self.direct_url) as conn:
            for job, dataset in jobs:
                for table, key in RESULT_ROWS.items():
                    ident = dataset if key == "dataset_id" else job
                    (count,) = conn.execute(f"SELECT count(*) FROM {table} WHERE {key} = %s", (ident,)).fetchone()
                    if count > 1:
                        duplicates += count - 1
                        problems.append(f"job {job}: {count} rows in {table}")
                    elif count == 0 and states.get(job, ("",))[0] == "completed":
                        problems.append(f"job {job}: completed with no row in {table}")
                events = dict(conn.execute(
                    "SELECT routing_key, count(*) FROM gateway.job_events WHERE job_id = %s AND routing_key = ANY(%s)"
                    " GROUP BY routing_key", (job, list(RESULT_EVENTS))).fetchall())
                for key in RESULT_EVENTS:
                    if events.get(key, 0) > 1:
                        duplicates += events[key] - 1
                        problems.append(f"job {job}: {events[key]} {key} events")
                reasons = conn.execute(
                    "SELECT payload->>'stage', payload->>'code', left(payload->>'reason', 300) FROM gateway.job_events"
                    " WHERE job_id = %s AND routing_key = 'stage.failed.v1' ORDER BY occurred_at", (job,)).fetchall()
                if reasons:
                    failures += len(reasons)
                    told = "; ".join(f"{stage} {code}: {reason}" for stage, code, reason in reasons)
                    problems.append(f"job {job}: {len(reasons)} stage.failed events ({told})")
        lost = len(jobs) - completed
        if problems:
            self.log("audit: " + "; ".join(problems[:10]))
        return Audit(jobs=len(jobs), completed=completed, lost=lost, duplicates=duplicates, failures=failures,
                     problems=problems)

    def all_jobs(self) -> list[tuple[str, str]]:
        with psycopg.connect(self.direct_url) as conn:
            rows = conn.execute("SELECT job_id::text, dataset_id::text FROM gateway.jobs ORDER BY created_at").fetchall()
        return [(job, dataset) for job, dataset in rows]

    # -- consumers -------------------------------------------------------------------------
    def consumers(self) -> dict[str, int]:
        """Consumers of each service queue, as the broker counts them."""
        out = {}
        for line in self.ctl("list_queues", "-p", self.vhost, "name", "consumers", "--no-table-headers").splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[0].count(".") == 1:
                out[parts[0].split(".", 1)[1]] = int(parts[1])
        return out

    def wait_consuming(self, services: Iterable[str], since: float, timeout_s: float = 60) -> float:
        """Seconds from ``since`` (a ``time.monotonic()``) until each service is ready and has a consumer on its
        queue again; raises when that takes over ``timeout_s``."""
        wanted = set(services)
        pending = set(wanted)
        deadline = time.monotonic() + timeout_s
        while pending:
            pending = {s for s in pending if not self.local.ready(s)}
            if not pending:  # ready: now the broker's word (one rabbitmqctl call costs a second of CPU)
                counts = self.consumers()
                pending = {s for s in wanted if counts.get(s, 0) < 1}
                if not pending:
                    break
            if time.monotonic() > deadline:
                raise TimeoutError(f"no consumer back after {timeout_s} s on {sorted(pending)}")
            time.sleep(0.3)
        return time.monotonic() - since

    def broker_outage(self, seconds: float) -> float:
        """Every broker connection cut and new ones refused for ``seconds`` (a broker restart, as the services see
        it); the seconds from its end until every service consumes again."""
        self.broker.refuse()
        time.sleep(seconds)
        self.broker.resume()
        return self.wait_consuming(SERVICES, time.monotonic())

    def broker_restart(self, seconds: float) -> float:
        """The run's RabbitMQ node really stopped (``rabbitmqctl stop``: every connection closed, the node gone),
        down for ``seconds``, started again with its queues and messages; the seconds from its start until every
        service consumes again."""
        if self.rabbit is None:
            raise RuntimeError("the mesh runs on the machine's shared broker, which is never restarted")
        self.rabbit.stop()
        time.sleep(seconds)
        self.rabbit.start()
        return self.wait_consuming(SERVICES, time.monotonic())

    def database_restart(self, seconds: float) -> float:
        """The private PostgreSQL stopped (fast: every session closed), down for ``seconds``, started again."""
        self.pg.stop("fast")
        time.sleep(seconds)
        self.pg.start()
        return self.wait_consuming(SERVICES, time.monotonic())

    def cut_broker(self) -> float:
        self.broker.cut()
        return self.wait_consuming(SERVICES, time.monotonic())

    def cut_database(self) -> float:
        assert self.db is not None
        self.db.cut()
        return self.wait_consuming(SERVICES, time.monotonic())

    # -- faults ----------------------------------------------------------------------------
    def kill_and_restart(self, service: str) -> float:
        """kill -9 the service, start it again; the seconds until it consumes again."""
        killed = time.monotonic()
        self.local.kill(service)
        self.local.start(service)
        return self.wait_consuming([service], killed)

    def wait_at_stage(self, jobs: Callable[[], Iterable[str]], stage: str | None, timeout_s: float,
                      skip: Callable[[str], bool] = lambda job: False) -> list[str]:
        """The jobs running at ``stage`` (None: at any stage; ``skip`` leaves some out), once there is one; [] after
        the timeout."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                states = self.states(jobs())
            except psycopg.OperationalError:
                states = {}
            here = [job for job, (status, at) in states.items() if status == "running" and stage in (None, at)]
            if here and not any(skip(job) for job in here):
                return here
            time.sleep(0.15)
        return []


def kill_scenario(chaos: ChaosMesh, services: Iterable[str], *, kills: int, in_flight: int, rng: random.Random,
                  max_delay_s: float = 1.5, per_job_limit: int = 3, restarting: int = 2,
                  timeout_s: float = 1800) -> dict[str, Any]:
    """kill -9 each of ``services`` ``kills`` times, each at a random moment while a job is at its stage, and start
    it again each time; one thread per service, so the kinds are killed concurrently, while a feeder keeps
    ``in_flight`` jobs unfinished. A job is caught in at most ``per_job_limit`` kills of one kind: the broker
    dead-letters a message whose consumer died with it six times (the queue's delivery limit), by design, as a
    crash loop. At most ``restarting`` killed processes start at once (a cold start is CPU-bound: five on two
    cores would measure the machine, not the recovery). Returns the figures of the run, with per service kill
    counts and recovery."""
    import threading

    kinds = list(services)
    jobs: list[tuple[str, str]] = []
    lock = threading.Lock()
    stop = threading.Event()
    errors: list[str] = []
    recovery = {service: Recovery() for service in kinds}
    done = dict.fromkeys(kinds, 0)
    started = time.monotonic()
    slots = threading.Semaphore(restarting)

    def ids() -> list[str]:
        with lock:
            return [job for job, _ in jobs]

    def feed() -> None:
        while not stop.is_set():
            try:
                unfinished = [job for job, (status, _) in chaos.states(ids()).items()
                              if status in ("queued", "running")]
                missing = in_flight - len(unfinished) - (len(ids()) - len(chaos.states(ids())))
                if missing > 0:
                    new = chaos.submit(missing)
                    with lock:
                        jobs.extend(new)
            except Exception as exc:  # the database may be away for a moment; try again
                chaos.log(f"feeder: {exc!r}")
            stop.wait(0.5)

    def killer(service: str, seed: int) -> None:
        local_rng = random.Random(seed)
        caught: dict[str, int] = {}
        try:
            for _ in range(kills):
                with slots:
                    here = chaos.wait_at_stage(ids, service, timeout_s=180,
                                               skip=lambda job: caught.get(job, 0) >= per_job_limit)
                    time.sleep(local_rng.uniform(0.0, max_delay_s))
                    for job in here:
                        caught[job] = caught.get(job, 0) + 1
                    recovery[service].add(chaos.kill_and_restart(service))
                done[service] += 1
                chaos.log(f"kill -9 {service} #{done[service]} with {len(here)} job(s) at its stage; consuming "
                          f"again after {recovery[service].seconds[-1]} s")
        except Exception as exc:
            chaos.log(f"{service} killer stopped: {exc!r}")
            errors.append(f"{service}: {exc!r}")

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    threads = [threading.Thread(target=killer, args=(service, rng.randrange(1 << 30)), daemon=True)
               for service in kinds]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout_s)
    stop.set()
    feeder.join(timeout=30)
    audit = chaos.audit(list(jobs))
    return {
        "jobs": audit.jobs, "completed": audit.completed, "lost": audit.lost, "duplicates": audit.duplicates,
        "recovery_s_max": max(r.max for r in recovery.values()), "kills": sum(done.values()),
        "kills_by_kind": done, "recovery_s_max_by_kind": {s: r.max for s, r in recovery.items()},
        "seconds": round(time.monotonic() - started, 1),
        "passed": audit.passed and not errors and all(done[s] == kills for s in kinds)
        and all(r.max <= 30 for r in recovery.values()),
        "problems": (errors + audit.problems)[:10],
    }


def fault_scenario(chaos: ChaosMesh, fault: Callable[[], float], *, times: int, jobs_count: int,
                   rng: random.Random, max_delay_s: float = 3.0) -> dict[str, Any]:
    """Start ``jobs_count`` jobs, then ``times`` times: wait until one is running, a random pause, ``fault()``
    (which returns the seconds until every service consumes again); then the exactly-once audit."""
    started = time.monotonic()
    jobs = chaos.submit(jobs_count)
    recovery = Recovery()
    for _ in range(times):
        chaos.wait_at_stage(lambda: [job for job, _ in jobs], None, timeout_s=120)
        time.sleep(rng.uniform(0.0, max_delay_s))
        recovery.add(fault())
    audit = chaos.audit(jobs)
    return {"jobs": audit.jobs, "completed": audit.completed, "lost": audit.lost, "duplicates": audit.duplicates,
            "recovery_s_max": recovery.max, "faults": times, "seconds": round(time.monotonic() - started, 1),
            "passed": audit.passed and recovery.max <= 30, "problems": audit.problems[:10]}
