"""Rendering a dashboard to PDF or PNG with the system Chromium, offline.

Chromium is driven by Playwright in a child process: the page may load nothing
but ``data:``/``blob:``/``about:`` URLs (every other request is aborted), and the
whole child is killed if it outlives ``timeout_s``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Literal

__all__ = ["CHROMIUM_ARGS", "RenderError", "render_pdf", "render_png"]

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
]
_ALLOWED_SCHEMES = ("data:", "blob:", "about:")
_PRINT_WIDTH_PX = 718
"""Printable width of A4 with 10 mm margins at 96 dpi, so charts are drawn at the width they print at."""


class RenderError(RuntimeError):
    """Chromium failed, or did not finish in time."""


def _run_child(job: dict, timeout_s: float) -> bytes:
    with tempfile.TemporaryDirectory(prefix="dsp-render-") as tmp:
        html_path = Path(tmp) / "page.html"
        out_path = Path(tmp) / "out.bin"
        html_path.write_text(job.pop("html"), encoding="utf-8")
        job.update(html_path=str(html_path), out_path=str(out_path), timeout_s=timeout_s)
        proc = subprocess.Popen(
            [sys.executable, "-m", "dsp_dashboard.adapters.pdf"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        try:
            _, err = proc.communicate(json.dumps(job).encode(), timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise RenderError(f"Chromium did not finish within {timeout_s:g} s; killed") from None
        finally:
            if proc.poll() is None:  # pragma: no cover - only when communicate itself fails
                os.killpg(proc.pid, signal.SIGKILL)
        if proc.returncode != 0 or not out_path.exists():
            raise RenderError(f"Chromium rendering failed: {err.decode(errors='replace')[-2000:]}")
        return out_path.read_bytes()


def render_pdf(
    html: str,
    *,
    timeout_s: float = 60.0,
    chromium: str = "/usr/bin/chromium",
    paper: Literal["A4", "Letter"] = "A4",
) -> bytes:
    """Print a dashboard to PDF with headless Chromium, every chart drawn.

    Parameters
    ----------
    html
        The document from ``build_dashboard``.
    timeout_s
        Wall-clock limit; past it the browser is killed and ``RenderError`` raised.
    chromium
        Path of the Chromium executable (never downloaded).
    paper
        Paper format.

    Returns
    -------
    bytes
        The PDF document.
    """
    return _run_child({"kind": "pdf", "html": html, "chromium": chromium, "paper": paper}, timeout_s)


def render_png(
    html: str,
    *,
    element_id: str | None = None,
    timeout_s: float = 60.0,
    chromium: str = "/usr/bin/chromium",
    width: int = 1280,
    height: int = 900,
    full_page: bool = True,
    theme: Literal["light", "dark"] | None = None,
) -> bytes:
    """Take a PNG of one chart (or card) of a dashboard, or of the whole page.

    Parameters
    ----------
    html
        The document from ``build_dashboard``.
    element_id
        DOM id of the element to capture (a card id such as ``"corr"`` or a chart id
        such as ``"corr-chart"``); ``None`` captures the page.
    timeout_s
        Wall-clock limit; past it the browser is killed and ``RenderError`` raised.
    chromium
        Path of the Chromium executable.
    width, height
        Viewport size in CSS pixels.
    full_page
        With no ``element_id``, capture the whole scrollable page rather than the viewport.
    theme
        Switch the page to this theme before the capture.

    Returns
    -------
    bytes
        The PNG image.
    """
    job = {"kind": "png", "html": html, "chromium": chromium, "element_id": element_id, "width": width,
           "height": height, "full_page": full_page, "theme": theme}
    return _run_child(job, timeout_s)


def _child_main() -> None:
    from playwright.sync_api import sync_playwright

    job = json.loads(sys.stdin.read())
    html = Path(job["html_path"]).read_text(encoding="utf-8")
    budget_ms = max(1000.0, job["timeout_s"] * 1000 * 0.9)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=job["chromium"], args=CHROMIUM_ARGS, timeout=budget_ms)
        try:
            page = browser.new_page(viewport={"width": job.get("width", 1280), "height": job.get("height", 900)})
            page.set_default_timeout(budget_ms)
            page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(_ALLOWED_SCHEMES)
                       else route.abort())
            page.set_content(html, wait_until="load")
            page.wait_for_function("() => document.documentElement.getAttribute('data-dsp-ready') === '1'")
            if job["kind"] == "pdf":
                page.set_viewport_size({"width": _PRINT_WIDTH_PX, "height": 1000})
                page.emulate_media(media="print")
                page.evaluate("window.dsp.setTheme('light'); window.dsp.drawAll(); window.dsp.resizeAll()")
                page.wait_for_timeout(300)
                data = page.pdf(format=job["paper"], print_background=True, prefer_css_page_size=True)
            else:
                if job.get("theme"):
                    page.evaluate("t => window.dsp.setTheme(t)", job["theme"])
                page.evaluate("window.dsp.drawAll()")
                if job.get("element_id"):
                    target = page.locator(f"[id={json.dumps(job['element_id'])}]")
                    if target.count() != 1:
                        raise SystemExit(f"no element with id {job['element_id']!r} in the dashboard")
                    data = target.screenshot()
                else:
                    data = page.screenshot(full_page=job.get("full_page", True))
            Path(job["out_path"]).write_bytes(data)
        finally:
            browser.close()


if __name__ == "__main__":
    _child_main()
