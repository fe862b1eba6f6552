"""Cheap checks on the first bytes of an upload, done while it streams in."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["UploadProblem", "check_upload_head"]

_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"PK\x03\x04", "a ZIP archive (for example an .xlsx workbook)"),
    (b"%PDF", "a PDF document"),
    (b"\x89PNG", "a PNG image"),
    (b"GIF8", "a GIF image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"\x7fELF", "an executable"),
    (b"PAR1", "a Parquet file"),
    (b"\xd0\xcf\x11\xe0", "a legacy Office document (for example an .xls workbook)"),
    (b"SQLite format 3", "an SQLite database"),
)
_TEXT_BOMS = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")


@dataclass(frozen=True)
class UploadProblem:
    code: str
    message: str
    status: int


def check_upload_head(head: bytes, *, total_size: int) -> UploadProblem | None:
    """Reject empty and binary uploads from their first bytes; anything text-like passes to ingest."""
    stripped = head
    for bom in _TEXT_BOMS:
        if stripped.startswith(bom):
            stripped = stripped[len(bom):]
            break
    if total_size == 0 or not stripped.strip(b" \t\r\n\x00"):
        return UploadProblem("empty_file", "The uploaded file is empty: there is nothing to analyse.", 400)
    for magic, what in _MAGIC:
        if head.startswith(magic):
            return UploadProblem("binary_file", f"The uploaded file is {what}, not a CSV text file.", 415)
    is_utf16 = head.startswith((b"\xff\xfe", b"\xfe\xff"))
    if not is_utf16:
        sample = head[:65536]
        nul = sample.count(b"\x00")
        control = sum(1 for b in sample if b < 9 or 13 < b < 32)
        if nul > 0 or (sample and control / len(sample) > 0.05):
            return UploadProblem(
                "binary_file",
                "The uploaded file looks binary (it holds NUL or control bytes), not a CSV text file.",
                415,
            )
    return None
