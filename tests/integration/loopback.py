"""A TCP proxy on loopback in front of one of the machine's servers (Redis, RabbitMQ): a test points a service at
it and simulates an outage by closing it, without touching the shared server.

``close()`` stops listening and cuts every connection it carries (a client sees its connection reset, then
connection refused, as when the server is stopped); ``open()`` listens again on the same port, and ``hang()``
keeps accepting connections but forwards nothing (a server that accepts and never answers).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket


class TcpProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        with socket.socket() as probe:  # a free port, kept across close() and open()
            probe.bind(("127.0.0.1", 0))
            self.port: int = probe.getsockname()[1]
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._forwarding = asyncio.Event()
        self._forwarding.set()
        self.accepted = 0

    def url(self, url: str) -> str:
        """``url`` with its host and port replaced by the proxy's (``redis://127.0.0.1:6379/0`` -> the proxy)."""
        scheme, rest = url.split("://", 1)
        credentials, _, tail = rest.rpartition("@")
        hostport, slash, path = tail.partition("/")
        prefix = f"{credentials}@" if credentials else ""
        return f"{scheme}://{prefix}127.0.0.1:{self.port}{slash}{path}"

    async def open(self) -> None:
        """Listen (again), and forward again after hang()."""
        self._forwarding.set()
        if self._server is None:
            self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port, reuse_address=True)

    def hang(self) -> None:
        """Keep accepting, forward nothing more: new and live connections go silent."""
        self._forwarding.clear()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._writers):
            with contextlib.suppress(Exception):
                writer.transport.abort()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)

    async def __aenter__(self) -> TcpProxy:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        self._writers.add(writer)
        upstream_writer: asyncio.StreamWriter | None = None
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
            self._writers.add(upstream_writer)
            await asyncio.gather(self._pipe(reader, upstream_writer), self._pipe(upstream_reader, writer))
        except (OSError, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:  # close(): the connection ends here (asyncio would log a cancelled handler)
            pass
        finally:
            for w in (writer, upstream_writer):
                if w is not None:
                    self._writers.discard(w)
                    with contextlib.suppress(Exception):
                        w.transport.abort()
            self._connections.discard(task)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            await self._forwarding.wait()  # hung: hold the bytes, as a server that stopped answering would
            writer.write(data)
            await writer.drain()
        writer.transport.abort()
