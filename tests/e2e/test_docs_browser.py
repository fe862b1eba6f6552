"""The gateway's OpenAPI page in Chromium, as a user logs in there: served without internet access,
Authorize takes the e-mail address and password (the OAuth2 password flow), and "Try it out" then
calls the API with the token."""

from __future__ import annotations

from pathlib import Path

import pytest
from mesh_kit.local_mesh import LocalMesh

from .conftest import ADMIN_EMAIL, ADMIN_PASSWORD

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

CHROMIUM = Path("/usr/bin/chromium")


def test_the_openapi_page_logs_in_with_authorize_and_calls_the_api(mesh: LocalMesh, tmp_path: Path) -> None:
    if not CHROMIUM.exists():
        pytest.skip("Chromium is not installed at /usr/bin/chromium (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    base = mesh.url("gateway")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            errors: list[str] = []
            outside: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.on("request", lambda r: outside.append(r.url) if not r.url.startswith(base) else None)
            page.goto(f"{base}/docs")
            page.wait_for_selector('.opblock-summary-path[data-path="/api/v1/me"]', timeout=30_000)

            page.click("button.authorize")
            page.fill("#oauth_username", ADMIN_EMAIL)
            page.fill("#oauth_password", ADMIN_PASSWORD)
            page.click(".auth-container button.authorize >> nth=0")
            page.wait_for_selector(".auth-container button:has-text('Logout')", timeout=15_000)  # the token was granted
            page.click("button.btn-done >> nth=0")

            page.click('.opblock-summary-path[data-path="/api/v1/me"]')
            page.click("button.try-out__btn")
            page.click("button.execute")
            status = page.wait_for_selector(".live-responses-table tbody .response-col_status", timeout=15_000)
            assert status is not None
            answered = page.inner_text(".live-responses-table tbody .response-col_description")
            page.screenshot(path=str(tmp_path / "docs-me.png"))
            assert status.inner_text().strip() == "200", answered
            assert ADMIN_EMAIL in answered
            assert errors == []
            assert outside == [], "the page loaded files from outside the gateway"
        finally:
            browser.close()
