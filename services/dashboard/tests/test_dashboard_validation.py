"""The validation panel: the user's rules on the penguins sample, from the ingest report to the page."""

from __future__ import annotations

import re
from html import unescape
from pathlib import Path

import pytest
from dsp_dashboard.domain import build_dashboard
from dsp_dashboard.domain import components as comp
from dsp_ingest.domain import ingest_csv
from dsp_profile.domain import profile_dataset
from shared_contracts.events import IngestOptions
from shared_contracts.profile import Profile, ValidationSummary

SAMPLE = Path(__file__).resolve().parents[3] / "samples" / "penguins-raw.csv"
RULES = [
    {"type": "not_null", "column": "Delta 15 N (o/oo)"},  # 14 rows, on file lines 2, 5, 10, 13, 14...
    {"type": "range", "column": "Body Mass (g)", "max": 5000, "severity": "warning", "name": "not too heavy"},
    {"type": "not_null", "column": "Species"},
]


@pytest.fixture(scope="module")
def checked(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Profile]:
    parquet = tmp_path_factory.mktemp("penguins") / "data.parquet"
    report = ingest_csv(SAMPLE, parquet, options=IngestOptions(validation_rules=RULES))
    profile = profile_dataset(parquet, semantic_types={c.name: c.semantic_type for c in report.columns},
                              validation=ValidationSummary.of(report.validation, rows=report.row_count))
    return parquet, profile


def _card(html: str, card_id: str) -> str:
    found = re.search(rf'<article class="card [^"]*" id="{card_id}">(.*?)</article>', html, re.S)
    assert found, f"card {card_id} missing"
    return found.group(1)


def _cells(card: str) -> list[list[str]]:
    return [[unescape(re.sub(r"<[^>]+>", "", td)).strip() for td in re.findall(r"<td[^>]*>(.*?)</td>", tr, re.S)]
            for tr in re.findall(r"<tr[^>]*>(.*?)</tr>", card, re.S)]


def test_the_page_shows_the_broken_rules_with_counts_and_first_file_lines(checked) -> None:
    parquet, profile = checked
    card = _card(build_dashboard(data=parquet, profile=profile), "validation")
    assert "Validation rules: failed validation" in card
    heavy = next(r.failed_count for r in profile.validation.rules if r.name == "not too heavy")
    assert heavy > 0
    rows = {row[0]: row for row in _cells(card) if row}
    delta = rows["Delta 15 N (o/oo) is not null"]
    assert delta[1:6] == ["error", "Delta 15 N (o/oo)", "14", "4.1%", "2, 5, 10, 13, 14"]
    assert delta[6] == "missing; missing; missing; missing; missing"
    assert rows["not too heavy"][1] == "warning" and rows["not too heavy"][3] == f"{heavy:,}"
    assert rows["Species is not null"][3:] == ["0", "", "", "all rows pass"]
    assert list(rows) == ["Delta 15 N (o/oo) is not null", "not too heavy", "Species is not null"]  # worst first
    assert "1 error rule(s) and 1 warning rule(s) broken, of 3 checked on 344 rows" in unescape(card)


def test_no_rules_no_panel_and_a_passing_set_says_so(checked) -> None:
    parquet, profile = checked
    html = build_dashboard(data=parquet, profile=profile.model_copy(update={"validation": None}))
    assert 'id="validation"' not in html
    passing = profile.validation.model_copy(update={"status": "passed", "errors_failed": 0, "warnings_failed": 0,
                                                    "rules": [profile.validation.rules[2]], "rules_checked": 1})
    panel = comp.validation_panel(profile.model_copy(update={"validation": passing}))
    assert panel is not None and panel.title == "Validation rules: passed"
    assert panel.note == "All 1 rule(s) pass on 344 rows."
