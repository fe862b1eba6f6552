"""``python -m dsp_<service> serve|migrate|asyncapi``: the thin entry point every service shares.

``migrate`` creates the service's schema and role, runs its migrations, and declares its queues on the broker.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
from collections.abc import Callable

from .settings import MeshSettings

__all__ = ["run_service_cli", "worker_app"]


def run_service_cli(spec_factory: Callable[[], object], argv: list[str] | None = None) -> int:
    """Serve the service, run its one-shot migration, or print its AsyncAPI document."""
    from .service import ServiceSpec, build_app, topology_of

    parser = argparse.ArgumentParser(prog="python -m dsp_<service>")
    parser.add_argument("command", choices=["serve", "migrate", "asyncapi"])
    args = parser.parse_args(argv)
    spec = spec_factory()
    assert isinstance(spec, ServiceSpec)
    try:
        settings = MeshSettings()
    except Exception as exc:  # fail fast with the reason, not a traceback
        print(f"{spec.name}: invalid settings: {exc}", file=sys.stderr)
        return 2

    if args.command == "migrate":
        from .db import migrate_service

        admin = settings.admin_database_url or settings.database_url
        applied = migrate_service(spec.name, admin_url=admin, package=spec.package, password=settings.db_password)
        # the service's own queues and bindings exist once migrations ran, before any service publishes
        import asyncio

        from .topology import declare_with_url

        asyncio.run(declare_with_url(settings.amqp_url, topology_of(settings), spec.name,
                                     timeout_s=settings.publish_timeout_s))
        print(json.dumps({"service": spec.name, "applied": applied, "queues": True}))
        return 0
    if args.command == "asyncapi":
        from .asyncapi import asyncapi_document

        print(json.dumps(asyncapi_document(spec, topology_of(settings)), indent=2, sort_keys=True))
        return 0

    import uvicorn

    from .logs import configure_logging
    from .server import serve_workers, server_config

    configure_logging(spec.name, settings.log_level)
    if settings.http_workers > 1:
        if not spec.http_workers:
            print(f"{spec.name}: DSP_HTTP_WORKERS={settings.http_workers} is refused: only the gateway runs several "
                  "worker processes; a stage scales by replicas", file=sys.stderr)
            return 2
        serve_workers(functools.partial(worker_app, spec_factory), settings)
        return 0
    app = build_app(spec, settings)
    uvicorn.Server(server_config(app, settings)).run()
    return 0


def worker_app(spec_factory: Callable[[], object]) -> object:
    """The app of one uvicorn worker process (``DSP_HTTP_WORKERS`` > 1), built in that process from its environment.
    Its metrics go to the shared directory that the supervisor's listener reads, so it opens no listener itself."""
    from .logs import configure_logging
    from .service import ServiceSpec, build_app

    spec = spec_factory()
    assert isinstance(spec, ServiceSpec)
    settings = MeshSettings(metrics_port=0)
    configure_logging(spec.name, settings.log_level)
    return build_app(spec, settings)
