"""Profile at scale: 10M (and optionally 100M) rows x 20 columns, whole processes, wall, CPU and peak RSS.

    .venv/bin/python bench/bench_scale.py                      # 10,000,000 rows
    .venv/bin/python bench/bench_scale.py --rows 100000000     # about 19 GB of CSV: check `df -h` first

Generates ``bench-data/mixed_<N>m.csv`` with ``bench/gen_data.py`` (in chunks, bounded memory) when
missing, then times, each in a fresh process under ``/usr/bin/time``:

* ``dsp profile FILE --out DIR`` (ingest in 16 MiB chunks, Parquet written row group by row group,
  then the profile: past ``DSP_PROFILE_EXACT_MAX_ROWS`` rows, in row chunks with sketches);
* ingest alone, and the profile alone on the ingested Parquet (the two halves of the whole run).

Prints a Markdown table with the load average before and after each run, and the approximate figures
the profile labelled. ``--keep`` keeps the generated CSV and the outputs (they are deleted otherwise).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from _start_env import START_ENV  # first: before anything imports polars

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "bench-data"
VENV_PY = ROOT / ".venv" / "bin" / "python"
DSP = ROOT / ".venv" / "bin" / "dsp"

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gen_data import generate  # noqa: E402

_INGEST = (
    "import json, sys; from pathlib import Path; from dsp_ingest.domain import ingest_csv;"
    "r = ingest_csv(Path(sys.argv[1]), Path(sys.argv[2]));"
    "Path(sys.argv[3]).write_text(json.dumps({c.name: c.semantic_type for c in r.columns}))"
)
_PROFILE = (
    "import json, sys; from pathlib import Path; from dsp_profile.domain import profile_dataset;"
    "p = profile_dataset(Path(sys.argv[1]), semantic_types=json.loads(Path(sys.argv[2]).read_text()));"
    "Path(sys.argv[3]).write_text(p.model_dump_json())"
)


def _load() -> str:
    return Path("/proc/loadavg").read_text().split()[0]


def _timed(cmd: list[str]) -> dict[str, float | str]:
    """Wall s, user+sys CPU s and peak RSS MiB of ``cmd`` (and its children), with the load before and after."""
    before = _load()
    with tempfile.NamedTemporaryFile("r", suffix=".time") as out:
        subprocess.run(["/usr/bin/time", "-f", "%e %U %S %M", "-o", out.name, *cmd], check=True,
                       stdout=subprocess.DEVNULL, env=START_ENV)
        wall, user, system, rss_kb = out.read().split()[-4:]
    return {"wall": float(wall), "cpu": float(user) + float(system), "rss": int(rss_kb) / 1024,
            "load": f"{before} -> {_load()}"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--skip-whole", action="store_true", help="only ingest and profile separately")
    parser.add_argument("--keep", action="store_true", help="keep the generated CSV and the outputs")
    args = parser.parse_args(argv)

    DATA.mkdir(exist_ok=True)
    csv = DATA / f"mixed_{args.rows // 1_000_000}m.csv"
    generated = not csv.exists()
    if generated:
        need = args.rows * 190 * 2.5  # the CSV, its Parquet and the whole run's own Parquet
        free = shutil.disk_usage(DATA).free
        if free < need:
            print(f"not enough disk: {free / 1e9:.0f} GB free, about {need / 1e9:.0f} GB needed", file=sys.stderr)
            return 1
        print(f"generating {csv} ...", file=sys.stderr)
        generate(args.rows, csv)
    results: list[tuple[str, dict[str, float | str]]] = []
    work = Path(tempfile.mkdtemp(dir=DATA, prefix="scale-"))
    try:
        parquet, types, profile = work / "data.parquet", work / "types.json", work / "profile.json"
        results.append(("ingest only (`ingest_csv`: CSV to Parquet)",
                        _timed([str(VENV_PY), "-c", _INGEST, str(csv), str(parquet), str(types)])))
        print(results[-1], file=sys.stderr)
        results.append(("profile only (`profile_dataset` on the Parquet)",
                        _timed([str(VENV_PY), "-c", _PROFILE, str(parquet), str(types), str(profile)])))
        print(results[-1], file=sys.stderr)
        doc = json.loads(profile.read_text())
        parquet.unlink()
        if not args.skip_whole:
            results.append(("`dsp profile FILE --out DIR -q` (ingest + profile)",
                            _timed([str(DSP), "profile", str(csv), "--out", str(work / "whole"), "-q"])))
            print(results[-1], file=sys.stderr)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
            if generated:
                csv.unlink(missing_ok=True)

    size = f"{args.rows * 191.2 / 1e9:.1f} GB" if generated else f"{csv.stat().st_size / 1e9:.2f} GB" if csv.exists() \
        else ""
    limit = os.environ.get("DSP_PROFILE_EXACT_MAX_ROWS", "default")
    print(f"\n{args.rows:,} rows x 20 columns ({size} CSV), DSP_PROFILE_EXACT_MAX_ROWS={limit}, "
          f"{os.cpu_count()} cores.\n")
    print("| run | wall (s) | CPU user+sys (s) | peak RSS (MiB) | load average (1 min) |")
    print("| --- | ---: | ---: | ---: | --- |")
    for label, run in results:
        print(f"| {label} | {run['wall']:.1f} | {run['cpu']:.1f} | {run['rss']:.0f} | {run['load']} |")
    approx = doc.get("approximations", [])
    print("\nApproximate figures labelled in the profile:\n")
    for a in approx:
        columns = a.get("columns") or []
        scope = f"{len(columns)} column{'s' if len(columns) != 1 else ''}" if columns else "the whole dataset"
        print(f"- {a['statistic']}: {scope}; {a['error_bound']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
