"""schemathesis against the gateway's own OpenAPI document: no 5xx, and every answer is documented and matches.

The gateway and the ml service run as they do in the mesh (``build_app(service_spec())`` of each, served by
uvicorn on loopback ports) over this run's PostgreSQL (a database each, migrated as their roles), RabbitMQ
and Redis; the gateway reaches ml's internal predict route over HTTP with the shared service token. Every
operation of the document is fuzzed twice: with the values schemathesis makes up (random ids: 404s,
refusals, validation errors), then with the path ids of a dataset with its finished analysis, dashboard and
model, a user and an API key made before (so that the success answers of the read, predict, cancel and
delete routes are held to their schemas as well). The analysis is real: the upload's own dataset.uploaded
runs through the use cases of ingest, profile and etl in this process and their events are published on
this run's broker, where the gateway folds them and the ml service takes dataset.transformed from its
queue: it trains (a 20 s budget), registers the model in its registry and publishes analysis.completed,
which the dashboard stage's use case takes from dashboard's queue in this process.

Predict with the real model is fuzzed a third time, with JSON rows shaped as the model takes them (its
card's input columns with their training types, as the body's schema in a copy of the document, so that
the bodies reach ml's checks, its pipeline and the model rather than stop at missing_columns), then sent
the card's example rows (JSON, with SHAP, and strict) and held-out penguins (CSV), which must be
predicted: its predictions and its 4xx for unreadable or unfit rows are held to their schemas, and no
body makes ml or the gateway answer 5xx. The caller is an admin, authenticated by an Authorization header
on every request. Each request must pass:

- ``not_a_server_error``: no 5xx;
- ``status_code_conformance``: the status is one the operation documents;
- ``content_type_conformance``: the media type is one documented for that status;
- ``response_schema_conformance``: the body matches the schema documented for that status and media type.

Left out: the WebSocket ``/api/v1/ws``, which is not in the OpenAPI document (OpenAPI 3.1 cannot describe a
WebSocket; tests/integration/test_gateway_upload.py and the e2e tier drive it), and the routes of the web UI
and the probes, which are not part of the API (include_in_schema=False).

Bounded for CI: ``EXAMPLES`` per operation and phase (about 40 operations), ``PREDICT_EXAMPLES`` of rows
shaped as the model's, requests over one keep-alive session. A failure names the operation and
schemathesis' own explanation, with the request to replay.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import importlib
import socket
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aio_pika
import httpx
import pytest
import requests
import schemathesis
import uvicorn
from dsp_gateway.bootstrap import service_spec
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from mesh_kit.artifacts import open_store
from mesh_kit.db import role_name, with_user
from mesh_kit.memory import InMemoryMesh
from mesh_kit.service import build_app, topology_of
from mesh_kit.settings import MeshSettings
from mesh_kit.topology import declare_with_url, delete_topology
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from shared_contracts import Envelope, parse_envelope

from ..auth_helpers import seed_user
from ..conftest import migrated_database

pytestmark = pytest.mark.integration

EXAMPLES = 8
NEGATIVE_EXAMPLES = 4
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
PASSWORD = "a-fuzzing-admin-password"
SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "penguins-raw.csv"
IN_PROCESS = ("ingest", "profile", "etl", "dashboard")
"""The stages run in this process; ml runs as its service (its predict route serves the model it trains)."""
SERVICE_TOKEN = "a-service-token-for-the-fuzzing-run"
PREDICT = "POST /api/v1/models/{model_id}/predict"
PREDICT_EXAMPLES = 30
"""Generated bodies shaped as the real model's rows (each one predicted, or refused with a 4xx)."""


@schemathesis.serializer("text/csv")
def _csv(ctx: Any, value: Any) -> bytes:
    """predict's CSV body: the generated text as it is."""
    return value if isinstance(value, bytes) else str(value).encode()


@dataclass
class Fuzzed:
    base_url: str
    headers: dict[str, str]
    document: dict[str, Any]
    known: dict[str, str]
    """Path parameter -> the id of an object the caller holds."""
    card: dict[str, Any] | None
    """The real model's card (its input columns and example rows), if AutoML fit one."""
    held_out: bytes
    """Penguins the model did not learn from, as CSV."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def _served(app: FastAPI, port: int, name: str) -> Iterator[None]:
    """A service's app served by uvicorn on a loopback port, in a thread, for the block."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, name=f"fuzzed-{name}", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, f"the {name} service did not start"
            time.sleep(0.05)
        yield
    finally:
        server.should_exit = True
        thread.join(timeout=30)


