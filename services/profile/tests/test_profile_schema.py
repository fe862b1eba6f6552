"""The profile of real files validates against the published JSON Schema with its formats checked.

A client of ``profile.v1.json`` (or of the gateway's OpenAPI document, built from the same models) that checks
``format`` reads every profile the service writes. The date bounds keep the column's meaning: a column with a
time zone gives instants in UTC ending in ``Z``; a column without one (date-times written without an offset, dates)
gives its wall-clock values as written, without an offset and without any shift by the machine's zone.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import polars as pl
import pytest
from check_jsonschema.formats.implementations import validate_rfc3339
from dsp_ingest.domain import ingest_csv
from dsp_profile.domain import profile_dataset
from shared_contracts.events import IngestOptions
from shared_contracts.schemas import SCHEMA_DIR

PUBLISHED = SCHEMA_DIR / "documents" / "profile.v1.json"

NAIVE_CSV = """when,x
2024-03-01 12:00:00,1
2024-03-02 08:30:15.250,2
2024-03-03 23:59:59,3
"""
"""Date-times without an offset: wall-clock times of an unknown zone."""

OFFSET_CSV = """when,x
2024-03-01T12:00:00+02:00,1
2024-03-02T08:30:00-05:00,2
2024-03-03T23:00:00Z,3
"""
"""Date-times with their offsets: instants."""

DAYS_CSV = """day,x
2024-03-01,1
2024-03-02,2
2024-03-03,3
"""


@pytest.fixture
def validator() -> jsonschema.Draft202012Validator:
    """The published schema with every format it names checked; ``date-time`` as RFC 3339 strictly requires
    (an offset or Z), which jsonschema's own checker leaves unchecked without an optional package."""
    checker = jsonschema.FormatChecker()
    checker.checks("date-time")(validate_rfc3339)
    return jsonschema.Draft202012Validator(json.loads(PUBLISHED.read_text()), format_checker=checker)


@pytest.fixture(autouse=True)
def far_from_utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The process in a zone far from UTC: a wall-clock value shifted by the machine's zone would show."""
    monkeypatch.setenv("TZ", "America/Los_Angeles")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def _profile_of_csv(text: str, tmp_path: Path, *, streamed: bool) -> dict[str, Any]:
    source = tmp_path / "data.csv"
    source.write_text(text)
    parquet = tmp_path / "data.parquet"
    ingest_csv(source, parquet, options=IngestOptions())
    return _profile(parquet, streamed=streamed)


def _profile(parquet: Path, *, streamed: bool) -> dict[str, Any]:
    profile = profile_dataset(parquet, exact_max_rows=1) if streamed else profile_dataset(parquet)
    return json.loads(profile.model_dump_json())


def _dates(document: dict[str, Any], column: str) -> dict[str, Any]:
    dates = next(c for c in document["columns"] if c["name"] == column)["dates"]
    assert dates is not None
    return dates


@pytest.mark.parametrize("streamed", [False, True], ids=["in-memory", "streamed"])
@pytest.mark.parametrize(("text", "column", "expected"), [
    (NAIVE_CSV, "when", {"min": "2024-03-01T12:00:00", "max": "2024-03-03T23:59:59", "time_zone": None}),
    (OFFSET_CSV, "when", {"min": "2024-03-01T10:00:00Z", "max": "2024-03-03T23:00:00Z", "time_zone": "UTC"}),
    (DAYS_CSV, "day", {"min": "2024-03-01T00:00:00", "max": "2024-03-03T00:00:00", "time_zone": None}),
], ids=["naive", "offset", "dates"])
def test_the_profile_of_a_csv_validates_with_formats_and_keeps_its_date_bounds_exact(
        validator: jsonschema.Draft202012Validator, tmp_path: Path, text: str, column: str,
        expected: dict[str, Any], streamed: bool) -> None:
    document = _profile_of_csv(text, tmp_path, streamed=streamed)
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(document)]
    assert errors == []
    dates = _dates(document, column)
    assert {key: dates[key] for key in expected} == expected


@pytest.mark.parametrize("streamed", [False, True], ids=["in-memory", "streamed"])
def test_a_column_in_another_zone_is_written_in_utc_and_names_its_zone(
        validator: jsonschema.Draft202012Validator, tmp_path: Path, streamed: bool) -> None:
    """A Parquet column zoned Europe/Paris: the same instants, in UTC; the zone kept in ``time_zone``; the value
    after the time of profiling counted as in the future."""
    parquet = tmp_path / "paris.parquet"
    local = pl.Series("when", ["2024-03-01 12:00:00", "2024-07-01 12:00:00", "2999-01-01 00:00:00"]).str.to_datetime()
    pl.DataFrame({"when": local.dt.replace_time_zone("Europe/Paris"), "x": [1, 2, 3]}).write_parquet(parquet)
    document = _profile(parquet, streamed=streamed)
    validator.validate(document)
    dates = _dates(document, "when")
    assert dates["min"] == "2024-03-01T11:00:00Z"  # winter: UTC+1
    assert dates["max"] == "2998-12-31T23:00:00Z"
    assert (dates["time_zone"], dates["future_values"]) == ("Europe/Paris", 1)
