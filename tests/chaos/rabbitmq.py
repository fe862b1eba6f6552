"""A private RabbitMQ node in a temporary directory, on free ports, that a test may stop and start for real.

The machine's shared broker (``rabbit@localhost`` on 5672) is never touched: this node has a name of its own
(``dsp-chaos-<pid>-<n>@localhost``), its own AMQP and distribution ports, and its database, logs, configuration
and plugin list in a directory made for it. It is ``rabbitmq-server`` run as a child process; as root it runs as
the ``rabbitmq`` system user with that user's home, so that it shares the Erlang cookie
(``/var/lib/rabbitmq/.erlang.cookie``) that ``rabbitmqctl`` already uses, and ``rabbitmqctl -n NODE`` reaches it::

    with PrivateRabbit() as rabbit:          # started; stopped and its directory removed at exit
        url = rabbit.url("/")                # amqp://guest:guest@127.0.0.1:<port>/
        rabbit.ctl("add_vhost", "v")
        rabbit.stop()                        # rabbitmqctl stop: every connection closed, the node gone
        rabbit.start()                       # the same node, its queues and messages kept on disk

    with PrivateRabbit(plugins=["rabbitmq_prometheus"],
                       config={"prometheus.return_per_object_metrics": "true"}) as rabbit:
        rabbit.metrics_url                   # http://127.0.0.1:<its own port>/metrics

Plugins are named in the node's own ``enabled_plugins`` file (their dependencies start with them, from the
machine's plugin directory); ``rabbitmq_prometheus`` gets a listener on a free port of its own, on 127.0.0.1.
``config`` adds ``rabbitmq.conf`` settings (keys of the 3.10 schema: a node with an unknown key does not start).

The environment variables are those that ``rabbitmq-server`` 3.10 reads (``rabbit_env``): RABBITMQ_NODENAME,
RABBITMQ_NODE_IP_ADDRESS, RABBITMQ_NODE_PORT, RABBITMQ_DIST_PORT, RABBITMQ_MNESIA_BASE, RABBITMQ_LOG_BASE,
RABBITMQ_ENABLED_PLUGINS_FILE, RABBITMQ_CONFIG_FILE, RABBITMQ_ADVANCED_CONFIG_FILE, RABBITMQ_CONF_ENV_FILE (empty,
so the machine's ``rabbitmq-env.conf`` with its node name is not read) and RABBITMQ_PID_FILE.
"""

from __future__ import annotations

import itertools
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType

from .postgres import free_port

__all__ = ["RABBITMQ_SERVER", "PrivateRabbit"]

RABBITMQ_SERVER = Path(os.environ.get("DSP_CHAOS_RABBITMQ_SERVER", "/usr/lib/rabbitmq/bin/rabbitmq-server"))
RABBITMQCTL = Path(os.environ.get("DSP_CHAOS_RABBITMQCTL", "/usr/lib/rabbitmq/bin/rabbitmqctl"))
_numbers = itertools.count()