async def _take(channel: aio_pika.abc.AbstractChannel, queue_name: str, job_id: str, event_type: str,
                timeout_s: float) -> Envelope[Any]:
    """The job's event of that type from a queue no service consumes here (the others are dropped)."""
    queue = await channel.get_queue(queue_name)
    deadline = time.monotonic() + timeout_s
    while True:
        assert time.monotonic() < deadline, f"no {event_type} of the job reached {queue_name} in {timeout_s:.0f} s"
        message = await queue.get(fail=False, no_ack=True)
        if message is None:
            await asyncio.sleep(0.1)
            continue
        envelope = parse_envelope(message.body)
        if str(envelope.job_id) == job_id and envelope.type == event_type:
            return envelope


async def _publish(channel: aio_pika.abc.AbstractChannel, exchange_name: str,
                   envelopes: Sequence[Envelope[Any]]) -> None:
    exchange = await channel.get_exchange(exchange_name)
    for envelope in envelopes:
        await exchange.publish(aio_pika.Message(envelope.model_dump_json().encode(), message_id=str(envelope.event_id),
                                                content_type="application/json"),
                               routing_key=envelope.routing_key)


async def _run_the_stages(settings_: MeshSettings, job_id: str) -> None:
    """The upload's dataset.uploaded, as the gateway published it (taken from ingest's queue), through the
    use cases of ingest, profile and etl on the in-process mesh over the gateway's artifact store; their
    events are published on this run's exchange, where the gateway's consumer folds them and the served ml
    service takes dataset.transformed. ml's analysis.completed (taken from dashboard's queue) goes through
    the dashboard stage's use case on the same mesh, and its events are published too."""
    connection = await aio_pika.connect(settings_.amqp_url)
    try:
        channel = await connection.channel(publisher_confirms=True)
        prefix = settings_.queue_prefix
        uploaded = await _take(channel, f"{prefix}.ingest", job_id, "dataset.uploaded", 30)
        stages = [importlib.import_module(f"dsp_{name}.bootstrap").service_spec() for name in IN_PROCESS]
        mesh = InMemoryMesh(stages, open_store(settings_.artifact_url))
        mesh.redeliver(uploaded)
        await _publish(channel, settings_.exchange, [e for e in await mesh.drain() if e.event_id != uploaded.event_id])
        analysed = await _take(channel, f"{prefix}.dashboard", job_id, "analysis.completed", 180)
        mesh.redeliver(analysed)
        await _publish(channel, settings_.exchange, [e for e in await mesh.drain() if e.event_id != analysed.event_id])
    finally:
        await connection.close()


def _held_out() -> bytes:
    """40 penguins of the rows the analysis does not learn from, as CSV."""
    lines = SAMPLE.read_bytes().splitlines(keepends=True)
    return b"".join(lines[:1] + lines[2::3][:40])


def _known_objects(client: httpx.Client, headers: dict[str, str], suffix: str,
                   settings_: MeshSettings) -> dict[str, str]:
    """A dataset and its finished analysis (with its dashboard and model), another user and an API key, made
    through the API, the stages' use cases and the ml service."""
    lines = SAMPLE.read_bytes().splitlines(keepends=True)
    head = b"".join(lines[:1] + lines[1::3])  # every third penguin: the three species, 115 rows
    upload = client.post("/api/v1/upload", headers=headers, files={"file": ("penguins.csv", head, "text/csv")},
                         data={"wait": "false", "target": "Species", "options": '{"time_budget_s": 20}'})
    assert upload.status_code == 202, upload.text
    started = upload.json()["data"]
    asyncio.run(_run_the_stages(settings_, started["job_id"]))
    deadline = time.monotonic() + 60
    while (job := client.get(f"/api/v1/jobs/{started['job_id']}", headers=headers).json()["data"])["status"] != "completed":
        assert job["status"] not in ("failed", "cancelled") and time.monotonic() < deadline, job
        time.sleep(0.2)
    assert job["dashboard_id"], job  # a model too, unless AutoML fit none within the budget (a loaded machine)
    user = client.post("/api/v1/users", headers=headers,
                       json={"email": f"other-{suffix}@fuzz.example", "password": "another-long-password",
                             "role": "viewer"})
    assert user.status_code == 201, user.text
    key = client.post("/api/v1/api-keys", headers=headers, json={"name": "fuzz"})
    assert key.status_code == 201, key.text
    return {"dataset_id": started["dataset_id"], "job_id": started["job_id"], "analysis_id": started["job_id"],
            "dashboard_id": job["dashboard_id"], **({"model_id": job["model_id"]} if job["model_id"] else {}),
            "user_id": user.json()["data"]["id"], "api_key_id": key.json()["data"]["id"]}


