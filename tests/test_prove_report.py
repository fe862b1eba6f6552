"""bench/prove.py renders docs/reliability.md from the proofs' JSONs: every section, and every failure flagged."""

from __future__ import annotations

import importlib.util
import json
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]

MACHINE = {"cpu": "Test CPU 3000", "cpus": 2, "arch": "x86_64", "memory_gib": 24.0, "os": "Debian GNU/Linux 12",
           "python": "3.11.9", "polars": "1.0.0", "autogluon": "1.1.0", "postgresql": "15.20", "rabbitmq": "3.10.8",
           "redis": "7.0.15", "commit": "abc1234"}


def _prove() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_prove", ROOT / "bench" / "prove.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _scenario(name: str, *, passed: bool = True, **figures: Any) -> dict[str, Any]:
    return {"name": name, "what": f"{name}, done plainly.", "passed": passed, "figures": figures}


def _run(name: str, result: dict[str, Any] | None, *, exit_code: int | None = 0, status: str = "ran") -> dict[str, Any]:
    return {"name": name, "script": f"bench/prove_{name}.py", "status": status, "exit_code": exit_code,
            "command": f".venv/bin/python bench/prove_{name}.py --json out/prove/{name}.json", "seconds": 12,
            "started": "2026-12-02 01:00 UTC", "quick": False, "load_before": [1.5, 1.0, 0.5],
            "load_after": [2.25, 1.0, 0.5], "result": result, "tail": "Traceback: boom"}


def _result(name: str, *scenarios: dict[str, Any], passed: bool = True) -> dict[str, Any]:
    return {"name": name, "title": f"{name.capitalize()}: the {name} proof", "passed": passed,
            "scenarios": list(scenarios), "notes": [f"a note of {name}"]}


@pytest.fixture(scope="module")
def prove() -> ModuleType:
    return _prove()


def test_a_passing_set_renders_every_section_with_its_figures(prove: ModuleType) -> None:
    runs = [_run("chaos", _result("chaos", _scenario("kill -9 etl x20", jobs=40, completed=40, lost=0, duplicates=0,
                                                     recovery_s_max=3.2))),
            _run("fuzz", _result("fuzz", _scenario("atheris on the CSV reader", executions=1_000_000, crashes=0))),
            _run("throughput", _result("throughput", _scenario("50 concurrent analyses drain", jobs=50, lost=0,
                                                               duplicates=0, jobs_per_hour=516.0)))]
    text = prove.render(MACHINE, runs)
    assert text.startswith("# Reliability\n")
    assert "**Last run: all 3 proofs passed**" in text and "FAILED" not in text
    for heading in ("## The machine", "## Summary", "## Chaos: the chaos proof", "## Fuzz: the fuzz proof",
                    "## Throughput: the throughput proof", "### kill -9 etl x20", "### atheris on the CSV reader",
                    "## Running it"):
        assert f"\n{heading}\n" in text, heading
    for named in ("Test CPU 3000, 2 cores", "24.0 GiB", "| PostgreSQL | 15.20 |", "| RabbitMQ | 3.10.8 |",
                  "| Redis | 7.0.15 |", "| AutoGluon | 1.1.0 |", "| Polars | 1.0.0 |", "commit abc1234"):
        assert named in text, named
    assert "`.venv/bin/python bench/prove_chaos.py --json out/prove/chaos.json`: exit code 0" in text
    assert "| executions | 1,000,000 |" in text and "| recovery s max | 3.2 |" in text
    assert "| jobs per hour | 516 |" in text
    assert "| kill -9 etl x20 | passed | **0** | **0** |" in text
    assert "| atheris on the CSV reader | passed | — | — |" in text, "no jobs: nothing to lose, shown as such"
    assert "| [chaos](#chaos-the-chaos-proof) | passed | 1/1 | 0 | 0 | 12 | 1.50 → 2.25 |" in text
    assert "- a note of fuzz" in text
    runs[1]["quick"] = True
    assert "Run with `--quick` (shorter, its figures smaller): fuzz; the others in full." in prove.render(MACHINE, runs)


