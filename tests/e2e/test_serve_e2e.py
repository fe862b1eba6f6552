"""``dsp serve`` as a process, driven as the web UI drives it: HTTP and the WebSocket on 127.0.0.1.

No PostgreSQL, RabbitMQ or Redis: one process over SQLite files in a temporary data directory. The
restart test kills the process (SIGKILL) while ml trains, starts it again on the same directory, and
expects the job to end, completed or failed with a reason, within a bound.
"""

from __future__ import annotations

import asyncio
import csv
import io
import re
import time
import unicodedata
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from .helpers import follow, login, upload
from .serve import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    TERMINAL,
    ServeProcess,
    analysis_in_ml,
    kill_during_ml,
    wait_for,
)

pytestmark = pytest.mark.e2e

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
LOCAL_ADMIN = "admin@localhost.localdomain"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    process = ServeProcess(data_dir=tmp_path_factory.mktemp("serve") / "data")
    started = process.start()
    print(f"\ndsp serve started in {started:.1f}s")
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture(scope="module")
def api(server: ServeProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, headers=server.sign_in(), timeout=120) as client:
        yield client


def _token(api: httpx.Client) -> str:
    return api.headers["authorization"].removeprefix("Bearer ")


def test_the_printed_address_signs_in_the_local_admin_and_nothing_else_does(server: ServeProcess) -> None:
    page = httpx.get(f"{server.url}/local-login")
    assert page.status_code == 200 and '<script src="/local-login.js"' in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["cache-control"] == "no-store" and page.headers["referrer-policy"] == "no-referrer"
    script = httpx.get(f"{server.url}/local-login.js")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    assert "dsp.session" in script.text and "location.hash" in script.text

    exchange = f"{server.url}/api/v1/auth/local"
    assert httpx.post(exchange, json={"token": "x" * 43}).status_code == 401
    assert httpx.post(exchange, json={}).status_code == 401
    assert httpx.post(exchange, json={"token": server.token},
                      headers={"Origin": "http://evil.example"}).status_code == 403
    assert httpx.post(exchange, json={"token": server.token},
                      headers={"Host": "evil.example"}).status_code in (400, 403)  # DNS rebinding

    headers = server.sign_in()
    me = httpx.get(f"{server.url}/api/v1/me", headers=headers).json()["data"]
    assert me["email"] == LOCAL_ADMIN and me["role"] == "admin"
    audit = httpx.get(f"{server.url}/api/v1/audit", headers=headers).json()["data"]["items"]
    signed_in = [row for row in audit if row["action"] == "POST /api/v1/auth/local"]
    assert any(row["status"] == 200 and row["user_id"] == me["user_id"] for row in signed_in), signed_in
    # the bootstrap admin of the settings still signs in with its password, in the same organisation
    other = httpx.get(f"{server.url}/api/v1/me", headers=login(server.url, ADMIN_EMAIL, ADMIN_PASSWORD)).json()["data"]
    assert other["email"] == ADMIN_EMAIL and other["organization_id"] == me["organization_id"]


@pytest.mark.browser
def test_the_printed_address_opens_the_ui_signed_in_and_the_token_leaves_the_address_bar(
        server: ServeProcess) -> None:
    from playwright.sync_api import expect

    from .browser import PageWatch, assert_accessible, open_browser, require_browser

    require_browser()
    if not (Path(__file__).resolve().parents[2] / "ui" / "dist" / "index.html").is_file():
        pytest.skip("the web UI is not built (make ui)")
    assert server.login_url is not None
    watch = PageWatch(server.url)
    with open_browser() as browser:
        page = watch.attach(browser.new_context().new_page())
        page.goto(server.login_url)
        expect(page.get_by_role("heading", name="Datasets", exact=True)).to_be_visible(timeout=15_000)
        assert page.url == f"{server.url}/" and (server.token or "") not in page.url
        assert_accessible(page, "datasets after the local sign-in")
        page.reload()
        expect(page.get_by_role("heading", name="Datasets", exact=True)).to_be_visible(timeout=15_000)
        fresh = watch.attach(browser.new_context().new_page())  # another browser session: not signed in
        fresh.goto(f"{server.url}/")
        expect(fresh.get_by_role("button", name="Sign in")).to_be_visible(timeout=15_000)
    watch.assert_clean()


