"""Declarative validation rules: parsing (JSON/YAML), errors, and results on real data."""

from __future__ import annotations

import pytest
from dsp_ingest.domain import IngestError, load_rules

CSV = (
    "id,age,email,status,start_date,end_date,price\n"
    "1,34,ann@example.com,active,2024-01-01,2024-02-01,10.5\n"
    "2,,bob@example,inactive,2024-03-01,2024-02-01,3.0\n"
    "3,150,cy@example.com,banned,2024-01-05,2024-01-06,-1\n"
    "3,40,dee@example.com,active,2024-01-05,2024-01-04,7\n"
)


def test_load_rules_json_and_yaml_agree():
    as_json = '[{"type": "not_null", "column": "a"}, {"type": "range", "column": "b", "min": 0, "max": 5}]'
    as_yaml = "rules:\n  - {type: not_null, column: a}\n  - type: range\n    column: b\n    min: 0\n    max: 5\n"
    assert load_rules(as_json) == load_rules(as_yaml)
    assert [r.type for r in load_rules(as_yaml)] == ["not_null", "range"]


@pytest.mark.parametrize(
    "text",
    [
        "{not json: [",
        '[{"type": "nope", "column": "a"}]',
        '[{"type": "range", "column": "a"}]',
        '[{"type": "regex", "column": "a", "pattern": "("}]',
        '[{"type": "compare", "column_a": "a", "op": "<"}]',
        '[{"type": "expr", "expr": "just words"}]',
        '[{"type": "not_null"}]',
        '"a string"',
    ],
)
def test_invalid_rules(text):
    with pytest.raises(IngestError) as info:
        load_rules(text)
    assert info.value.code == "invalid_rules"


def test_rule_on_unknown_column_is_invalid(ingest_bytes):
    with pytest.raises(IngestError) as info:
        ingest_bytes(CSV, validation_rules=[{"type": "not_null", "column": "missing"}])
    assert info.value.code == "invalid_rules"
    assert info.value.details["unknown_columns"] == ["missing"]


def test_every_rule_kind_on_data(ingest_bytes):
    rules = [
        {"type": "not_null", "column": "age"},
        {"type": "range", "column": "age", "min": 0, "max": 120},
        {"type": "regex", "column": "email", "pattern": r"^[^@]+@[^@]+\.[a-z]+$", "name": "email shape"},
        {"type": "allowed_values", "column": "status", "values": ["active", "inactive"]},
        {"type": "unique", "columns": ["id"]},
        {"type": "compare", "column_a": "end_date", "op": ">=", "column_b": "start_date"},
        {"type": "expr", "expr": "price > 0", "severity": "warning"},
        {"type": "range", "column": "start_date", "min": "2024-01-01", "max": "2024-01-31"},
        {"type": "expr", "expr": "id <= 3"},
    ]
    report, _ = ingest_bytes(CSV, validation_rules=rules)
    results = {r.name: r for r in report.validation}
    assert len(report.validation) == len(rules)

    not_null = results["age is not null"]
    assert (not_null.passed, not_null.failing_count, not_null.sample_rows, not_null.sample_lines) == (False, 1, [1], [3])

    age_range = results["0 <= age <= 120"]
    assert (age_range.failing_count, age_range.sample_rows, age_range.sample_values) == (1, [2], [150])

    email = results["email shape"]
    assert (email.failing_count, email.sample_values) == (1, ["bob@example"])

    status = results["status in ['active', 'inactive']"]
    assert (status.failing_count, status.sample_values) == (1, ["banned"])

    unique = results["id unique"]
    assert (unique.failing_count, unique.sample_rows) == (2, [2, 3])

    dates = results["end_date >= start_date"]
    assert dates.kind == "compare"
    assert (dates.failing_count, dates.sample_rows) == (2, [1, 3])
    assert dates.sample_values[0] == {"end_date": "2024-02-01", "start_date": "2024-03-01"}

    price = results["price > 0"]
    assert (price.failing_count, price.severity, price.kind) == (1, "warning", "expr")

    assert results["2024-01-01 <= start_date <= 2024-01-31"].failing_count == 1
    assert results["id <= 3"].passed and results["id <= 3"].failing_count == 0
    assert results["id <= 3"].message.startswith("All rows")


def test_rule_line_numbers_follow_skipped_rows(ingest_bytes):
    text = "id,v\n1,5\n2,5,extra\n\n3,-1\n4,5\n"
    report, _ = ingest_bytes(text, bad_rows="skip", validation_rules=[{"type": "range", "column": "v", "min": 0}])
    result = report.validation[0]
    assert result.sample_rows == [1]
    assert result.sample_lines == [5]


def test_rules_round_trip_through_model_dump():
    rules = load_rules(
        '[{"type": "unique", "column": "id"}, {"type": "expr", "expr": "a < b"}, {"type": "range", "column": "x", "max": 3}]'
    )
    from dsp_ingest.domain import parse_rules

    assert parse_rules([r.model_dump() for r in rules]) == rules
    assert rules[0].used_columns() == ["id"]
    assert rules[1].used_columns() == ["a", "b"]


def test_rule_that_does_not_fit_the_column_type_is_invalid(ingest_bytes):
    with pytest.raises(IngestError) as info:
        ingest_bytes(CSV, validation_rules=[{"type": "range", "column": "email", "min": 0}])
    assert info.value.code == "invalid_rules"
    assert info.value.details["column_types"] == {"email": "String"}


def test_a_broken_error_rule_blocks_only_when_asked(ingest_bytes, tmp_path):
    rules = [{"type": "not_null", "column": "age"}, {"type": "expr", "expr": "price > 0", "severity": "warning"}]
    report, frame = ingest_bytes(CSV, validation_rules=rules)
    assert frame.height == 4 and not report.validation[0].passed  # marked, not blocked

    report, _ = ingest_bytes(CSV, validation_rules=rules[1:], block_on_validation_error=True)
    assert report.validation[0].failing_count == 1  # a broken warning never blocks

    before = set(tmp_path.iterdir())
    with pytest.raises(IngestError) as info:
        ingest_bytes(CSV, validation_rules=rules, block_on_validation_error=True)
    assert info.value.code == "validation_failed"
    assert info.value.details["rules"] == [
        {"name": "age is not null", "columns": ["age"], "failing_count": 1, "sample_lines": [3]}]
    assert not [p for p in set(tmp_path.iterdir()) - before if p.suffix == ".parquet"]  # nothing written