@pytest.fixture(scope="module")
def fuzzed(infra, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fuzzed]:
    """The ml service and the gateway served on loopback ports, an admin signed in, and a few objects of theirs."""
    suffix = uuid.uuid4().hex[:8]
    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setenv("DSP_REDIS_NAMESPACE", f"{infra.redis_namespace}-fuzz-{suffix}")
    monkeypatch.setenv("DSP_UPLOAD_WAIT_S", "0.2")  # no ingest runs here: an upload answers 202 soon
    port, ml_port = _free_port(), _free_port()
    monkeypatch.setenv("DSP_ML_URL", f"http://127.0.0.1:{ml_port}")
    with contextlib.ExitStack() as stack:
        database_url = stack.enter_context(migrated_database(infra, "fuzz"))
        ml_database_url = stack.enter_context(migrated_database(infra, "fuzzml", "ml"))
        email = f"admin-{suffix}@fuzz.example"
        seed_user(database_url, email, PASSWORD, role="admin", organization=f"fuzz-{suffix}")
        settings_ = MeshSettings(
            environment="test", database_url=with_user(database_url, role_name("gateway")),
            amqp_url=infra.amqp_url, redis_url=infra.redis_url,
            artifact_url=(tmp_path_factory.mktemp("fuzz") / "artifacts").as_uri(),
            exchange=f"dsp.events.z{suffix}", queue_prefix=f"z{suffix}", retry_delays_ms=(200, 400),
            outbox_poll_s=0.1, prefetch=10, allowed_hosts=["127.0.0.1"], metrics_port=0,
            service_token=SERVICE_TOKEN)
        ml_settings = settings_.model_copy(update={"database_url": with_user(ml_database_url, role_name("ml"))})
        asyncio.run(declare_with_url(infra.amqp_url, topology_of(settings_)))
        stack.callback(lambda: asyncio.run(delete_topology(infra.amqp_url, topology_of(settings_))))
        stack.callback(monkeypatch.undo)
        stack.enter_context(_served(build_app(importlib.import_module("dsp_ml.bootstrap").service_spec(),
                                              ml_settings), ml_port, "ml"))
        app = build_app(service_spec(), settings_)
        stack.enter_context(_served(app, port, "gateway"))
        base_url = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base_url, timeout=30) as client:
            answer = client.post("/api/v1/auth/token", data={"username": email, "password": PASSWORD})
            assert answer.status_code == 200, answer.text
            headers = {"Authorization": f"Bearer {answer.json()['access_token']}"}
            known = _known_objects(client, headers, suffix, settings_)
            card = None
            if "model_id" in known:
                answer = client.get(f"/api/v1/models/{known['model_id']}", headers=headers)
                assert answer.status_code == 200, answer.text
                card = answer.json()["data"]
        yield Fuzzed(base_url=base_url, headers=headers, document=app.openapi(), known=known, card=card,
                     held_out=_held_out())


def _call(case: Any, fuzzed: Fuzzed, session: requests.Session, statuses: dict[str, set[int]],
          found: dict[str, str]) -> int:
    """Send one case and check its answer; its failures go in ``found`` (the first of each kind). The status."""
    label = case.operation.label
    response = case.call(base_url=fuzzed.base_url, session=session, headers=fuzzed.headers, timeout=60)
    statuses.setdefault(label, set()).add(response.status_code)
    try:
        case.validate_response(response, checks=CHECKS)
    except (AssertionError, BaseExceptionGroup) as exc:  # a Failure, or a FailureGroup of several
        kinds = [e for e in getattr(exc, "exceptions", [exc])]
        key = f"{label}: " + ", ".join(sorted({getattr(e, "title", type(e).__name__) for e in kinds}))
        found.setdefault(key, f"{key}\n{exc}")
    return int(response.status_code)


def _typed(kind: str) -> dict[str, Any]:
    """The JSON schema of a value of a column of that training type (null allowed: it is imputed)."""
    if kind.startswith(("Int", "UInt")):
        return {"type": ["integer", "null"]}
    if kind.startswith(("Float", "Decimal")):
        return {"type": ["number", "null"]}
    if kind == "Boolean":
        return {"type": ["boolean", "null"]}
    formats = {"Date": "date", "Datetime": "date-time"}
    typed: dict[str, Any] = {"type": ["string", "null"]}
    return typed | ({"format": formats[kind.split("(")[0]]} if kind.split("(")[0] in formats else {})


