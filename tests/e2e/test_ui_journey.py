"""A person's whole visit, in headless Chromium against the running platform: sign in, upload a real CSV
through the "Data file" input with a target, watch the progress reach its end, open the dashboard from
"Open dashboard", predict two pasted rows on the model page, create and revoke an API key, sign out.

On every page: axe-core reports no serious or critical violation, and over the whole visit there is no
console error, no failed request and no request leaving the origin. Screenshots of each page go to
docs/screenshots/. A second test does the upload and the analysis with the keyboard alone, and a third
signs in as a viewer, who sees no upload, analyze or delete control (and whom the API refuses anyway).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from mesh_kit.local_mesh import LocalMesh

from .browser import PageWatch, assert_accessible, open_browser, require_browser, tab_to
from .browser import shot as take_shot
from .conftest import ADMIN_EMAIL, ADMIN_PASSWORD
from .helpers import login, two_penguin_rows
from .serve import ServeProcess

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

BUDGET_S = "10"  # seconds of AutoML: enough for a model of the penguins, short on two shared cores


def nav(page: Any, name: str) -> Any:
    """A link of the main navigation (pages may link to the same place in their own words)."""
    return page.get_by_role("navigation", name="Main").get_by_role("link", name=name, exact=True)


def sign_in(page: Any, email: str, password: str) -> None:
    from playwright.sync_api import expect

    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Datasets", exact=True)).to_be_visible(timeout=15_000)


def journey(base: str, samples: Path, *, email: str | None, password: str | None, tag: str | None,
            start: str | None = None) -> None:
    """The visit from ``start`` (default ``base``/). ``email`` None: ``start`` opens the platform signed in
    (``dsp serve``'s printed address). ``tag`` None writes no screenshots."""
    def shot(page: Any, name: str) -> None:
        if tag is not None:
            take_shot(page, tag + name)

    from playwright.sync_api import expect

    watch = PageWatch(base)
    with open_browser() as browser:
        context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
        page = watch.attach(context.new_page())

        def watch_new_tab(new: Any) -> None:  # "Open dashboard" opens one
            if new is not page:
                watch.attach(new)

        context.on("page", watch_new_tab)

        page.goto(start or f"{base}/")
        if email is not None and password is not None:
            expect(page.get_by_role("button", name="Sign in")).to_be_visible()
            assert_accessible(page, "sign in")
            shot(page, "sign-in.png")
            sign_in(page, email, password)
        else:
            expect(page.get_by_role("heading", name="Datasets", exact=True)).to_be_visible(timeout=15_000)

        nav(page, "Upload").click()
        page.get_by_label("Data file").set_input_files(str(samples / "penguins-raw.csv"))
        page.get_by_label("Target").fill("Species")
        page.get_by_label("Time budget (seconds)").fill(BUDGET_S)
        assert_accessible(page, "upload")
        page.get_by_role("button", name="Upload", exact=True).click()
        bars = page.get_by_role("progressbar")
        expect(bars.first).to_have_attribute("aria-valuenow", "100", timeout=60_000)
        expect(bars.nth(1)).to_have_attribute("aria-valuenow", "100", timeout=120_000)
        shot(page, "upload.png")

        page.get_by_role("link", name="Open the analysis").click()
        expect(page).to_have_url(re.compile(r"#/analysis/[0-9a-f-]{36}$"))
        expect(page.get_by_role("link", name="Open dashboard")).to_be_visible(timeout=240_000)
        frame = page.frame_locator("iframe[title='Dashboard']")
        expect(frame.locator("body")).to_contain_text("penguins", timeout=30_000)
        assert_accessible(page, "analysis")
        shot(page, "analysis.png")
        with context.expect_page() as opened:
            page.get_by_role("link", name="Open dashboard").click()
        dashboard = opened.value
        dashboard.wait_for_load_state()
        expect(dashboard).to_have_title(re.compile("penguins", re.IGNORECASE))
        assert_accessible(dashboard, "the dashboard")
        shot(dashboard, "dashboard.png")
        dashboard.close()

        page.get_by_role("link", name="Open the model").click()
        expect(page).to_have_url(re.compile(r"#/models/[0-9a-f-]{36}$"))
        rows = page.get_by_label("Rows", exact=True)
        expect(rows).to_be_visible(timeout=15_000)
        rows.fill(two_penguin_rows(samples)[0])  # two rows of the file, as a person copies them
        page.get_by_role("button", name="Predict").click()
        waterfalls = page.get_by_role("img", name=re.compile("SHAP|contribution", re.IGNORECASE))
        expect(waterfalls).to_have_count(2, timeout=60_000)
        assert_accessible(page, "model")
        shot(page, "model.png")

        nav(page, "API keys").click()
        name = f"journey-{uuid.uuid4().hex[:6]}"
        page.get_by_label("Name", exact=True).fill(name)
        page.get_by_role("button", name="Create key").click()
        secret = page.get_by_role("textbox", name="New API key")
        expect(secret).to_have_value(re.compile(r"\S{20,}"))
        key = secret.input_value()
        assert httpx.get(f"{base}/api/v1/me", headers={"X-API-Key": key}).status_code == 200
        assert_accessible(page, "API keys")
        shot(page, "keys.png")
        row = page.get_by_role("row").filter(has_text=name)
        row.get_by_role("button", name=re.compile("^Revoke")).click()
        dialog = page.get_by_role("dialog")
        assert_accessible(page, "API keys, revoke dialog")
        dialog.get_by_role("button", name="Revoke key").click()
        expect(row).to_contain_text("Revoked")
        watch.expected_statuses.add(401)  # the revoked key, next: the API refuses it
        assert httpx.get(f"{base}/api/v1/me", headers={"X-API-Key": key}).status_code == 401

        nav(page, "Datasets").click()
        page.get_by_role("link", name="penguins-raw.csv").first.click()
        expect(page.get_by_role("heading", name="penguins-raw.csv")).to_be_visible(timeout=15_000)
        assert_accessible(page, "dataset")
        shot(page, "dataset.png")
        nav(page, "Datasets").click()
        assert_accessible(page, "datasets")
        shot(page, "datasets.png")
        nav(page, "Users").click()
        expect(page.get_by_role("heading", name="Users", exact=True)).to_be_visible()
        assert_accessible(page, "users")
        shot(page, "users.png")

        page.get_by_role("button", name="Sign out").click()
        expect(page.get_by_role("button", name="Sign in")).to_be_visible()
        assert page.evaluate("sessionStorage.getItem('dsp.session')") is None
        context.close()
    watch.assert_clean()


def test_a_person_signs_in_uploads_analyses_predicts_manages_a_key_and_signs_out(
        mesh: LocalMesh, samples: Path) -> None:
    require_browser()
    journey(mesh.url("gateway"), samples, email=ADMIN_EMAIL, password=ADMIN_PASSWORD, tag="")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    """``dsp serve`` over a fresh data directory: no PostgreSQL, RabbitMQ or Redis."""
    server = ServeProcess(data_dir=tmp_path_factory.mktemp("serve-journey") / "data")
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_the_same_journey_on_dsp_serve(served: ServeProcess, samples: Path) -> None:
    """As on the mesh, but opened from the address ``dsp serve`` prints: signed in as the local admin."""
    require_browser()
    journey(served.url, samples, email=None, password=None, tag=None, start=served.login_url)


def open_file_chooser(page: Any) -> Any:
    """Open the focused file input's chooser as a keyboard user does: Space, and once more with Enter if the
    first press was lost (seen once in a loaded full run: headless Chromium dropped a chooser request)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        with page.expect_file_chooser(timeout=10_000) as chooser:
            page.keyboard.press("Space")
    except PlaywrightTimeout:
        with page.expect_file_chooser(timeout=20_000) as chooser:
            page.keyboard.press("Enter")
    return chooser.value


def test_upload_and_analyze_with_the_keyboard_alone(mesh: LocalMesh, samples: Path) -> None:
    require_browser()
    from playwright.sync_api import expect

    base = mesh.url("gateway")
    watch = PageWatch(base)
    with open_browser() as browser:
        page = watch.attach(browser.new_page(viewport={"width": 1280, "height": 900}))
        page.goto(f"{base}/")
        tab_to(page, page.get_by_label("Email"))
        page.keyboard.type(ADMIN_EMAIL)
        tab_to(page, page.get_by_label("Password"))
        page.keyboard.type(ADMIN_PASSWORD)
        page.keyboard.press("Enter")
        expect(page.get_by_role("heading", name="Datasets", exact=True)).to_be_visible(timeout=15_000)

        tab_to(page, nav(page, "Upload"))
        page.keyboard.press("Enter")
        tab_to(page, page.get_by_label("Data file"))
        chooser = open_file_chooser(page)
        chooser.set_files(str(samples / "penguins-raw.csv"))
        tab_to(page, page.get_by_role("button", name="Upload", exact=True))
        page.keyboard.press("Enter")
        expect(page.get_by_role("progressbar").nth(1)).to_have_attribute("aria-valuenow", "100", timeout=120_000)

        tab_to(page, page.get_by_role("link", name="See it in the datasets"))
        page.keyboard.press("Enter")
        first = page.get_by_role("link", name="penguins-raw.csv").first
        expect(first).to_be_visible(timeout=15_000)
        tab_to(page, first)
        page.keyboard.press("Enter")
        expect(page.get_by_role("heading", name="penguins-raw.csv")).to_be_visible(timeout=15_000)

        target = page.get_by_label("Target")
        tab_to(page, target)
        expect(target).to_be_enabled()
        # a select changes with the arrow keys; go down until it says Species
        for _ in range(40):
            if target.input_value() == "Species":
                break
            page.keyboard.press("ArrowDown")
        assert target.input_value() == "Species"
        tab_to(page, page.get_by_label("Time budget (seconds)"))
        page.keyboard.press("Control+A")
        page.keyboard.type(BUDGET_S)
        tab_to(page, page.get_by_role("button", name="Analyze", exact=True))
        page.keyboard.press("Enter")
        expect(page).to_have_url(re.compile(r"#/analysis/[0-9a-f-]{36}$"), timeout=15_000)
        expect(page.get_by_role("link", name="Open dashboard")).to_be_visible(timeout=240_000)
        tab_to(page, page.get_by_role("link", name="Open dashboard"))
    watch.assert_clean()


def test_a_viewer_sees_no_upload_analyze_or_delete_and_the_api_refuses_them(
        mesh: LocalMesh, api: httpx.Client, samples: Path, finished: dict[str, Any]) -> None:
    require_browser()
    from playwright.sync_api import expect

    base = mesh.url("gateway")
    email, password = f"viewer-{uuid.uuid4().hex[:8]}@e2e.example", "viewer-password-long-enough"
    created = api.post("/api/v1/users", json={"email": email, "password": password, "role": "viewer"})
    assert created.status_code == 201, created.text
    watch = PageWatch(base)
    with open_browser() as browser:
        page = watch.attach(browser.new_page(viewport={"width": 1280, "height": 900}))
        page.goto(f"{base}/")
        sign_in(page, email, password)
        expect(page.get_by_text(f"{email} (viewer)")).to_be_visible()
        assert nav(page, "Upload").count() == 0
        assert nav(page, "Users").count() == 0
        expect(page.get_by_role("link", name="penguins-raw.csv").first).to_be_visible(timeout=15_000)
        assert page.get_by_role("button", name=re.compile("^Delete")).count() == 0
        page.get_by_role("link", name="penguins-raw.csv").first.click()
        expect(page.get_by_role("heading", name="penguins-raw.csv")).to_be_visible(timeout=15_000)
        assert page.get_by_role("button", name="Analyze", exact=True).count() == 0
        assert page.get_by_role("button", name=re.compile("^Re-ingest")).count() == 0
        assert_accessible(page, "dataset, as a viewer")
        page.goto(f"{base}/#/upload")
        expect(page.get_by_text(re.compile("analyst or admin role", re.IGNORECASE))).to_be_visible()
        assert page.get_by_label("Data file").count() == 0
    watch.assert_clean()

    viewer = login(base, email, password)
    with httpx.Client(base_url=base, headers=viewer, timeout=30) as client:
        upload = client.post("/api/v1/upload", files={"file": ("p.csv", (samples / "penguins-raw.csv").read_bytes())})
        assert upload.status_code == 403, upload.text
        deleted = client.delete(f"/api/v1/datasets/{finished['dataset']['dataset_id']}")
        assert deleted.status_code == 403, deleted.text
        dataset_id = finished["dataset"]["dataset_id"]
        analysed = client.post("/api/v1/analyze", json={"dataset_id": dataset_id, "target": "Species"})
        assert analysed.status_code == 403, analysed.text
