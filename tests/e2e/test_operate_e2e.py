"""Operating the mesh for real, on the mesh of processes of the e2e fixtures after one analysis:

- Debian's Prometheus scrapes every service, loads the alert rules, and every Grafana panel's query returns data
  through its HTTP API; the broker's panels against a private RabbitMQ node of the module's own with the
  rabbitmq_prometheus plugin (per-object metrics) and the mesh's topology, since the machine's shared broker
  has the plugin off and is not reconfigured by a test;
- a restore drill: the mesh's database dumped with pg_dump, restored into a new database, a gateway pointed at it
  reads the job and its dashboard back;
- a worker told to stop (SIGTERM, as a scale-down does) in the middle of an AutoML fit stops taking messages,
  finishes the fit, and exits by itself; the job completes.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import yaml
from mesh_kit.db import database_name
from mesh_kit.local_mesh import LocalMesh
from mesh_kit.topology import Topology, declare_topology
from psycopg import sql
from shared_contracts.manifest import SERVICES

from ..auth_helpers import bearer
from ..chaos.rabbitmq import PrivateRabbit
from ..conftest import _with_database
from .conftest import _free_ports
from .helpers import wait_for_job

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "dsp-overview.json"
RULES = ROOT / "deploy" / "prometheus" / "rules"
# What Grafana puts in place of its variables; the window holds the whole analysis.
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$__range": "30m", "$service": ".*"}


def _get(url: str, timeout: float = 5) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.read()


def _panel_queries() -> list[tuple[str, str]]:
    dashboard = json.loads(DASHBOARD.read_text())
    queries = []
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            expr = target["expr"]
            for variable, value in GRAFANA_VARIABLES.items():
                expr = expr.replace(variable, value)
            queries.append((panel["title"], expr))
    return queries


@pytest.fixture(scope="module")
def predicted(api: httpx.Client, finished: dict[str, Any], samples: Path) -> str:
    """One prediction with the analysis' model, so that the prediction and drift series exist."""
    import polars as pl

    job = api.get(f"/api/v1/analysis/{finished['analysis_id']}").json()["data"]
    rows = pl.read_csv(samples / "penguins-raw.csv", infer_schema_length=0).tail(40).drop("Species").to_dicts()
    answer = api.post(f"/api/v1/models/{job['model_id']}/predict", json={"rows": rows})
    assert answer.status_code == 200, answer.text
    return str(job["model_id"])


class Prometheus:
    def __init__(self, url: str) -> None:
        self.url = url

    def query(self, expr: str) -> list[dict[str, Any]]:
        response = httpx.get(f"{self.url}/api/v1/query", params={"query": expr}, timeout=30)
        body = response.json()
        assert response.status_code == 200 and body["status"] == "success", (expr, body)
        return body["data"]["result"]

    def get(self, path: str) -> Any:
        return httpx.get(f"{self.url}{path}", timeout=30).json()["data"]


