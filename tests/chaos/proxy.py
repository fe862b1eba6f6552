"""A loopback TCP proxy a test can break: cut every connection, refuse new ones for a while, resume.

It stands between the services and a real server (the broker, the database), so an outage can be made
without touching the machine's shared servers::

    with TcpProxy("127.0.0.1", 5672) as proxy:
        url = f"amqp://guest:guest@127.0.0.1:{proxy.port}/vhost"
        ...
        proxy.cut()                      # every open connection reset at once; new ones are accepted
        proxy.refuse()                   # listener closed: connects get ECONNREFUSED, open ones are reset
        proxy.resume()                   # listening again, on the same port

Threads, not asyncio: it runs beside synchronous test code and beside processes it does not own.
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

    def resume(self) -> None:
        """Listen again on the same port."""
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
                sink.sendall(data)
        except OSError:
            pass
        finally:
            try:
                sink.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            self._forget(source)

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
        with self._lock:
            sockets, self._sockets = list(self._sockets), set()
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
