"""The alert rules in deploy/prometheus/rules: valid for Prometheus (`promtool check rules`), their unit tests
pass (`promtool test rules`), each has a runbook section in docs/operate.md, and the chart ships the same file."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "rules"
RULE_TESTS = ROOT / "deploy" / "prometheus" / "tests"
needs_promtool = pytest.mark.skipif(shutil.which("promtool") is None,
                                    reason="promtool is not installed (Debian's prometheus package)")


def _alerts() -> list[dict[str, object]]:
    return [rule for path in sorted(RULES.glob("*.yml"))
            for group in yaml.safe_load(path.read_text())["groups"] for rule in group["rules"] if "alert" in rule]


@needs_promtool
def test_promtool_accepts_the_rules() -> None:
    result = subprocess.run(["promtool", "check", "rules", *map(str, sorted(RULES.glob("*.yml")))],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


@needs_promtool
def test_promtool_unit_tests_of_the_alerts_pass() -> None:
    result = subprocess.run(["promtool", "test", "rules", *map(str, sorted(RULE_TESTS.glob("*.yml")))],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout + result.stderr


def test_every_alert_is_unit_tested_and_has_a_runbook() -> None:
    tested = {case["alertname"] for path in RULE_TESTS.glob("*.yml")
              for test in yaml.safe_load(path.read_text())["tests"] for case in test.get("alert_rule_test", [])
              if case.get("exp_alerts")}
    runbook = (ROOT / "docs" / "operate.md").read_text()
    headings = {re.sub(r"[^a-z0-9]", "", line.lstrip("#").strip().lower())
                for line in runbook.splitlines() if line.startswith("### ")}
    for alert in _alerts():
        name = str(alert["alert"])
        assert name in tested, f"{name} has no promtool test that makes it fire"
        anchor = str(alert["annotations"]["runbook"]).split("#")[1]  # type: ignore[index]
        assert anchor in headings, f"{name}: docs/operate.md has no section #{anchor}"
        assert alert["labels"]["severity"] in ("critical", "warning")  # type: ignore[index]


def test_the_chart_ships_the_same_rules() -> None:
    for path in RULES.glob("*.yml"):
        assert (ROOT / "deploy" / "helm" / "dsp" / "prometheus" / path.name).read_text() == path.read_text()