def _shaped_as_the_model(document: dict[str, Any], card: dict[str, Any]) -> Any:
    """The operation predict of a copy of the document whose JSON rows have the model's input columns, with
    their training types (more columns allowed, as ml ignores them); its other media types as documented."""
    shaped = copy.deepcopy(document)
    columns = card["input_columns"]
    row = {"type": "object", "additionalProperties": True, "required": [c["name"] for c in columns],
           "properties": {c["name"]: _typed(c["type"]) for c in columns}}
    rows = {"type": "array", "items": row, "minItems": 1, "maxItems": 40}
    content = shaped["paths"]["/api/v1/models/{model_id}/predict"]["post"]["requestBody"]["content"]
    content["application/json"]["schema"] = {"oneOf": [rows, {"type": "object", "required": ["rows"],
                                                              "properties": {"rows": rows}}]}
    return schemathesis.openapi.from_dict(shaped)["/api/v1/models/{model_id}/predict"]["POST"]


def _predict_the_real_model(fuzzed: Fuzzed, session: requests.Session, known: dict[str, str],
                            statuses: dict[str, set[int]]) -> dict[str, str]:
    """Predict with the real model: generated rows shaped as it takes them, then its card's example rows (JSON,
    with SHAP, and strict) and held-out penguins (CSV), which must be predicted (200)."""
    assert fuzzed.card is not None and fuzzed.card["example_rows"], fuzzed.card
    operation = _shaped_as_the_model(fuzzed.document, fuzzed.card)
    found = _fuzz(operation, fuzzed, session, known, statuses, examples=PREDICT_EXAMPLES)
    examples = fuzzed.card["example_rows"]
    for body, media_type, query in ((fuzzed.held_out, "text/csv", {}),
                                    ({"rows": examples}, "application/json", {"explain": "true"}),
                                    (examples, "application/json", {"strict": "true"})):
        case = operation.Case(path_parameters=known, body=body, media_type=media_type, query=query)
        status = _call(case, fuzzed, session, statuses, found)
        if status != 200:
            found.setdefault(f"{PREDICT}: {media_type} {query} answered {status}", f"{case.as_curl_command()}")
    return found


