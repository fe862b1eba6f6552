"""CSV export that spreadsheets cannot execute.

A spreadsheet treats a cell starting with ``=``, ``+``, ``-`` or ``@`` (and, in some programs, a
tab or carriage return) as a formula, which lets a crafted value run code or leak data when the
file is opened (CSV injection). Every such *text* cell gets a leading apostrophe, which the
spreadsheet shows as text.

Only text (string, categorical) columns are defused. Numeric, boolean and date columns are
written as they are: a negative number in a numeric column is a number, not a formula, and
prefixing it would corrupt the data. For the same reason a text cell holding exactly a number
literal (``-12.5``, ``+3``, ``-1e-3``) is left alone: spreadsheets read it as that number, never
as a formula. A text cell such as ``-1+1`` or ``-cmd|' /C calc'!A0`` is defused.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

__all__ = ["FORMULA_PREFIXES", "defuse_formulas", "write_safe_csv"]

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_NUMBER_LITERAL = r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$"
_TRIGGER = r"^[=+\-@\t\r]"


def defuse_formulas(data: pl.LazyFrame | pl.DataFrame) -> pl.LazyFrame:
    """Prefix with ``'`` every text cell a spreadsheet would run as a formula."""
    lf = data.lazy()
    schema = lf.collect_schema()
    exprs = []
    for name, dtype in schema.items():
        if dtype == pl.String or isinstance(dtype, pl.Categorical | pl.Enum):
            s = pl.col(name).cast(pl.String)
            live = s.str.contains(_TRIGGER) & ~s.str.contains(_NUMBER_LITERAL)
            exprs.append(pl.when(live).then(pl.lit("'") + s).otherwise(s).alias(name))
    return lf.with_columns(exprs) if exprs else lf


def write_safe_csv(frame: pl.LazyFrame | pl.DataFrame, path: str | Path) -> Path:
    """Write ``frame`` as UTF-8 CSV with spreadsheet formulas defused (see the module docstring).

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
    lf.sink_csv(path)
    return path
