"""Run the whole mesh on this machine as processes (``make up`` / ``make down`` and the e2e tests).

Each service of the manifest (``shared_contracts.manifest``) runs ``python -m dsp_<service> serve``
on its port, with its ``/metrics`` on a second, internal port (``metrics_ports``: the service port + 1000
unless given), against PostgreSQL, RabbitMQ and Redis on their standard local ports; ``DSP_*``
environment variables override the addresses.

Every service uses one AMQP URL unless ``amqp_urls`` gives a service its own (a per-service broker user,
see ``mesh_kit.broker``; ``make up`` reads ``DSP_<SERVICE>_AMQP_URL``). The shared service token that ml's
internal routes require (``DSP_SERVICE_TOKEN``) is generated once per state directory and handed to every
service. ``DSP_BOOTSTRAP_ADMIN_EMAIL``, ``DSP_BOOTSTRAP_ADMIN_PASSWORD`` and ``DSP_BOOTSTRAP_ORGANIZATION``
(and ``DSP_JWT_SECRET``) pass through from the environment to the gateway, and ``DSP_ALLOWED_HOSTS``, ``DSP_ALLOWED_ORIGINS`` and
``DSP_CORS_ORIGINS`` to every service.

``replicas`` runs several processes of a service (``make up REPLICAS=ml=3``, ``--replicas ml=3``), all
consuming its one queue: process ``i`` (from 0) listens on the service's port and metrics port plus
``i * replica_port_step``, and its pid and log files are named ``<service>-<i>`` for ``i`` > 0. ``scale``
changes the count of a running mesh.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from shared_contracts.manifest import SERVICES

from .db import role_name, with_user

__all__ = ["LocalMesh", "kept_secret"]

_PASS_THROUGH = ("DSP_ALLOWED_HOSTS", "DSP_ALLOWED_ORIGINS", "DSP_CORS_ORIGINS")
_GATEWAY_PASS_THROUGH = ("DSP_BOOTSTRAP_ADMIN_EMAIL", "DSP_BOOTSTRAP_ADMIN_PASSWORD", "DSP_BOOTSTRAP_ORGANIZATION",
                         "DSP_JWT_SECRET")


@dataclass
class LocalMesh:
    """A set of service processes sharing one database, one vhost, one Redis and one artifact directory."""

    state_dir: Path
    admin_database_url: str = "postgresql://postgres@127.0.0.1:5432/dsp"
    amqp_url: str = "amqp://guest:guest@127.0.0.1:5672/"
    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_namespace: str = "dsp"
    host: str = "127.0.0.1"
    ports: dict[str, int] = field(default_factory=lambda: {name: svc.port for name, svc in SERVICES.items()})
    metrics_ports: dict[str, int] = field(default_factory=dict)
    amqp_urls: dict[str, str] = field(default_factory=dict)
    service_token: str | None = None
    python: str = sys.executable
    extra_env: dict[str, str] = field(default_factory=dict)
    replicas: dict[str, int] = field(default_factory=dict)
    replica_port_step: int = 100

    def __post_init__(self) -> None:
        for name, port in self.ports.items():
            self.metrics_ports.setdefault(name, port + 1000)

    @property
    def artifact_dir(self) -> Path:
        return self.state_dir / "artifacts"

    def count(self, service: str) -> int:
        """The processes the service runs with (``replicas``, default 1)."""
        return max(1, self.replicas.get(service, 1))

    def port(self, service: str, replica: int = 0) -> int:
        return self.ports[service] + replica * self.replica_port_step

    def url(self, service: str, replica: int = 0) -> str:
        return f"http://{self.host}:{self.port(service, replica)}"

    def metrics_url(self, service: str, replica: int = 0) -> str:
        """The service's internal metrics listener (never on its public port)."""
        return f"http://{self.host}:{self.metrics_ports[service] + replica * self.replica_port_step}/metrics"

    def token(self) -> str:
        """The mesh's shared service token: given, or generated once and kept (0600) in the state directory,
        so that a service restarted alone still holds the token of the others."""
        if self.service_token is None:
            self.service_token = kept_secret(self.state_dir / "service-token")
        return self.service_token

    def env_for(self, service: str, replica: int = 0) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("DSP_")}
        env.update({
            "DSP_ADMIN_DATABASE_URL": self.admin_database_url,
            "DSP_DATABASE_URL": with_user(self.admin_database_url, role_name(service)),
            "DSP_AMQP_URL": self.amqp_urls.get(service, self.amqp_url),
            "DSP_REDIS_URL": self.redis_url,
            "DSP_REDIS_NAMESPACE": self.redis_namespace,
            "DSP_ARTIFACT_URL": self.artifact_dir.resolve().as_uri(),
            "DSP_HTTP_HOST": self.host,
            "DSP_HTTP_PORT": str(self.port(service, replica)),
            "DSP_METRICS_PORT": str(self.metrics_ports[service] + replica * self.replica_port_step),
            "DSP_SERVICE_TOKEN": self.token(),
            "DSP_ML_URL": self.url("ml"),
            "PYTHONUNBUFFERED": "1",
        })
        passed = [*_PASS_THROUGH, *(_GATEWAY_PASS_THROUGH if service == "gateway" else ())]
        env.update({name: os.environ[name] for name in passed if name in os.environ})
        env.update(self.extra_env)
        return env

    def migrate(self) -> None:
        """The one-shot migrate step of every service."""
        for service in SERVICES:
            subprocess.run([self.python, "-m", SERVICES[service].package, "migrate"], env=self.env_for(service),
                           check=True, stdout=subprocess.DEVNULL)

    @staticmethod
    def process_name(service: str, replica: int = 0) -> str:
        """``ml`` for a service's first process, ``ml-1``, ``ml-2``... for the others."""
        return service if replica == 0 else f"{service}-{replica}"

    def _pid_file(self, service: str, replica: int = 0) -> Path:
        return self.state_dir / "run" / f"{self.process_name(service, replica)}.pid"

    def log_file(self, service: str, replica: int = 0) -> Path:
        return self.state_dir / "log" / f"{self.process_name(service, replica)}.log"

    def start(self, service: str, replica: int = 0) -> subprocess.Popen[bytes]:
        (self.state_dir / "run").mkdir(parents=True, exist_ok=True)
        (self.state_dir / "log").mkdir(parents=True, exist_ok=True)
        self.artifact_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_file(service, replica).open("ab")
        proc = subprocess.Popen([self.python, "-m", SERVICES[service].package, "serve"],
                                env=self.env_for(service, replica), stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        self._pid_file(service, replica).write_text(str(proc.pid))
        return proc

    def pid(self, service: str, replica: int = 0) -> int | None:
        try:
            return int(self._pid_file(service, replica).read_text())
        except (FileNotFoundError, ValueError):
            return None

    def pids(self) -> dict[str, int]:
        """Every running process of the mesh by its name (``process_name``)."""
        out = {}
        for service in SERVICES:
            for replica in self._started(service):
                pid = self.pid(service, replica)
                if pid is not None and _alive(pid):
                    out[self.process_name(service, replica)] = pid
        return out

    def _started(self, service: str) -> list[int]:
        """The replicas of the service with a pid file, and those it should run."""
        found = set(range(self.count(service)))
        for path in (self.state_dir / "run").glob(f"{service}-*.pid"):
            suffix = path.stem[len(service) + 1:]
            if suffix.isdigit():
                found.add(int(suffix))
        return sorted(found)

    def ready(self, service: str, replica: int = 0) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url(service, replica)}/health/ready", timeout=2) as response:
                return response.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def wait_ready(self, services: list[str] | None = None, timeout_s: float = 120) -> None:
        """Until every process of the services (all of them by default) answers ready."""
        deadline = time.monotonic() + timeout_s
        pending = [(s, r) for s in (services or SERVICES) for r in range(self.count(s))]
        while pending:
            pending = [(s, r) for s, r in pending if not self.ready(s, r)]
            if not pending:
                return
            for service, replica in pending:
                pid = self.pid(service, replica)
                if pid is not None and not _alive(pid):
                    tail = self.log_file(service, replica).read_text(errors="replace")[-3000:]
                    raise RuntimeError(f"{self.process_name(service, replica)} exited during start-up:\n{tail}")
            if time.monotonic() > deadline:
                names = [self.process_name(s, r) for s, r in pending]
                raise TimeoutError(f"services not ready after {timeout_s}s: {names}")
            time.sleep(0.3)

    def up(self) -> None:
        self.migrate()
        for service in SERVICES:
            for replica in range(self.count(service)):
                pid = self.pid(service, replica)
                if pid is None or not _alive(pid):
                    self.start(service, replica)
        self.wait_ready()

    def scale(self, service: str, count: int, *, timeout_s: float = 120) -> None:
        """Run ``count`` processes of a service of the running mesh: start the missing ones and wait until they
        are ready, or stop (SIGTERM, graceful) those beyond it."""
        if count < 1:
            raise ValueError("a service runs at least one process")
        for replica in self._started(service):
            if replica >= count:
                self.stop(service, replica)
        self.replicas[service] = count
        for replica in range(count):
            pid = self.pid(service, replica)
            if pid is None or not _alive(pid):
                self.start(service, replica)
        self.wait_ready([service], timeout_s=timeout_s)

    def stop(self, service: str, replica: int = 0, *, sig: int = signal.SIGTERM, timeout_s: float = 20) -> None:
        pid = self.pid(service, replica)
        if pid is None:
            return
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + timeout_s
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _alive(pid):
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self._pid_file(service, replica).unlink(missing_ok=True)

    def kill(self, service: str, replica: int = 0) -> None:
        """kill -9 the process group of one process of the service, as a crash would."""
        self.stop(service, replica, sig=signal.SIGKILL, timeout_s=5)

    def down(self) -> None:
        for service in SERVICES:
            for replica in self._started(service):
                self.stop(service, replica)

    def status(self) -> dict[str, str]:
        """Each process by name (``process_name``): ready, starting or stopped."""
        out = {}
        for service in SERVICES:
            for replica in self._started(service):
                pid = self.pid(service, replica)
                alive = pid is not None and _alive(pid)
                out[self.process_name(service, replica)] = (
                    ("ready" if self.ready(service, replica) else "starting") if alive else "stopped")
        return out


