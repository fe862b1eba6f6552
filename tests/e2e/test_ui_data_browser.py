"""The data pages of the web UI in headless Chromium against the running mesh: upload samples/penguins-raw.csv
with the target Species, follow the analysis to its dashboard (loaded in a sandboxed frame from a signed view
link, then opened in a new tab from "Open dashboard"), download the cleaned CSV, look at the dataset's page
(schema, profile, validation), read it again with another column type, and find the dataset by searching the list, at 1280 and at 375 pixels wide.

On every page axe-core finds no serious or critical violation; over the visit there is no console error, no
failed request and no request leaving the origin. Screenshots: docs/screenshots/analysis.png, dataset.png,
datasets.png, datasets-375.png and dataset-dark-375.png.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any

import pytest
from mesh_kit.local_mesh import LocalMesh

from .browser import PageWatch, assert_accessible, open_browser, require_browser, shot
from .conftest import ADMIN_EMAIL, ADMIN_PASSWORD

pytestmark = [pytest.mark.e2e, pytest.mark.browser]


def _no_page_overflow(page: Any) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    viewport = page.evaluate("window.innerWidth")
    assert width <= viewport, f"the page is {width} px wide in a {viewport} px viewport"


def test_upload_with_a_target_see_the_dashboard_download_the_cleaned_csv_and_find_the_dataset(
        mesh: LocalMesh, samples: Path) -> None:
    require_browser()
    from playwright.sync_api import expect

    base = mesh.url("gateway")
    watch = PageWatch(base)
    with open_browser() as browser:
        context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
        page = watch.attach(context.new_page())
        context.on("page", watch.attach)  # the tab "Open dashboard" opens
        page.goto(f"{base}/")
        page.get_by_label("Email").fill(ADMIN_EMAIL)
        page.get_by_label("Password").fill(ADMIN_PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("heading", name="Datasets", exact=True)).to_be_visible(timeout=15_000)

        page.get_by_role("link", name="Upload", exact=True).click()
        page.get_by_label("Data file").set_input_files(str(samples / "penguins-raw.csv"))
        page.get_by_label("Target").fill("Species")
        page.get_by_label("Time budget (seconds)").fill("10")
        assert_accessible(page, "upload")
        page.get_by_role("button", name="Upload", exact=True).click()
        bars = page.get_by_role("progressbar")
        expect(bars.first).to_have_attribute("aria-valuenow", "100", timeout=60_000)
        expect(bars.nth(1)).to_have_attribute("aria-valuenow", "100", timeout=120_000)

        page.get_by_role("link", name="Open the analysis").click()
        expect(page).to_have_url(re.compile(r"#/analysis/[0-9a-f-]{36}$"))
        open_dashboard = page.get_by_role("link", name="Open dashboard")
        expect(open_dashboard).to_be_visible(timeout=300_000)
        iframe = page.locator("iframe[title='Dashboard']")
        assert iframe.get_attribute("sandbox") == "allow-scripts"
        src = iframe.get_attribute("src") or ""
        assert src.startswith("/api/v1/views/dashboards/") and "token=" in src
        expect(page.frame_locator("iframe[title='Dashboard']").locator("body")).to_contain_text(
            "penguins", timeout=30_000)
        expect(page.get_by_text(re.compile(r"Task: multiclass of Species"))).to_be_visible()
        assert_accessible(page, "analysis")
        shot(page, "analysis.png")

        with context.expect_page() as opened:
            open_dashboard.click()
        dashboard = opened.value
        dashboard.wait_for_load_state()
        expect(dashboard).to_have_title(re.compile("penguins", re.IGNORECASE))
        assert dashboard.url.startswith(f"{base}/api/v1/views/dashboards/")
        dashboard.close()

        with page.expect_download() as downloading:
            page.get_by_role("button", name="Cleaned data (CSV)").click()
        download = downloading.value
        assert download.suggested_filename == "cleaned.csv"
        rows = list(csv.reader(io.StringIO(Path(download.path()).read_text(encoding="utf-8"))))
        assert "Species" in rows[0] and len(rows) > 300, rows[:2]
        expect(page.get_by_role("status").filter(has_text="Saved cleaned.csv.")).to_be_visible()

        page.get_by_role("link", name="The dataset").click()
        expect(page.get_by_role("heading", level=1, name="penguins-raw.csv")).to_be_visible(timeout=15_000)
        schema = page.get_by_role("table", name="Columns with their inferred types")
        expect(schema.get_by_role("rowheader", name="Species", exact=True)).to_be_visible(timeout=15_000)
        expect(page.get_by_role("region", name="Profile")).to_contain_text("344")
        expect(page.get_by_role("region", name="Validation")).to_contain_text("Read as")
        expect(page.get_by_role("button", name="Analyze", exact=True)).to_be_visible()
        assert_accessible(page, "dataset")
        shot(page, "dataset.png")

        # read the stored file again with another type for one column: a new dataset, typed as asked
        first_url = page.url
        inferred = schema.get_by_role("row").filter(has=page.get_by_role("rowheader", name="Sample Number"))
        expect(inferred.get_by_role("cell").first).to_have_text("integer")
        page.get_by_label("Type of Sample Number").select_option("identifier")
        page.get_by_role("button", name="Re-ingest").click()
        expect(page).not_to_have_url(first_url, timeout=15_000)
        expect(page).to_have_url(re.compile(r"#/datasets/[0-9a-f-]{36}$"))
        retyped = page.get_by_role("table", name="Columns with their inferred types").get_by_role("row").filter(
            has=page.get_by_role("rowheader", name="Sample Number"))
        expect(retyped.get_by_role("cell").first).to_have_text("identifier", timeout=90_000)

        page.get_by_role("link", name="Datasets", exact=True).first.click()
        page.get_by_label("Search datasets").fill("penguins-raw")
        first = page.get_by_role("link", name="penguins-raw.csv").first
        expect(first).to_be_visible(timeout=15_000)
        assert_accessible(page, "datasets")
        shot(page, "datasets.png")
        delete = page.get_by_role("button", name="Delete penguins-raw.csv").first
        delete.click()
        dialog = page.get_by_role("dialog")
        expect(dialog).to_contain_text("penguins-raw.csv")
        assert_accessible(page, "datasets, delete dialog")
        page.keyboard.press("Escape")
        expect(dialog).to_have_count(0)
        assert delete.evaluate("element => element === document.activeElement")
        page.set_viewport_size({"width": 375, "height": 800})
        expect(first).to_be_visible()
        _no_page_overflow(page)
        shot(page, "datasets-375.png")
        first.click()
        expect(page.get_by_role("heading", level=1, name="penguins-raw.csv")).to_be_visible(timeout=15_000)
        expect(page.get_by_role("region", name="Profile")).to_be_visible(timeout=15_000)
        _no_page_overflow(page)
        page.emulate_media(color_scheme="dark")
        assert_accessible(page, "dataset, dark, 375 px")
        shot(page, "dataset-dark-375.png")
        context.close()
    watch.assert_clean()
