"""Request bodies bounded while they are read: in size and in how slowly they may arrive.

``BodyLimitMiddleware`` counts the bytes of every request body as the app receives them (JSON, a CSV to
predict on, a multipart upload) and stops the request at the first piece past the cap, so a body is never
held whole before it is refused. A body announced larger than the cap (Content-Length) is refused before
the app runs. A client that leaves more than ``timeout_s`` between two pieces of its body gets 408.

A refused request answers the platform's error envelope, whatever the app made of the interruption:
``413 body_too_large`` or ``408 body_timeout``. Routes that never read the body (a predict for a model that
does not exist answers 404 first) never pull it from the client: their answer carries ``Connection: close``, so
the server drops the connection instead of reading the rest of the body to reuse it.

Examples
--------
>>> from fastapi import FastAPI
>>> app = FastAPI()
>>> app.add_middleware(BodyLimitMiddleware, max_body_bytes=1 << 20, max_multipart_bytes=1 << 30, timeout_s=30)
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import UTC, datetime

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .access import request_id_of

__all__ = ["BodyLimitMiddleware", "BodyRefused"]


@dataclass
class BodyRefused(Exception):
    """Raised from ``receive`` when the body is refused: the app stops reading and the middleware answers."""

    status: int
    code: str
    message: str

    def __str__(self) -> str:
        return self.message


def _header(scope: Scope, name: bytes) -> str:
    return next((v.decode("latin-1") for k, v in scope.get("headers", []) if k == name), "")


class BodyLimitMiddleware:
    """Cap request bodies at ``max_body_bytes`` (``max_multipart_bytes`` for multipart/form-data) and at
    ``timeout_s`` between two of their pieces, counted while they stream in."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int, max_multipart_bytes: int, timeout_s: float) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_multipart_bytes = max_multipart_bytes
        self.timeout_s = timeout_s

    def limit_of(self, scope: Scope) -> int:
        """The cap of this request's body, by its content type."""
        multipart = _header(scope, b"content-type").lower().startswith("multipart/form-data")
        return self.max_multipart_bytes if multipart else self.max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_of(scope)
        declared = _header(scope, b"content-length")
        if declared.isdigit() and int(declared) > limit:
            await _answer(scope, send, _too_large(limit))
            return
        has_body = declared not in ("", "0") or bool(_header(scope, b"transfer-encoding"))
        received = 0
        body_done = False
        refused: BodyRefused | None = None
        started = False

        async def limited_receive() -> Message:
            nonlocal received, body_done, refused
            if refused is not None:
                raise refused
            if body_done:  # after the body only http.disconnect comes: no timeout on waiting for it
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), self.timeout_s)
            except TimeoutError:
                refused = BodyRefused(408, "body_timeout", f"The request body stopped arriving for more than "
                                                          f"{self.timeout_s:g} seconds.")
                raise refused from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    refused = _too_large(limit)
                    raise refused
                body_done = not message.get("more_body", False)
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if refused is not None:  # the app's own answer to the interruption is replaced by the typed one
                return
            if message["type"] == "http.response.start":
                started = True
                if not body_done and has_body:  # answered before the body was read (a 404): the server closes the
                    # connection after the answer instead of reading the rest of the body to reuse it
                    message = {**message, "headers": [*message.get("headers", []), (b"connection", b"close")]}
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if refused is None or started:
                raise
        if refused is not None and not started:
            await _answer(scope, send, refused)


def _too_large(limit: int) -> BodyRefused:
    return BodyRefused(413, "body_too_large", f"The request body is larger than the limit of {limit} bytes.")


async def _answer(scope: Scope, send: Send, refused: BodyRefused) -> None:
    """The refusal in the gateway's envelope (status, data, meta, errors)."""
    meta = {"timestamp": datetime.now(UTC).isoformat(), "version": "1.0", "request_id": request_id_of(scope)}
    body = json.dumps({"status": "error", "data": None, "meta": meta,
                       "errors": [{"code": refused.code, "message": refused.message, "field": None}]}).encode()
    await send({"type": "http.response.start", "status": refused.status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})
