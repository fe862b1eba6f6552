"""The page every dashboard is: one HTML file with plotly.js, the script, the styles and the data inlined.

The dataset dashboard (:mod:`.builder`) and the comparison of two datasets (:mod:`.compare`) render
through :func:`render_page`: the same template skeleton (header, theme switch, filter bar, sections of
cards, footer), the same Content-Security-Policy, the same script that draws the charts and re-draws
them on every filter change, and the same size cap.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
from dataclasses import dataclass
from functools import cache
from importlib import metadata, resources
from typing import TYPE_CHECKING, Any, Literal

import jinja2
from markupsafe import Markup

from . import components as comp

if TYPE_CHECKING:
    from .data import DataSample

__all__ = ["COLORWAY", "MAX_HTML_BYTES", "Section", "Theme", "asset", "embed_json", "filter_columns", "finite_json",
           "render_page"]

Theme = Literal["light", "dark"]
MAX_HTML_BYTES = 5_000_000
"""Hard cap on the size of the HTML document, whatever the dataset size."""


@dataclass(frozen=True)
class Section:
    """One section of a page: its anchor, heading, note under the heading, and cards."""

    key: str
    title: str
    note: str | None
    components: list[comp.Component]


COLORWAY = ["#3b6fd8", "#e4572e", "#29a36a", "#f2a541", "#8e6bd1", "#17becf", "#c44e9c", "#7f7f7f", "#bcbd22",
            "#8c564b"]


@cache
def asset(name: str) -> str:
    """The text of one of the package's assets (``dashboard.js``, ``plotly-dashboard.min.js``...)."""
    return resources.files("dsp_dashboard.domain").joinpath("assets", name).read_text(encoding="utf-8")


@cache
def _package_version() -> str:
    try:
        return metadata.version("dsp-dashboard")
    except metadata.PackageNotFoundError:
        return "dev"


@cache
def _environment() -> jinja2.Environment:
    loader = jinja2.PackageLoader("dsp_dashboard.domain", "templates")
    return jinja2.Environment(loader=loader, autoescape=True, undefined=jinja2.StrictUndefined,
                              trim_blocks=False, lstrip_blocks=False)


def _plotly_version(bundle: str) -> str:
    found = re.search(r"plotly\.js[^\n]*?v(\d+\.\d+\.\d+)", bundle[:400])
    return found.group(1) if found else "unknown"


def embed_json(value: Any) -> Markup:
    """JSON that is safe inside a ``<script>`` element.

    ``<``, ``>`` and ``&`` are written as ``\\u`` escapes, so neither ``</script>`` nor
    ``<!--`` can appear in the output, and the JSON parses to the same value.
    """
    raw = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    raw = (raw.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
           .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))
    return Markup(raw)


def _inline_safe(code: str, element: str) -> Markup:
    if f"</{element}" in code.lower() or "<!--" in code:
        raise ValueError(f"asset cannot be inlined in <{element}>")
    return Markup(code)


def _script_hash(code: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(code.encode("utf-8")).digest()).decode("ascii") + "'"


def _content_security_policy(scripts: list[str]) -> str:
    hashes = " ".join(_script_hash(s) for s in scripts)
    return (
        "default-src 'none'; "
        f"script-src {hashes} 'unsafe-inline'; "
        "style-src 'unsafe-inline'; img-src data: blob:; font-src data:; "
        "connect-src 'none'; object-src 'none'; frame-src 'none'; worker-src 'none'; "
        "base-uri 'none'; form-action 'none'"
    )


def finite_json(value: Any) -> Any:
    """``value`` with every non-finite float (NaN, ±inf) replaced by ``None``, which JSON can carry."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite_json(v) for v in value]
    return value


def filter_columns(sample: DataSample, *, limit: int = 24) -> list[int]:
    """The embedded columns the page offers filters on: dates, then categories, then measures."""
    cats = [c.index for c in sample.of_kind("categorical") if c.levels and 2 <= len(c.levels) <= 60]
    nums = [c.index for c in sample.of_kind("numeric") if c.stats and (c.stats.distinct or 0) > 1
            and not comp.looks_like_identifier(c)]
    dates = [c.index for c in sample.of_kind("datetime") if c.stats and (c.stats.distinct or 0) > 1]
    return (dates + cats + nums)[:limit]


def render_page(*, title: str, theme: Theme, payload: dict[str, Any], sections: list[Any], sample_note: str,
                template: str = "dashboard.html.j2") -> str:
    """Render one self-contained dashboard page.

    Parameters
    ----------
    title
        The page's title (escaped).
    theme
        Initial colour theme; the page has a switch for the other one.
    payload
        What the page's script reads: ``data`` (the embedded sample), ``charts`` (chart id -> spec),
        ``filters`` (column indices), ``colorway``, and for a comparison ``sides``.
    sections
        The sections of cards, each with ``key``, ``title``, ``note`` and ``components``.
    sample_note
        The sentence under the title that says what the page embeds.
    template
        The page template.

    Returns
    -------
    str
        The HTML document.
    """
    plotly_js = asset("plotly-dashboard.min.js")
    app_js = asset("dashboard.js")
    return _environment().get_template(template).render(
        title=title,
        theme=theme,
        csp=Markup(_content_security_policy([plotly_js, app_js])),
        version=_package_version(),
        css=_inline_safe(asset("dashboard.css"), "style"),
        plotly_js=_inline_safe(plotly_js, "script"),
        plotly_version=_plotly_version(plotly_js),
        app_js=_inline_safe(app_js, "script"),
        payload_json=embed_json(payload),
        sections=sections,
        sample_note=sample_note,
    )
