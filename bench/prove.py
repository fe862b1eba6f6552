"""`make prove`: every reliability proof in one run, rendered into docs/reliability.md with the machine named.

    .venv/bin/python bench/prove.py [--quick] [--only NAME ...] [--render] [--out docs/reliability.md]

Runs each proof script (``PROOFS``) as a subprocess, ``python bench/prove_<name>.py --json
out/prove/<name>.json`` (``--quick`` passed on), with its output shown and kept in ``out/prove/<name>.log``.
Each script writes its scenarios as JSON: what was done, whether it passed and its figures, ``lost`` and
``duplicates`` among them wherever jobs ran. A missing script, a script that fails, writes no JSON or
outlives ``--timeout-min``, and a scenario that lost or duplicated anything, all count as failures.

The run's record (``out/prove/run.json``: the machine, and each proof's command, exit code, seconds and load
average before and after) and the JSONs are rendered into docs/reliability.md. ``--only`` runs some proofs and
keeps the others' last results in the document; ``--render`` only renders what out/prove holds. Exits 1 when
a proof it ran failed.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import shlex
import subprocess
import sys
import threading
import time
from collections import deque
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "bench") not in sys.path:
    sys.path.insert(0, str(ROOT / "bench"))

from run_all import cpu_model  # noqa: E402

# (name, script, what it proves): the parts in order, then the values sweep
PROOFS = [
    ("chaos", "bench/prove_chaos.py", "kill -9, broker and database restarts, cut connections"),
    ("fuzz", "bench/prove_fuzz.py", "atheris on the CSV reader and the type inference"),
    ("hostile", "bench/prove_hostile.py", "hostile uploads, with the peak memory of the service"),
    ("throughput", "bench/prove_throughput.py", "concurrent analyses drain; more ml processes, more jobs per hour"),
    ("values", "bench/prove_values.py", "real R-written CSVs read as they were written"),
]
JOB_FIGURES = ("lost", "duplicates")
ALONGSIDE = {"fuzz": "chaos"}
"""A proof run at the same time as another, unless ``--serial``: the fuzzer is one CPU-bound process that touches
no server, so it takes a core while chaos runs, at the lowest CPU priority (``NICE_ALONGSIDE``) so that the
restarts chaos times get the CPU first."""
NICE_ALONGSIDE = 19


# --------------------------------------------------------------------------- the machine


def machine() -> dict[str, Any]:
    """CPU, memory, OS and the versions of what the proofs run on; unknown parts say so."""
    cpu = cpu_model()
    os_name = platform.platform()
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                os_name = f"{line.split('=', 1)[1].strip(chr(34))}, Linux {platform.release()}"
    except OSError:
        pass
    return {
        "cpu": cpu, "cpus": os.cpu_count(), "arch": platform.machine(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "os": os_name, "python": platform.python_version(),
        "polars": _package("polars"), "autogluon": _package("autogluon.tabular"),
        "postgresql": _probe(_postgres_version), "rabbitmq": _probe(_rabbitmq_version),
        "redis": _probe(_redis_version), "commit": _probe(_commit),
    }


def _package(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _probe(fn: Any) -> str:
    try:
        return str(fn())
    except Exception as exc:  # noqa: BLE001 - a version that cannot be read is named as such
        return f"unknown ({type(exc).__name__})"


def _postgres_version() -> str:
    import psycopg

    url = os.environ.get("DSP_TEST_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")
    with psycopg.connect(url, connect_timeout=10) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    return str(row[0]) if row else "unknown"


def _rabbitmq_version() -> str:
    done = subprocess.run(["rabbitmqctl", "-q", "version"], capture_output=True, text=True, timeout=60, check=True)
    return done.stdout.strip()


def _redis_version() -> str:
    import redis

    client = redis.Redis.from_url(os.environ.get("DSP_TEST_REDIS", "redis://127.0.0.1:6379/0"), socket_timeout=10)
    try:
        return str(client.info("server")["redis_version"])
    finally:
        client.close()


def _commit() -> str:
    return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                          timeout=30, check=True).stdout.strip()


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")


# --------------------------------------------------------------------------- running the proofs


def _pump(proc: subprocess.Popen[str], log: Any, tail: deque[str]) -> None:
    """Copy the script's output to the terminal and its log, keeping the last lines."""
    assert proc.stdout is not None
    for line in proc.stdout:
        sys.stdout.write(line)
        sys.stdout.flush()
        log.write(line)
        tail.append(line.rstrip("\n"))


