"""Prove the ingest reader and its type inference hold for any bytes: atheris (libFuzzer), 1M executions.

    .venv/bin/python bench/prove_fuzz.py --json OUT.json [--quick]

Runs ``bench/fuzz_ingest.py`` once per target, each in its own process with the ingest code
instrumented for coverage, starting from the seeds and regressions in ``tests/corpus/ingest/<target>/``
(the inputs it discovers go to a temporary folder, not into the repository):

- ``sniff``: encoding detection, decoding check, dialect sniffing and the sample records;
- ``infer``: the type inference of one column and its conversion;
- ``ingest``: the whole reader, ``ingest_file``, compressed inputs included.

The full run shares 1,000,000 executions among them in proportion to their speed (the whole reader
runs 20 to 50 inputs a second here, the sniffer about 2,000); ``--quick`` runs 1 % of that. A target passes
when libFuzzer finishes its runs with no finding; a finding is kept under ``--artifacts`` (default a
temporary folder) and named in the JSON. Exits 0 when every target passes, else 1.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "tests" / "corpus" / "ingest"
RUNS = {"sniff": 950_000, "infer": 40_000, "ingest": 10_000}
MAX_LEN = {"sniff": 1024, "infer": 4096, "ingest": 4096}
WHAT = {
    "sniff": "Random and mutated bytes through encoding detection, the decoding check, dialect sniffing and "
             "the sample records: each input is accepted or rejected with a typed ingest error.",
    "infer": "Mutated lists of cell values through the number format, the column type inference and the "
             "conversion the inferred plan applies: no exception, one output per value, a converted value "
             "never counted as unparseable.",
    "ingest": "Mutated files (CSV, gzip) through the whole reader with a 1 MiB decompression cap: a typed ingest "
              "error with no exception text, or a Parquet file whose row and column counts match the report.",
}
_DONE = re.compile(r"Done (\d+) runs in (\d+) second")
_STATS = re.compile(r"#(\d+)\s+DONE\s+cov: (\d+) ft: (\d+) corp: (\d+)/\S+.*rss: (\d+)Mb")


def run_target(name: str, runs: int, artifacts: Path, *, max_len: int, timeout: float) -> dict:
    out_corpus = Path(tempfile.mkdtemp(prefix=f"fuzz-{name}-"))
    prefix = artifacts / name
    prefix.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, str(ROOT / "bench" / "fuzz_ingest.py"), name, f"-runs={runs}", f"-max_len={max_len}",
           f"-artifact_prefix={prefix}/", "-print_final_stats=1", f"-max_total_time={int(timeout)}",
           str(out_corpus), str(CORPUS / name)]
    env = {**os.environ, "POLARS_MAX_THREADS": "1", "PYTHONPATH": str(ROOT)}
    started = time.monotonic()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=timeout + 120)
        returncode, log = proc.returncode, proc.stderr + proc.stdout
    except subprocess.TimeoutExpired as exc:  # a starved machine: a failure of the target, said so, not a crash
        returncode = None
        log = "".join(part.decode(errors="replace") if isinstance(part, bytes) else (part or "")
                      for part in (exc.stderr, exc.stdout))
        log += f"\n(stopped: still running {timeout + 120:.0f} s after it started)"
    wall = time.monotonic() - started
    (artifacts / f"{name}.log").write_text(log)
    shutil.rmtree(out_corpus, ignore_errors=True)
    done = _DONE.search(log)
    stats = _STATS.search(log)
    findings = sorted(p.name for p in prefix.iterdir() if p.name.startswith(("crash-", "timeout-", "oom-", "leak-")))
    executed = int(done.group(1)) if done else (int(stats.group(1)) if stats else 0)
    passed = returncode == 0 and not findings and executed >= runs
    figures = {"executions": executed, "wall_s": round(wall, 1), "exec_per_s": round(executed / wall, 1) if wall else 0,
               "coverage_edges": int(stats.group(2)) if stats else None,
               "corpus_units": int(stats.group(4)) if stats else None,
               "peak_rss_mb": int(stats.group(5)) if stats else None, "findings": len(findings)}
    result = {"name": f"atheris {name}", "what": WHAT[name], "passed": passed, "figures": figures}
    if returncode is None:
        result["problems"] = [f"stopped after {wall:.0f} s: {executed:,} of {runs:,} executions (the budget is "
                              "sized for this machine's usual speed; the load was higher)"]
    if findings:
        result["findings"] = [str(prefix / f) for f in findings]
        tail = [line for line in log.splitlines() if "Error" in line or "assert" in line.lower()][-5:]
        result["error"] = "\n".join(tail)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", required=True, type=Path)
    parser.add_argument("--quick", action="store_true", help="1 %% of the full runs")
    parser.add_argument("--artifacts", type=Path, default=None, help="where findings and logs go")
    args = parser.parse_args(argv)
    artifacts = args.artifacts or Path(tempfile.mkdtemp(prefix="prove-fuzz-"))
    scale = 0.01 if args.quick else 1.0
    scenarios = []
    for name, runs in RUNS.items():
        n = max(100, int(runs * scale))
        budget = n / {"sniff": 500, "infer": 30, "ingest": 8}[name] + 60  # generous: the machine is shared
        scenarios.append(run_target(name, n, artifacts, max_len=MAX_LEN[name], timeout=budget))
        print(json.dumps(scenarios[-1]), flush=True)
    import atheris

    total = sum(s["figures"]["executions"] for s in scenarios)
    doc = {
        "name": "fuzz",
        "title": "Fuzzing: atheris on the CSV reader and the type inference",
        "passed": all(s["passed"] for s in scenarios),
        "scenarios": scenarios,
        "notes": [f"{total:,} executions in all, atheris {getattr(atheris, '__version__', '3')} (libFuzzer), "
                  "POLARS_MAX_THREADS=1, inputs up to 1,024 bytes (sniff) and 4,096 bytes (infer, ingest).",
                  "Every finding fixed is kept in tests/corpus/ingest/<target>/ and replayed in CI "
                  "(tests/corpus/test_ingest_fuzz.py), with Hypothesis-generated inputs besides."],
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(doc, indent=2))
    return 0 if doc["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
