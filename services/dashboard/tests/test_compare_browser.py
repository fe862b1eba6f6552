"""The comparison's page opened from a file in headless Chromium: drawn, offline, and its filters re-draw both
sides of every distribution."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from dsp_dashboard.domain.compare import build_comparison_html

pytestmark = pytest.mark.browser

SCREENSHOT = Path("/tmp/compare-diamonds.png")
AXE = Path(__file__).resolve().parents[3] / "ui" / "node_modules" / "axe-core" / "axe.min.js"


def payload_of(page: str) -> dict:
    return json.loads(re.search(r'<script type="application/json" id="dsp-payload">(.*?)</script>', page, re.S).group(1))


def traces(page, chart: str) -> list[dict]:
    return page.evaluate(
        "id => { window.dsp.drawAll(); return document.getElementById(id + '-chart').data"
        ".map(t => ({name: t.name, x: t.x, y: t.y})); }", chart)


@pytest.fixture(scope="module")
def comparison_file(diamonds_halves, tmp_path_factory) -> tuple[Path, str]:
    a, b, comparison = diamonds_halves
    html = build_comparison_html(comparison, a, b)
    path = tmp_path_factory.mktemp("compare") / "comparison.html"
    path.write_text(html, encoding="utf-8")
    return path, html


def test_the_diamonds_comparison_draws_and_filters_both_sides(browser, diamonds_halves, comparison_file):
    a, b, _ = diamonds_halves
    path, html = comparison_file
    payload = payload_of(html)
    names = [c["name"] for c in payload["data"]["columns"]]

    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    outside: list[str] = []
    page.on("console", lambda m: errors.append(f"console.{m.type}: {m.text}") if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
    page.on("request", lambda r: None if r.url.startswith(("file:", "data:", "blob:", "about:")) else outside.append(r.url))
    page.goto(path.as_uri())
    page.wait_for_selector("html[data-dsp-ready='1']", timeout=30_000)

    # the most shifted column (carat, moved by 0.3 on purpose) is charted first, A and B on the same bins
    top = page.get_attribute("[data-chart-id='compare:column:carat']", "data-chart")
    assert top == "cmp-col-0"
    page.locator(f"#{top}").scroll_into_view_if_needed()
    page.wait_for_selector(f"#{top}-chart .main-svg")
    shown = traces(page, top)
    assert [t["name"] for t in shown] == ["A · diamonds-2024.csv", "B · diamonds-2025.csv"]
    assert len(shown[0]["x"]) == len(shown[1]["x"]) == len(payload["charts"][top]["edges"]) - 1
    assert sum(shown[0]["y"]) == pytest.approx(1) and sum(shown[1]["y"]) == pytest.approx(1)
    caption = page.inner_text(f"#{top}-caption")
    assert caption.startswith("A: 26,970 values") and "(whole data)" in caption
    # the finding links to that chart
    assert page.get_attribute("#cmp-findings a.see >> nth=0", "href") == f"#{top}"
    colour = next(k for k, v in payload["charts"].items() if v["type"] == "sidebar" and names[v["column"]] == "color")
    colour_before = page.evaluate("id => window.dsp.chartCounts(id)", colour)
    assert colour_before == [a.height, b.height]
    assert any("new in B" in label for label in traces(page, colour)[1]["y"])

    # a filter on cut re-draws both sides from the embedded samples
    cut, carat = names.index("cut"), names.index("carat")
    ideal = payload["data"]["columns"][cut]["levels"].index("Ideal")
    side, cuts, carats = payload["data"]["side"], payload["data"]["columns"][cut]["values"], \
        payload["data"]["columns"][carat]["values"]
    expected = [sum(1 for s, c, v in zip(side, cuts, carats, strict=True) if s == k and c == ideal and v is not None)
                for k in (0, 1)]
    version = int(page.get_attribute("html", "data-dsp-version"))
    page.select_option(f"#flt-{cut}", label="Ideal")
    page.wait_for_function(f"() => Number(document.documentElement.getAttribute('data-dsp-version')) > {version}")
    after = traces(page, top)
    assert after[0]["y"] != shown[0]["y"] and after[1]["y"] != shown[1]["y"]
    assert page.evaluate("id => window.dsp.chartCounts(id)", top) == expected
    assert page.evaluate("id => window.dsp.chartCounts(id)", colour) != colour_before
    assert page.inner_text(f"#{top}-caption").startswith(f"A: {expected[0]:,} values")
    assert "sample rows passing the filters" in page.inner_text(f"#{top}-caption")
    matched = page.evaluate("window.dsp.sideCounts()")
    assert page.inner_text("#filter-count") == f"A: {matched[0]:,} of 5,000 · B: {matched[1]:,} of 5,000 sample rows match"
    assert "cut" in page.inner_text("#active-filters")

    page.click("#reset-filters")
    assert traces(page, top)[0]["y"] == shown[0]["y"]
    page.click("#theme-toggle")
    assert page.get_attribute("html", "data-theme") == "dark"
    page.click("#theme-toggle")
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(SCREENSHOT), full_page=True)
    assert errors == [] and outside == []
    page.close()


def test_the_comparison_page_has_no_serious_accessibility_violation(browser, comparison_file):
    if not AXE.is_file():
        pytest.skip(f"axe-core is not installed in {AXE.parent}: run `make ui` (npm ci)")
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(comparison_file[0].as_uri())
    page.wait_for_selector("html[data-dsp-ready='1']", timeout=30_000)
    page.evaluate(AXE.read_text(encoding="utf-8") + "\n;undefined")  # through DevTools: the page's CSP does not apply
    for theme in ("light", "dark"):
        page.evaluate(f"window.dsp.setTheme('{theme}'); window.dsp.drawAll()")
        found = page.evaluate("""async () => (await axe.run(document, {resultTypes: ["violations"]})).violations
                                   .filter(v => v.impact === "serious" || v.impact === "critical")
                                   .map(v => ({id: v.id, nodes: v.nodes.slice(0, 5).map(n => n.target.join(" "))}))""")
        assert found == [], f"{theme}: " + json.dumps(found, indent=2)
    page.close()


def test_hostile_names_are_shown_as_text_and_never_run(browser, make_comparison, tmp_path):
    import polars as pl

    evil = "<img src=x onerror=\"window.__pwned=1\">"
    a = pl.DataFrame({evil: [1.0, 2.0, 3.0, 4.0] * 25, "kind": ["p", "q", "<b>bold</b>", "p"] * 25})
    b = pl.DataFrame({evil: [3.0, 4.0, 5.0, 6.0] * 25, "kind": ["p", "</script><script>window.__pwned=2</script>",
                                                                 "<b>bold</b>", "q"] * 25})
    path = tmp_path / "hostile.html"
    path.write_text(build_comparison_html(make_comparison(a, b, name_a="<svg onload=window.__pwned=3>", name_b="b"),
                                          a, b), encoding="utf-8")
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(path.as_uri())
    page.wait_for_selector("html[data-dsp-ready='1']", timeout=30_000)
    page.evaluate("window.dsp.drawAll()")
    assert page.evaluate("window.__pwned") is None and dialogs == []
    assert page.inner_text("#cmp-col-0 h3") == evil
    legend = page.evaluate("Array.from(document.querySelectorAll('.legendtext')).map(n => n.textContent)")
    assert "A · <svg onload=window.__pwned=3>" in legend
    ticks = page.evaluate("Array.from(document.querySelectorAll('.ytick text')).map(n => n.textContent)")
    assert "</script><script>window.__pwned=2</script> · new in B" in ticks and "<b>bold</b>" in ticks
    page.close()