def test_a_failed_scenario_a_loss_a_crash_and_a_missing_script_are_each_flagged(prove: ModuleType) -> None:
    runs = [_run("chaos", _result("chaos", _scenario("restart RabbitMQ", jobs=20, lost=0, duplicates=0),
                                  {**_scenario("kill -9 ml x20", passed=False, jobs=20, lost=0, duplicates=0),
                                   "problems": ["ml not consuming 31 s after its kill"]},
                                  passed=False), exit_code=1),
            # a script that says it passed, yet lost a job: failed all the same
            _run("throughput", _result("throughput", _scenario("drain", jobs=50, lost=1, duplicates=0))),
            _run("hostile", None, exit_code=2),
            _run("fuzz", None, exit_code=None, status="missing")]
    text = prove.render(MACHINE, runs)
    assert "**Last run: FAILED** (4 of 4 proofs: chaos, throughput, hostile, fuzz)" in text
    assert "| kill -9 ml x20 | **FAILED** | **0** | **0** |" in text
    assert "| restart RabbitMQ | passed |" in text
    assert "- ml not consuming 31 s after its kill" in text
    assert "| drain | **FAILED** | **1** | **0** |" in text and "**FAILED**: lost 1." in text
    assert "exit code 2, no JSON written" in text and "Traceback: boom" in text
    assert "**Not run: script missing** (`bench/prove_fuzz.py`)" in text
    assert "not run: script missing (bench/prove_fuzz.py)" in text
    verdicts = {run["name"]: prove.proof_verdict(run) for run in runs}
    assert not any(ok for ok, _ in verdicts.values())
    assert verdicts["chaos"] == (False, "failed: kill -9 ml x20")


def test_a_proof_whose_exit_code_disagrees_with_its_json_fails(prove: ModuleType) -> None:
    run = _run("values", _result("values", _scenario("250 files", files=250, silent_changes=0)), exit_code=1)
    assert prove.proof_verdict(run) == (False, "exit code 1, passed=True")
    assert prove.proof_verdict({**run, "exit_code": 0}) == (True, "passed")


def test_render_only_reads_what_out_prove_holds_and_exits_1_on_a_failure(prove: ModuleType, tmp_path: Path) -> None:
    out_dir, page = tmp_path / "prove", tmp_path / "reliability.md"
    out_dir.mkdir()
    runs = {name: {k: v for k, v in _run(name, None).items() if k != "result"}
            for name, _, _ in prove.PROOFS}
    (out_dir / "run.json").write_text(json.dumps({"machine": MACHINE, "runs": runs}))
    for name, _, _ in prove.PROOFS:
        scenario = _scenario(f"{name} case", jobs=4, lost=0, duplicates=0)
        (out_dir / f"{name}.json").write_text(json.dumps(_result(name, scenario)))
    assert prove.main(["--render", "--dir", str(out_dir), "--out", str(page)]) == 0
    assert f"**Last run: all {len(prove.PROOFS)} proofs passed**" in page.read_text()
    (out_dir / "chaos.json").write_text(json.dumps(_result("chaos", _scenario("c", jobs=4, duplicates=2))))
    assert prove.main(["--render", "--dir", str(out_dir), "--out", str(page)]) == 1
    assert "| c | **FAILED** | — | **2** |" in page.read_text()


def test_run_proof_keeps_the_json_the_exit_code_and_stops_a_script_past_its_time(prove: ModuleType,
                                                                                 tmp_path: Path) -> None:
    good = tmp_path / "prove_good.py"
    good.write_text("import json, sys\n"
                    "out = sys.argv[sys.argv.index('--json') + 1]\n"
                    "print('working', flush=True)\n"
                    "json.dump({'name': 'good', 'passed': '--quick' in sys.argv, 'scenarios': []}, open(out, 'w'))\n")
    run = prove.run_proof("good", str(good), quick=True, out_dir=tmp_path, timeout_s=60)
    assert run["status"] == "ran" and run["exit_code"] == 0 and run["result"]["passed"] is True
    assert run["command"].endswith("--quick") and (tmp_path / "good.log").read_text() == "working\n"
    assert prove.proof_verdict(run) == (False, "no scenario reported")
    slow = tmp_path / "prove_slow.py"
    slow.write_text("import time\ntime.sleep(60)\n")
    started = time.monotonic()
    stopped = prove.run_proof("slow", str(slow), quick=False, out_dir=tmp_path, timeout_s=1)
    assert stopped["status"] == "timeout" and time.monotonic() - started < 30
    assert prove.proof_verdict(stopped)[0] is False
    missing = prove.run_proof("gone", str(tmp_path / "prove_gone.py"), quick=False, out_dir=tmp_path, timeout_s=1)
    assert prove.proof_verdict(missing) == (False, f"not run: script missing ({tmp_path / 'prove_gone.py'})")


def test_a_proof_run_alone_stands_in_the_page_and_one_never_run_is_a_failure(prove: ModuleType,
                                                                           tmp_path: Path) -> None:
    out_dir, page = tmp_path / "prove", tmp_path / "reliability.md"
    out_dir.mkdir()
    alone = {**_result("throughput", _scenario("drain", jobs=8, lost=0, duplicates=0)),
             "command": "python bench/prove_throughput.py --json out/prove/throughput.json --quick"}
    (out_dir / "throughput.json").write_text(json.dumps(alone))
    assert prove.main(["--render", "--dir", str(out_dir), "--out", str(page)]) == 1
    text = page.read_text()
    assert ("`python bench/prove_throughput.py --json out/prove/throughput.json --quick`: exit code 0" in text)
    assert "| drain | passed | **0** | **0** |" in text
    assert "**Not run yet** (`bench/prove_values.py`)" in text