def _listening(port: int) -> set[str]:
    """The local addresses of the sockets listening on ``port`` (from /proc/net/tcp and tcp6)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as fh:
            for line in fh.readlines()[1:]:
                local, state = line.split()[1], line.split()[3]
                address, hex_port = local.split(":")
                if state == "0A" and int(hex_port, 16) == port:
                    found.add(address)
    return found


def test_it_listens_on_127_0_0_1_only(server: ServeProcess) -> None:
    assert _listening(server.port) == {"0100007F"}  # 127.0.0.1, little-endian hex; no 0.0.0.0, no ::


def test_the_ui_and_the_probes_are_served(server: ServeProcess) -> None:
    home = httpx.get(f"{server.url}/")
    assert home.status_code in (200, 503)  # 503: the page that says to run `make ui`
    assert "text/html" in home.headers["content-type"]
    assert httpx.get(f"{server.url}/health/ready").status_code == 200


def test_the_api_the_ui_uses_works_from_upload_to_predict_and_deletion(server: ServeProcess,
                                                                         api: httpx.Client) -> None:
    started = time.monotonic()
    uploaded = upload(api, SAMPLES / "penguins-raw.csv")
    assert uploaded.status_code == 201, uploaded.text
    dataset = uploaded.json()["data"]
    dataset_id = dataset["dataset_id"]
    listed = api.get("/api/v1/datasets").json()["data"]["items"]
    assert dataset_id in [d["dataset_id"] for d in listed]
    profiled = wait_for(api, f"/api/v1/datasets/{dataset_id}", until=lambda d: d["status"] == "profiled", timeout_s=60)
    assert profiled["status"] == "profiled", profiled
    assert api.get(f"/api/v1/datasets/{dataset_id}/profile").status_code == 200

    analysis = api.post("/api/v1/analyze", json={"dataset_id": dataset_id, "target": "Species",
                                                 "options": {"time_budget_s": 5}})
    assert analysis.status_code == 202, analysis.text
    analysis_id = analysis.json()["data"]["analysis_id"]
    messages = asyncio.run(follow(server.ws_url, analysis_id, token=_token(api), timeout=240))
    assert messages[0]["type"] == "job.snapshot"
    assert any(str(m.get("type")).endswith(".progress") for m in messages), messages
    assert messages[-1]["type"] == "dashboard.ready", messages[-1]
    print(f"\npenguins upload + analysis through dsp serve: {time.monotonic() - started:.1f}s")

    done = api.get(f"/api/v1/analysis/{analysis_id}").json()["data"]
    assert done["status"] == "completed" and done["results"]["task"]["target"] == "Species"
    html = api.get(f"/api/v1/dashboard/{done['dashboard_id']}", headers={"Accept": "text/html"})
    assert html.status_code == 200 and "<html" in html.text.lower()
    exported = api.post("/api/v1/export", json={"analysis_id": analysis_id, "format": "csv"})
    assert exported.status_code == 200 and exported.content.count(b"\n") > 100

    rows = [{"Island": "Biscoe", "Culmen Length (mm)": 45.1, "Culmen Depth (mm)": 14.5,
             "Flipper Length (mm)": 215, "Body Mass (g)": 5000, "Sex": "FEMALE"}]
    card = api.get(f"/api/v1/models/{done['model_id']}").json()["data"]
    rows = [{c["name"]: rows[0].get(c["name"]) for c in card["input_columns"]}]  # every column a row needs
    predicted = api.post(f"/api/v1/models/{done['model_id']}/predict", json={"rows": [{**rows[0], "foo": "bar"}]})
    assert predicted.status_code == 200, predicted.text
    assert len(predicted.json()["data"]["rows"]) == 1
    assert predicted.json()["data"]["warnings"][0]["columns"] == ["foo"]
    bad = api.post(f"/api/v1/models/{done['model_id']}/predict",
                   json={"rows": [{"foo": "bar", "Culmen Length (mm)": "abc"}]})
    assert bad.status_code == 422, bad.text
    [error] = bad.json()["errors"]
    assert error["code"] == "unparseable_values" and "Culmen Length (mm)" in error["message"]
    strict = api.post(f"/api/v1/models/{done['model_id']}/predict", params={"strict": "true"},
                      json={"rows": [{**rows[0], "foo": "bar"}]})
    assert strict.status_code == 422 and strict.json()["errors"][0]["code"] == "unknown_columns", strict.text
    unknown = api.post("/api/v1/models/00000000-0000-4000-8000-000000000000/predict", json={"rows": rows})
    assert unknown.status_code == 404

    models = api.get("/api/v1/models").json()["data"]["items"]
    assert done["model_id"] in [m["model_id"] for m in models]
    assert api.get(f"/api/v1/models/{done['model_id']}").status_code == 200
    link = api.post(f"/api/v1/dashboard/{done['dashboard_id']}/view-link")
    assert link.status_code == 200, link.text
    view = httpx.get(server.url + link.json()["data"]["url"] if link.json()["data"]["url"].startswith("/")
                     else link.json()["data"]["url"])
    assert view.status_code == 200 and "text/html" in view.headers["content-type"]
    assert api.get(f"/api/v1/datasets/{dataset_id}/ingest-report").status_code == 200
    assert dataset_id in [d["dataset_id"] for d in api.get("/api/v1/datasets", params={"q": "PENGUINS"}).json()[
        "data"]["items"]]

    key = api.post("/api/v1/api-keys", json={"name": "laptop script"})
    assert key.status_code == 201, key.text
    assert "laptop script" in [k["name"] for k in api.get("/api/v1/api-keys").json()["data"]["items"]]
    created = api.post("/api/v1/users", json={"email": "viewer@serve.example", "password": "a-viewer-password-long",
                                              "role": "viewer"})
    assert created.status_code == 201, created.text
    assert "viewer@serve.example" in [u["email"] for u in api.get("/api/v1/users").json()["data"]["items"]]
    assert api.get("/api/v1/me/export").headers["content-type"] == "application/zip"

    deleted = api.delete(f"/api/v1/datasets/{dataset_id}")
    assert deleted.status_code == 202, deleted.text
    deletion_id = deleted.json()["data"]["deletion_id"]
    finished = wait_for(api, f"/api/v1/deletions/{deletion_id}", until=lambda d: d["status"] == "completed",
                     timeout_s=60)
    assert finished["status"] == "completed", finished
    assert api.get(f"/api/v1/datasets/{dataset_id}").status_code == 404


def shown_in_the_ui(server: ServeProcess, job: str, *texts: str) -> None:
    """The analysis page of ``job``, opened from the printed sign-in address, shows each of ``texts``."""
    from playwright.sync_api import expect

    from .browser import CHROMIUM, UI_DIR, PageWatch, open_browser

    if not CHROMIUM.exists() or not (UI_DIR / "index.html").is_file():
        return  # the API's answer was checked; the page needs Chromium and the UI build (the journey skips, saying so)
    assert server.login_url is not None
    watch = PageWatch(server.url)
    with open_browser() as browser:
        page = watch.attach(browser.new_page())
        page.goto(server.login_url)
        page.get_by_role("heading", name="Datasets", exact=True).wait_for(timeout=15_000)
        page.goto(f"{server.url}/#/analysis/{job}")
        for text in texts:
            expect(page.get_by_text(text).first).to_be_visible(timeout=30_000)
        # a finished job embeds its dashboard: let it load, so that closing the page aborts no request
        page.wait_for_load_state("networkidle", timeout=60_000)
    watch.assert_clean()


def test_the_csv_export_has_no_live_formula_in_its_header_or_values(api: httpx.Client, tmp_path: Path) -> None:
    triggers = ("=", "+", "-", "@", "\t", "\r")
    number = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
    header = ['=HYPERLINK("http://x","y")', "+cmd", "＠who", "amount", "size"]
    values = ["=1+1", "+cmd", "-2+3", "@SUM(A1)", "＝HYPERLINK(1)", "＠x", "＋1"]
    source = tmp_path / "hostile.csv"
    with source.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        for i in range(60):
            writer.writerow([values[(i + k) % len(values)] for k in range(3)] + [f"{-3.5 - i}", str(i % 7)])
    uploaded = upload(api, source)
    assert uploaded.status_code == 201, uploaded.text
    dataset_id = uploaded.json()["data"]["dataset_id"]
    options = {"time_budget_s": 5, "etl_config": {"strings": {"nfkc": False, "merge_near_duplicates": False}}}
    analysis = api.post("/api/v1/analyze", json={"dataset_id": dataset_id, "options": options})
    assert analysis.status_code == 202, analysis.text
    analysis_id = analysis.json()["data"]["analysis_id"]
    done = wait_for(api, f"/api/v1/analysis/{analysis_id}", until=lambda d: d["status"] in ("completed", "failed"),
                    timeout_s=240)
    assert done["status"] == "completed", done
    exported = api.post("/api/v1/export", json={"analysis_id": analysis_id, "format": "csv"})
    assert exported.status_code == 200, exported.text
    rows = list(csv.reader(io.StringIO(exported.content.decode("utf-8"), newline="")))
    assert rows[0] == ["'" + h for h in header[:3]] + ["amount", "size"]
    for row in rows:
        for cell in row:
            if number.fullmatch(cell):
                continue
            assert not cell.startswith(triggers), repr(cell)
            assert not unicodedata.normalize("NFKC", cell).startswith(triggers), repr(cell)
    assert sorted(float(row[3]) for row in rows[1:]) == sorted(-3.5 - i for i in range(60))


def test_a_job_that_may_not_resume_fails_after_a_restart_with_a_reason(tmp_path: Path) -> None:
    server = ServeProcess(data_dir=tmp_path / "data", extra_env={"DSP_SERVE_MAX_ATTEMPTS": "1"})
    try:
        job = kill_during_ml(server, SAMPLES)
        server.start()
        with httpx.Client(base_url=server.url, headers=server.sign_in(), timeout=120) as api:
            final = wait_for(api, f"/api/v1/analysis/{job}", timeout_s=60, until=lambda j: j["status"] in TERMINAL)
            assert final["status"] == "failed", final
            assert final["error"] == {"code": "interrupted", "message": (
                "The server stopped during ml once while it worked on this job; start the analysis again.")}
        shown_in_the_ui(server, job, "failed", "The server stopped during ml once")
    except BaseException:
        server.kill()
        raise
    assert server.stop() == 0, "".join(server.output[-40:])  # Ctrl-C ends it cleanly


def test_a_server_killed_during_ml_ends_the_job_after_a_restart(tmp_path: Path) -> None:
    server = ServeProcess(data_dir=tmp_path / "data")
    try:
        job = kill_during_ml(server, SAMPLES)
        restarted = server.start()
        began = time.monotonic()
        with httpx.Client(base_url=server.url, headers=server.sign_in(), timeout=120) as api:
            final = wait_for(api, f"/api/v1/analysis/{job}", timeout_s=240, until=lambda j: j["status"] in TERMINAL)
            print(f"\nrestart in {restarted:.1f}s; the job ended {final['status']} "
                  f"{time.monotonic() - began:.1f}s later: {final.get('error')}")
            assert final["status"] in TERMINAL, final
            if final["status"] == "failed":
                assert final["error"] and final["error"]["message"], final
            else:
                assert final["model_id"] and final["dashboard_id"]
            assert api.get(f"/api/v1/jobs/{job}").json()["data"]["status"] == final["status"]
        shown_in_the_ui(server, job, final["status"])
    except BaseException:
        server.kill()
        raise
    assert server.stop() == 0, "".join(server.output[-40:])  # Ctrl-C ends it cleanly


def test_an_analysis_cancelled_during_ml_ends_cancelled_at_once_and_records_no_results(api: httpx.Client) -> None:
    job = analysis_in_ml(api, SAMPLES, budget_s=10)
    asked = time.monotonic()
    cancelled = api.post(f"/api/v1/jobs/{job}/cancel")
    assert cancelled.status_code == 202, cancelled.text
    assert cancelled.json()["data"]["status"] == "cancelled" and time.monotonic() - asked < 5
    # ml stops at its next step (or, at the latest, refuses to record its results) and says so
    acked = wait_for(api, f"/api/v1/jobs/{job}", timeout_s=120,
                     until=lambda j: any(a["stage"] == "ml" for a in j["cancellation"]["stages"]))
    ack = next(a for a in acked["cancellation"]["stages"] if a["stage"] == "ml")
    print(f"\nml acknowledged the cancellation at {ack['step']!r}, {ack['stopped_after_s']} s after the request")
    assert acked["status"] == "cancelled" and acked["model_id"] is None and acked["dashboard_id"] is None
    assert ack["stopped_after_s"] is not None
    models = api.get("/api/v1/models").json()["data"]
    assert all(m.get("job_id") != job for m in (models.get("items", models) if isinstance(models, dict) else models))
    again = api.post(f"/api/v1/jobs/{job}/cancel")
    assert again.status_code == 409 and again.json()["errors"][0]["code"] == "job_not_running"
