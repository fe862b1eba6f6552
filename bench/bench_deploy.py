"""Measure what each service image carries, and how fast the Helm chart renders.

For every service this replays the Dockerfile's dependency layer
(``uv sync --frozen --no-dev --no-install-workspace --package dsp-<svc>``, bytecode compiled,
files copied rather than linked) into a scratch virtualenv from the local uv cache, then reports
the package count, the installed size and the wall time. It then renders the chart with the
Helm SDK a number of times and reports the mean render time and the object count.

Run with ``.venv/bin/python bench/bench_deploy.py``; prints markdown tables.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import time
import tomllib
from pathlib import Path

import yaml
from shared_contracts.manifest import SERVICES

ROOT = Path(__file__).resolve().parents[1]


def workspace_closure(package: str) -> dict[str, str]:
    """Workspace members (name -> path) that ``package`` depends on, read from uv.lock."""
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    by_name = {entry["name"]: entry for entry in lock["package"]}
    members: dict[str, str] = {}
    queue = [package]
    seen: set[str] = set()
    while queue:
        name = queue.pop()
        if name in seen or name not in by_name:
            continue
        seen.add(name)
        entry = by_name[name]
        if "editable" in entry.get("source", {}):
            members[name] = entry["source"]["editable"]
        queue.extend(dep["name"] for dep in entry.get("dependencies", []))
    return members


def directory_size(path: Path) -> int:
    total = 0
    for dirpath, _dirnames, filenames in os.walk(path):
        for filename in filenames:
            file = Path(dirpath) / filename
            if not file.is_symlink():
                total += file.stat().st_size
    return total


def measure_dependency_layer(service: str, scratch: Path) -> dict[str, float | int | str]:
    context = scratch / f"ctx-{service}"
    context.mkdir()
    shutil.copy2(ROOT / "pyproject.toml", context / "pyproject.toml")
    shutil.copy2(ROOT / "uv.lock", context / "uv.lock")
    for path in workspace_closure(f"dsp-{service}").values():
        (context / path).mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / path / "pyproject.toml", context / path / "pyproject.toml")

    venv = scratch / f"venv-{service}"
    env = {
        **os.environ,
        "UV_PROJECT_ENVIRONMENT": str(venv),
        "UV_COMPILE_BYTECODE": "1",
        "UV_LINK_MODE": "copy",
        "UV_PYTHON_DOWNLOADS": "never",
        "UV_NO_PROGRESS": "1",
    }
    env.pop("VIRTUAL_ENV", None)
    command = ["uv", "sync", "--frozen", "--no-dev", "--no-install-workspace", "--package", f"dsp-{service}"]
    started = time.perf_counter()
    result = subprocess.run([*command, "--offline"], cwd=context, env=env, capture_output=True, text=True)
    cache = "warm (offline)"
    if result.returncode != 0:
        shutil.rmtree(venv, ignore_errors=True)
        started = time.perf_counter()
        result = subprocess.run(command, cwd=context, env=env, capture_output=True, text=True)
        cache = "partly cold"
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"uv sync failed for {service}:\n{result.stderr}")

    site_packages = next(venv.glob("lib/python*/site-packages"))
    distributions = len(list(site_packages.glob("*.dist-info")))
    size = directory_size(venv)
    shutil.rmtree(venv)
    shutil.rmtree(context)
    return {"service": service, "packages": distributions, "bytes": size, "seconds": elapsed, "cache": cache}


def measure_chart(repeats: int) -> dict[str, float | int]:
    import helm_python

    values = yaml.safe_load((ROOT / "deploy" / "helm" / "dsp" / "ci" / "test-values.yaml").read_text())
    timings = []
    objects = 0
    for _ in range(repeats):
        started = time.perf_counter()
        chart = helm_python.Chart.load(ROOT / "deploy" / "helm" / "dsp")
        rendered = chart.render(values, name="dsp", namespace="dsp", is_install=True)
        timings.append(time.perf_counter() - started)
        objects = sum(
            1
            for path, text in rendered.items()
            if not path.endswith(".txt")
            for document in yaml.safe_load_all(text)
            if document
        )
    return {
        "repeats": repeats,
        "mean_ms": statistics.mean(timings) * 1000,
        "stdev_ms": statistics.stdev(timings) * 1000 if repeats > 1 else 0.0,
        "objects": objects,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", nargs="*", default=list(SERVICES), choices=SERVICES)
    parser.add_argument("--render-repeats", type=int, default=20)
    args = parser.parse_args()

    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-deploy-") as scratch:
        for service in args.services:
            rows.append(measure_dependency_layer(service, Path(scratch)))

    print("| service | packages in image | installed size (MiB) | dependency layer build (s) | uv cache |")
    print("| --- | ---: | ---: | ---: | --- |")
    for row in rows:
        print(
            f"| {row['service']} | {row['packages']} | {row['bytes'] / 2**20:.0f} | "
            f"{row['seconds']:.1f} | {row['cache']} |"
        )

    chart = measure_chart(args.render_repeats)
    print()
    print("| chart render (ci values) | objects | mean (ms) | stdev (ms) | repeats |")
    print("| --- | ---: | ---: | ---: | ---: |")
    print(
        f"| deploy/helm/dsp | {chart['objects']} | {chart['mean_ms']:.1f} | "
        f"{chart['stdev_ms']:.1f} | {chart['repeats']} |"
    )


if __name__ == "__main__":
    main()