def run_proof(name: str, script: str, *, quick: bool, out_dir: Path, timeout_s: float,
              nice: int = 0, extra: list[str] | None = None) -> dict[str, Any]:
    """Run one proof script; its record (command, exit code, seconds, load) and its JSON if it wrote one.
    ``nice``: its CPU priority lowered so (a proof run alongside another yields the CPU to it)."""
    json_path = out_dir / f"{name}.json"
    shown = json_path.relative_to(ROOT) if json_path.is_relative_to(ROOT) else json_path
    command = [".venv/bin/python", script, "--json", str(shown), *(["--quick"] if quick else []), *(extra or [])]
    record: dict[str, Any] = {"name": name, "script": script, "command": shlex.join(command), "quick": quick,
                              "extra": shlex.join(extra or []),
                              "started": _now(), "load_before": _load(), "commit": _probe(_commit)}
    json_path.unlink(missing_ok=True)
    if not (ROOT / script).exists():
        return {**record, "status": "missing", "exit_code": None, "seconds": 0.0, "load_after": _load(),
                "result": None, "tail": ""}
    print(f"== {name}: {record['command']}", flush=True)
    started = time.monotonic()
    tail: deque[str] = deque(maxlen=40)
    status = "ran"
    with (out_dir / f"{name}.log").open("w", encoding="utf-8") as log:
        # in prove's process group, so that Ctrl-C reaches the script and its clean-up runs
        proc = subprocess.Popen([*(["nice", "-n", str(nice)] if nice else []), sys.executable, *command[1:]],
                                cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                errors="replace")
        pump = threading.Thread(target=_pump, args=(proc, log, tail), daemon=True)
        pump.start()
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            status = "timeout"
            proc.terminate()  # SIGTERM: the script stops what it started and removes what it made
            try:
                proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        pump.join(timeout=30)
    result = None
    if json_path.exists():
        try:
            result = json.loads(json_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            tail.append(f"(its JSON does not parse: {exc})")
    return {**record, "status": status, "exit_code": proc.returncode, "seconds": round(time.monotonic() - started),
            "load_after": _load(), "result": result, "tail": "\n".join(tail)}


# --------------------------------------------------------------------------- rendering


def scenario_passed(scenario: dict[str, Any]) -> bool:
    """Passed as its script says, and nothing lost or duplicated whatever it says."""
    figures = scenario.get("figures") or {}
    return bool(scenario.get("passed")) and all(not figures.get(key) for key in JOB_FIGURES)


def proof_verdict(run: dict[str, Any]) -> tuple[bool, str]:
    """Whether the proof passed, and if not why, in a few words."""
    if run["status"] == "missing":
        return False, f"not run: script missing ({run['script']})"
    if run["status"] == "not run":
        return False, "not run yet: `python bench/prove.py` runs it"
    if run["status"] == "timeout":
        return False, f"stopped after {run['seconds']} s (timeout)"
    result = run.get("result")
    if result is None:
        return False, f"exit code {run['exit_code']}, no JSON written"
    failed = [s["name"] for s in result.get("scenarios", []) if not scenario_passed(s)]
    if failed:
        return False, "failed: " + "; ".join(failed)
    if not result.get("scenarios"):
        return False, "no scenario reported"
    if run["exit_code"] != 0 or not result.get("passed"):
        return False, f"exit code {run['exit_code']}, passed={result.get('passed')}"
    return True, "passed"


def _figure(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:g}"
    return str(value).replace("|", "/")


def _job_figure(scenario: dict[str, Any], key: str) -> str:
    figures = scenario.get("figures") or {}
    return f"**{_figure(figures[key])}**" if key in figures else "—"


def _sum_figure(run: dict[str, Any], key: str) -> str:
    scenarios = (run.get("result") or {}).get("scenarios", [])
    values = [s["figures"][key] for s in scenarios if key in (s.get("figures") or {})]
    return _figure(sum(values)) if values else "—"


def _commits(runs: list[dict[str, Any]], rendered_at: str) -> str:
    """The commit the proofs ran at; each proof's own when ``--only`` ran some again at a later one."""
    commits = {run["name"]: run.get("commit") or rendered_at for run in runs}
    if len(set(commits.values())) <= 1:
        return f", commit {next(iter(commits.values()), rendered_at)}."
    return ", at commits " + ", ".join(f"{commit} ({name})" for name, commit in commits.items()) + "."


def render(machine_info: dict[str, Any], runs: list[dict[str, Any]], wall_s: float | None = None) -> str:
    """docs/reliability.md from the machine and the proofs' records (each with its JSON as ``result``);
    ``wall_s``: the whole command's wall time, when proofs ran side by side (``ALONGSIDE``)."""
    verdicts = {run["name"]: proof_verdict(run) for run in runs}
    failed = [name for name, (ok, _) in verdicts.items() if not ok]
    quick = [run["name"] for run in runs if run.get("quick")]
    everything_quick = len(quick) == len(runs)
    started = min((run["started"] for run in runs), default=_now())
    seconds = sum(run.get("seconds") or 0 for run in runs)
    beside = [f"{run['name']} alongside {run['alongside']}" for run in runs if run.get("alongside")]
    smaller = [f"{run['name']} `{run['extra']}`" for run in runs if run.get("extra")]
    m = machine_info
    lines = [
        "# Reliability",
        "",
        "<!-- Generated by bench/prove.py (`make prove`) from out/prove/*.json: change the proofs, not this file. -->",
        "",
        "What `make prove` proves about the platform: it survives crashes, restarts and cut connections, fuzzed "
        "and hostile input, and load, and every job it accepts completes exactly once: nothing lost, nothing "
        "duplicated. Each proof is a script that runs alone (`python bench/prove_<name>.py --json OUT.json "
        "[--quick]`) and reports its scenarios: what was done, the figures, and what was lost or duplicated.",
        "",
        (f"**Last run: all {len(runs)} proofs passed**" if not failed else
         f"**Last run: FAILED** ({len(failed)} of {len(runs)} proofs: {', '.join(failed)})")
        + f" — {started}, `{'python bench/prove.py --quick' if everything_quick else 'make prove'}`, "
        + (f"{wall_s:,.0f} s wall ({seconds:,.0f} s of proofs; {', '.join(beside)}, at the same time)"
           if wall_s and beside else f"{seconds:,.0f} s")
        + _commits(runs, m.get("commit", "unknown"))
        + (f" **Smaller than the full run**, by these arguments: {'; '.join(smaller)}." if smaller else "")
        + (" A quick run: shorter than the full `make prove`, its figures smaller." if everything_quick else
           f" Run with `--quick` (shorter, its figures smaller): {', '.join(quick)}; the others in full."
           if quick else ""),
        "",
        "## The machine",
        "",
        "| | |",
        "|---|---|",
        f"| CPU | {m.get('cpu')}, {m.get('cpus')} cores ({m.get('arch')}), shared with other work |",
        f"| Memory | {m.get('memory_gib')} GiB |",
        f"| OS | {m.get('os')} |",
        f"| Python | {m.get('python')} |",
        f"| Polars | {m.get('polars')} |",
        f"| AutoGluon | {m.get('autogluon')} |",
        f"| PostgreSQL | {m.get('postgresql')} |",
        f"| RabbitMQ | {m.get('rabbitmq')} |",
        f"| Redis | {m.get('redis')} |",
        "",
        "## Summary",
        "",
        "| proof | result | scenarios passed | lost | duplicated | seconds | load average before → after |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for run in runs:
        ok, why = verdicts[run["name"]]
        scenarios = (run.get("result") or {}).get("scenarios", [])
        good = sum(1 for s in scenarios if scenario_passed(s))
        load = (f"{run['load_before'][0]:.2f} → {run['load_after'][0]:.2f}" if run.get("load_before")
                and run.get("load_after") and run["status"] != "missing" else "—")
        lines.append(f"| [{run['name']}](#{_anchor(_title(run))}) | {'passed' if ok else '**FAILED**: ' + why} | "
                     f"{good}/{len(scenarios)} | {_sum_figure(run, 'lost')} | {_sum_figure(run, 'duplicates')} | "
                     f"{run.get('seconds') or 0:,.0f} | {load} |")
    for run in runs:
        lines += ["", *_section(run, verdicts[run["name"]])]
    lines += ["", "## Running it", "",
              "- `make prove`: every proof, then this page (`python bench/prove.py`); `make prove-quick` is the short "
              "run (`--quick` passed to every script).",
              "- One proof again, the others' last results kept: `python bench/prove.py --only throughput`.",
              "- One proof alone: `python bench/prove_<name>.py --json out/prove/<name>.json [--quick]`; "
              "`make prove-values` runs the values sweep alone, summary in out/prove_values.md.",
              "- Each proof's output is kept in out/prove/<name>.log, its JSON in out/prove/<name>.json."]
    return "\n".join(lines) + "\n"


def _title(run: dict[str, Any]) -> str:
    result = run.get("result") or {}
    return str(result.get("title") or f"{run['name'].capitalize()}: {run.get('what', '')}".rstrip(": "))


def _anchor(title: str) -> str:
    kept = "".join(ch for ch in title.lower() if ch.isalnum() or ch in " -_")
    return kept.replace(" ", "-")


def _section(run: dict[str, Any], verdict: tuple[bool, str]) -> list[str]:
    ok, why = verdict
    lines = [f"## {_title(run)}", ""]
    if run["status"] == "missing":
        return [*lines, f"**Not run: script missing** (`{run['script']}`): a failure of the whole proof."]
    if run["status"] == "not run":
        return [*lines, f"**Not run yet** (`{run['script']}`): a failure of the whole proof until it runs."]
    lines.append(f"`{run['command']}`: exit code {run['exit_code']}, {run.get('seconds') or 0:,.0f} s, "
                 f"started {run['started']}" + (f" at commit {run['commit']}" if run.get("commit") else "")
                 + (", quick run" if run.get("quick") else "")
                 + (f", run alongside {run['alongside']} at nice {run.get('nice', 0)}" if run.get("alongside")
                    else "") + ". "
                 + ("Passed." if ok else f"**FAILED**: {why}."))
    result = run.get("result")
    if result is None:
        tail = run.get("tail", "").strip()
        return [*lines, "", "Its last output:", "", "```", *(tail.splitlines()[-20:] or ["(none)"]), "```"]
    scenarios = result.get("scenarios", [])
    lines += ["", "| scenario | result | lost | duplicated |", "|---|---|---:|---:|"]
    for s in scenarios:
        lines.append(f"| {s['name']} | {'passed' if scenario_passed(s) else '**FAILED**'} | "
                     f"{_job_figure(s, 'lost')} | {_job_figure(s, 'duplicates')} |")
    for s in scenarios:
        lines += ["", f"### {s['name']}", "", s.get("what", "").strip() or "(no description)", ""]
        if not scenario_passed(s):
            figures = s.get("figures") or {}
            spoiled = [k for k in JOB_FIGURES if figures.get(k)]
            lines += [("**FAILED**" + (f": {', '.join(f'{k} {figures[k]}' for k in spoiled)}" if spoiled else "")
                       + "."), ""]
        figures = s.get("figures") or {}
        if figures:
            lines += ["| figure | value |", "|---|---:|"]
            lines += [f"| {key.replace('_', ' ')} | {_figure(value)} |" for key, value in figures.items()]
        problems = s.get("problems") or []
        if problems:
            lines += ["", "Problems:", "", *[f"- {problem}" for problem in problems]]
    notes = result.get("notes") or []
    if notes:
        lines += ["", "Notes:", "", *[f"- {note}" for note in notes]]
    return lines


# --------------------------------------------------------------------------- the command


def _not_run_here(name: str, script: str, result: dict[str, Any] | None, json_path: Path) -> dict[str, Any]:
    """The record of a proof this command never ran: its JSON, if the script was run alone, stands for it."""
    command = f".venv/bin/python {script} --json out/prove/{name}.json"
    if not (ROOT / script).exists():
        status, exit_code = "missing", None
    elif result is None:
        status, exit_code = "not run", None
    else:  # run alone: its own command and verdict
        status, exit_code = "ran", 0 if result.get("passed") else 1
        command = str(result.get("command") or command)
    started = (datetime.fromtimestamp(json_path.stat().st_mtime, UTC).strftime("%Y-%m-%d %H:%M UTC")
               if result is not None else _now())
    return {"name": name, "script": script, "status": status, "command": command, "exit_code": exit_code,
            "seconds": 0, "started": started, "quick": "--quick" in command}



def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    names = [name for name, _, _ in PROOFS]
    parser.add_argument("--quick", action="store_true", help="pass --quick to every proof (a few minutes each)")
    parser.add_argument("--only", nargs="+", choices=names, help="run these proofs; keep the others' last results")
    parser.add_argument("--render", action="store_true", help="run nothing: render what out/prove holds")
    parser.add_argument("--args", action="append", default=[], metavar="NAME=ARGS",
                        help="more arguments for one proof's script, e.g. 'chaos=--kills 5 --faults 1', "
                             "'fuzz=--quick' (a smaller run than the full one: the page says which command ran)")
    parser.add_argument("--alongside", action="append", default=[], metavar="NAME=PARTNER",
                        help="run NAME at the same time as PARTNER, at nice 19 (besides the default: "
                             + ", ".join(f"{a}={b}" for a, b in ALONGSIDE.items()) + ")")
    parser.add_argument("--serial", action="store_true",
                        help="one proof after the other (by default " + ", ".join(
                            f"{a} runs alongside {b}" for a, b in ALONGSIDE.items()) + ")")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "reliability.md", help="the page to write")
    parser.add_argument("--dir", type=Path, default=ROOT / "out" / "prove", help="where the JSONs and logs go")
    parser.add_argument("--timeout-min", type=float, default=None,
                        help="minutes one proof may take before it is stopped (default 60, 15 with --quick)")
    args = parser.parse_args(argv)
    out_dir = args.dir.resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    record_path = out_dir / "run.json"
    record = json.loads(record_path.read_text()) if record_path.exists() else {"runs": {}}
    timeout_s = 60 * (args.timeout_min or (15 if args.quick else 60))
    ran: list[str] = []
    if not args.render:
        record["machine"] = machine()
        selected = [(name, script) for name, script, _ in PROOFS if not args.only or name in args.only]
        chosen = {name for name, _ in selected}
        pairs = dict(ALONGSIDE, **dict(item.split("=", 1) for item in args.alongside))
        beside = {} if args.serial else {name: pairs[name] for name, _ in selected if pairs.get(name) in chosen}
        extra = {name: shlex.split(more) for name, more in (item.split("=", 1) for item in args.args)}

        def keep(run: dict[str, Any]) -> None:
            record["runs"][run["name"]] = {k: v for k, v in run.items() if k != "result"}
            ran.append(run["name"])
            record_path.write_text(json.dumps(record, indent=2) + "\n")

        wall = time.monotonic()
        for name, script in selected:
            if name in beside:
                continue
            side: list[dict[str, Any]] = []

            def aside(other: str, other_script: str, partner: str, out: list[dict[str, Any]]) -> None:
                # the fuzzer yields the CPU; a proof that starts services of its own would starve them at nice 19
                nice = NICE_ALONGSIDE if ALONGSIDE.get(other) == partner else 0
                run = run_proof(other, other_script, quick=args.quick, out_dir=out_dir, timeout_s=timeout_s,
                                nice=nice, extra=extra.get(other))
                out.append({**run, "alongside": partner, "nice": nice})

            threads = [threading.Thread(target=aside, args=(other, other_script, name, side))
                       for other, other_script in selected if beside.get(other) == name]
            for thread in threads:
                thread.start()
            keep(run_proof(name, script, quick=args.quick, out_dir=out_dir, timeout_s=timeout_s,
                           extra=extra.get(name)))
            for thread in threads:
                thread.join()
            for run in side:
                keep(run)
        if not args.only:  # the wall time of a whole run; a run of some proofs keeps it
            record["wall_seconds"] = round(time.monotonic() - wall) if beside else None
        record_path.write_text(json.dumps(record, indent=2) + "\n")
    runs = []
    for name, script, what in PROOFS:
        json_path = out_dir / f"{name}.json"
        result = json.loads(json_path.read_text(encoding="utf-8")) if json_path.exists() else None
        run = record["runs"].get(name) or _not_run_here(name, script, result, json_path)
        if run["status"] == "missing":
            result = None
        runs.append({**run, "what": what, "result": result})
    text = render(record.get("machine") or machine(), runs, record.get("wall_seconds"))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(f"written: {args.out}")
    failed = []
    for run in runs:
        ok, why = proof_verdict(run)
        print(f"{'PASS' if ok else 'FAIL'}  {run['name']}: {why}")
        if not ok and (run["name"] in ran or args.render):
            failed.append(run["name"])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
