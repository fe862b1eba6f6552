"""checkov (from PyPI) over deploy/: the Terraform, compose and secrets under deploy/.checkov.yaml, and the Helm chart
rendered with its test values under deploy/helm/dsp/checkov.yaml. No check fails; every skip carries a written
reason (inline ``#checkov:skip=ID:reason`` in the Terraform, comments in the chart's config).

checkov is run through ``uvx`` (an isolated environment from PyPI) when it is not on PATH: its dependencies conflict
with the project's AutoGluon pins, so it is not in the project's lock."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "dsp"
CHECKOV_VERSION = "3.2.500"


def _checkov() -> list[str]:
    if shutil.which("checkov"):
        return ["checkov"]
    uvx = shutil.which("uvx") or (str(Path.home() / ".local" / "bin" / "uvx")
                                  if (Path.home() / ".local" / "bin" / "uvx").exists() else None)
    if uvx is None:
        pytest.skip("neither checkov nor uvx (to fetch checkov from PyPI) is installed")
    return [uvx, "--from", f"checkov=={CHECKOV_VERSION}", "checkov"]


def _run(*args: str) -> str:
    result = subprocess.run([*_checkov(), *args, "--compact", "--quiet", "--output", "cli"], capture_output=True,
                            text=True, timeout=900, cwd=ROOT)
    out = result.stdout + result.stderr
    failed = [int(n) for n in re.findall(r"Failed checks: (\d+)", out)]
    assert result.returncode == 0 and not any(failed), out[-6000:]
    return out


def test_checkov_passes_on_the_terraform_compose_and_secrets_of_deploy() -> None:
    out = _run("--directory", "deploy", "--config-file", "deploy/.checkov.yaml")
    assert re.search(r"Passed checks: [1-9]\d*", out), "checkov ran no check"
    for path in (ROOT / "deploy" / "terraform").rglob("*.tf"):
        for skip in re.findall(r"#checkov:skip=([A-Z0-9_]+)(:?)(.*)", path.read_text()):
            assert skip[1] == ":" and len(skip[2].strip()) > 20, f"{path.name}: {skip[0]} is skipped without a reason"


def test_checkov_passes_on_the_rendered_chart(tmp_path: Path) -> None:
    helm = pytest.importorskip("helm_python")
    values = yaml.safe_load((CHART / "ci" / "test-values.yaml").read_text())
    rendered = helm.Chart.load(CHART).render(values, name="dsp", namespace="analytics", is_install=True,
                                             is_upgrade=False)
    for path, text in rendered.items():
        if not path.endswith(".txt"):
            (tmp_path / path.replace("/", "_")).write_text(text)
    config = yaml.safe_load((CHART / "checkov.yaml").read_text())
    raw = (CHART / "checkov.yaml").read_text()
    for check in config["skip-check"]:
        assert re.search(rf"#[^\n]+\n(?:\s*#[^\n]*\n)*\s*- {check}\b", raw), f"{check} is skipped without a reason"
    out = _run("--directory", str(tmp_path), "--config-file", str(CHART / "checkov.yaml"))
    assert re.search(r"Passed checks: [1-9]\d*", out), "checkov ran no check"
