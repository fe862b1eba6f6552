"""Text encoding detection on a sample, and streaming re-encoding to UTF-8."""

from __future__ import annotations

import codecs
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from .errors import IngestError

__all__ = ["EncodingGuess", "check_decoded_text", "count_nul_bytes", "detect_encoding", "first_invalid_utf8", "invalid_utf8_error", "read_probe",
           "strip_nul_bytes", "transcode_to_utf8"]

HEAD_BYTES = 1 << 20
PROBE_BYTES = 1 << 18
CHUNK_BYTES = 1 << 20

_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"PK\x03\x04", "a ZIP archive (an .xlsx workbook?)"),
    (b"\xd0\xcf\x11\xe0", "an OLE document (an old .xls workbook?)"),
    (b"%PDF", "a PDF document"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"PAR1", "a Parquet file"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"BZh", "a bzip2 archive"),
    (b"\xfd7zXZ", "an xz archive"),
    (b"SQLite format 3", "an SQLite database"),
    (b"\x7fELF", "an executable"),
)
# Non-ASCII characters that are common in real Western text besides letters.
_COMMON_SYMBOLS = set("€£¥¢°§©®±µ½¼¾«»·–—‘’‚“”„…•™×÷¿¡ªº¹²³¤¦¨¯´¸¬ ")
# Multi-byte encodings whose byte structure alone is strong evidence, even without language cues.
_STRUCTURED_MULTIBYTE = {"shift_jis", "cp932", "euc_jp", "gb18030", "gbk", "gb2312", "big5", "euc_kr", "cp949"}
_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0e-\x1a\x1c-\x1f]")
# A well-formed multi-byte UTF-8 sequence (no overlongs, no surrogates, nothing past U+10FFFF).
_UTF8_SEQUENCE = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]|\xe0[\xa0-\xbf][\x80-\xbf]|[\xe1-\xec\xee\xef][\x80-\xbf]{2}|\xed[\x80-\x9f][\x80-\xbf]"
    rb"|\xf0[\x90-\xbf][\x80-\xbf]{2}|[\xf1-\xf3][\x80-\xbf]{3}|\xf4[\x80-\x8f][\x80-\xbf]{2}"
)


@dataclass(frozen=True)
class EncodingGuess:
    """The encoding of a file, as detected on a sample."""

    encoding: str
    bom: bytes
    confidence: float
    damaged: bool = False
    """UTF-8 text with bytes that are not valid UTF-8: refused (:func:`invalid_utf8_error`), never read as another
    encoding, which would change every other non-ASCII character of the file."""

    @property
    def is_plain_utf8(self) -> bool:
        """True when the bytes can be handed to the CSV parser without re-encoding."""
        return self.encoding == "utf-8"


