"""Postgres: one schema and one role per service, per-service migrations, a connection pool."""

from __future__ import annotations

import logging
import re
from importlib import resources
from importlib.resources.abc import Traversable
from urllib.parse import urlparse, urlunparse

import psycopg
from psycopg import sql
from psycopg_pool import AsyncConnectionPool

__all__ = ["database_name", "migrate_service", "open_pool", "role_name", "with_database"]

log = logging.getLogger(__name__)
_IDENT = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def role_name(service: str) -> str:
    return f"dsp_{service}"


def database_name(url: str) -> str:
    return urlparse(url).path.lstrip("/") or "postgres"


def with_database(url: str, database: str) -> str:
    parsed = urlparse(url)
    return urlunparse(parsed._replace(path=f"/{database}"))


def with_user(url: str, user: str, password: str | None = None) -> str:
    parsed = urlparse(url)
    host = parsed.hostname or "127.0.0.1"
    netloc = user + (f":{password}" if password else "") + f"@{host}" + (f":{parsed.port}" if parsed.port else "")
    return urlunparse(parsed._replace(netloc=netloc))


def _ensure_database(admin_url: str) -> None:
    name = database_name(admin_url)
    with psycopg.connect(with_database(admin_url, "postgres"), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            try:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            except psycopg.errors.DuplicateDatabase:
                pass


def _migration_files(package: str) -> list[tuple[str, str]]:
    files: list[tuple[str, str]] = []
    base: Traversable = resources.files("mesh_kit").joinpath("sql")
    for entry in sorted(base.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".sql"):
            files.append((f"mesh/{entry.name}", entry.read_text()))
    own = resources.files(package).joinpath("migrations")
    if own.is_dir():
        for entry in sorted(own.iterdir(), key=lambda e: e.name):
            if entry.name.endswith(".sql"):
                files.append((entry.name, entry.read_text()))
    return files


def migrate_service(service: str, *, admin_url: str, package: str, password: str | None = None) -> list[str]:
    """Create the service's database objects: its role, its schema, then its pending migrations.

    Runs as the admin, but every object is created under ``SET ROLE`` so the service's role owns it
    and no other role can touch it. Safe to run again: applied migrations are recorded.
    """
    if not _IDENT.match(service):
        raise ValueError(f"invalid service name {service!r}")
    _ensure_database(admin_url)
    role = role_name(service)
    applied: list[str] = []
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(hashtext('dsp-migrate'))")
        try:
            exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
            if not exists:
                conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
            if password:
                conn.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(sql.Identifier(role), sql.Literal(password)))
            dbname = database_name(admin_url)
            conn.execute(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(sql.Identifier(dbname), sql.Identifier(role)))
            conn.execute(
                sql.SQL("CREATE SCHEMA IF NOT EXISTS {} AUTHORIZATION {}").format(sql.Identifier(service), sql.Identifier(role))
            )
            conn.execute(sql.SQL("REVOKE ALL ON SCHEMA public FROM {}").format(sql.Identifier(role)))
            conn.execute(sql.SQL("ALTER ROLE {} SET search_path = {}").format(sql.Identifier(role), sql.Identifier(service)))
            with conn.transaction():
                conn.execute(sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(role)))
                conn.execute(sql.SQL("SET LOCAL search_path = {}").format(sql.Identifier(service)))
                conn.execute(
                    "CREATE TABLE IF NOT EXISTS schema_migrations ("
                    " name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
                )
                done = {row[0] for row in conn.execute("SELECT name FROM schema_migrations")}
                for name, text in _migration_files(package):
                    if name in done:
                        continue
                    conn.execute(text)
                    conn.execute("INSERT INTO schema_migrations (name) VALUES (%s)", (name,))
                    applied.append(name)
        finally:
            conn.execute("SELECT pg_advisory_unlock(hashtext('dsp-migrate'))")
    log.info("migrated %s: %s", service, applied or "nothing to apply")
    return applied


async def open_pool(url: str, *, schema: str, min_size: int = 1, max_size: int = 10) -> AsyncConnectionPool:
    """An async pool whose connections use the service's schema. A service sizes it with ``DSP_DB_POOL_MIN_SIZE``
    and ``DSP_DB_POOL_MAX_SIZE`` (``MeshSettings``); the defaults here are theirs."""

    async def configure(conn: psycopg.AsyncConnection) -> None:
        await conn.execute(sql.SQL("SET search_path = {}").format(sql.Identifier(schema)))
        await conn.commit()

    # check: a connection the server dropped (a restart, a cut) is replaced when it is taken, not found broken in use
    pool = AsyncConnectionPool(url, min_size=min_size, max_size=max_size, configure=configure, open=False,
                               check=AsyncConnectionPool.check_connection)
    await pool.open(wait=True, timeout=30)
    return pool
