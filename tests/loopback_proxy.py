"""A loopback TCP proxy a test can break: cut every connection, refuse new ones for a while, hang, resume.

It stands between the services and a real server (the broker, the database, Redis), so an outage can be made
without touching the machine's shared servers::

    with TcpProxy("127.0.0.1", 5672) as proxy:
        url = proxy.url("amqp://guest:guest@127.0.0.1:5672/vhost")   # the same URL, through the proxy
        ...
        proxy.cut()                      # every open connection reset at once; new ones are accepted
        proxy.refuse()                   # listener closed: connects get ECONNREFUSED, open ones are reset
        proxy.hang()                     # connects accepted, nothing forwarded: a server that never answers
        proxy.resume()                   # listening and forwarding again, on the same port

Threads, not asyncio: it runs beside synchronous test code, beside processes it does not own, and beside an
event loop (an async test calls it directly; each call returns at once, or within the join of its accept thread).
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from types import TracebackType

__all__ = ["TcpProxy"]


class TcpProxy:
    """Forwards ``127.0.0.1:port`` to ``target_host:target_port``, one pair of threads per connection."""

    def __init__(self, target_host: str, target_port: int, *, port: int = 0, host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self.host = host
        self.port = port
        self._listener: socket.socket | None = None
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        """Notified when forwarding resumes or connections are reset (a pump held by hang() wakes on it)."""
        self._forwarding = True
        self._sockets: set[socket.socket] = set()
        self._accepting: threading.Thread | None = None
        self.accepted = 0
        """Connections accepted since start (a reconnecting client shows up here)."""
        self.cuts = 0

    # -- life cycle ------------------------------------------------------------------------
    def start(self) -> TcpProxy:
        self._listen()
        return self

    def close(self) -> None:
        self._stop_listening()
        self._reset_all()

    def url(self, url: str) -> str:
        """``url`` with its host and port replaced by the proxy's (``redis://127.0.0.1:6379/0`` -> the proxy)."""
        scheme, rest = url.split("://", 1)
        credentials, _, tail = rest.rpartition("@")
        _, slash, path = tail.partition("/")
        prefix = f"{credentials}@" if credentials else ""
        return f"{scheme}://{prefix}{self.host}:{self.port}{slash}{path}"

    def __enter__(self) -> TcpProxy:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # -- faults ----------------------------------------------------------------------------
    def cut(self) -> int:
        """Reset every open connection (both sides see a RST); new connections are still accepted.
        Returns how many client connections were cut."""
        self.cuts += 1
        return self._reset_all()

    def refuse(self) -> int:
        """Stop listening (a connect is refused) and reset every open connection, as a server that went away."""
        self._stop_listening()
        return self.cut()

    def hang(self) -> None:
        """Keep accepting, forward nothing more: new and live connections go silent, their bytes held until
        ``resume()`` (or dropped by a cut), as a server that accepts and never answers."""
        with self._lock:
            self._forwarding = False

    def resume(self) -> None:
        """Listen again on the same port, and forward again after ``hang()``."""
        with self._changed:
            self._forwarding = True
            self._changed.notify_all()
        if self._listener is None:
            self._listen()

    def outage(self, seconds: float) -> None:
        """Refuse for ``seconds``, then resume."""
        self.refuse()
        time.sleep(seconds)
        self.resume()

    @property
    def open_connections(self) -> int:
        with self._lock:
            return len(self._sockets) // 2

    # -- internals -------------------------------------------------------------------------
    def _listen(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        deadline = time.monotonic() + 10
        while True:
            try:
                listener.bind((self.host, self.port))
                break
            except OSError:
                if self.port == 0 or time.monotonic() > deadline:
                    listener.close()
                    raise
                time.sleep(0.1)
        listener.listen(256)
        self.port = listener.getsockname()[1]
        self._listener = listener
        self._accepting = threading.Thread(target=self._accept_loop, args=(listener,), daemon=True,
                                           name=f"proxy-accept-{self.port}")
        self._accepting.start()

    def _stop_listening(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            try:
                listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            listener.close()
        if self._accepting is not None:
            self._accepting.join(timeout=5)
            self._accepting = None

    def _accept_loop(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            if self._listener is not listener:
                _reset(client)
                return
            try:
                upstream = socket.create_connection(self.target, timeout=10)
                upstream.settimeout(None)
            except OSError:
                _reset(client)
                continue
            for sock in (client, upstream):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self._sockets.update((client, upstream))
                self.accepted += 1
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                if not self._may_forward(source):
                    break
                sink.sendall(data)
        except OSError:
            pass
        finally:
            try:
                sink.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            self._forget(source)

    def _may_forward(self, source: socket.socket) -> bool:
        """Wait while hung; False once ``source`` was reset meanwhile (its bytes go nowhere)."""
        with self._changed:
            while not self._forwarding and source in self._sockets:
                self._changed.wait()
            return source in self._sockets

    def _forget(self, sock: socket.socket) -> None:
        with self._lock:
            if sock not in self._sockets:
                return
            self._sockets.discard(sock)
        try:
            sock.close()
        except OSError:
            pass

    def _reset_all(self) -> int:
        with self._changed:
            sockets, self._sockets = list(self._sockets), set()
            self._changed.notify_all()
        for sock in sockets:
            _reset(sock)
        return len(sockets) // 2


def _reset(sock: socket.socket) -> None:
    """Close with RST (SO_LINGER 0), as a crashed peer or a dropped route would."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    try:  # wakes the pump thread blocked in recv on it (a close alone would not)
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass
