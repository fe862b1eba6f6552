"""Headless Chromium for the UI's browser tests: Debian's /usr/bin/chromium driven by Playwright (never a
downloaded browser), a watch on everything a page does wrong, axe-core run inside the page, and keyboard
moves.

``PageWatch`` records console errors, uncaught exceptions, failed requests, HTTP errors (>= 400 that the test
did not expect) and any request or WebSocket leaving the origin under test; ``assert_clean`` fails with all
of them. ``axe_violations`` injects axe-core from ui/node_modules (the UI's devDependency) through the
DevTools protocol, which the page's strict CSP does not apply to, so the page is audited as it is served.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Locator, Page

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
AXE = ROOT / "ui" / "node_modules" / "axe-core" / "axe.min.js"
UI_DIR = ROOT / "ui" / "dist"
SHOTS = ROOT / "docs" / "screenshots"


def require_browser() -> None:
    """Skip, saying why, where the browser, the UI build or axe-core is not on this machine."""
    if not CHROMIUM.exists():
        pytest.skip("Chromium is not installed at /usr/bin/chromium (apt-get install chromium)")
    if not (UI_DIR / "index.html").is_file():
        pytest.skip(f"the web UI is not built in {UI_DIR}: run `make ui`")
    if not AXE.is_file():
        pytest.skip(f"axe-core is not installed in {AXE.parent}: run `make ui` (npm ci)")


@contextmanager
def open_browser() -> Iterator[Browser]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"])
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class PageWatch:
    """What went wrong on the pages of one browser context, against the origin ``base`` (http://host:port)."""

    base: str
    errors: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)
    http_errors: list[str] = field(default_factory=list)
    expected_statuses: set[int] = field(default_factory=set)

    def attach(self, page: Page) -> Page:
        ws_origin = self.base.replace("http://", "ws://", 1)

        def request(r: Any) -> None:
            url = r.url
            if not (url.startswith(self.base) or url.startswith(("data:", "blob:", "about:"))):
                self.outside.append(url)

        def response(r: Any) -> None:
            if r.status >= 400 and r.status not in self.expected_statuses:
                self.http_errors.append(f"{r.status} {r.request.method} {r.url}")

        def console(message: Any) -> None:
            if message.type == "error":
                self.errors.append(f"console: {message.text}")

        page.on("pageerror", lambda error: self.errors.append(f"page error: {error}"))
        page.on("console", console)
        page.on("request", request)
        page.on("response", response)
        page.on("requestfailed", lambda r: self.failed.append(f"{r.method} {r.url}: {r.failure}"))
        page.on("websocket", lambda ws: None if ws.url.startswith(ws_origin) else self.outside.append(ws.url))
        return page

    def assert_clean(self) -> None:
        problems = {"errors": self.errors, "failed requests": self.failed, "HTTP errors": self.http_errors,
                    "requests leaving the origin": self.outside}
        assert not any(problems.values()), json.dumps(problems, indent=2)


def axe_violations(page: Page, *, impacts: tuple[str, ...] = ("serious", "critical")) -> list[dict[str, Any]]:
    """axe-core's violations of the given impacts on the page as it is now (frames are audited on their own)."""
    if not page.evaluate("typeof window.axe === 'object'"):
        page.evaluate(AXE.read_text(encoding="utf-8") + "\n;undefined")
    result = page.evaluate(
        """async () => {
             const r = await axe.run(document, {iframes: false, resultTypes: ["violations"]});
             return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                            nodes: v.nodes.slice(0, 5).map(n => n.target.join(" "))}));
           }""")
    return [v for v in result if v["impact"] in impacts]


def assert_accessible(page: Page, where: str) -> None:
    violations = axe_violations(page)
    assert violations == [], f"axe-core on {where}: " + json.dumps(violations, indent=2)


def is_focused(locator: Locator) -> bool:
    return bool(locator.evaluate("element => element === document.activeElement"))


def tab_to(page: Page, locator: Locator, *, limit: int = 60) -> None:
    """Press Tab until ``locator`` has the focus (as a keyboard user would), failing after ``limit`` presses.
    Each focused control must show a visible focus indicator (an outline or a box shadow)."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if is_focused(locator):
            indicator = locator.evaluate(
                """e => { // the control, or the box drawn around a visually hidden one (a drop zone's :focus-within)
                          for (let n = e, up = 0; n && up < 4; n = n.parentElement, up++) {
                            const s = getComputedStyle(n);
                            if ((s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0) || s.boxShadow !== 'none')
                              return true;
                          }
                          return false; }""")
            assert indicator, f"{locator} has the focus but shows no focus indicator"
            return
    raise AssertionError(f"{locator} was not reached with {limit} presses of Tab")


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / name), full_page=True)
