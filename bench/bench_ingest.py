"""Ingest benchmark: ``dsp_ingest.domain.ingest_csv`` against bare Polars on the same CSV.

    .venv/bin/python bench/bench_ingest.py [--rows 1000000] [--repeat 3]

Uses ``bench-data/mixed_<rows>.csv`` made by ``bench/gen_data.py`` (generated when missing).
Each case runs as a fresh process, so interpreter start and imports are included, as a user
would see them. Prints a markdown table of wall-clock and CPU seconds (CPU = user + system of
the process, all threads), best of ``--repeat`` runs.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time
from pathlib import Path

from _start_env import START_ENV  # first: before anything imports polars

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from gen_data import generate  # noqa: E402


def _run(code: str) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, env=START_ENV)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    name = f"mixed_{args.rows // 1_000_000}m.csv" if args.rows % 1_000_000 == 0 else f"mixed_{args.rows}.csv"
    src = ROOT / "bench-data" / name
    if not src.exists():
        generate(args.rows, src)
    out = ROOT / "bench-data" / "ingest-bench"
    out.mkdir(parents=True, exist_ok=True)
    cases = {
        "polars.read_csv": f"import polars as pl; pl.read_csv({str(src)!r})",
        "polars.read_csv -> write_parquet": (
            f"import polars as pl; pl.read_csv({str(src)!r}).write_parquet({str(out / 'bare.parquet')!r})"
        ),
        "ingest_csv (sniff, type, check, write Parquet)": (
            "from pathlib import Path; from dsp_ingest.domain import ingest_csv; "
            f"ingest_csv(Path({str(src)!r}), Path({str(out / 'ingest.parquet')!r}))"
        ),
    }
    size_mb = src.stat().st_size / 1e6
    print(f"Input: `{src.relative_to(ROOT)}`, {args.rows:,} rows x 20 columns, {size_mb:.0f} MB; best of {args.repeat}.\n")
    print("| case (whole process) | wall s | CPU s | wall vs read_csv | CPU vs read_csv |")
    print("|---|---:|---:|---:|---:|")
    base: tuple[float, float] | None = None
    for label, code in cases.items():
        runs = [_run(code) for _ in range(args.repeat)]
        wall = min(r[0] for r in runs)
        cpu = min(r[1] for r in runs)
        base = base or (wall, cpu)
        print(f"| {label} | {wall:.2f} | {cpu:.2f} | {wall / base[0]:.2f}x | {cpu / base[1]:.2f}x |")


if __name__ == "__main__":
    main()
