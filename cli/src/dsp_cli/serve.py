"""``dsp serve``: the whole platform in one process on this machine, for one user.

The composition root of the platform on a laptop: the gateway's app (its API, WebSocket and web UI)
over the same ports as in the mesh, backed here by

- one embedded SQLite database per service under ``<data>/db`` (``mesh_kit.sqlite``), with the
  stages' and the gateway's SQLite repositories;
- the local artifact store under ``<data>/artifacts``;
- the durable local bus (``mesh_kit.local_bus``) that runs every stage's own use cases in the
  background; a job cut short by a stop resumes from its last committed stage at the next start,
  or ends failed with a reason;
- an in-process notifier and rate limiter, and ml's predict use case called directly.

It listens on 127.0.0.1 only. Single user: a local admin account is created at the first start, and
the address printed at start (``/local-login#<token>``, a random token of this run) opens the UI
signed in as that admin (``dsp_gateway.entrypoints.local_login``). ``DSP_BOOTSTRAP_ADMIN_EMAIL`` and
``DSP_BOOTSTRAP_ADMIN_PASSWORD`` still create an account that signs in with its password.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import signal
import sys
import time
import webbrowser
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mesh_kit.artifacts import LocalArtifactStore
from mesh_kit.local_bus import LocalBus
from mesh_kit.local_mesh import kept_secret
from mesh_kit.ports import ServiceSpec
from mesh_kit.sqlite import SqliteDatabase, database_path

__all__ = ["HOST", "LOCAL_ADMIN_EMAIL", "LocalPlatform", "serve"]

log = logging.getLogger("dsp.serve")

HOST = "127.0.0.1"
"""The only address ``dsp serve`` listens on."""
LOCAL_ADMIN_EMAIL = "admin@localhost.localdomain"
"""The single user's account, created at the first start."""


def service_specs() -> list[ServiceSpec]:
    """Every service of the platform, as its bootstrap describes it."""
    from dsp_dashboard.bootstrap import service_spec as dashboard
    from dsp_etl.bootstrap import service_spec as etl
    from dsp_gateway.bootstrap import service_spec as gateway
    from dsp_ingest.bootstrap import service_spec as ingest
    from dsp_ml.bootstrap import service_spec as ml
    from dsp_profile.bootstrap import service_spec as profile

    return [gateway(), ingest(), profile(), etl(), ml(), dashboard()]


def max_attempts() -> int:
    """DSP_SERVE_MAX_ATTEMPTS: how many times an event's delivery may start (it raised, or the server stopped
    while it ran) before its job fails; 3 unless set."""
    raw = os.environ.get("DSP_SERVE_MAX_ATTEMPTS", "3")
    if not raw.isdigit() or int(raw) < 1:
        raise SystemExit(f"DSP_SERVE_MAX_ATTEMPTS must be a whole number of at least 1, not {raw!r}")
    return int(raw)


