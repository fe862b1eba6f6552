"""Streaming multipart upload: the file goes to disk chunk by chunk and the size limit is enforced
while it streams, so an oversized upload is refused without ever being held whole."""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from python_multipart.multipart import MultipartParser, parse_options_header

__all__ = ["StreamedUpload", "UploadRejected", "receive_upload"]

log = logging.getLogger(__name__)

_MAX_FIELD_BYTES = 64 * 1024
_HEAD_BYTES = 65536


class UploadRejected(Exception):
    def __init__(self, code: str, message: str, status: int, field: str | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.status, self.field = code, message, status, field


@dataclass
class StreamedUpload:
    path: Path | None = None
    filename: str = ""
    size: int = 0
    sha256: str = ""
    head: bytes = b""
    fields: dict[str, str] = field(default_factory=dict)

    def discard(self) -> None:
        if self.path is not None:
            self.path.unlink(missing_ok=True)


async def receive_upload(content_type: str, chunks: AsyncIterator[bytes], *, spool_dir: Path,
                         max_bytes: int, file_field: str = "file", max_fields: int = 32,
                         max_form_bytes: int = 1024 * 1024) -> StreamedUpload:
    """Parse a multipart body as it arrives. Raises UploadRejected; never leaves a partial file behind.

    Besides the file, the form may hold at most ``max_fields`` parts (413 ``too_many_fields``) of at most 64 KiB
    each (413 ``field_too_large``) and ``max_form_bytes`` together (413 ``form_too_large``), counted as they
    arrive: 8,000 fields are refused at the 33rd, not held.
    """
    ctype, params = parse_options_header(content_type)
    if ctype != b"multipart/form-data" or b"boundary" not in params:
        raise UploadRejected("unsupported_media_type",
                             "Send the file as multipart/form-data with a part named 'file'.", 415)
    spool_dir.mkdir(parents=True, exist_ok=True)
    result = StreamedUpload()
    digest = hashlib.sha256()
    state: dict[str, object] = {"name": None, "filename": None, "header_field": b"", "header_value": b"",
                                "headers": {}, "buffer": bytearray(), "file": None, "error": None}
    form = {"parts": 0, "bytes": 0}

    def on_part_begin() -> None:
        state.update(name=None, filename=None, headers={}, buffer=bytearray(), file=None)
        form["parts"] += 1
        if form["parts"] > max_fields + 1 and state["error"] is None:  # the fields and the file
            state["error"] = UploadRejected("too_many_fields", f"The form has more than {max_fields} fields "
                                            "besides the file.", 413)

    def count_form(n: int) -> None:
        form["bytes"] += n
        if form["bytes"] > max_form_bytes and state["error"] is None:
            state["error"] = UploadRejected("form_too_large", f"The form fields and part headers are larger than "
                                            f"the limit of {max_form_bytes} bytes.", 413)

    def on_header_field(data: bytes, start: int, end: int) -> None:
        count_form(end - start)
        if state["error"] is None:
            state["header_field"] = bytes(state["header_field"]) + data[start:end]  # type: ignore[arg-type]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        count_form(end - start)
        if state["error"] is None:
            state["header_value"] = bytes(state["header_value"]) + data[start:end]  # type: ignore[arg-type]

    def on_header_end() -> None:
        headers = state["headers"]
        assert isinstance(headers, dict)
        headers[bytes(state["header_field"]).lower()] = bytes(state["header_value"])  # type: ignore[arg-type]
        state["header_field"], state["header_value"] = b"", b""

    def on_headers_finished() -> None:
        headers = state["headers"]
        assert isinstance(headers, dict)
        _, disposition = parse_options_header(headers.get(b"content-disposition", b""))
        name = disposition.get(b"name", b"").decode("utf-8", "replace")
        state["name"] = name
        if name == file_field:
            if result.path is not None:
                state["error"] = UploadRejected("too_many_files", "Send one file per upload.", 400, file_field)
                return
            result.filename = disposition.get(b"filename", b"upload.csv").decode("utf-8", "replace")
            fd, tmp = tempfile.mkstemp(prefix=".upload-", dir=spool_dir)
            result.path = Path(tmp)
            state["file"] = os.fdopen(fd, "wb")

    def on_part_data(data: bytes, start: int, end: int) -> None:
        if state["error"] is not None:
            return
        chunk = data[start:end]
        handle = state["file"]
        if handle is not None:
            result.size += len(chunk)
            if result.size > max_bytes:
                state["error"] = UploadRejected(
                    "file_too_large", f"The file is larger than the limit of {max_bytes} bytes.", 413, file_field)
                return
            if len(result.head) < _HEAD_BYTES:
                result.head += chunk[: _HEAD_BYTES - len(result.head)]
            digest.update(chunk)
            handle.write(chunk)  # type: ignore[attr-defined]
        else:
            count_form(len(chunk))
            if state["error"] is not None:
                return
            buffer = state["buffer"]
            assert isinstance(buffer, bytearray)
            buffer.extend(chunk)
            if len(buffer) > _MAX_FIELD_BYTES:
                state["error"] = UploadRejected("field_too_large", f"Form field {state['name']!r} is too large.",
                                                413, str(state["name"]))

    def on_part_end() -> None:
        handle = state["file"]
        if handle is not None:
            handle.close()  # type: ignore[attr-defined]
            state["file"] = None
        elif state["name"]:
            buffer = state["buffer"]
            assert isinstance(buffer, bytearray)
            result.fields[str(state["name"])] = buffer.decode("utf-8", "replace")

    parser = MultipartParser(params[b"boundary"], callbacks={  # type: ignore[arg-type]
        "on_part_begin": on_part_begin, "on_header_field": on_header_field, "on_header_value": on_header_value,
        "on_header_end": on_header_end, "on_headers_finished": on_headers_finished,
        "on_part_data": on_part_data, "on_part_end": on_part_end,
    })
    try:
        async for chunk in chunks:
            parser.write(chunk)
            if state["error"] is not None:
                raise state["error"]  # type: ignore[misc]
        parser.finalize()
        if state["error"] is not None:
            raise state["error"]  # type: ignore[misc]
    except UploadRejected:
        handle = state["file"]
        if handle is not None:
            handle.close()  # type: ignore[attr-defined]
        result.discard()
        raise
    except Exception as exc:
        handle = state["file"]
        if handle is not None:
            handle.close()  # type: ignore[attr-defined]
        result.discard()
        log.info("a multipart body was refused: %s", exc)  # the parser's words stay here, the client gets the code
        raise UploadRejected("malformed_multipart", "The multipart body could not be read: send multipart/form-data "
                             "with its boundary, each part with a Content-Disposition header.", 400) from exc
    if result.path is None:
        raise UploadRejected("missing_file", "The upload has no part named 'file'.", 422, file_field)
    result.sha256 = digest.hexdigest()
    return result