def kept_secret(path: Path, *, nbytes: int = 32) -> str:
    """A random secret kept in ``path`` (created 0600 the first time): the same one at every start."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(nbytes)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value)
    return value


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie child counts as gone
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(") ", 1)[1][0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mesh_kit.local_mesh", description=__doc__)
    parser.add_argument("command", choices=["up", "down", "status"])
    parser.add_argument("--state-dir", default=os.environ.get("DSP_STATE_DIR", "var/mesh"))
    parser.add_argument("--replicas", action="append", default=[], metavar="SERVICE=N",
                        help="run N processes of SERVICE (repeatable), e.g. --replicas ml=3")
    args = parser.parse_args(argv)
    replicas = {}
    for item in args.replicas:
        name, _, count = item.partition("=")
        if name not in SERVICES or not count.isdigit() or int(count) < 1:
            parser.error(f"--replicas wants SERVICE=N with a service of {', '.join(SERVICES)}: {item!r}")
        replicas[name] = int(count)
    mesh = LocalMesh(
        state_dir=Path(args.state_dir),
        admin_database_url=os.environ.get("DSP_ADMIN_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/dsp"),
        amqp_url=os.environ.get("DSP_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/"),
        redis_url=os.environ.get("DSP_REDIS_URL", "redis://127.0.0.1:6379/0"),
        amqp_urls={name: os.environ[f"DSP_{name.upper()}_AMQP_URL"] for name in SERVICES
                   if os.environ.get(f"DSP_{name.upper()}_AMQP_URL")},
        replicas=replicas,
    )
    if args.command == "up":
        mesh.up()
        print(json.dumps(mesh.status()))
        print(f"gateway: {mesh.url('gateway')}/api/v1  (logs in {mesh.state_dir / 'log'})")
    elif args.command == "down":
        mesh.down()
        print("mesh stopped")
    else:
        print(json.dumps(mesh.status(), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
