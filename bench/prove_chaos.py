"""Chaos, scripted and repeatable: kill -9 of every worker kind, broker and database outages, cut connections.

    .venv/bin/python bench/prove_chaos.py --json out/prove_chaos.json [--quick] [--kills 20] [--faults 3] [--seed 15]

The whole mesh runs as processes (``mesh_kit.local_mesh.LocalMesh``) in a vhost, a Redis namespace and an
artifact directory of its own, on a private RabbitMQ node (``tests/chaos/rabbitmq.py``: its own node name,
ports and data directory; the machine's broker on 5672 is never touched) and a private PostgreSQL cluster
(``tests/chaos/postgres.py``) made for the run, with every broker and database connection through a loopback TCP
proxy (``tests/loopback_proxy.py``) that the run can break. A job is one upload of ``samples/penguins-raw.csv`` that asks for its analysis (target Species, a
3 s AutoML budget): it passes through ingest, profile, etl, ml and dashboard.

Scenarios (``tests/chaos/harness.py``):

- kill -9, with prefetch 1 and then 10: each worker kind killed ``--kills`` times at random moments while a job
  is at its stage and started again each time; the five kinds are killed concurrently, one thread each.
- a real restart of the private RabbitMQ node (``rabbitmqctl stop``, 2 s down, started again with its queues
  and messages) in the middle of jobs; without ``rabbitmq-server`` the run uses the machine's broker and says
  that this scenario was not run.
- the broker unreachable: every broker connection cut and new ones refused for 8 s through the proxy.
- a restart of the private PostgreSQL (fast shutdown, 5 s down) in the middle of jobs.
- broker and database connections cut through the proxy in the middle of jobs.

A scenario passes when every job completes exactly once (its job row completed, one row of it in each stage's
table, one of each result event in the gateway's read model: 0 lost, 0 duplicates) and every killed or cut
service consumes again within 30 s (its readiness and its queue's consumer count on the broker). ``--quick``:
one kill per kind at prefetch 1 and one of each other fault. Writes the agreed JSON (name, title, passed,
scenarios with their figures, notes); exits 1 when a scenario fails.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import signal
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.chaos.harness import WORKERS, ChaosMesh, fault_scenario, kill_scenario  # noqa: E402

TITLE = "Chaos: kill -9, broker and database restarts, cut connections"
BROKER_OUTAGE_S = 8.0
BROKER_DOWN_S = 2.0
DATABASE_DOWN_S = 5.0


def _log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


_checkpoint: dict[str, Any] = {"path": None, "scenarios": []}
"""Where each finished scenario is written at once, so a run stopped before its end (a timeout) keeps them."""


def _scenario(name: str, what: str, figures: dict[str, Any]) -> dict[str, Any]:
    passed = bool(figures.pop("passed"))
    problems = figures.pop("problems", [])
    out: dict[str, Any] = {"name": name, "what": what, "passed": passed, "figures": figures}
    if problems:
        out["problems"] = problems
    _log(f"{'PASS' if passed else 'FAIL'} {name}: {json.dumps(figures)}" + (f" problems: {problems}" if problems else ""))
    _checkpoint["scenarios"].append(out)
    if _checkpoint["path"] is not None:
        _checkpoint["path"].write_text(json.dumps({
            "name": "chaos", "title": TITLE, "passed": False, "scenarios": _checkpoint["scenarios"],
            "notes": ["Stopped before its end: the scenarios it finished, as they were written."]}, indent=2) + "\n")
    return out


def run(*, quick: bool, kills: int, seed: int, time_budget_s: float, faults: int | None = None,
        logs: Path | None = None) -> dict[str, Any]:
    """The scenarios; ``logs``: where each mesh's service logs are kept (``prefetch-<n>/<service>.log``)."""
    rng = random.Random(seed)
    scenarios: list[dict[str, Any]] = []
    skipped: list[str] = []
    prefetches = (1,) if quick else (1, 10)
    per_kind = 1 if quick else kills
    faults = faults or (1 if quick else 3)
    started = time.monotonic()
    for prefetch in prefetches:
        _log(f"starting the mesh, prefetch {prefetch}")
        with ChaosMesh(prefetch=prefetch, time_budget_s=time_budget_s, log=_log,
                       keep_logs=logs / f"prefetch-{prefetch}" if logs is not None else None) as chaos:
            in_flight = 3 if prefetch == 1 else 8
            figures = kill_scenario(chaos, WORKERS, kills=per_kind, in_flight=in_flight, rng=rng)
            scenarios.append(_scenario(
                f"kill -9 each worker kind ×{per_kind}, prefetch {prefetch}",
                f"Each of ingest, profile, etl, ml and dashboard was killed with SIGKILL {per_kind} time(s), at a "
                f"random moment (0–1.5 s) after a job reached its stage, and started again at once; the five kinds "
                f"were killed concurrently while {in_flight} jobs were kept unfinished, with DSP_PREFETCH={prefetch}. "
                "Recovery is from the kill until the restarted process is ready and its queue has a consumer.",
                figures))
            if prefetch != 1:
                continue
            if chaos.rabbit is not None:
                scenarios.append(_scenario(
                    "RabbitMQ restart mid-job",
                    f"The run's private RabbitMQ node ({chaos.rabbit.node}) was really stopped (rabbitmqctl stop: "
                    f"every connection closed, the node gone), left down {BROKER_DOWN_S:.0f} s and started again "
                    f"with its queues and messages on disk, {faults} time(s) in the middle of jobs. Recovery is "
                    "from its start until every service is ready and every queue has its consumer.",
                    fault_scenario(chaos, lambda: chaos.broker_restart(BROKER_DOWN_S), times=faults,
                                   jobs_count=4, rng=rng)))
            else:
                skipped.append("RabbitMQ restart: not run, no rabbitmq-server binary for a private node "
                               "(the machine's broker is shared and is never restarted)")
            scenarios.append(_scenario(
                "broker unreachable mid-job",
                f"Every AMQP connection was cut through the loopback proxy and new ones refused for "
                f"{BROKER_OUTAGE_S:.0f} s, {faults} time(s) in the middle of jobs. Recovery is from the end of the "
                "outage until every service is ready and every queue has its consumer.",
                fault_scenario(chaos, lambda: chaos.broker_outage(BROKER_OUTAGE_S), times=faults, jobs_count=4,
                               rng=rng)))
            scenarios.append(_scenario(
                "PostgreSQL restart mid-job",
                f"The run's private PostgreSQL cluster was stopped (fast shutdown, every session closed), left down "
                f"{DATABASE_DOWN_S:.0f} s and started again, {faults} time(s) in the middle of jobs. Recovery is from "
                "its start until every service is ready and every queue has its consumer.",
                fault_scenario(chaos, lambda: chaos.database_restart(DATABASE_DOWN_S), times=faults, jobs_count=4,
                               rng=rng)))
            scenarios.append(_scenario(
                "broker connections cut mid-job",
                f"Every AMQP connection of every service reset at once through the loopback proxy (reconnecting at "
                f"once is allowed), {faults} time(s) at random moments in the middle of jobs.",
                fault_scenario(chaos, chaos.cut_broker, times=faults, jobs_count=4, rng=rng)))
            scenarios.append(_scenario(
                "database connections cut mid-job",
                f"Every PostgreSQL connection of every service reset at once through the loopback proxy, {faults} "
                "time(s) at random moments in the middle of jobs.",
                fault_scenario(chaos, chaos.cut_database, times=faults, jobs_count=4, rng=rng)))
    elapsed = time.monotonic() - started
    return {
        "name": "chaos", "title": TITLE,
        "passed": all(s["passed"] for s in scenarios), "scenarios": scenarios,
        "notes": [
            "A job is one upload of samples/penguins-raw.csv (344 rows) that asks for its analysis (target Species, "
            f"AutoML budget {time_budget_s:g} s); it passes through all five workers.",
            "Exactly once means: the job row completed; one row of the job in ingest.ingested_datasets, "
            "profile.profiles, etl.etl_runs, ml.analyses, ml.models, dashboard.dashboards, gateway.dashboards and "
            "gateway.datasets; one of each stage's result event in gateway.job_events; no stage.failed.",
            "A job is caught in at most 3 kills of one kind: a message whose consumer dies with it 6 times is "
            "dead-lettered by the broker's delivery limit, by design, as a crash loop.",
            "Recovery after a kill is dominated by the cold start of the killed process (Python, the service's "
            "imports, the database pool, the broker): ml imports its analysis core lazily and loads it (scipy, "
            "scikit-learn, AutoGluon, SHAP) in the background once it consumes.",
            *skipped,
            f"Seed {seed}; {'quick' if quick else 'full'} run, {per_kind} kill(s) per worker kind and prefetch; {elapsed:.0f} s wall on {os.cpu_count()} CPUs, "
            f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} at the end; Python {platform.python_version()}.",
        ],
    }


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path, required=True, help="where to write the results")
    parser.add_argument("--quick", action="store_true", help="one kill per kind, prefetch 1, one of each fault")
    parser.add_argument("--kills", type=int, default=20, help="kills per worker kind and prefetch (default 20)")
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--time-budget", type=float, default=3.0, help="AutoML budget of each job, in seconds")
    parser.add_argument("--faults", type=int, default=None,
                        help="times each other fault is made (default 3, 1 with --quick)")
    args = parser.parse_args(argv)
    # a TERM (a timeout, make's interrupt) unwinds like ^C, so the mesh, the cluster and the vhost are removed
    signal.signal(signal.SIGTERM, _interrupt)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    _checkpoint["path"] = args.json
    # the services' logs, beside the JSON: what a failed scenario's stages said
    result = run(quick=args.quick, kills=args.kills, seed=args.seed, time_budget_s=args.time_budget,
                 faults=args.faults, logs=args.json.parent / f"{args.json.stem}-logs")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    _log(f"{'passed' if result['passed'] else 'FAILED'}; results in {args.json}")
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
