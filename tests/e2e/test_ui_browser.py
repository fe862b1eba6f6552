"""The web UI in headless Chromium, as a person uses it: sign in as the bootstrap admin, upload a real CSV
through the "Data file" input, watch the progress bars reach their end, find the dataset in the list, sign
out. No console error, no failed request, no request leaving the gateway. Screenshots in docs/screenshots/."""

from __future__ import annotations

from pathlib import Path

import pytest
from mesh_kit.local_mesh import LocalMesh

from .conftest import ADMIN_EMAIL, ADMIN_PASSWORD, UI_DIR

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def test_sign_in_upload_see_the_dataset_and_sign_out(mesh: LocalMesh, samples: Path) -> None:
    if not CHROMIUM.exists():
        pytest.skip("Chromium is not installed at /usr/bin/chromium (apt-get install chromium)")
    if not (UI_DIR / "index.html").is_file():
        pytest.skip(f"the web UI is not built in {UI_DIR}: run `make ui`")
    from playwright.sync_api import expect, sync_playwright

    base = mesh.url("gateway")
    origin = base.replace("http://", "ws://")
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 860})
            errors: list[str] = []
            outside: list[str] = []
            failed: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("request", lambda r: outside.append(r.url)
                    if not (r.url.startswith(base) or r.url.startswith(origin) or r.url.startswith("data:")) else None)
            page.on("requestfailed", lambda r: failed.append(f"{r.method} {r.url}"))
            page.on("websocket", lambda ws: None if ws.url.startswith(origin) else outside.append(ws.url))

            page.goto(f"{base}/")
            page.get_by_label("Email").fill(ADMIN_EMAIL)
            page.get_by_label("Password").fill(ADMIN_PASSWORD)
            page.screenshot(path=str(SHOTS / "sign-in.png"))
            page.get_by_role("button", name="Sign in").click()
            expect(page.get_by_role("heading", name="Datasets")).to_be_visible(timeout=15_000)

            page.get_by_role("link", name="Upload", exact=True).click()
            page.get_by_label("Data file").set_input_files(str(samples / "penguins-raw.csv"))
            page.get_by_role("button", name="Upload", exact=True).click()
            bars = page.get_by_role("progressbar")
            expect(bars.first).to_have_attribute("aria-valuenow", "100", timeout=60_000)
            expect(bars.nth(1)).to_have_attribute("aria-valuenow", "100", timeout=120_000)
            expect(page.get_by_text("See it in the datasets")).to_be_visible()
            page.screenshot(path=str(SHOTS / "upload.png"))

            page.get_by_role("link", name="See it in the datasets").click()
            row = page.get_by_role("row").filter(has_text="penguins-raw.csv").first
            expect(row).to_be_visible(timeout=15_000)
            expect(row).to_contain_text("344 × 17")  # the penguins: 344 rows, 17 columns
            page.screenshot(path=str(SHOTS / "datasets.png"))
            page.emulate_media(color_scheme="dark")
            page.set_viewport_size({"width": 375, "height": 740})
            page.screenshot(path=str(SHOTS / "datasets-dark-375.png"))
            page.emulate_media(color_scheme="light")

            page.get_by_role("button", name="Sign out").click()
            expect(page.get_by_role("button", name="Sign in")).to_be_visible()
            assert page.evaluate("sessionStorage.getItem('dsp.session')") is None
            assert errors == [], errors
            assert failed == [], failed
            assert outside == [], "the page sent requests outside the gateway"
        finally:
            browser.close()
