"""PDF and PNG export through the system Chromium, offline and bounded in time."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from dsp_dashboard.adapters.pdf import RenderError, render_pdf, render_png
from dsp_dashboard.domain import build_dashboard

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="module")
def penguin_page(penguins, tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("export") / "penguins.parquet"
    penguins.write_parquet(path)
    return build_dashboard(data=path, profile=None, title="Penguins", theme="dark")


def _needs_chromium() -> None:
    if not shutil.which(CHROMIUM):
        pytest.skip("Chromium is not installed at /usr/bin/chromium")


@pytest.mark.slow
def test_pdf_pages_show_the_charts(penguin_page, tmp_path):
    _needs_chromium()
    if not shutil.which("pdftoppm"):
        pytest.skip("pdftoppm (poppler-utils) is not installed")
    from PIL import Image

    pdf = render_pdf(penguin_page)
    assert pdf.startswith(b"%PDF-")
    (tmp_path / "report.pdf").write_bytes(pdf)
    subprocess.run(["pdftoppm", "-r", "40", "-png", str(tmp_path / "report.pdf"), str(tmp_path / "page")], check=True)
    pages = sorted(tmp_path.glob("page-*.png"))
    assert len(pages) >= 3
    # the pages carry drawn charts: many distinct colours, and the bar colour of the charts
    accent = (59, 111, 216)
    found_accent = False
    for page in pages:
        image = Image.open(page).convert("RGB")
        colours = image.getcolors(maxcolors=1 << 20)
        assert colours is not None and len(colours) > 20, f"{page.name} looks blank"
        # a dark page still prints on white paper, with the light palette
        white = sum(n for n, rgb in colours if min(rgb) > 235)
        assert white > 0.5 * image.width * image.height, f"{page.name} is not printed on white"
        found_accent |= any(max(abs(a - b) for a, b in zip(rgb, accent, strict=True)) < 12 for _, rgb in colours)
    assert found_accent


def test_png_of_one_chart(penguin_page):
    _needs_chromium()
    from io import BytesIO

    from PIL import Image

    png = render_png(penguin_page, element_id="corr-chart", theme="dark")
    image = Image.open(BytesIO(png))
    assert image.format == "PNG"
    assert 300 < image.width < 800 and 200 < image.height < 800


def test_a_missing_element_is_an_error(penguin_page):
    _needs_chromium()
    with pytest.raises(RenderError, match="no element with id 'no-such-chart'"):
        render_png(penguin_page, element_id="no-such-chart")


def _live_processes_in_group(pgid: int) -> list[str]:
    listing = subprocess.run(["ps", "-o", "pid=,stat=", "-g", str(pgid)], capture_output=True, text=True).stdout
    return [line for line in listing.splitlines() if line.split()[1:] and not line.split()[1].startswith("Z")]


def test_the_browser_is_killed_after_the_timeout(monkeypatch):
    _needs_chromium()
    import time

    from dsp_dashboard.adapters import pdf

    started: list[int] = []
    real_popen = subprocess.Popen

    def recording_popen(*args, **kwargs):
        proc = real_popen(*args, **kwargs)
        started.append(proc.pid)
        return proc

    monkeypatch.setattr(pdf.subprocess, "Popen", recording_popen)
    never_ready = "<!DOCTYPE html><html><body><p>a page that never marks itself ready</p></body></html>"
    with pytest.raises(RenderError, match="within 5 s"):
        render_pdf(never_ready, timeout_s=5)
    assert len(started) == 1
    deadline = time.monotonic() + 10
    while _live_processes_in_group(started[0]) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _live_processes_in_group(started[0]) == []
