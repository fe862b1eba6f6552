"""A private PostgreSQL cluster in a temporary directory, on a free port, that a test may stop and start.

The machine's shared server is never touched: this one is made with ``initdb`` (trust authentication,
superuser ``postgres``) and run with ``pg_ctl``. As root, both run as the ``postgres`` system user (PostgreSQL
refuses to run as root)::

    with PrivatePostgres() as pg:        # in a new directory under /tmp, removed at exit
        url = pg.url("dsp")          # postgresql://postgres@127.0.0.1:<port>/dsp (created)
        pg.stop()                    # fast shutdown: every connection is closed
        pg.start()
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType

__all__ = ["PG_BIN", "PrivatePostgres", "free_port"]

PG_BIN = Path(os.environ.get("DSP_CHAOS_PG_BIN", "/usr/lib/postgresql/15/bin"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PrivatePostgres:
    """One throwaway cluster: ``init`` once, then ``start``/``stop`` as often as needed; ``destroy`` removes it."""

    def __init__(self, base_dir: Path | None = None, *, port: int | None = None) -> None:
        # its own directory directly under /tmp: the postgres user must reach it (pytest's tmp_path is 0700 root)
        self.base_dir = Path(base_dir) if base_dir else Path(tempfile.mkdtemp(prefix="dsp-chaos-pg-"))
        self.data_dir = self.base_dir / "pgdata"
        self.log = self.base_dir / "postgres.log"
        self.port = port or free_port()
        self._as_postgres = os.geteuid() == 0

    @staticmethod
    def available() -> bool:
        return (PG_BIN / "initdb").exists() and (PG_BIN / "pg_ctl").exists()

    def _run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        command = list(args)
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd="/tmp")
        if done.returncode != 0:
            raise subprocess.CalledProcessError(done.returncode, command, done.stdout, done.stderr[-2000:])
        return done

    def init(self) -> PrivatePostgres:
        self.base_dir.mkdir(parents=True, exist_ok=True)
        if self._as_postgres:
            shutil.chown(self.base_dir, "postgres", "postgres")
        self._run(str(PG_BIN / "initdb"), "-D", str(self.data_dir), "-U", "postgres", "--auth=trust",
                  "--no-sync", "-E", "UTF8", "--locale=C")
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.write(f"\nport = {self.port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{self.base_dir}'\n"
                       "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\nmax_connections = 200\n"
                       "shared_buffers = 32MB\n")
        return self

    def start(self) -> None:
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data_dir), "-l", str(self.log), "-w", "-t", "60", "start")

    def stop(self, mode: str = "fast") -> None:
        """``fast`` closes every session and shuts down cleanly; ``immediate`` is a crash (recovery at start)."""
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data_dir), "-m", mode, "-w", "-t", "60", "stop")

    def running(self) -> bool:
        try:
            self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data_dir), "status")
            return True
        except subprocess.CalledProcessError:
            return False

    def url(self, database: str = "postgres", *, port: int | None = None) -> str:
        return f"postgresql://postgres@127.0.0.1:{port or self.port}/{database}"

    def create_database(self, name: str) -> str:
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url(name)

    def destroy(self) -> None:
        if self.data_dir.exists() and self.running():
            self.stop("immediate")
        shutil.rmtree(self.base_dir, ignore_errors=True)

    def __enter__(self) -> PrivatePostgres:
        self.init()
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.destroy()
