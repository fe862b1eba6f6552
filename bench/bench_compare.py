"""Comparing two datasets: ``compare_datasets`` and ``target_shift`` on two generated tables of 1M rows.

    .venv/bin/python bench/bench_compare.py [--rows 1000000]

A and B are two draws of ``bench/gen_data.py``'s 20-column table (different seeds), with B's
``income`` raised by 20%. Each is written to Parquet and profiled first (not timed); then, in
this process, the comparison (the distributions on a 200,000-row sample a side, the row overlap
on every row) and the target part (``churned``, a LightGBM model trained on at most 200,000 rows
of A) are timed. Prints a markdown table of wall and CPU seconds and the peak RSS of the process,
with the load average, since the machine is shared.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from gen_data import generate_chunk  # noqa: E402


def _timed(label: str, call, rows: list[str]) -> object:
    wall, cpu = time.perf_counter(), time.process_time()
    result = call()
    rows.append(f"| {label} | {time.perf_counter() - wall:.2f} | {time.process_time() - cpu:.2f} |")
    return result


def main(argv: list[str] | None = None) -> int:
    from dsp_ml.domain.compare import target_shift, with_target_shift
    from dsp_profile.domain import profile_dataset
    from dsp_profile.domain.compare import compare_datasets

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args(argv)
    a = generate_chunk(0, args.rows, 42)
    b = generate_chunk(0, args.rows, 43)
    b = b.with_columns(b.get_column("income") * 1.2)
    with tempfile.TemporaryDirectory() as tmp:
        profiles = []
        for name, frame in (("a", a), ("b", b)):
            path = Path(tmp) / f"{name}.parquet"
            frame.write_parquet(path)
            profiles.append(profile_dataset(path))
            del frame
        a, b = pl.read_parquet(Path(tmp) / "a.parquet"), pl.read_parquet(Path(tmp) / "b.parquet")
    table = ["| step | wall s | CPU s |", "|---|---:|---:|"]
    comparison = _timed("compare_datasets", lambda: compare_datasets(
        a, b, profile_a=profiles[0], profile_b=profiles[1], name_a="A", name_b="B"), table)
    shift = _timed("target_shift (churned)", lambda: target_shift(a, b, target="churned"), table)
    result = with_target_shift(comparison, shift)  # type: ignore[arg-type]
    # VmHWM: this program's own peak; ru_maxrss would also count the parent it was forked from
    peak = int(next(x for x in Path("/proc/self/status").read_text().splitlines()
                   if x.startswith("VmHWM:")).split()[1]) / 1024
    print(f"{args.rows:,} rows x {a.width} columns a side; load average {os.getloadavg()[0]:.1f}; "
          f"peak RSS {peak:.0f} MiB\n")
    print("\n".join(table))
    print(f"\nfirst finding: {result.findings[0].title}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
