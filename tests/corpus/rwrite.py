"""Write a pandas frame as R's ``write.csv`` does, so the reader is tested on the files people download.

R's defaults (``write.csv(df)``): a leading row-names column whose header is ``""``; the header
and every character or factor value quoted, inner quotes doubled; ``NA`` bare for any missing
value; doubles with up to 15 significant digits, in the shorter of fixed and scientific
notation (``55``, ``0.3``, ``1e+05``, ``1e-04``); integers as digits; logicals ``TRUE``/``FALSE``;
dates and date-times in ISO 8601, unquoted.

Examples
--------
>>> import pandas as pd
>>> print(r_csv_text(pd.DataFrame({"x": [55.0, 0.1 + 0.2, 1e5, None], "s": ['a"b', None, "c", "d"]})), end="")
"","x","s"
"1",55,"a""b"
"2",0.3,NA
"3",1e+05,"c"
"4",NA,"d"
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["r_csv_text", "r_number", "write_r_csv"]

ROWNAMES = "rownames"
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}(?:[ T]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?$")


def r_number(x: float) -> str:
    """A double as R's ``as.character``/``write.csv`` writes it (15 significant digits, R's notation choice)."""
    if x is None or math.isnan(x):
        return "NA"
    if math.isinf(x):
        return "Inf" if x > 0 else "-Inf"
    if x == 0:
        return "0"
    mantissa, exponent = f"{abs(x):.14e}".split("e")
    kpower = int(exponent)
    nsig = len(mantissa.replace(".", "").rstrip("0")) or 1
    neg = 1 if x < 0 else 0
    if kpower >= 0:
        left, rgt = kpower + 1, max(0, nsig - kpower - 1)
    else:
        left, rgt = 1, nsig - kpower - 1
    fixed_width = neg + left + (rgt + 1 if rgt else 0)
    sci_width = neg + (nsig + 1 if nsig > 1 else 1) + (4 if abs(kpower) < 100 else 5)
    if fixed_width <= sci_width:
        return f"{x:.{rgt}f}"
    return f"{x:.{nsig - 1}e}"


def _quote(value: object) -> str:
    return '"' + str(value).replace('"', '""') + '"'


def _by_value(series: pd.Series, format_one) -> list[str]:
    """Format each distinct value once (data sets repeat values a lot); missing values become ``NA``."""
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    formatted = np.array([format_one(v) for v in uniques] + ["NA"], dtype=object)
    return formatted[codes].tolist()


def _column_cells(series: pd.Series) -> list[str]:
    """The cells of one column as R writes them."""
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return _by_value(series, lambda v: "TRUE" if v else "FALSE")
    if pd.api.types.is_integer_dtype(dtype):
        return _by_value(series, lambda v: str(int(v)))
    if pd.api.types.is_float_dtype(dtype):
        return _by_value(series, lambda v: r_number(float(v)))
    if pd.api.types.is_datetime64_any_dtype(dtype):
        times = series.dt.tz_localize(None) if getattr(series.dt, "tz", None) is not None else series
        whole_days = bool((times.dropna() == times.dropna().dt.normalize()).all())
        fmt = "%Y-%m-%d" if whole_days else "%Y-%m-%d %H:%M:%S"
        return list(times.dt.strftime(fmt).fillna("NA"))
    present = series.dropna()
    if len(present) and all(isinstance(v, bool) for v in present):
        return _by_value(series, lambda v: "TRUE" if v else "FALSE")
    if len(present) and all(isinstance(v, str) and _ISO_DATE.match(v) for v in present):
        return _by_value(series, str)  # a Date or POSIXct column: R writes it unquoted
    return _by_value(series, _quote)


def r_csv_text(frame: pd.DataFrame) -> str:
    """The text ``write.csv(frame)`` would write; a ``rownames`` column becomes R's row names."""
    if ROWNAMES in frame.columns:
        rownames = [str(v) for v in frame[ROWNAMES]]
        frame = frame.drop(columns=[ROWNAMES])
    else:
        rownames = [str(i + 1) for i in range(len(frame))]
    header = ",".join(['""', *(_quote(c) for c in frame.columns)])
    columns = [[_quote(r) for r in rownames], *(_column_cells(frame[c]) for c in frame.columns)]
    lines = [header, *(",".join(row) for row in zip(*columns, strict=True))]
    return "\n".join(lines) + "\n"


def write_r_csv(frame: pd.DataFrame, path: Path) -> Path:
    """Write ``frame`` to ``path`` as R's ``write.csv`` would (UTF-8, ``\\n`` line ends)."""
    path = Path(path)
    path.write_text(r_csv_text(frame), encoding="utf-8", newline="")
    return path
