"""`make bench`: every benchmark in one run, on this machine, each against its peer.

Writes the raw tables to docs/benchmarks/last-run.md with the machine named; the curated figures
and their reading are in docs/benchmarks.md.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCHES = ["bench_ingest.py", "bench_profile.py", "bench_wide.py", "bench_scale.py", "bench_etl.py", "bench_ml.py", "bench_dashboard.py",
           "bench_deploy.py", "bench_compare.py", "bench_api.py"]


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def machine() -> str:
    cpu = cpu_model()
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{platform.machine()}, {os.cpu_count()} cores ({cpu}), {memory:.0f} GiB, {platform.system()} (shared)"


def main() -> int:
    only = sys.argv[1:] or BENCHES
    out_dir = ROOT / "docs" / "benchmarks"
    out_dir.mkdir(parents=True, exist_ok=True)
    parts = [f"# Last `make bench` run\n\n{datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {machine()}\n"]
    failed = []
    for name in only:
        script = ROOT / "bench" / name
        started = time.perf_counter()
        print(f"== {name}", flush=True)
        result = subprocess.run([sys.executable, str(script)], cwd=ROOT, capture_output=True, text=True)
        took = time.perf_counter() - started
        print(result.stdout, flush=True)
        if result.returncode != 0:
            failed.append(name)
            print(result.stderr[-3000:], file=sys.stderr, flush=True)
        parts.append(f"\n## {name} ({took:.0f} s{', FAILED' if result.returncode else ''})\n\n{result.stdout}")
    (out_dir / "last-run.md").write_text("".join(parts))
    print(f"written: {out_dir / 'last-run.md'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
