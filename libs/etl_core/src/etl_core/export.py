"""CSV export that spreadsheets cannot execute.

A spreadsheet treats a cell starting with ``=``, ``+``, ``-`` or ``@`` (and, in some programs, a
tab or carriage return) as a formula, which lets a crafted value run code or leak data when the
file is opened (CSV injection). Every such *text* cell gets a leading apostrophe, which the
spreadsheet shows as text.

One rule, :func:`is_formula`, decides whether a cell is live: it starts with one of
:data:`FORMULA_PREFIXES` as written, or after Unicode NFKC normalisation (full-width ``＝``,
``＋``, ``－``, ``＠``, small forms such as ``﹦`` and super/subscript ``⁼`` ``₊``; some spreadsheets
and any later NFKC pass turn them into the ASCII signs). It applies to the header row (column
names) and to the values.

Only text (string, categorical) columns are defused. Numeric, boolean and date columns are
written as they are: a negative number in a numeric column is a number, not a formula, and
prefixing it would corrupt the data. For the same reason a text cell holding exactly an ASCII
number literal (``-12.5``, ``+3``, ``-1e-3``) is left alone: spreadsheets read it as that number,
never as a formula. A text cell such as ``-1+1`` or ``-cmd|' /C calc'!A0`` is defused.
"""

from __future__ import annotations

import csv
import io
import re
import tempfile
import unicodedata
from pathlib import Path
from shutil import copyfileobj

import polars as pl

__all__ = ["FORMULA_PREFIXES", "defuse_cell", "defuse_formulas", "is_formula", "write_safe_csv"]

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_NUMBER_LITERAL = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
# Cells worth asking is_formula about: an ASCII trigger first, or a non-ASCII first character
# (whose NFKC form may be a trigger). A cell starting with any other ASCII character keeps that
# character first under NFKC (a composition of it with a following mark is never ASCII).
_CANDIDATE = r"^(?:[=+\-@\t\r]|[^\x00-\x7F])"


def is_formula(cell: str) -> bool:
    """Whether a spreadsheet could run ``cell`` as a formula (see the module docstring)."""
    if not cell:
        return False
    if _NUMBER_LITERAL.fullmatch(cell):
        return False
    return cell.startswith(FORMULA_PREFIXES) or unicodedata.normalize("NFKC", cell).startswith(FORMULA_PREFIXES)


def defuse_cell(cell: str) -> str:
    """``cell`` with a leading ``'`` when :func:`is_formula` says it is live, else unchanged."""
    return "'" + cell if is_formula(cell) else cell


def _defuse_series(s: pl.Series) -> pl.Series:
    candidate = s.str.contains(_CANDIDATE).fill_null(False)
    if not candidate.any():
        return s
    idx = candidate.arg_true()
    fixed = pl.Series([defuse_cell(v) for v in s.gather(idx).to_list()], dtype=pl.String)
    return s.clone().scatter(idx, fixed)


def defuse_formulas(data: pl.LazyFrame | pl.DataFrame) -> pl.LazyFrame:
    """Prefix with ``'`` every text cell a spreadsheet would run as a formula."""
    lf = data.lazy()
    schema = lf.collect_schema()
    exprs = []
    for name, dtype in schema.items():
        if dtype == pl.String or isinstance(dtype, pl.Categorical | pl.Enum):
            s = pl.col(name).cast(pl.String)
            # Elementwise: a streamed frame is defused batch by batch, never held whole.
            exprs.append(s.map_batches(_defuse_series, return_dtype=pl.String, is_elementwise=True).alias(name))
    return lf.with_columns(exprs) if exprs else lf


def _header_line(names: list[str]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(names)
    return buf.getvalue()


def write_safe_csv(frame: pl.LazyFrame | pl.DataFrame, path: str | Path) -> Path:
    """Write ``frame`` as UTF-8 CSV with spreadsheet formulas defused (see the module docstring).

    Header cells are defused like values.

    Parameters
    ----------
    frame
        The data; a lazy frame is streamed to the file.
    path
        Destination file.

    Returns
    -------
    pathlib.Path
        The path written.
    """
    path = Path(path)
    lf = defuse_formulas(frame)
    # Nested columns have no CSV form; they are written as their JSON text.
    schema = lf.collect_schema()
    nested = [n for n, t in schema.items() if t.is_nested()]
    if nested:
        lf = lf.with_columns(pl.col(n).map_elements(lambda v: str(v), return_dtype=pl.String) for n in nested)
    names = list(schema.names())
    header = [defuse_cell(n) for n in names]
    if header == names:
        lf.sink_csv(path)
    elif len(set(header)) == len(header):
        lf.rename(dict(zip(names, header, strict=True))).sink_csv(path)
    else:
        # A defused name equals another column's name: write the header row by hand.
        with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".body.csv", delete=False) as tmp:
            body = Path(tmp.name)
        try:
            lf.sink_csv(body, include_header=False)
            with open(path, "w", encoding="utf-8", newline="") as out, open(body, encoding="utf-8", newline="") as src:
                out.write(_header_line(header))
                copyfileobj(src, out)
        finally:
            body.unlink(missing_ok=True)
    return path