def read_probe(path: Path) -> tuple[bytes, list[bytes], int]:
    """Read the head of the file, plus chunks from its middle and end when it is large.

    Returns
    -------
    head, probes, size
        The first ``HEAD_BYTES`` bytes, extra chunks (possibly empty list) and the file size.
    """
    size = path.stat().st_size
    probes: list[bytes] = []
    with path.open("rb") as fh:
        head = fh.read(HEAD_BYTES)
        if size > HEAD_BYTES + 2 * PROBE_BYTES:
            for offset in (size // 2, size - PROBE_BYTES):
                fh.seek(offset)
                probes.append(fh.read(PROBE_BYTES))
    return head, probes, size


def _strip_partial_utf8(chunk: bytes, *, at_start: bool) -> bytes:
    """Cut bytes of multi-byte characters split by the chunk boundaries."""
    if at_start:
        i = 0
        while i < min(4, len(chunk)) and 0x80 <= chunk[i] < 0xC0:
            i += 1
        chunk = chunk[i:]
    end = len(chunk)
    for back in range(1, min(4, end) + 1):
        byte = chunk[end - back]
        if byte < 0x80:
            break
        if byte >= 0xC0:
            need = 2 if byte < 0xE0 else 3 if byte < 0xF0 else 4
            if need > back:
                return chunk[: end - back]
            break
    return chunk


def _is_utf8(head: bytes, probes: list[bytes], *, whole_file: bool) -> bool:
    chunks = [head if whole_file else _strip_partial_utf8(head, at_start=False)]
    chunks += [_strip_partial_utf8(p, at_start=True) for p in probes]
    try:
        for chunk in chunks:
            chunk.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _looks_like_western_text(text: str) -> float:
    """Share of non-ASCII characters that are letters or common symbols (1.0 when all ASCII)."""
    non_ascii = [ch for ch in text if ord(ch) > 127]
    if not non_ascii:
        return 1.0
    good = sum(1 for ch in non_ascii if ch.isalpha() or ch in _COMMON_SYMBOLS)
    if len(non_ascii) > 0.3 * len(text):
        return 0.0
    return good / len(non_ascii)


def _utf16_without_bom(head: bytes) -> str | None:
    sample = head[: 1 << 16]
    if len(sample) < 4:
        return None
    even_zeros = sample[0::2].count(0) / len(sample[0::2])
    odd_zeros = sample[1::2].count(0) / max(1, len(sample[1::2]))
    if odd_zeros > 0.3 and even_zeros < 0.05:
        return "utf-16-le"
    if even_zeros > 0.3 and odd_zeros < 0.05:
        return "utf-16-be"
    return None


def detect_encoding(head: bytes, probes: list[bytes], *, size: int) -> EncodingGuess:
    """Detect the text encoding of a file from its head and probe chunks.

    Raises
    ------
    IngestError
        ``empty_file``, ``binary_file`` or ``unknown_encoding``.
    """
    if size == 0 or not head:
        raise IngestError("empty_file", "The file is empty.", {"size_bytes": size})
    for bom, name in _BOMS:
        if head.startswith(bom):
            if not head[len(bom) :].strip(b"\x00\r\n\t "):
                raise IngestError("empty_file", "The file holds nothing but a byte-order mark.", {"size_bytes": size})
            return EncodingGuess(name, bom, 1.0)
    for magic, what in _MAGIC:
        if head.startswith(magic):
            from shared_contracts.ingest import SUPPORTED_FORMATS

            raise IngestError(
                "unsupported_format",
                f"This file is {what}, which is not a table ingest can read. Supported: {'; '.join(SUPPORTED_FORMATS)}.",
                {"detected": what, "supported": list(SUPPORTED_FORMATS)},
            )
    utf16 = _utf16_without_bom(head)
    if utf16 is not None:
        return EncodingGuess(utf16, b"", 0.8)
    sample = head[: 1 << 16]
    # a few NUL bytes in text are removed and counted by the reader; many mean a binary file
    if sample.count(b"\x00") > 0.01 * len(sample) or len(_CONTROL.findall(sample)) > 0.05 * len(sample):
        raise IngestError(
            "binary_file",
            "The file holds binary data (null or control bytes), not CSV text.",
            {"control_bytes_in_sample": len(_CONTROL.findall(sample)) + sample.count(b"\x00")},
        )
    if not head.strip():
        raise IngestError("empty_file", "The file holds only blank space.", {"size_bytes": size})
    if _is_utf8(head, probes, whole_file=size <= len(head)):
        return EncodingGuess("utf-8", b"", 1.0)
    all_bytes = head + b"".join(probes)
    if _mostly_utf8(all_bytes):
        return EncodingGuess("utf-8", b"", 0.5, damaged=True)
    try:
        text = all_bytes.decode("cp1252")
    except UnicodeDecodeError:
        text = None
    if text is not None:
        score = _looks_like_western_text(text)
        if score >= 0.8:
            return EncodingGuess("cp1252", b"", round(score, 3))
    return _fallback_guess(all_bytes)


def _mostly_utf8(data: bytes) -> bool:
    """True when most non-ASCII bytes of ``data`` form well-formed UTF-8 sequences: UTF-8 text with a few bad
    bytes. In text of a single-byte encoding such sequences are rare coincidences (an accented capital followed by
    a symbol)."""
    non_ascii = sum(1 for byte in data if byte > 0x7F)
    in_sequences = sum(len(m) for m in _UTF8_SEQUENCE.findall(data))
    return in_sequences > 0 and in_sequences >= 0.8 * non_ascii


def _fallback_guess(data: bytes) -> EncodingGuess:
    from charset_normalizer import from_bytes

    best = from_bytes(data[: 1 << 18]).best()
    if best is None or best.chaos > 0.1:
        raise IngestError(
            "unknown_encoding",
            "The file's text encoding could not be recognised. Save it as UTF-8 and upload it again.",
            {"tried": ["utf-8", "utf-16", "cp1252", "statistical detection"]},
        )
    name = codecs.lookup(best.encoding).name
    if best.coherence < 0.1 and name not in _STRUCTURED_MULTIBYTE:
        raise IngestError(
            "unknown_encoding",
            "The file's text encoding could not be recognised. Save it as UTF-8 and upload it again.",
            {"best_guess": name, "coherence": round(best.coherence, 3)},
        )
    if any(unicodedata.category(ch) == "Cc" and ch not in "\r\n\t" for ch in str(best)[:10000]):
        raise IngestError(
            "unknown_encoding",
            "The file's text encoding could not be recognised. Save it as UTF-8 and upload it again.",
            {"best_guess": name},
        )
    return EncodingGuess(name, b"", round(max(0.0, 1.0 - best.chaos), 3))


def check_decoded_text(text: str, guess: EncodingGuess) -> None:
    """Reject decoded text that is mostly control, unassigned or private-use characters.

    Raises
    ------
    IngestError
        ``binary_file`` when the decoded sample does not look like text.
    """
    sample = text[:20000]
    if not sample:
        return
    odd = sum(1 for ch in sample if unicodedata.category(ch) in ("Cc", "Cn", "Co", "Cs") and ch not in "\r\n\t")
    if odd > 0.02 * len(sample):
        raise IngestError(
            "binary_file",
            f"Read as {guess.encoding}, the file holds binary data, not CSV text.",
            {"encoding": guess.encoding, "non_text_characters_in_sample": odd},
        )


_BACKSLASH_QUOTE = {
    '"': re.compile(r'\\(["\\])'),
    "'": re.compile(r"\\(['\\])"),
}


def count_nul_bytes(path: Path) -> tuple[int, int]:
    """NUL bytes in a UTF-8 file, all of them and those of its first line: ``(total, in_first_line)``."""
    total = first = 0
    first_line_done = False
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK_BYTES):
            total += chunk.count(b"\x00")
            if not first_line_done:
                end = chunk.find(b"\n")
                first += chunk[: end if end >= 0 else len(chunk)].count(b"\x00")
                first_line_done = end >= 0
    return total, first