class PrivateRabbit:
    """One throwaway node: ``start``/``stop`` as often as needed; ``destroy`` stops it and removes its directory."""

    def __init__(self, base_dir: Path | None = None, *, port: int | None = None, plugins: Sequence[str] = (),
                 config: Mapping[str, str] | None = None) -> None:
        # directly under /tmp: the rabbitmq user must reach it (pytest's tmp_path is 0700 root)
        self.base_dir = Path(base_dir) if base_dir else Path(tempfile.mkdtemp(prefix="dsp-chaos-rabbit-"))
        self.node = f"dsp-chaos-{os.getpid()}-{next(_numbers)}@localhost"
        self.port = port or free_port()
        self.dist_port = free_port()
        self.plugins = tuple(plugins)
        self.config = dict(config or {})
        # the plugin's listener on a port of this node's own (the shared broker's is 15692)
        self.prometheus_port = free_port() if "rabbitmq_prometheus" in self.plugins else None
        self._user = "rabbitmq" if os.geteuid() == 0 else None
        self._proc: subprocess.Popen[bytes] | None = None
        self.log = self.base_dir / "server.log"
        self.starts = 0

    @staticmethod
    def available() -> bool:
        if not (RABBITMQ_SERVER.exists() and RABBITMQCTL.exists()):
            return False
        if os.geteuid() == 0:
            try:
                pwd.getpwnam("rabbitmq")
            except KeyError:
                return False
        return True

    def _env(self) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if not key.startswith(("RABBITMQ_", "ERL_"))}
        if self._user is not None:
            env["HOME"] = pwd.getpwnam(self._user).pw_dir  # its .erlang.cookie: the one rabbitmqctl uses
        base = self.base_dir
        env.update({
            "RABBITMQ_NODENAME": self.node, "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port), "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(base / "mnesia"), "RABBITMQ_LOG_BASE": str(base / "log"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(base / "enabled_plugins"),
            "RABBITMQ_CONFIG_FILE": str(base / "rabbitmq.conf"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(base / "advanced.config"),
            "RABBITMQ_CONF_ENV_FILE": str(base / "rabbitmq-env.conf"),
            "RABBITMQ_PID_FILE": str(base / "rabbit.pid"),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
        })
        return env

    def _prepare(self) -> None:
        base = self.base_dir
        (base / "mnesia").mkdir(parents=True, exist_ok=True)
        (base / "log").mkdir(exist_ok=True)
        (base / "enabled_plugins").write_text(f"[{','.join(self.plugins)}].\n")
        (base / "advanced.config").write_text("[].\n")
        (base / "rabbitmq-env.conf").write_text("")
        # a low disk alarm threshold: the machine's /tmp is shared, and an alarm would block every publisher
        settings = {"listeners.tcp.default": f"127.0.0.1:{self.port}", "disk_free_limit.absolute": "50MB",
                    "loopback_users.guest": "true", "log.file.level": "warning", "log.console": "false"}
        if self.prometheus_port is not None:
            settings.update({"prometheus.tcp.ip": "127.0.0.1", "prometheus.tcp.port": str(self.prometheus_port)})
        settings.update(self.config)
        (base / "rabbitmq.conf").write_text("".join(f"{key} = {value}\n" for key, value in settings.items()))
        if self._user is not None:
            for path in [base, *base.rglob("*")]:
                shutil.chown(path, self._user, self._user)

    def ctl(self, *args: str, timeout: float = 60) -> str:
        command = [str(RABBITMQCTL), "-q", "-n", self.node, *args]
        if self._user is not None:
            command = ["runuser", "-u", self._user, "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=self._env(), cwd="/tmp")
        if done.returncode != 0:
            raise RuntimeError(f"rabbitmqctl -n {self.node} {' '.join(args)}: "
                               f"{(done.stderr or done.stdout).strip()[-500:]}")
        return done.stdout

    def start(self, timeout_s: float = 120) -> None:
        """Start the node and wait until it runs and takes AMQP connections."""
        if self.starts == 0:
            self._prepare()
        command = [str(RABBITMQ_SERVER)]
        if self._user is not None:
            command = ["runuser", "-u", self._user, "--", *command]
        with self.log.open("ab") as log:
            self._proc = subprocess.Popen(command, env=self._env(), cwd="/tmp", stdout=log, stderr=subprocess.STDOUT,
                                          start_new_session=True)
        self.starts += 1
        deadline = time.monotonic() + timeout_s
        while True:
            if self._proc.poll() is not None:
                raise RuntimeError(f"rabbitmq-server {self.node} exited with {self._proc.returncode}: "
                                   f"{self.log.read_text(errors='replace')[-2000:]}")
            try:
                self.ctl("await_startup", "--timeout", "5", timeout=30)
                return
            except (RuntimeError, subprocess.TimeoutExpired):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)

    def stop(self) -> None:
        """``rabbitmqctl stop``: the node closes every connection and exits (its data stays for ``start``)."""
        if self._proc is None:
            return
        try:
            self.ctl("stop", timeout=90)
        except (RuntimeError, subprocess.TimeoutExpired):
            self._signal(signal.SIGTERM)
        try:
            self._proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self._signal(signal.SIGKILL)
            self._proc.wait(timeout=30)
        self._proc = None

    def _signal(self, sig: int) -> None:
        assert self._proc is not None
        try:  # its own session: the wrapper shell, the Erlang VM and its port programs (erl_child_setup, epmd none)
            os.killpg(self._proc.pid, sig)
        except ProcessLookupError:
            pass

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def url(self, vhost: str = "/", *, port: int | None = None) -> str:
        from urllib.parse import quote

        return f"amqp://guest:guest@127.0.0.1:{port or self.port}/{quote(vhost, safe='')}"

    @property
    def metrics_url(self) -> str:
        """The rabbitmq_prometheus endpoint (a node started with that plugin)."""
        if self.prometheus_port is None:
            raise ValueError("the node was not made with the rabbitmq_prometheus plugin")
        return f"http://127.0.0.1:{self.prometheus_port}/metrics"

    def destroy(self) -> None:
        if self._proc is not None:
            if self._proc.poll() is None:
                self._signal(signal.SIGKILL)  # nothing on it is kept
            self._proc.wait(timeout=30)
            self._proc = None
        shutil.rmtree(self.base_dir, ignore_errors=True)

    def __enter__(self) -> PrivateRabbit:
        try:
            self.start()
        except BaseException:
            self.destroy()
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.destroy()