@contextmanager
def _prometheus(state: Path, scrape: list[dict[str, Any]], *, job: str, targets: int) -> Iterator[Prometheus]:
    """Debian's Prometheus with the alert rules, scraping ``scrape`` every second; ready once each of the
    ``targets`` targets of ``job`` was scraped three times (rate() needs two samples)."""
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.skip("Debian's prometheus package is not installed (apt-get install prometheus)")
    config = {"global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
              "rule_files": [str(RULES / "*.yml")], "scrape_configs": scrape}
    (state / "prometheus.yml").write_text(yaml.safe_dump(config))
    (port,) = _free_ports(1)
    log = (state / "prometheus.log").open("wb")
    proc = subprocess.Popen([binary, f"--config.file={state / 'prometheus.yml'}",
                             f"--storage.tsdb.path={state / 'data'}", f"--web.listen-address=127.0.0.1:{port}"],
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    server = Prometheus(f"http://127.0.0.1:{port}")
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if _get(f"{server.url}/-/ready", timeout=2):
                    break
            except (urllib.error.URLError, OSError):
                pass
            assert proc.poll() is None, (state / "prometheus.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "Prometheus did not become ready"
            time.sleep(0.3)
        deadline = time.monotonic() + 60
        while (len(server.query(f'count_over_time(up{{job="{job}"}}[1m]) >= 3')) < targets
               and time.monotonic() < deadline):
            time.sleep(0.5)
        yield server
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)


@pytest.fixture(scope="module")
def prometheus(mesh: LocalMesh, predicted: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    scrape: list[dict[str, Any]] = [{
        "job_name": "dsp", "metrics_path": "/metrics", "honor_labels": True,
        "static_configs": [{"targets": [mesh.metrics_url(service).split("/")[2]], "labels": {"service": service}}
                           for service in SERVICES]}]
    with _prometheus(tmp_path_factory.mktemp("prometheus"), scrape, job="dsp", targets=len(SERVICES)) as server:
        yield server


def test_prometheus_scrapes_every_service_and_loads_the_alert_rules(prometheus: Prometheus) -> None:
    targets = prometheus.get("/api/v1/targets")["activeTargets"]
    dsp = {t["labels"]["service"]: t for t in targets if t["labels"]["job"] == "dsp"}
    assert set(dsp) == set(SERVICES)
    for service, target in dsp.items():
        assert target["health"] == "up", (service, target.get("lastError"))
    groups = prometheus.get("/api/v1/rules")["groups"]
    names = {rule["name"] for group in groups for rule in group["rules"]}
    assert {"DspQueueWithoutConsumer", "DspDeadLetterQueueNotEmpty", "DspOutboxStuck", "DspHighErrorRatio",
            "DspMlMemoryNearLimit", "DspFeatureDrift", "DspStageSlow", "DspJobOverBudget"} <= names
    for group in groups:
        for rule in group["rules"]:
            assert rule["health"] == "ok", (rule["name"], rule.get("lastError"))
    firing = [a for a in prometheus.get("/api/v1/alerts")["alerts"] if a["state"] == "firing"
              and a["labels"]["alertname"] in ("DspOutboxStuck", "DspHighErrorRatio")]
    assert not firing, "a healthy mesh after one analysis fires nothing of these"


def test_every_grafana_panel_of_the_services_returns_data(prometheus: Prometheus) -> None:
    empty = [(title, expr) for title, expr in _panel_queries()
             if "rabbitmq_" not in expr and not prometheus.query(expr)]
    assert not empty, f"panels with no data after one analysis: {empty}"
    # the counter's value, not its increase: the analysis may have ended before Prometheus' first scrape
    completed = prometheus.query('sum(dsp_jobs_total{outcome="completed"})')
    assert float(completed[0]["value"][1]) >= 1, "the analysis is counted"


async def _mesh_topology_with_traffic(url: str, topology: Topology) -> None:
    """The mesh's exchange and queues (every service's part, as their migrate steps declare them), one event of
    every kind each service publishes, routed by the services' bindings, one of them taken and acknowledged, and
    one message in a dead-letter queue."""
    import aio_pika

    connection = await aio_pika.connect(url, timeout=10)
    try:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await declare_topology(channel, topology)
        keys = sorted({event.routing_key() for manifest in SERVICES.values() for event in manifest.publishes})
        for key in keys:
            await exchange.publish(aio_pika.Message(b"{}", delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                                   routing_key=key)
        queue = await channel.get_queue(topology.queue("ingest"), ensure=False)
        taken = await queue.get(timeout=10)
        await taken.ack()
        requeue = await channel.get_exchange(topology.requeue_exchange("ml"), ensure=False)
        await requeue.publish(aio_pika.Message(b"{}", delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                              routing_key=topology.dead_letter_queue("ml"))
    finally:
        await connection.close()


@pytest.fixture(scope="module")
def broker_prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Prometheus, PrivateRabbit, str]]:
    """A private RabbitMQ node with the rabbitmq_prometheus plugin and per-object metrics (what
    deploy/rabbitmq/ configures), the mesh's topology on a vhost of its own with traffic on it, and a Prometheus
    with the alert rules scraping the node's /metrics."""
    if not PrivateRabbit.available():
        pytest.skip("no rabbitmq-server to run a private node with the rabbitmq_prometheus plugin "
                    "(or, as root, no rabbitmq user to run it as)")
    vhost = f"dsp-test-{uuid.uuid4().hex[:10]}"
    with PrivateRabbit(plugins=["rabbitmq_prometheus"],
                       config={"prometheus.return_per_object_metrics": "true"}) as rabbit:
        rabbit.ctl("add_vhost", vhost)
        rabbit.ctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
        asyncio.run(_mesh_topology_with_traffic(rabbit.url(vhost), Topology()))
        scrape = [{"job_name": "rabbitmq", "static_configs": [{"targets": [rabbit.metrics_url.split("/")[2]]}]}]
        with _prometheus(tmp_path_factory.mktemp("prometheus-broker"), scrape, job="rabbitmq", targets=1) as server:
            yield server, rabbit, vhost


def test_every_grafana_panel_of_the_broker_returns_data(
        broker_prometheus: tuple[Prometheus, PrivateRabbit, str]) -> None:
    prometheus, rabbit, vhost = broker_prometheus
    broker = [(title, expr) for title, expr in _panel_queries() if "rabbitmq_" in expr]
    assert broker
    panel = {title: expr for title, expr in broker}
    listed = rabbit.ctl("list_queues", "-p", vhost, "name", "messages_ready", "--no-table-headers")
    ready = {name: int(count) for name, count in (line.split("\t") for line in listed.splitlines() if line)}
    work = {name: count for name, count in ready.items() if name.count(".") == 1}  # dsp.<service>
    assert work and all(work.values()), ready

    def by_queue(expr: str) -> dict[str, float]:
        return {r["metric"].get("queue", ""): float(r["value"][1]) for r in prometheus.query(expr)}

    # the queues' figures reach the plugin's tables every collect_statistics_interval (5 s)
    deadline = time.monotonic() + 60
    while True:
        empty = [(title, expr) for title, expr in broker if not prometheus.query(expr)]
        shown = by_queue(panel["Work queue depth"])
        if (not empty and shown == work) or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert not empty, f"broker panels with no data (per-object metrics off?): {empty}"
    assert shown == work, f"the work queue depth panel shows {shown}, rabbitmqctl {work}"
    topology = Topology()
    assert by_queue(panel["Dead-letter queue depth"]) == {
        **{topology.dead_letter_queue(s): 0.0 for s, manifest in SERVICES.items() if manifest.binding_keys},
        topology.dead_letter_queue("ml"): 1.0}
    assert by_queue(panel["Queue consumers"]) == dict.fromkeys(work, 0.0)

    # the broker alerts read the same series: pending for the dead letter and for every consumerless work queue
    for group in prometheus.get("/api/v1/rules")["groups"]:
        for rule in group["rules"]:
            assert rule["health"] == "ok", (rule["name"], rule.get("lastError"))
    expected = {("DspDeadLetterQueueNotEmpty", topology.dead_letter_queue("ml"))} | {
        ("DspQueueWithoutConsumer", queue) for queue in work}
    deadline = time.monotonic() + 30
    while True:
        alerts = {(a["labels"]["alertname"], a["labels"].get("queue")) for a in prometheus.get("/api/v1/alerts")["alerts"]
                  if a["labels"]["alertname"].startswith(("DspDeadLetterQueue", "DspQueueWithout"))}
        if alerts == expected or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert alerts == expected


# --------------------------------------------------------------------------- restore drill


def _backup_script() -> str:
    """The shell script of the chart's pg_dump CronJob, rendered with the chart's test values."""
    helm = pytest.importorskip("helm_python")
    chart = ROOT / "deploy" / "helm" / "dsp"
    values = yaml.safe_load((chart / "ci" / "test-values.yaml").read_text())
    rendered = helm.Chart.load(chart).render(values, name="dsp", namespace="analytics", is_install=True,
                                             is_upgrade=False)
    (text,) = [text for path, text in rendered.items() if path.endswith("pg-backup.yaml")]
    (cron,) = [doc for doc in yaml.safe_load_all(text) if doc and doc["kind"] == "CronJob"]
    (container,) = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["/bin/sh", "-ec"]
    return str(container["args"][0])


def test_a_restored_database_serves_the_job_and_its_dashboard(
        mesh: LocalMesh, api: httpx.Client, finished: dict[str, Any], tmp_path: Path) -> None:
    for tool in ("pg_dump", "pg_restore"):
        assert shutil.which(tool), f"{tool} (postgresql-client) is needed for the drill"
    job_id = finished["analysis_id"]
    before = api.get(f"/api/v1/analysis/{job_id}").json()["data"]
    dashboard_id = before["dashboard_id"]
    page_before = api.get(f"/api/v1/dashboard/{dashboard_id}")
    assert page_before.status_code == 200

    # the backup, by the chart's own CronJob script, twice: the retention keeps the newest dump only
    script = _backup_script()
    backups = tmp_path / "backups"
    backups.mkdir()
    env = {"PATH": os.environ["PATH"], "BACKUP_DIR": str(backups), "BACKUP_KEEP": "1",
           "DATABASE_URL": mesh.admin_database_url}
    for _ in range(2):
        done = subprocess.run(["/bin/sh", "-ec", script], env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        time.sleep(1.1)  # the dumps are named by the second
    (dump,) = backups.glob("dsp-*.dump")
    assert not list(backups.glob("*.partial"))
    restored = f"{database_name(mesh.admin_database_url)}_restored_{uuid.uuid4().hex[:6]}"
    maintenance = _with_database(mesh.admin_database_url, "postgres")
    with psycopg.connect(maintenance, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(restored)))
    restored_url = _with_database(mesh.admin_database_url, restored)
    gateway: subprocess.Popen[bytes] | None = None
    try:
        subprocess.run(["pg_restore", "--exit-on-error", "--dbname", restored_url, str(dump)], check=True,
                       timeout=300)
        # a gateway of its own on the restored database (and a queue prefix of its own: it must not take the
        # live gateway's events)
        http_port, metrics_port = _free_ports(2)
        env = mesh.env_for("gateway")
        env.update({"DSP_DATABASE_URL": _with_database(env["DSP_DATABASE_URL"], restored),
                    "DSP_ADMIN_DATABASE_URL": restored_url, "DSP_HTTP_PORT": str(http_port),
                    "DSP_METRICS_PORT": str(metrics_port), "DSP_QUEUE_PREFIX": f"drill{uuid.uuid4().hex[:6]}",
                    "DSP_AMQP_URL": mesh.amqp_url})
        log = (tmp_path / "gateway.log").open("wb")
        gateway = subprocess.Popen([sys.executable, "-m", "dsp_gateway", "serve"], env=env, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        url = f"http://127.0.0.1:{http_port}"
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{url}/health/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert gateway.poll() is None, (tmp_path / "gateway.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "the restored gateway did not become ready"
            time.sleep(0.3)
        # the same signing key: the admin's token of the live mesh is valid against the restored users
        with httpx.Client(base_url=url, headers={"authorization": f"Bearer {bearer(api)}"}, timeout=60) as drill:
            after = drill.get(f"/api/v1/analysis/{job_id}")
            assert after.status_code == 200, after.text
            data = after.json()["data"]
            assert data["status"] == "completed" and data["dashboard_id"] == dashboard_id
            assert data["results"] == before["results"]
            page = drill.get(f"/api/v1/dashboard/{dashboard_id}")
            assert page.status_code == 200 and page.content == page_before.content
    finally:
        if gateway is not None:
            os.killpg(gateway.pid, signal.SIGTERM)
            gateway.wait(30)
        with psycopg.connect(maintenance, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(restored)))


# --------------------------------------------------------------------------- graceful stop mid-fit


def test_sigterm_in_the_middle_of_a_fit_finishes_it_and_takes_no_more(
        mesh: LocalMesh, api: httpx.Client, finished: dict[str, Any], samples: Path) -> None:
    """A second job waits in ml's queue behind the fit (prefetch 1). SIGTERM: ml finishes the fit, never takes
    the waiting job, and exits; the next ml process takes it. (The queue's consumer count is no witness: a quorum
    queue keeps counting a cancelled consumer until its delivery is settled.)"""
    from .serve import analysis_in_ml

    job = analysis_in_ml(api, samples, budget_s=30)
    waiting = analysis_in_ml(api, samples, budget_s=5)
    fitting = api.get(f"/api/v1/analysis/{job}").json()["data"]
    assert (fitting["stage"], fitting["status"]) == ("ml", "running"), f"the fit ended before the second job queued: {fitting}"
    pid = mesh.pid("ml")
    assert pid is not None
    try:
        log = mesh.log_file("ml")
        log_offset = log.stat().st_size
        stopped_at = time.monotonic()
        os.killpg(pid, signal.SIGTERM)  # what the kubelet sends a pod that a scale-down removes
        while time.monotonic() - stopped_at < 180:
            if "ml" not in mesh.pids():  # gone, or a zombie no one has reaped yet
                break
            time.sleep(0.2)
        else:
            pytest.fail("ml did not exit within 180 s of SIGTERM")
        drained_s = time.monotonic() - stopped_at
        tail = log.read_text(errors="replace")[log_offset:]
        assert "still running after" not in tail, "the delivery was given up instead of finished"
        assert "stopped consuming" in tail, tail[-3000:]
        assert job in tail and "handled dataset.transformed" in tail, "the fit in flight was not finished"
        assert waiting not in tail, f"ml took the waiting job while it drained:\n{tail[-3000:]}"
        assert drained_s > 1, "ml waited for the fit rather than dropping it"
    finally:  # the later tests of the session need an ml
        if "ml" not in mesh.pids():
            mesh.start("ml")
    mesh.wait_ready(["ml"], timeout_s=300)
    for analysis in (job, waiting):
        state = wait_for_job(api, analysis, timeout=300)
        assert state["status"] == "completed", state
