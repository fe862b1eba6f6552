"""Dashboard benchmark: build time, file size and load time in Chromium, against fg-data-profiling's HTML.

    .venv/bin/python bench/bench_dashboard.py [--data bench-data/mixed_1m.parquet] [--runs 3]

* Build: ``build_dashboard`` on the Parquet file (1M rows x 20 columns from ``bench/gen_data.py``,
  generated on demand), wall and CPU seconds, median of ``--runs`` warm in-process runs, plus
  one cold run in a fresh process (imports included). Without a profile the builder computes
  every statistic itself, so this is its most expensive path.
* Load: the HTML opened from a ``file://`` URL in headless Debian Chromium, every request other
  than ``file:``/``data:``/``blob:`` aborted and counted; "ready" is the page's own mark after
  the first screen of charts is drawn, "all charts" adds drawing every chart below the fold;
  "filter" is the time to re-draw after choosing one category. The main thread's CPU time until
  ready (and the part of it running scripts) is Chromium's thread time, which other jobs on a
  shared machine inflate far less than the wall-clock figures. ``--baseline-bundle FILE`` also
  builds the page with another plotly.js bundle and loads the two pages alternately.
* Peer: fg-data-profiling's HTML report (``minimal=True``) of the same rows (read from the CSV,
  as the peer venv has no Parquet engine), from ``bench-data/peer-venv`` when it exists; the
  report is cached under ``bench-data/`` with its build time.

Prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _start_env import START_ENV  # first: before anything imports polars

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "bench-data"
PEER_PY = DATA / "peer-venv" / "bin" / "python"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]


def ensure_data(parquet: Path) -> Path:
    if parquet.exists():
        return parquet
    import polars as pl

    sys.path.insert(0, str(ROOT / "bench"))
    from gen_data import generate

    csv = parquet.with_suffix(".csv")
    if not csv.exists():
        generate(1_000_000, csv)
    pl.scan_csv(csv, try_parse_dates=True).sink_parquet(parquet)
    return parquet


def build_runs(parquet: Path, runs: int) -> tuple[list[float], list[float], str]:
    from dsp_dashboard.domain import build_dashboard

    walls, cpus, html = [], [], ""
    for _ in range(runs):
        wall, cpu = time.perf_counter(), time.process_time()
        html = build_dashboard(data=parquet, profile=None, title=parquet.stem)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return walls, cpus, html


def cold_build(parquet: Path) -> float:
    code = ("import sys, time; t = time.perf_counter(); from pathlib import Path;"
            "from dsp_dashboard.domain import build_dashboard;"
            "build_dashboard(data=Path(sys.argv[1]), profile=None); print(time.perf_counter() - t)")
    out = subprocess.run([sys.executable, "-c", code, str(parquet)], check=True, capture_output=True, text=True,
                         env=START_ENV)
    return float(out.stdout.strip().splitlines()[-1])


def load_in_chromium(html_path: Path, runs: int, *, dashboard: bool) -> dict[str, float]:
    from playwright.sync_api import sync_playwright

    ready, all_drawn, filters, load_events, busy, script, blocked = [], [], [], [], [], [], 0
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for _ in range(runs):
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            outside: list[str] = []

            def route(r, outside=outside):
                if r.request.url.startswith(("file:", "data:", "blob:", "about:")):
                    r.continue_()
                else:
                    outside.append(r.request.url)
                    r.abort()

            page.route("**/*", route)
            cdp = page.context.new_cdp_session(page)
            # Thread time: the main thread's own CPU, which other jobs on the machine do not inflate.
            cdp.send("Performance.enable", {"timeDomain": "threadTicks"})
            page.goto(html_path.as_uri(), wait_until="load", timeout=120_000)
            load_events.append(page.evaluate(
                "() => { const n = performance.getEntriesByType('navigation')[0]; return n.loadEventEnd; }") / 1000)
            if dashboard:
                page.wait_for_function("() => document.documentElement.getAttribute('data-dsp-ready') === '1'")
            metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
            busy.append(metrics["TaskDuration"])
            script.append(metrics["ScriptDuration"])
            if dashboard:
                ready.append(float(page.evaluate(
                    "() => document.documentElement.getAttribute('data-dsp-ready-ms')")) / 1000)
                all_drawn.append(page.evaluate(
                    "() => { const t = performance.now(); window.dsp.drawAll(); return performance.now() - t; }") / 1000)
                filters.append(page.evaluate(
                    "() => { const c = window.dsp.columns.find(c => c.kind === 'categorical' && c.levels.length > 1);"
                    " const t = performance.now(); window.dsp.setCategoryFilter(c.name, [c.levels[0]]);"
                    " return performance.now() - t; }") / 1000)
            blocked += len(outside)
            page.close()
        browser.close()
    result = {"load_event_s": statistics.median(load_events), "blocked_requests": blocked / runs,
              "busy_s": statistics.median(busy), "script_s": statistics.median(script)}
    if dashboard:
        result.update(ready_s=statistics.median(ready), all_charts_s=statistics.median(all_drawn),
                      filter_s=statistics.median(filters))
    return result


def peer_report(parquet: Path) -> tuple[Path, float] | None:
    if not PEER_PY.exists():
        return None
    csv = parquet.with_suffix(".csv")
    html = DATA / f"peer_{parquet.stem}.html"
    meta = html.with_suffix(".json")
    if html.exists() and meta.exists():
        return html, json.loads(meta.read_text())["build_s"]
    code = ("import sys, time, pandas as pd; from data_profiling import ProfileReport; t = time.perf_counter();"
            "df = pd.read_csv(sys.argv[1]);"
            "ProfileReport(df, minimal=True, progress_bar=False, title='peer').to_file(sys.argv[2]);"
            "print(time.perf_counter() - t)")
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    out = subprocess.run([str(PEER_PY), "-c", code, str(csv), str(html)], check=True, capture_output=True, text=True,
                         env=env)
    build_s = float(out.stdout.strip().splitlines()[-1])
    meta.write_text(json.dumps({"build_s": build_s}))
    return html, build_s


def baseline_page(parquet: Path, bundle: Path) -> str:
    """The same dashboard with another plotly.js bundle in place of the package's own."""
    from dsp_dashboard.domain import build_dashboard, page

    own, other = page.asset, bundle.read_text(encoding="utf-8")
    page.asset = lambda name: other if name.startswith("plotly") else own(name)  # type: ignore[assignment]
    try:
        return build_dashboard(data=parquet, profile=None, title=parquet.stem)
    finally:
        page.asset = own  # type: ignore[assignment]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA / "mixed_1m.parquet")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-peer", action="store_true", help="skip fg-data-profiling")
    parser.add_argument("--baseline-bundle", type=Path,
                        help="another plotly.js bundle (an earlier one): the same page is also built with it, and "
                             "the two pages are loaded alternately, one run each in turn")
    args = parser.parse_args(argv)

    parquet = ensure_data(args.data)
    import polars as pl

    shape = pl.scan_parquet(parquet).select(pl.len()).collect().item(), len(pl.read_parquet_schema(parquet))
    walls, cpus, html = build_runs(parquet, args.runs)
    cold = cold_build(parquet)
    baseline_html = baseline_page(parquet, args.baseline_bundle) if args.baseline_bundle else None
    with tempfile.TemporaryDirectory(prefix="bench-dashboard-") as tmp:
        page = Path(tmp) / "dashboard.html"
        page.write_text(html, encoding="utf-8")
        if baseline_html is None:
            ours = load_in_chromium(page, args.runs, dashboard=True)
        else:
            before = Path(tmp) / "baseline.html"
            before.write_text(baseline_html, encoding="utf-8")
            runs: dict[str, list[dict[str, float]]] = {"ours": [], "baseline": []}
            for _ in range(args.runs):
                runs["baseline"].append(load_in_chromium(before, 1, dashboard=True))
                runs["ours"].append(load_in_chromium(page, 1, dashboard=True))
            ours, baseline = ({k: statistics.median(r[k] for r in runs[side]) for k in runs[side][0]}
                              for side in ("ours", "baseline"))
            print(f"Alternating with the page built with `{args.baseline_bundle.name}` "
                  f"({len(baseline_html.encode()) / 2**20:.2f} MiB): ready {baseline['ready_s']:.2f} s, "
                  f"main-thread CPU until ready {baseline['busy_s']:.2f} s (script {baseline['script_s']:.2f} s), "
                  f"load event {baseline['load_event_s']:.2f} s, filter {baseline['filter_s']:.2f} s.\n")
    peer = None if args.no_peer else peer_report(parquet)
    peer_load = load_in_chromium(peer[0], args.runs, dashboard=False) if peer else None

    mib = 1024 * 1024
    print(f"Dataset: `{parquet.name}`, {shape[0]:,} rows x {shape[1]} columns. "
          f"Machine: 2-core x86_64, 24 GiB, shared with other jobs (load average "
          f"{os.getloadavg()[0]:.1f} at the end of the run). Medians of {args.runs} runs.\n")
    na = "n/a"
    rows = [
        ("build, warm, wall (s)", f"{statistics.median(walls):.2f}",
         f"{peer[1]:.1f} (one cold run, CSV read included)" if peer else na),
        ("build, warm, CPU (s)", f"{statistics.median(cpus):.2f}", na),
        ("build, cold process, wall (s)", f"{cold:.2f}", na),
        ("HTML size (MiB)", f"{len(html.encode()) / mib:.2f}", f"{peer[0].stat().st_size / mib:.2f}" if peer else na),
        ("Chromium load event (s)", f"{ours['load_event_s']:.2f}",
         f"{peer_load['load_event_s']:.2f}" if peer_load else na),
        ("Chromium ready, first screen drawn (s)", f"{ours['ready_s']:.2f}", na),
        ("Chromium main-thread CPU until ready (s)", f"{ours['busy_s']:.2f}",
         f"{peer_load['busy_s']:.2f} (until load)" if peer_load else na),
        ("of which running scripts (s)", f"{ours['script_s']:.2f}",
         f"{peer_load['script_s']:.2f}" if peer_load else na),
        ("draw every chart below the fold (s)", f"{ours['all_charts_s']:.2f}", na),
        ("re-draw after a category filter (s)", f"{ours['filter_s']:.2f}", na),
        ("requests leaving the file", f"{ours['blocked_requests']:.0f}",
         f"{peer_load['blocked_requests']:.0f}" if peer_load else na),
    ]
    print("| measure | dsp dashboard | fg-data-profiling (minimal) |")
    print("| --- | ---: | ---: |")
    for name, value, peer_value in rows:
        print(f"| {name} | {value} | {peer_value} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