@dataclass
class LocalPlatform:
    """The platform's adapters in one process: ``open`` them, serve ``app()``, then ``close`` them."""

    data_dir: Path
    port: int
    login_token: str = field(default_factory=lambda: secrets.token_urlsafe(32), repr=False)
    databases: dict[str, SqliteDatabase] = field(default_factory=dict)
    bus: LocalBus | None = None
    ports: Any = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def login_url(self) -> str:
        """Opens the UI signed in as the local admin; the token is in the fragment, which no request carries."""
        return f"{self.url}/local-login#{self.login_token}"

    async def open(self) -> None:
        """Open and migrate the databases, and build the gateway's ports over them."""
        from dsp_gateway.adapters.limits import InMemoryLimiter
        from dsp_gateway.adapters.notifier import InMemoryJobNotifier
        from dsp_gateway.adapters.predictor import CallablePredictor
        from dsp_gateway.adapters.sqlite import SqliteGatewayStorage
        from dsp_gateway.bootstrap import identity_config
        from dsp_gateway.ports import GatewayPorts
        from dsp_gateway.settings import GatewaySettings
        from dsp_ml.entrypoints.local import LocalPredictor
        from dsp_ml.service_layer.predict import LoadedModels
        from mesh_kit.settings import MeshSettings

        self.data_dir.mkdir(parents=True, exist_ok=True)
        specs = service_specs()
        for spec in specs:
            db = SqliteDatabase(database_path(self.data_dir, spec.name))
            await db.open()
            await db.migrate(spec.package)
            self.databases[spec.name] = db
        store = LocalArtifactStore(self.data_dir / "artifacts")
        settings = MeshSettings()
        options = GatewaySettings()
        notifier = InMemoryJobNotifier()
        predictor = LocalPredictor(self.databases["ml"], store, LoadedModels(root=self.data_dir / "cache" / "models"))
        self.ports = GatewayPorts(
            storage=SqliteGatewayStorage(self.databases["gateway"]), store=store, notifier=notifier,
            limiter=InMemoryLimiter(), predictor=CallablePredictor(predictor.predict),
            identity=identity_config(options, settings.environment), options=options,
            max_upload_bytes=settings.max_upload_bytes)
        self.bus = LocalBus(specs, self.databases, store, max_attempts=max_attempts(),
                            notify=lambda job_id, message: notifier.publish(str(job_id), message))

    async def ensure_local_admin(self) -> None:
        """The single user's admin account (a random password nobody knows: it signs in through the login URL)."""
        from dsp_gateway.service_layer.identity import ensure_user

        async with self.ports.storage.identity() as repo:
            user, created = await ensure_user(repo, email=LOCAL_ADMIN_EMAIL, password=secrets.token_urlsafe(24),
                                              role="admin", organization=self.ports.options.bootstrap_organization)
        if created:
            log.info("created the local admin %s", user.email)

    async def close(self) -> None:
        if self.bus is not None:
            await self.bus.stop()
        for db in self.databases.values():
            await db.close()
        self.databases.clear()

    def app(self) -> Any:
        """The gateway's app over the ports, with the bus running for as long as the app does."""
        from dsp_gateway.app import build_gateway_app, running_gateway
        from dsp_gateway.entrypoints.local_login import add_local_login_routes
        from mesh_kit.settings import MeshSettings

        settings = MeshSettings()

        @asynccontextmanager
        async def lifespan(app: Any) -> AsyncIterator[None]:
            async with running_gateway(self.ports, settings.environment):
                await self.ensure_local_admin()
                assert self.bus is not None
                await self.bus.start()
                try:
                    yield
                finally:
                    await self.bus.stop()

        app = build_gateway_app(self.ports, settings, lifespan=lifespan)
        add_local_login_routes(app, token=self.login_token, email=LOCAL_ADMIN_EMAIL, port=self.port)
        return app


def _environment(data_dir: Path) -> None:
    """The settings of a run on this machine: loopback only, signing keys kept in the data directory."""
    os.environ.setdefault("DSP_ENVIRONMENT", "development")
    os.environ["DSP_HTTP_HOST"] = HOST
    os.environ["DSP_ALLOWED_HOSTS"] = "127.0.0.1,localhost"
    os.environ.setdefault("DSP_JWT_SECRET", kept_secret(data_dir / "jwt-secret", nbytes=48))


def serve(*, port: int, data_dir: Path, open_browser: bool = False, log_level: str = "info") -> int:
    """Run the platform until Ctrl-C (or SIGTERM), then end the process (status 0) once everything is closed;
    returns only when the start fails."""
    import uvicorn
    from mesh_kit.server import server_config
    from mesh_kit.settings import MeshSettings

    started = time.monotonic()
    data_dir = data_dir.resolve()
    _environment(data_dir)
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    platform = LocalPlatform(data_dir=data_dir, port=port)

    async def run() -> None:
        await platform.open()
        try:
            config = server_config(platform.app(), MeshSettings(), host=HOST, port=port, log_level=log_level,
                                   log_config=uvicorn.config.LOGGING_CONFIG, access_log=True,
                                   lifespan="on", timeout_graceful_shutdown=5)
            server = uvicorn.Server(config)

            async def announce() -> None:
                while not server.started:
                    if server.should_exit:
                        return
                    await asyncio.sleep(0.05)
                print(f"dsp serve: ready in {time.monotonic() - started:.1f}s, data in {data_dir}", flush=True)
                print(f"  open {platform.login_url}  (signed in as the local admin; keep this address private)",
                      flush=True)
                print(f"  API {platform.url}/api/v1  docs {platform.url}/docs  Ctrl-C stops", flush=True)
                if open_browser:
                    webbrowser.open(platform.login_url)

            announcer = asyncio.create_task(announce())
            # uvicorn handles Ctrl-C and SIGTERM while it serves, then raises the signal again under the handlers
            # found at its start: ignored, so that the shutdown below runs to its end
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, signal.SIG_IGN)
            await server.serve()
            announcer.cancel()
        finally:
            await platform.close()
        print("dsp serve: stopped; unfinished jobs resume at the next start", flush=True)
        # every database is closed; a stage's worker thread (a model in training) would hold the exit until
        # it ends, and its job is delivered again at the next start, so the process ends here
        sys.stderr.flush()
        os._exit(0)

    try:
        asyncio.run(run())
    except KeyboardInterrupt:  # a second Ctrl-C during the shutdown
        return 130
    return 0
