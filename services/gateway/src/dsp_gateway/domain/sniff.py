"""Cheap checks on the first bytes of an upload, done while it streams in."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from shared_contracts.ingest import SUPPORTED_FORMATS

__all__ = ["UploadProblem", "check_upload_head"]

# Formats ingest reads, recognised by their first bytes: they pass here and ingest looks closer (a ZIP must be a
# workbook, an OLE2 document an .xls; compressed data must hold CSV or JSON).
_READABLE: tuple[bytes, ...] = (
    b"PAR1",  # Parquet
    b"ARROW1",  # Arrow IPC file / Feather v2
    b"FEA1",  # Feather v1
    b"PK\x03\x04",  # xlsx, xlsb, ods
    b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",  # xls (OLE2)
    b"\x1f\x8b",  # gzip
    b"\x28\xb5\x2f\xfd",  # zstd
    b"BZh",  # bzip2
)
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"%PDF", "a PDF document"),
    (b"\x89PNG", "a PNG image"),
    (b"GIF8", "a GIF image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"\xfd7zXZ", "an xz archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"Rar!", "a RAR archive"),
    (b"\x7fELF", "an executable"),
    (b"SQLite format 3", "an SQLite database"),
)
_TEXT_BOMS = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")


@dataclass(frozen=True)
class UploadProblem:
    code: str
    message: str
    status: int
    details: dict[str, Any] = field(default_factory=dict)


def check_upload_head(head: bytes, *, total_size: int) -> UploadProblem | None:
    """Reject empty uploads and formats ingest cannot read from their first bytes; text and the binary formats
    ingest reads (Parquet, Arrow, workbooks, compressed files) pass to ingest."""
    stripped = head
    for bom in _TEXT_BOMS:
        if stripped.startswith(bom):
            stripped = stripped[len(bom):]
            break
    if total_size == 0 or not stripped.strip(b" \t\r\n\x00"):
        return UploadProblem("empty_file", "The uploaded file is empty: there is nothing to analyse.", 400)
    if head.startswith(_READABLE):
        return None
    supported = "; ".join(SUPPORTED_FORMATS)
    for magic, what in _MAGIC:
        if head.startswith(magic):
            return UploadProblem("unsupported_format",
                                 f"The uploaded file is {what}, which is not a table the platform reads. "
                                 f"Supported: {supported}.", 415,
                                 {"detected": what, "supported": list(SUPPORTED_FORMATS)})
    is_utf16 = head.startswith((b"\xff\xfe", b"\xfe\xff"))
    if not is_utf16:
        sample = head[:65536]
        nul = sample.count(b"\x00")
        control = sum(1 for b in sample if b < 9 or 13 < b < 32)
        if nul > 0 or (sample and control / len(sample) > 0.05):
            return UploadProblem(
                "binary_file",
                "The uploaded file looks binary (it holds NUL or control bytes) and is no format the platform "
                f"reads. Supported: {supported}.",
                415, {"supported": list(SUPPORTED_FORMATS)},
            )
    return None
