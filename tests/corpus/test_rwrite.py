"""The R writer writes what R's ``write.csv`` writes (the outputs below are R's own)."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.corpus.rwrite import r_csv_text, r_number  # noqa: E402


@pytest.mark.parametrize(("value", "written"), [
    (55.0, "55"), (0.1 + 0.2, "0.3"), (1 / 3, "0.333333333333333"), (100000.0, "1e+05"), (123456.0, "123456"),
    (100000.1, "100000.1"), (0.0001, "1e-04"), (0.001, "0.001"), (1e15, "1e+15"), (123456789012.0, "123456789012"),
    (-0.5, "-0.5"), (-100000.0, "-1e+05"), (1.5e-10, "1.5e-10"), (0.0, "0"), (float("nan"), "NA"),
    (float("inf"), "Inf"), (float("-inf"), "-Inf"),
])
def test_numbers_are_written_as_r_writes_them(value, written):
    assert r_number(value) == written


def test_rownames_header_quotes_and_missing_values_follow_write_csv():
    frame = pd.DataFrame({"rownames": ["Mazda RX4", "Datsun 710"], "mpg": [21.0, 22.8], "ok": [True, False],
                          "note": ['say "hi"', None], "day": ["2020-01-02", None]})
    assert r_csv_text(frame) == (
        '"","mpg","ok","note","day"\n'
        '"Mazda RX4",21,TRUE,"say ""hi""",2020-01-02\n'
        '"Datsun 710",22.8,FALSE,NA,NA\n'
    )
