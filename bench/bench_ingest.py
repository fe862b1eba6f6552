"""Ingest benchmark: `dsp_ingest.domain.ingest_csv` against a bare `polars.read_csv`.

Run with ``.venv/bin/python bench/bench_ingest.py [--rows N]``; prints a markdown table.
The data is generated (seeded) into a temporary directory: 20 mixed columns.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl


def make_mixed_csv(path: Path, rows: int, *, seed: int = 0) -> None:
    """Write a seeded CSV of ``rows`` rows and 20 mixed-type columns to ``path``."""
    rng = np.random.default_rng(seed)
    base = np.datetime64("2015-01-01")
    days = rng.integers(0, 3650, rows)
    seconds = rng.integers(0, 86400, rows)
    cities = np.array(["Paris", "Lyon", "Berlin", "Madrid", "Rome", "Oslo", "Lima", "Quito"])
    status = np.array(["active", "inactive", "pending"])
    words = np.array(["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"])
    frame = pl.DataFrame(
        {
            "id": np.arange(rows),
            "age": rng.integers(18, 90, rows),
            "income": rng.normal(50_000, 15_000, rows).round(2),
            "score": rng.random(rows).round(4),
            "count": rng.poisson(3, rows),
            "city": cities[rng.integers(0, len(cities), rows)],
            "status": status[rng.integers(0, len(status), rows)],
            "is_member": np.where(rng.random(rows) < 0.5, "yes", "no"),
            "flag": rng.integers(0, 2, rows).astype(bool),
            "signup": (base + days).astype(str),
            "last_seen": [str(d) for d in (base + days).astype("datetime64[s]") + seconds][:rows],
            "price": ["$" + f"{v:,.2f}" for v in rng.uniform(1, 5000, rows)],
            "discount": [f"{v:.1f}%" for v in rng.uniform(0, 50, rows)],
            "email": ["user" + str(i) + "@example.com" for i in rng.integers(0, 10**6, rows)],
            "lat": rng.uniform(-90, 90, rows).round(5),
            "lon": rng.uniform(-180, 180, rows).round(5),
            "note": words[rng.integers(0, len(words), rows)],
            "qty": rng.integers(0, 1000, rows),
            "ratio": rng.normal(0, 1, rows).round(3),
            "code": ["C" + str(v) for v in rng.integers(1000, 9999, rows)],
        }
    )
    frame = frame.with_columns(pl.col("last_seen").str.replace("T", " "))
    frame.write_csv(path)


def _timed_subprocess(code: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "mixed.csv"
        make_mixed_csv(src, args.rows)
        size_mb = src.stat().st_size / 1e6
        cases = {
            "polars.read_csv (whole process)": f"import polars as pl; pl.read_csv({str(src)!r})",
            "polars scan_csv -> sink_parquet (whole process)": (
                f"import polars as pl; pl.scan_csv({str(src)!r}).sink_parquet({str(Path(tmp) / 'bare.parquet')!r})"
            ),
            "dsp ingest_csv -> Parquet (whole process)": (
                "from pathlib import Path; from dsp_ingest.domain import ingest_csv; "
                f"ingest_csv(Path({str(src)!r}), Path({str(Path(tmp) / 'out.parquet')!r}))"
            ),
        }
        print(f"Input: {args.rows:,} rows x 20 mixed columns, {size_mb:.0f} MB; best of {args.repeat} runs\n")
        print("| case | seconds | ratio to read_csv |")
        print("|---|---:|---:|")
        baseline = None
        for name, code in cases.items():
            best = min(_timed_subprocess(code) for _ in range(args.repeat))
            baseline = baseline or best
            print(f"| {name} | {best:.2f} | {best / baseline:.2f}x |")


if __name__ == "__main__":
    main()
