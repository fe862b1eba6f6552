"""Ingest + profile benchmark against fg-data-profiling (minimal, HTML report) and a bare ``polars.read_csv``.

    .venv/bin/python bench/bench_profile.py [--rows 1000000] [--runs 3] [--peer-runs 1] [--peer-json-runs 0]
        [--big-rows 10000000]

The CSV comes from ``bench/gen_data.py`` (cached under ``bench-data/``). Every measurement is
a fresh process run under ``/usr/bin/time``, which gives its wall time, CPU time and peak RSS:

* ours: ``dsp profile FILE --out DIR`` (ingest to Parquet, then the full profile), or the
  same two core calls from ``python -c`` when the ``dsp`` command is not installed;
* profile only: ``profile_dataset`` on the Parquet file ingest wrote;
* the peer, fg-data-profiling (the successor of ydata-profiling, imported as ``data_profiling``)
  with ``minimal=True``: ``pandas.read_csv`` then ``ProfileReport(...).to_file("report.html")``,
  its fastest path to a full report, from a separate virtualenv (``bench-data/peer-venv``;
  created on demand with uv); ``--peer-json-runs`` adds its ``to_json()`` (about twice the CPU);
* ``polars.read_csv`` of the file and nothing else (the floor).

Ours and the floor run alternately, so that a change in the machine's load hits both alike.
Prints the load average before and after each run, the versions, a markdown table of medians
and the ratios against the goals (>= 10x less CPU and wall than the peer, <= 0.25 of its peak
RSS, <= 3x the floor's CPU).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from _start_env import START_ENV  # first: before anything imports polars

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "bench-data"
VENV_PY = ROOT / ".venv" / "bin" / "python"
DSP = ROOT / ".venv" / "bin" / "dsp"
PEER_VENV = DATA / "peer-venv"
PEER_PY = PEER_VENV / "bin" / "python"
PEER_LABEL = "fg-data-profiling minimal=True (pandas read + HTML report, to_file)"

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gen_data import generate  # noqa: E402


@dataclass
class Run:
    wall_s: float
    cpu_s: float
    peak_rss_mb: float


LOADS: list[str] = []


def _timed(cmd: list[str], *, env: dict[str, str] | None = None) -> Run:
    """Run ``cmd`` under /usr/bin/time; wall seconds, user+sys seconds, peak RSS in MiB."""
    LOADS.append(_load())
    with tempfile.NamedTemporaryFile("r", suffix=".time") as out:
        subprocess.run(
            ["/usr/bin/time", "-f", "%e %U %S %M", "-o", out.name, *cmd],
            check=True,
            stdout=subprocess.DEVNULL,
            env=env,
        )
        wall, user, system, rss_kb = out.read().split()[-4:]
    return Run(float(wall), float(user) + float(system), int(rss_kb) / 1024)


def _ours_cmd(csv: Path, out: Path) -> list[str]:
    if DSP.exists():
        return [str(DSP), "profile", str(csv), "--out", str(out)]
    code = (
        "import sys; from pathlib import Path;"
        "from dsp_ingest.domain import ingest_csv; from dsp_profile.domain import profile_dataset;"
        "out = Path(sys.argv[2]); out.mkdir(parents=True, exist_ok=True);"
        "rep = ingest_csv(Path(sys.argv[1]), out / 'data.parquet');"
        "p = profile_dataset(out / 'data.parquet', semantic_types={c.name: c.semantic_type for c in rep.columns});"
        "(out / 'profile.json').write_text(p.model_dump_json())"
    )
    return [str(VENV_PY), "-c", code, str(csv), str(out)]


def _profile_only_cmd(parquet: Path) -> list[str]:
    code = (
        "import sys; from pathlib import Path; from dsp_profile.domain import profile_dataset;"
        "p = profile_dataset(Path(sys.argv[1])); Path(sys.argv[2]).write_text(p.model_dump_json())"
    )
    return [str(VENV_PY), "-c", code, str(parquet), str(parquet.with_suffix(".profile.json"))]


PEER_PACKAGE = "fg-data-profiling"


def _peer_cmd(csv: Path, out: Path, *, json: bool = False) -> list[str]:
    write = "open(sys.argv[2], 'w').write(r.to_json())" if json else "r.to_file(sys.argv[2])"
    code = (
        "import sys, pandas as pd; from data_profiling import ProfileReport;"
        "df = pd.read_csv(sys.argv[1]);"
        "r = ProfileReport(df, minimal=True, progress_bar=False);" + write
    )
    return [str(PEER_PY), "-c", code, str(csv), str(out)]


def _versions() -> dict[str, str]:
    ours = "import importlib.metadata as m, sys; print(sys.version.split()[0], m.version('polars'), m.version('numpy'))"
    python, polars, numpy = subprocess.run([str(VENV_PY), "-c", ours], capture_output=True, text=True,
                                           check=True).stdout.split()
    found = {"python": python, "polars": polars, "numpy": numpy}
    if PEER_PY.exists():
        peer = ("import importlib.metadata as m; "
                f"print(m.version('{PEER_PACKAGE}'), m.version('pandas'), m.version('numpy'))")
        done = subprocess.run([str(PEER_PY), "-c", peer], capture_output=True, text=True)
        if done.returncode == 0:
            fg, pandas, peer_numpy = done.stdout.split()
            found.update({PEER_PACKAGE: fg, "peer pandas": pandas, "peer numpy": peer_numpy})
    return found


def _load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def _polars_cmd(csv: Path) -> list[str]:
    return [str(VENV_PY), "-c", "import sys, polars as pl; pl.read_csv(sys.argv[1])", str(csv)]


def _ensure_peer() -> bool:
    if PEER_PY.exists():
        return True
    uv = shutil.which("uv")
    if uv is None:
        return False
    subprocess.run([uv, "venv", str(PEER_VENV), "--python", "3.11"], check=True)
    subprocess.run(
        [uv, "pip", "install", "--python", str(PEER_PY), PEER_PACKAGE, "setuptools<81"], check=True
    )
    return True


def _compile(python: Path, *sources: Path) -> None:
    """Byte-compile a virtualenv's packages (and ``sources``), as pip does on install and uv does not by default.

    Without it a machine with ``PYTHONDONTWRITEBYTECODE=1`` (this one, and many containers) compiles every module
    it imports again in every run: seconds of each contender's CPU that a user's installed copy does not spend.
    """
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    subprocess.run([str(python), "-m", "compileall", "-q", "-j", "0", site, *map(str, sources)],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)


def _median(runs: list[Run]) -> Run:
    return Run(
        statistics.median(r.wall_s for r in runs),
        statistics.median(r.cpu_s for r in runs),
        statistics.median(r.peak_rss_mb for r in runs),
    )


def _dataset(rows: int) -> Path:
    name = f"mixed_{rows // 1_000_000}m.csv" if rows % 1_000_000 == 0 else f"mixed_{rows}.csv"
    path = DATA / name
    if not path.exists():
        print(f"generating {path} ...", file=sys.stderr)
        generate(rows, path)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--peer-runs", type=int, default=1, help="runs of the peer's HTML report (0 to skip)")
    parser.add_argument("--peer-json-runs", type=int, default=0, help="runs of the peer's to_json() (slower)")
    parser.add_argument("--big-rows", type=int, default=0, help="also run ours once on this many rows")
    args = parser.parse_args(argv)

    csv = _dataset(args.rows)
    size_mb = csv.stat().st_size / 1e6
    results: dict[str, tuple[Run, int]] = {}
    env = dict(START_ENV)
    _compile(VENV_PY, ROOT / "libs", ROOT / "services", ROOT / "cli")
    if (args.peer_runs or args.peer_json_runs) and _ensure_peer():
        _compile(PEER_PY)
    with tempfile.TemporaryDirectory(dir=DATA) as tmp:
        work = Path(tmp)
        ours, polars_runs, only = [], [], []
        for i in range(args.runs):
            # alternate the contenders so that a change in machine load hits both alike
            polars_runs.append(_timed(_polars_cmd(csv), env=env))
            out = work / f"ours{i}"
            ours.append(_timed(_ours_cmd(csv, out), env=env))
            parquet = next(out.glob("*.parquet"), None) if out.exists() else None
            if parquet is None:
                parquet = work / "data.parquet"
                if not parquet.exists():
                    subprocess.run(
                        [str(VENV_PY), "-c", "import sys; from pathlib import Path; "
                         "from dsp_ingest.domain import ingest_csv; ingest_csv(Path(sys.argv[1]), Path(sys.argv[2]))",
                         str(csv), str(parquet)],
                        check=True,
                    )
            only.append(_timed(_profile_only_cmd(parquet), env=env))
            print(f"run {i + 1}: ours {ours[-1]}, polars {polars_runs[-1]}, profile only {only[-1]} "
                  f"(load {_load()})", file=sys.stderr)
        results["ours: dsp profile (ingest + full profile)"] = (_median(ours), len(ours))
        results["ours: profile_dataset on the Parquet only"] = (_median(only), len(only))
        results["polars.read_csv only"] = (_median(polars_runs), len(polars_runs))
        if args.peer_runs and _ensure_peer():
            peer = []
            for i in range(args.peer_runs):
                peer.append(_timed(_peer_cmd(csv, work / f"peer{i}.html"), env=env))
                print(f"peer run {i + 1}: {peer[-1]} (load {_load()})", file=sys.stderr)
            results[PEER_LABEL] = (_median(peer), len(peer))
            peer_json = []
            for i in range(args.peer_json_runs):
                peer_json.append(_timed(_peer_cmd(csv, work / f"peer{i}.json", json=True), env=env))
                print(f"peer to_json run {i + 1}: {peer_json[-1]}", file=sys.stderr)
            if peer_json:
                results[f"{PEER_PACKAGE} minimal=True (pandas read + to_json)"] = (_median(peer_json), len(peer_json))
        if args.big_rows:
            big = _dataset(args.big_rows)
            run = _timed(_ours_cmd(big, work / "big"), env=env)
            results[f"ours on {args.big_rows:,} rows ({big.stat().st_size / 1e9:.2f} GB)"] = (run, 1)

    LOADS.append(_load())
    versions = ", ".join(f"{k} {v}" for k, v in _versions().items())
    print(f"\nData: {csv.name}, {args.rows:,} rows x 20 columns, {size_mb:.0f} MB.")
    print(f"Machine: {platform.machine()}, {os.cpu_count()} cores; {versions}.")
    print(f"Load average (1, 5, 15 min) before each run and at the end: {'; '.join(LOADS)}.\n")
    print("| run | runs | wall (s) | CPU user+sys (s) | peak RSS (MiB) |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for label, (run, n) in results.items():
        print(f"| {label} | {n} | {run.wall_s:.2f} | {run.cpu_s:.2f} | {run.peak_rss_mb:.0f} |")
    ours_run = results["ours: dsp profile (ingest + full profile)"][0]
    polars_run = results["polars.read_csv only"][0]
    print()
    print(f"- ours / polars.read_csv: wall {ours_run.wall_s / polars_run.wall_s:.2f}x, "
          f"CPU {ours_run.cpu_s / polars_run.cpu_s:.2f}x, peak RSS {ours_run.peak_rss_mb / polars_run.peak_rss_mb:.2f}x")
    cpu_floor = ours_run.cpu_s / polars_run.cpu_s
    print(f"  goal <= 3x the floor's CPU (aim 2x): {'met' if cpu_floor <= 3 else 'not met'}")
    if PEER_LABEL in results:
        peer_run = results[PEER_LABEL][0]
        wall, cpu = peer_run.wall_s / ours_run.wall_s, peer_run.cpu_s / ours_run.cpu_s
        memory = ours_run.peak_rss_mb / peer_run.peak_rss_mb
        print(f"- {PEER_PACKAGE} / ours: wall {wall:.1f}x, CPU {cpu:.1f}x; ours / peer peak RSS {memory:.2f}")
        print(f"  goal >= 10x on CPU and wall: {'met' if min(wall, cpu) >= 10 else 'not met'}; "
              f"goal peak RSS <= 0.25 of the peer's: {'met' if memory <= 0.25 else 'not met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