def _fuzz(operation: Any, fuzzed: Fuzzed, session: requests.Session, path_parameters: dict[str, str] | None,
          statuses: dict[str, set[int]], mode: GenerationMode = GenerationMode.POSITIVE,
          examples: int = EXAMPLES) -> dict[str, str]:
    """Run one operation's examples; its failures, as schemathesis explains them (the first of each kind)."""
    found: dict[str, str] = {}

    @settings(max_examples=examples, deadline=None, database=None, derandomize=True,
              phases=[Phase.explicit, Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(mode, path_parameters=path_parameters))
    def run(case: Any) -> None:
        _call(case, fuzzed, session, statuses, found)

    try:
        run()
    except Unsatisfiable:  # negative: an operation without parameters or body has nothing to make invalid
        if mode is not GenerationMode.NEGATIVE:
            raise
    return found


def test_rows_ml_could_not_read_answer_4xx(fuzzed: Fuzzed) -> None:
    """The 500s the fuzzing of predict found, replayed with the real model (first: the fuzzing erases its
    dataset, and ml the model with it): rows to predict with an array or an object of values of several JSON
    types in a column, or an integer past 128 bits, which ml could not read; its 500 was plain text, which
    made the gateway's 500 too. Such a column now reads as text (an unknown one is ignored, a model's column
    refuses the values that are not of its training type), and such an integer is refused."""
    if fuzzed.card is None:
        pytest.skip("AutoML fit no model within the budget")
    with httpx.Client(base_url=fuzzed.base_url, headers=fuzzed.headers, timeout=60) as client:
        predict, [row, *_] = f"/api/v1/models/{fuzzed.known['model_id']}/predict", fuzzed.card["example_rows"]
        numeric = next(c["name"] for c in fuzzed.card["input_columns"] if c["type"].startswith(("Float", "Int")))
        mixed = client.post(predict, json={"rows": [{**row, numeric: 1.5}, {**row, numeric: [1, True, []]}]})
        assert mixed.status_code == 422, mixed.text
        [error] = mixed.json()["errors"]
        assert (error["code"], error["field"], error["details"]["values"]) == (
            "unparseable_values", numeric, {numeric: [{"row": 1, "value": "[1,true,[]]"}]}), error
        # an unknown column of arrays and objects is ignored, as any unknown column is
        ignored = client.post(predict, json=[{**row, "notes": {"a": [False, 2.5]}}, {**row, "notes": []}])
        assert ignored.status_code == 200, ignored.text
        assert ignored.json()["data"]["warnings"][0]["columns"] == ["notes"]
        huge = client.post(predict, json=[{**row, numeric: 2**200}])
        assert huge.status_code == 422 and huge.json()["errors"][0]["code"] == "invalid_rows", huge.text


def test_every_answer_is_documented_and_matches_its_schema(fuzzed: Fuzzed) -> None:
    schema = schemathesis.openapi.from_dict(fuzzed.document)
    # the erasures last, so that the reads of the known objects find them
    operations = sorted((result.ok() for result in schema.get_all_operations()), key=lambda op: op.method == "delete")
    assert len(operations) >= 35, [op.label for op in operations]
    failures: dict[str, str] = {}
    statuses: dict[str, set[int]] = {}
    started = time.monotonic()
    with requests.Session() as session:
        for operation in operations:
            failures.update(_fuzz(operation, fuzzed, session, None, statuses))
            failures.update(_fuzz(operation, fuzzed, session, None, statuses, GenerationMode.NEGATIVE,
                                  NEGATIVE_EXAMPLES))
            names = {p.name for p in operation.path_parameters}
            if names and names <= fuzzed.known.keys():
                known = {name: fuzzed.known[name] for name in names}
                failures.update(_fuzz(operation, fuzzed, session, known, statuses))
                if operation.label == PREDICT:
                    failures.update(_predict_the_real_model(fuzzed, session, known, statuses))
    elapsed = time.monotonic() - started
    assert not failures, (f"{len(failures)} kinds of failure in {elapsed:.0f} s:\n" + "\n".join(failures) + "\n\n"
                          + "\n\n".join(failures.values()))
    # the success answers were held to their schemas too, not only the refusals
    succeeded = {label for label, seen in statuses.items() if any(200 <= s < 300 for s in seen)}
    assert {"GET /api/v1/datasets/{dataset_id}", "GET /api/v1/jobs/{job_id}", "GET /api/v1/analysis/{analysis_id}",
            "GET /api/v1/users/{user_id}", "DELETE /api/v1/datasets/{dataset_id}",
            "GET /api/v1/audit", "GET /api/v1/me/export",
            # the real profile, whose date column ("Date Egg") is held to DateStats' formats
            "GET /api/v1/datasets/{dataset_id}/profile",
            # the routes of a finished analysis, with the real one's ids
            "GET /api/v1/dashboard/{dashboard_id}",
            *(["GET /api/v1/models/{model_id}", PREDICT] if "model_id" in fuzzed.known else [])} <= succeeded, statuses


def test_what_the_fuzzing_found_answers_4xx(fuzzed: Fuzzed) -> None:
    """The 500s schemathesis found, each replayed: a NUL character (which PostgreSQL's text and jsonb cannot
    hold) in a login, a search, a JSON body and a file name, and an offset past the database's range."""
    with httpx.Client(base_url=fuzzed.base_url, headers=fuzzed.headers, timeout=30) as client:
        login = client.post("/api/v1/auth/token", data={"username": "a\x00b@example.com", "password": "x"})
        assert login.status_code == 422 and login.json()["errors"][0]["code"] == "invalid_text", login.text
        search = client.get("/api/v1/datasets", params={"q": "pen\x00guins"})
        assert search.status_code == 422 and search.json()["errors"][0]["code"] == "invalid_text", search.text
        key = client.post("/api/v1/api-keys", json={"name": "nul\u0000key"})
        assert key.status_code == 422, key.text
        named = client.post("/api/v1/upload", files={"file": ("a\x00b.csv", b"x,y\n1,2\n", "text/csv")},
                            data={"wait": "false"})
        assert named.status_code in (202, 422), named.text
        for path in ("/api/v1/users", "/api/v1/audit", "/api/v1/datasets", "/api/v1/models"):
            far = client.get(path, params={"offset": 2**63})
            assert far.status_code == 422 and far.json()["errors"][0]["field"] == "query.offset", far.text
        # a call with a NUL in its path still leaves its audit row, the NUL shown as U+FFFD
        assert client.delete("/api/v1/api-keys/a%00b").status_code == 404
        audit = client.get("/api/v1/audit", params={"limit": 500}).json()["data"]["items"]
        assert any(row["target_id"] == "a\ufffdb" for row in audit), audit[:3]
