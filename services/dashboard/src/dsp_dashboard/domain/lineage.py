"""What the cleaning changed, next to the data as ingested.

The page describes the typed data as ingested; the cleaned data shows only here, in the
lineage: each column a step changed (capped, filled, transformed) gets its distribution as
ingested beside the cleaned one, both counted on every row. The columns the cleaning added
(date parts, encodings, indicators) are named here and in the model's results, nowhere else.
"""

from __future__ import annotations

from typing import Any

from shared_contracts.etl import EtlReport

from .components import Component, _fmt, plot_text
from .data import ColumnChange, ColumnStats

__all__ = ["VALUE_STEPS", "before_after_charts", "changed_columns", "engineered_columns"]

VALUE_STEPS = frozenset({"outliers", "fill_missing", "invalid_to_null", "merge_categories", "strings", "power",
                         "scale"})
"""Step kinds that change a column's values in place (rather than adding, dropping or re-typing columns)."""


def engineered_columns(etl: EtlReport | None) -> set[str]:
    """The columns the cleaning added: they are the model's, never the descriptive views'."""
    if etl is None:
        return set()
    added = {name for step in etl.lineage for name in step.columns_added}
    return added - set(etl.columns_in)


def changed_columns(etl: EtlReport | None, *, priority: list[str] | None = None, limit: int = 8) -> dict[str, list[str]]:
    """Column -> the kinds of the steps that changed its values, priority columns first, then in step order."""
    found: dict[str, list[str]] = {}
    for step in etl.lineage if etl is not None else []:
        if step.kind not in VALUE_STEPS:
            continue
        for name in step.columns_modified:
            kinds = found.setdefault(name, [])
            if step.kind not in kinds:
                kinds.append(step.kind)
    first = [name for name in priority or [] if name in found]
    order = list(dict.fromkeys([*first, *found]))
    return {name: found[name] for name in order[:limit]}


def _summary(stats: ColumnStats | None, kind: str) -> str:
    if stats is None:
        return ""
    parts = [f"min {_fmt(stats.min)}", f"max {_fmt(stats.max)}"] if kind == "numeric" else [
        f"{_fmt(stats.distinct)} distinct"]
    return " · ".join([f"{_fmt(stats.count + stats.nulls)} rows", *parts, f"{_fmt(stats.nulls)} missing"])


def _bars(edges: list[float], counts: list[int], axis: str, name: str) -> dict[str, Any]:
    centres = [(a + b) / 2 for a, b in zip(edges, edges[1:], strict=False)]
    widths = [b - a for a, b in zip(edges, edges[1:], strict=False)]
    return {"type": "bar", "x": centres, "y": counts, "width": widths, "name": name, "xaxis": axis,
            "yaxis": axis.replace("x", "y"), "hovertemplate": "%{x}: %{y:,} rows<extra>" + name + "</extra>"}


def before_after_charts(changes: list[ColumnChange]) -> list[Component]:
    """One card per changed column: its distribution as ingested (left) and after cleaning (right)."""
    out = []
    for i, change in enumerate(changes):
        if change.kind == "numeric":
            traces = [_bars(change.edges, change.before_counts, "x", "as ingested"),
                      _bars(change.after_edges or change.edges, change.after_counts, "x2", "after cleaning")]
        else:
            labels = [plot_text(level) if level is not None else "(missing)" for level in change.levels]
            traces = [{"type": "bar", "x": labels, "y": change.before_counts, "name": "as ingested", "xaxis": "x",
                       "yaxis": "y"},
                      {"type": "bar", "x": labels, "y": change.after_counts, "name": "after cleaning", "xaxis": "x2",
                       "yaxis": "y2"}]
        shared = change.kind != "numeric" or change.after_edges is None
        counts = [n for n in (*change.before_counts, *change.after_counts) if n > 0]
        # a long tail (the values a cap cuts) is a few rows beside thousands: a log axis shows both
        log = change.kind == "numeric" and bool(counts) and max(counts) >= 100 * min(counts)
        scale = {"type": "log"} if log else {}
        layout = {
            "showlegend": False, "bargap": 0.05 if change.kind == "numeric" else 0.2,
            "xaxis": {"domain": [0, 0.47], "title": {"text": "as ingested"}},
            "xaxis2": {"domain": [0.53, 1], "anchor": "y2", "title": {"text": "after cleaning"},
                       **({"matches": "x"} if shared else {})},
            "yaxis": {"title": {"text": "rows (log scale)" if log else "rows"}, **scale},
            "yaxis2": {"anchor": "x2", "matches": "y", **scale},
        }
        steps = ", ".join(kind.replace("_", " ") for kind in change.steps)
        note = (f"As ingested: {_summary(change.before, change.kind)}. After cleaning: "
                f"{_summary(change.after, change.kind)}. Steps: {steps}. Every row is counted.")
        out.append(Component(id=f"etl-change-{i}", title=f"{change.name}: as ingested and after cleaning",
                             template="chart", section="etl", width="half",
                             chart={"type": "figure", "data": traces, "layout": layout}, note=note))
    return out