def strip_nul_bytes(src: Path, dst: Path) -> None:
    """Copy the UTF-8 file ``src`` to ``dst`` without its NUL bytes, chunk by chunk."""
    with src.open("rb") as fin, dst.open("wb") as fout:
        while chunk := fin.read(CHUNK_BYTES):
            fout.write(chunk.replace(b"\x00", b""))


def transcode_to_utf8(
    src: Path,
    dst: Path,
    guess: EncodingGuess,
    *,
    backslash_quote: str | None = None,
    cr_newlines: bool = False,
    space_before_quotes: tuple[str, str] | None = None,
) -> None:
    """Stream ``src`` into ``dst`` as UTF-8 without a BOM, chunk by chunk.

    Parameters
    ----------
    src, dst
        Input file and output file.
    guess
        The detected encoding of ``src``.
    backslash_quote
        When set to the quote character, backslash escapes inside the text (``\\"``)
        are rewritten to doubled quotes (``""``), the only form the CSV parser knows.
    cr_newlines
        Rewrite bare carriage returns (old Mac line endings) to line feeds.
    space_before_quotes
        ``(delimiter, quote)``: drop blanks between a delimiter and an opening quote, which
        the CSV parser would otherwise take as the start of an unquoted field.
    """
    spaced = None
    if space_before_quotes:
        d, q = (re.escape(c) for c in space_before_quotes)
        blanks = " " if space_before_quotes[0] == "\t" else "[ \t]"
        spaced = re.compile(rf"(?<={d}){blanks}+(?={q}(?!{q}))")
    decoder = codecs.getincrementaldecoder(guess.encoding)(errors="strict")
    pattern = _BACKSLASH_QUOTE.get(backslash_quote or "")
    carry = ""
    with src.open("rb") as fin, dst.open("w", encoding="utf-8", newline="") as fout:
        if guess.bom:
            fin.read(len(guess.bom))
        while True:
            chunk = fin.read(CHUNK_BYTES)
            try:
                text = decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as exc:
                raise IngestError(
                    "unknown_encoding",
                    f"The file is not valid {guess.encoding} text past its beginning. Save it as UTF-8 and upload it again.",
                    {"encoding": guess.encoding, "byte_offset": fin.tell() - len(exc.object) + exc.start,
                     "byte": f"0x{exc.object[exc.start]:02x}"},
                ) from exc
            if pattern is not None:
                text = carry + text
                carry = ""
                # A trailing backslash may escape the first character of the next chunk.
                trailing = len(text) - len(text.rstrip("\\"))
                if trailing % 2 == 1 and chunk:
                    carry, text = text[-1], text[:-1]
                text = pattern.sub(lambda m: m.group(1) * 2 if m.group(1) != "\\" else "\\", text)
            if spaced is not None:
                text = spaced.sub("", text)
            if cr_newlines:
                text = text.replace("\r\n", "\n").replace("\r", "\n")
            fout.write(text)
            if not chunk:
                break
        if carry:
            fout.write(carry)


def invalid_utf8_error(path: Path) -> IngestError | None:
    """``unknown_encoding`` naming the first byte of ``path`` that is not valid UTF-8, with its offset and line;
    None when all of it is."""
    bad = first_invalid_utf8(path)
    if bad is None:
        return None
    offset, line = bad
    return IngestError("unknown_encoding", f"The file is not valid UTF-8 text at line {line} (byte {offset}). Save it "
                       "as UTF-8 and upload it again.", {"encoding": "utf-8", "byte_offset": offset, "line": line})


def first_invalid_utf8(path: Path) -> tuple[int, int] | None:
    """The byte offset and the line (from 1) of the first byte of ``path`` that is not valid UTF-8; None when
    all of it is. Reads a chunk at a time."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="strict")
    lines = 1
    with path.open("rb") as fh:
        while True:
            chunk = fh.read(CHUNK_BYTES)
            try:
                decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as exc:
                return fh.tell() - len(exc.object) + exc.start, lines + exc.object.count(b"\n", 0, exc.start)
            lines += chunk.count(b"\n")
            if not chunk:
                return None
