"""Datasets and result documents shared by the dashboard tests."""

from __future__ import annotations

import math
import re
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest
import sklearn

SKLEARN_DATA = Path(sklearn.__file__).parent / "datasets" / "data"


def read_sklearn_csv(name: str, columns: list[str] | None = None) -> pl.DataFrame:
    """Read one of scikit-learn's bundled CSVs (their first line is a shape header)."""
    path = SKLEARN_DATA / name
    frame = pl.read_csv(path, skip_rows=1, has_header=False)
    if columns:
        frame = frame.rename(dict(zip(frame.columns, columns, strict=False)))
    return frame


@pytest.fixture(scope="session")
def iris() -> pl.DataFrame:
    frame = read_sklearn_csv("iris.csv", ["sepal_length", "sepal_width", "petal_length", "petal_width", "species"])
    names = {0: "setosa", 1: "versicolor", 2: "virginica"}
    return frame.with_columns(pl.col("species").replace_strict(names, return_dtype=pl.String))


@pytest.fixture(scope="session")
def wine() -> pl.DataFrame:
    header = (SKLEARN_DATA / "wine_data.csv").read_text().splitlines()[0]
    frame = read_sklearn_csv("wine_data.csv")
    cols = [f"f{i}" for i in range(frame.width - 1)] + ["cultivar"]
    assert re.match(r"^\d+,\d+", header)
    return frame.rename(dict(zip(frame.columns, cols, strict=True))).with_columns(
        pl.col("cultivar").cast(pl.String)
    )


@pytest.fixture(scope="session")
def penguins() -> pl.DataFrame:
    """Palmer penguins: categorical columns, a year, and missing values."""
    palmerpenguins = pytest.importorskip("palmerpenguins")
    return pl.read_csv(Path(palmerpenguins.__file__).parent / "data" / "penguins.csv", null_values=["NA"])


@pytest.fixture(scope="session")
def breast_cancer() -> pl.DataFrame:
    frame = read_sklearn_csv("breast_cancer.csv")
    names = [f"feature_{i}" for i in range(frame.width - 1)] + ["diagnosis"]
    frame = frame.rename(dict(zip(frame.columns, names, strict=True)))
    return frame.with_columns(pl.col("diagnosis").replace_strict({0: "malignant", 1: "benign"}, return_dtype=pl.String))


@pytest.fixture(scope="session")
def macrodata() -> pl.DataFrame:
    """US macroeconomic quarters 1959-2009 from statsmodels, with a real date column."""
    statsmodels = pytest.importorskip("statsmodels")
    frame = pl.read_csv(Path(statsmodels.__file__).parent / "datasets" / "macrodata" / "macrodata.csv")
    quarter_start = (pl.col("quarter").cast(pl.Int32) - 1) * 3 + 1
    return frame.with_columns(pl.date(pl.col("year").cast(pl.Int32), quarter_start, 1).alias("date")).drop(
        ["year", "quarter"])


@pytest.fixture(scope="session")
def timeseries() -> pl.DataFrame:
    """Two years of daily sales with weekly seasonality, a region and some gaps."""
    days = [date(2023, 1, 1) + timedelta(days=i) for i in range(730)]
    sales = [100 + 20 * math.sin(2 * math.pi * i / 7) + 0.1 * i for i in range(730)]
    visitors = [None if i % 17 == 0 else 1000 + 5 * i % 300 for i in range(730)]
    return pl.DataFrame({
        "day": days,
        "sales": sales,
        "visitors": visitors,
        "region": ["north", "south", "east", "west", "north"] * 146,
    })


@pytest.fixture
def write_parquet(tmp_path: Path):
    """Write a frame to a Parquet file in the test's temporary directory and return its path."""

    def write(frame: pl.DataFrame, name: str = "data.parquet") -> Path:
        path = tmp_path / name
        frame.write_parquet(path)
        return path

    return write


CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium per module (the system one; never downloaded).

    Module scope, not session: Playwright's sync API keeps an event loop running while it is
    open, which would break every asyncio test collected after it."""
    if not CHROMIUM.exists():
        pytest.skip("Chromium is not installed at /usr/bin/chromium (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        instance = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield instance
        instance.close()


class OpenedPage:
    """A dashboard opened in Chromium, with everything it logged and requested."""

    def __init__(self, page, errors: list[str], requests: list[str]):
        self.page = page
        self.errors = errors
        self.requests = requests

    def evaluate(self, script: str, arg=None):
        return self.page.evaluate(script, arg)

    def chart_data(self, chart_id: str):
        """The trace data Plotly currently draws in a chart (x and y of every trace)."""
        return self.page.evaluate(
            "id => { window.dsp.drawAll();"
            " return document.getElementById(id + '-chart').data.map(t => ({x: t.x, y: t.y, z: t.z, name: t.name})); }",
            chart_id)

    def version(self) -> int:
        return int(self.page.evaluate("document.documentElement.getAttribute('data-dsp-version')"))


@pytest.fixture
def open_dashboard(browser):
    """Open an HTML document in a fresh page that may reach nothing outside the file."""
    pages = []

    def open_(html: str, *, width: int = 1280, height: int = 900) -> OpenedPage:
        page = browser.new_page(viewport={"width": width, "height": height})
        pages.append(page)
        errors: list[str] = []
        requests: list[str] = []
        page.on("console", lambda m: errors.append(f"console.{m.type}: {m.text}") if m.type in ("error", "warning") else None)
        page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
        page.on("dialog", lambda d: (errors.append(f"dialog: {d.message}"), d.dismiss()))

        def route(r):
            requests.append(r.request.url)
            if r.request.url.startswith(("data:", "blob:", "about:")):
                r.continue_()
            else:
                r.abort()

        page.route("**/*", route)
        page.set_content(html, wait_until="load")
        page.wait_for_function("() => document.documentElement.getAttribute('data-dsp-ready') === '1'", timeout=30_000)
        return OpenedPage(page, errors, requests)

    yield open_
    for page in pages:
        page.close()
