"""The comparison's dashboard: what changed between dataset A (the reference) and dataset B, in one page.

:func:`build_comparison_html` draws a ``Comparison`` document (``shared_contracts.compare``) as a
self-contained HTML file, through the same page as the dataset dashboard (:mod:`.page`): plotly.js and
the script inlined, the theme switch, the filter bar and its chips, the size cap. The page holds:

- a header: A's and B's names and rows, the change of the row count, the rows of B also in A;
- the ranked findings in plain language, each linking to its chart (``compare:column:<name>``) or row;
- the schema diff: columns added in B, removed from A, whose type changed;
- the target section when the comparison has one: the model trained on A, scored on A's holdout
  (with its interval) and on B;
- A and B side by side on the same bins for the most shifted columns: shares of each side's values
  for numbers, level shares for categories (levels new in B marked), and missing shares;
- a table of every common column's shift.

The filters are the dataset dashboard's: they act on bounded uniform samples of A and of B embedded in
the file (stacked, each row tagged with its side), and re-draw both sides of every distribution. With
no filter, the charts show the whole data's shares, computed here on every row.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl
from shared_contracts.compare import ColumnShift, CompareFinding, Comparison, TargetShift

from . import components as comp
from .data import DataSample, EmbeddedColumn, load_sample
from .page import COLORWAY, MAX_HTML_BYTES, Section, Theme, filter_columns, finite_json, render_page

__all__ = ["MAX_CHARTED", "build_comparison_html"]

MAX_CHARTED = 8
"""Columns drawn side by side: the most shifted ones."""
MAX_COLUMNS = 60
"""Most common columns the page embeds (the most shifted first), as the dataset dashboard."""
MAX_ROWS_PER_SIDE = 5000
"""Most sample rows embedded per dataset, as the dataset dashboard's sample."""
MAX_CELLS = 250_000
"""Most embedded cells, both samples together, as the dataset dashboard's sample."""
HIST_BINS = 30
"""Equal-width bins of a numeric column's histogram (integers with few values get one bin each)."""
TAIL = 0.005
"""Share of values in each tail a histogram's range leaves out (they are counted in its end bins)."""
MAX_LEVELS = 20
"""Levels drawn of a categorical column; the rest are pooled as "other levels"."""

_EMBEDDED_KINDS = frozenset({"numeric", "categorical", "boolean", "datetime"})
_SECTIONS: list[tuple[str, str, str | None]] = [
    ("overview", "Overview", None),
    ("findings", "What changed", "Ranked by how much each change matters; thresholds are effect sizes, not p-values."),
    ("schema", "Schema", None),
    ("target", "Target", "Computed on every row by a model trained on A; the filters do not change it."),
    ("distributions", "Distributions", "A and B on the same bins, as shares of each side's rows. Without a filter "
                                       "the charts show the whole data; with filters, the embedded samples' rows "
                                       "that pass them, on both sides."),
    ("columns", "Every column", "Shift statistics on every row (the filters do not change them)."),
]



def _fmt(value: Any) -> str:
    return comp._fmt(value)  # noqa: SLF001 - the dashboard's one number format


def _pct(value: float | None, *, signed: bool = False) -> str:
    if value is None or not np.isfinite(value):
        return "–"
    return f"{100 * value:+.1f}%" if signed else f"{100 * value:.1f}%"


def _short(name: str, limit: int = 32) -> str:
    return name if len(name) <= limit else name[: limit - 1] + "…"


def _chart_dom_id(rank: int) -> str:
    return f"cmp-col-{rank}"


def _row_dom_id(index: int) -> str:
    return f"shift-{index}"


# ---------------------------------------------------------------- the embedded samples


def _stackable(a: pl.DataFrame, b: pl.DataFrame) -> pl.DataFrame:
    """A's rows then B's, on the same columns; a column whose types do not meet is read as text."""
    def plain(frame: pl.DataFrame) -> pl.DataFrame:
        return frame.with_columns([pl.col(n).cast(pl.String) for n, t in frame.schema.items()
                                   if isinstance(t, pl.Categorical | pl.Enum)])

    a, b = plain(a), plain(b)
    try:
        return pl.concat([a, b], how="vertical_relaxed")
    except (pl.exceptions.PolarsError, TypeError):
        clash = [n for n in a.columns if a.schema[n] != b.schema[n]]
        cast = [pl.col(n).cast(pl.String) for n in clash]
        return pl.concat([a.with_columns(cast), b.with_columns(cast)], how="vertical_relaxed")


def _embedded_columns(comparison: Comparison, a: pl.DataFrame, b: pl.DataFrame) -> list[ColumnShift]:
    """The common columns the page carries, most shifted first, at most :data:`MAX_COLUMNS`."""
    present = set(a.columns) & set(b.columns)
    ranked = sorted((s for s in comparison.columns if s.column in present and s.kind in _EMBEDDED_KINDS),
                    key=lambda s: -s.score)
    return ranked[:MAX_COLUMNS]


def _samples(a: pl.DataFrame, b: pl.DataFrame, shifts: list[ColumnShift], *, max_cells: int,
             seed: int = 0) -> tuple[DataSample, list[int]]:
    """Uniform random samples of A and of B on the embedded columns (in A's order), and each row's side."""
    order = [c for c in a.columns if c in {s.column for s in shifts}]
    if not order:
        return DataSample(total_rows=0, total_columns=0, columns=[], sampled=False, seed=seed), []
    per_side = min(MAX_ROWS_PER_SIDE, max(200, max_cells // (2 * max(1, len(order)))))
    picked = []
    for frame in (a, b):
        part = frame.select(order)
        picked.append(part.sample(n=per_side, seed=seed, shuffle=False) if part.height > per_side else part)
    stacked = _stackable(picked[0], picked[1])
    kinds: dict[str, str] = {s.column: s.kind for s in shifts if s.kind in ("categorical", "boolean")}
    sample = load_sample(stacked, max_rows=max(1, stacked.height), max_columns=max(1, len(order)),
                         max_cells=max(1, stacked.height) * max(1, len(order)), semantic_types=kinds, seed=seed)
    side = [0] * picked[0].height + [1] * picked[1].height
    return sample, side


# ---------------------------------------------------------------- whole-data shares for the charts


def _as_float(series: pl.Series) -> np.ndarray:
    if series.dtype.is_temporal():
        if series.dtype == pl.Date:
            series = series.cast(pl.Datetime("ms"))
        series = series.dt.epoch("ms")
    values = series.cast(pl.Float64, strict=False).to_numpy()
    return values[np.isfinite(values)]


def _edges(values: np.ndarray) -> list[float]:
    """Bins both sides share: one per value for small integers, else equal-width between the 0.5th and
    99.5th percentiles (values in the tails count in the end bins, so one outlier does not squash the rest)."""
    low, high = float(values.min()), float(values.max())
    distinct = np.unique(values[:100_000])
    if distinct.size <= 40 and np.all(np.mod(distinct, 1) == 0) and high - low <= 40:
        return [float(v) - 0.5 for v in np.arange(low, high + 2)]
    tail_low, tail_high = (float(q) for q in np.quantile(values, [TAIL, 1 - TAIL]))
    if tail_high > tail_low:
        low, high = tail_low, tail_high
    if high <= low:
        return [low - 0.5, low + 0.5]
    return [float(e) for e in np.linspace(low, high, HIST_BINS + 1)]


def _shares(values: np.ndarray, edges: list[float]) -> list[float]:
    if not values.size:
        return [0.0] * (len(edges) - 1)
    counts = np.histogram(np.clip(values, edges[0], edges[-1]), bins=edges)[0]
    return (counts / values.size).tolist()


def _numeric_spec(col: EmbeddedColumn, shift: ColumnShift, a: pl.DataFrame, b: pl.DataFrame) -> dict[str, Any] | None:
    va, vb = _as_float(a.get_column(col.name)), _as_float(b.get_column(col.name))
    if not va.size and not vb.size:
        return None
    both = np.concatenate([va, vb])
    edges = _edges(both)
    whole = [_shares(va, edges), _shares(vb, edges)]
    return {"type": "sidehist", "column": col.index, "edges": edges, "whole": whole,
            "rows": [int(va.size), int(vb.size)], "missing": [shift.missing_a, shift.missing_b],
            "range": [float(both.min()), float(both.max())]}


def _level_counts(series: pl.Series) -> dict[str, int]:
    counts = series.cast(pl.String).drop_nulls().rename("level").value_counts(name="n")
    return {str(v): int(n) for v, n in counts.iter_rows()}


def _categorical_spec(col: EmbeddedColumn, shift: ColumnShift, a: pl.DataFrame,
                      b: pl.DataFrame) -> dict[str, Any] | None:
    levels = col.levels or []
    if not levels:
        return None
    ca, cb = _level_counts(a.get_column(col.name)), _level_counts(b.get_column(col.name))
    known = [sum(ca.values()), sum(cb.values())]
    whole = [[counts.get(lv, 0) / total if total else 0.0 for lv in levels] for counts, total in zip((ca, cb), known,
                                                                                                     strict=True)]
    new = [lv for lv in levels if cb.get(lv, 0) and not ca.get(lv, 0)]
    gone = [lv for lv in levels if ca.get(lv, 0) and not cb.get(lv, 0)]
    return {"type": "sidebar", "column": col.index, "whole": whole, "rows": known, "max_levels": MAX_LEVELS,
            "missing": [shift.missing_a, shift.missing_b], "new_levels": new, "gone_levels": gone}


# ---------------------------------------------------------------- cards


def _header(comparison: Comparison) -> comp.Component:
    rows = comparison.rows
    sides = [{"key": "a", "label": "A · the reference", "name": comparison.name_a, "rows": _fmt(rows.rows_a)},
             {"key": "b", "label": "B · compared with A", "name": comparison.name_b, "rows": _fmt(rows.rows_b)}]
    change = rows.row_change if rows.row_change is not None else (
        (rows.rows_b - rows.rows_a) / rows.rows_a if rows.rows_a else None)
    shifted = [c for c in comparison.columns if c.severity != "none"]
    cards = [
        {"label": "Row count change", "value": f"{rows.rows_b - rows.rows_a:+,} ({_pct(change, signed=True)})"},
        {"label": "Rows of B also in A", "value": f"{_fmt(rows.rows_of_b_in_a)} ({_pct(rows.share_of_b_in_a)})"},
        {"label": "Common columns", "value": _fmt(len(comparison.schema_diff.common) or len(comparison.columns))},
        {"label": "Columns that shifted", "value": _fmt(len(shifted))},
        {"label": "Duplicate rows in A / B", "value": f"{_fmt(rows.duplicates_in_a)} / {_fmt(rows.duplicates_in_b)}"},
    ]
    notes = list(comparison.notes)
    if rows.compared_on:
        notes.append(f"Rows are matched on {len(rows.compared_on)} common column(s).")
    return comp.Component(id="cmp-header", title="A and B", template="compare_header", section="overview",
                          width="full", context={"sides": sides, "cards": cards, "notes": notes})


def _finding_target(finding: CompareFinding, charted: dict[str, str], rows: dict[str, str],
                    has_target: bool) -> tuple[str | None, str]:
    if finding.kind == "target" and has_target:
        return "cmp-target", "see the target"
    column = finding.column
    chart_id = finding.chart_id or (f"compare:column:{column}" if column else "")
    named = chart_id.removeprefix("compare:column:") if chart_id.startswith("compare:column:") else column
    if named and named in charted:
        return charted[named], f"see the chart of {named}"
    if named and named in rows:
        return rows[named], f"see {named} in the table"
    if finding.kind == "schema":
        return "cmp-schema", "see the schema"
    if finding.kind in ("rows", "overlap"):
        return "cmp-header", "see the row counts"
    return None, ""


def _findings(comparison: Comparison, charted: dict[str, str], rows: dict[str, str]) -> comp.Component:
    entries = []
    for f in sorted(comparison.findings, key=lambda f: f.rank):
        target, link = _finding_target(f, charted, rows, comparison.target is not None)
        entries.append({"severity": f.severity, "title": f.title, "detail": f.detail, "target": target, "link": link})
    return comp.Component(id="cmp-findings", title="Findings, most important first", template="compare_findings",
                          section="findings", width="full", context={"entries": entries})


def _schema(comparison: Comparison) -> comp.Component:
    diff = comparison.schema_diff
    common = len(diff.common) or len(comparison.columns)
    return comp.Component(
        id="cmp-schema", title="Schema diff", template="compare_schema", section="schema", width="full",
        context={"added": diff.added, "removed": diff.removed, "changed": diff.changed_type, "common": common,
                 "same": not (diff.added or diff.removed or diff.changed_type)})


def _shift_facts(shift: ColumnShift) -> list[tuple[str, str]]:
    facts: list[tuple[str, str]] = []
    num, cat = shift.numeric, shift.categorical
    if num is not None:
        facts += [("PSI", f"{num.psi:.3f}"), ("KS D", f"{num.ks_statistic:.3f}")]
        for label, x, y in (("Mean", num.mean_a, num.mean_b), ("Median", num.median_a, num.median_b),
                            ("Std", num.std_a, num.std_b)):
            if x is not None or y is not None:
                facts.append((f"{label} A → B", f"{_fmt(x)} → {_fmt(y)}"))
    if cat is not None:
        facts.append(("PSI", f"{cat.psi:.3f}"))
        if cat.cramers_v is not None:
            facts.append(("Cramér's V", f"{cat.cramers_v:.3f}"))
        if cat.new_levels:
            facts.append(("New in B", f"{len(cat.new_levels)} level(s), {_pct(cat.new_levels_share)} of B"))
        if cat.missing_levels:
            facts.append(("Gone in B", f"{len(cat.missing_levels)} level(s), {_pct(cat.missing_levels_share)} of A"))
    facts.append(("Missing A → B", f"{_pct(shift.missing_a)} → {_pct(shift.missing_b)}"))
    return facts


def _distribution_cards(sample: DataSample, shifts: list[ColumnShift], a: pl.DataFrame,
                        b: pl.DataFrame) -> list[comp.Component]:
    cards: list[comp.Component] = []
    for shift in shifts:
        if len(cards) >= MAX_CHARTED:
            break
        col = sample.by_name(shift.column)
        if col is None:
            continue
        if col.kind in ("numeric", "datetime"):
            spec = _numeric_spec(col, shift, a, b)
            what = "histogram of the shares of values"
        elif col.kind == "categorical":
            spec = _categorical_spec(col, shift, a, b)
            what = "level shares"
        else:
            spec = None
        if spec is None:
            continue
        rank = len(cards)
        cards.append(comp.Component(
            id=_chart_dom_id(rank), title=shift.column, template="compare_chart", section="distributions",
            width="half", chart=spec, columns=[shift.column], refs=[f"compare:column:{shift.column}"],
            context={"severity": shift.severity, "kind": col.kind, "score": f"{shift.score:.3f}",
                     "chart_id": shift.chart_id or f"compare:column:{shift.column}", "facts": _shift_facts(shift),
                     "label": f"{shift.column}: {what} in A and in B, on the same bins"}))
    return cards


def _missing_card(sample: DataSample, shifts: list[ColumnShift]) -> comp.Component | None:
    with_missing = [s for s in shifts if (s.missing_a or s.missing_b) and sample.by_name(s.column) is not None]
    if not with_missing:
        return None
    with_missing = with_missing[:30]
    indices = [col.index for s in with_missing if (col := sample.by_name(s.column)) is not None]
    return comp.Component(
        id="cmp-missing", title="Missing values", template="compare_missing", section="distributions", width="full",
        chart={"type": "sidemissing", "columns": indices,
               "whole": [[s.missing_a for s in with_missing], [s.missing_b for s in with_missing]]},
        columns=[s.column for s in with_missing])


def _shift_table(comparison: Comparison, charted: dict[str, str]) -> tuple[comp.Component, dict[str, str]]:
    header = ["Column", "Kind", "Score", "PSI", "KS D / Cramér's V", "Missing A → B", "Levels new / gone in B",
              "Severity"]
    rows, ids = [], {}
    for i, shift in enumerate(sorted(comparison.columns, key=lambda s: -s.score)):
        num, cat = shift.numeric, shift.categorical
        psi = num.psi if num is not None else (cat.psi if cat is not None else None)
        if num is not None:
            effect = f"D = {num.ks_statistic:.3f}"
        elif cat is not None and cat.cramers_v is not None:
            effect = f"V = {cat.cramers_v:.3f}"
        else:
            effect = "–"
        levels = f"{len(cat.new_levels)} / {len(cat.missing_levels)}" if cat is not None else ""
        ids[shift.column] = _row_dom_id(i)
        rows.append({"id": _row_dom_id(i), "column": shift.column, "severity": shift.severity,
                     "chart": charted.get(shift.column),
                     "cells": [shift.kind, f"{shift.score:.3f}", "–" if psi is None else f"{psi:.3f}", effect,
                               f"{_pct(shift.missing_a)} → {_pct(shift.missing_b)}", levels]})
    return comp.Component(id="cmp-columns", title="Shift of every common column", template="compare_table",
                          section="columns", width="full", context={"header": header, "rows": rows}), ids


def _metric(name: str) -> str:
    return comp._metric_label(name)  # noqa: SLF001 - the dashboard's metric names


def _target_card(shift: TargetShift) -> comp.Component:
    metric = _metric(shift.metric)
    lo, hi = shift.interval_a if shift.interval_a is not None else (None, None)
    interval = f" (95% interval {_fmt(lo)} – {_fmt(hi)})" if lo is not None else ""
    lo_b, hi_b = shift.interval_b if shift.interval_b is not None else (None, None)
    interval_b = f" (95% interval {_fmt(lo_b)} – {_fmt(hi_b)})" if lo_b is not None else ""
    direction = "higher is better" if shift.higher_is_better else "lower is better"
    if shift.moved:
        verdict = (f"The relation of the features to {shift.target} moved: the {shift.model} model trained on A "
                   f"scores {metric} {_fmt(shift.score_a)} on A's holdout{interval} and {_fmt(shift.score_b)} on B"
                   f"{interval_b}.")
    else:
        verdict = (f"The relation of the features to {shift.target} did not move: the {shift.model} model trained "
                   f"on A scores {metric} {_fmt(shift.score_a)} on A's holdout{interval} and {_fmt(shift.score_b)} "
                   f"on B{interval_b}, within noise or better.")
    facts = [("Target", shift.target), ("Task", shift.task), ("Model", shift.model), ("Metric", f"{metric} ({direction})"),
             (f"{metric} on A's holdout", _fmt(shift.score_a)), (f"{metric} on B", _fmt(shift.score_b)),
             ("Change", f"{shift.change:+.4g}" + (f" ({_pct(shift.relative_change, signed=True)})"
                                                 if shift.relative_change is not None else "")),
             ("Moved", "yes" if shift.moved else "no"),
             ("Rows trained / A holdout / B", f"{_fmt(shift.rows_train)} / {_fmt(shift.rows_holdout_a)} / "
                                              f"{_fmt(shift.rows_scored_b)}")]
    if shift.features:
        facts.append(("Features", _fmt(len(shift.features))))
    error: dict[str, Any] = {"type": "data", "symmetric": False, "array": [0, 0], "arrayminus": [0, 0],
                             "thickness": 1.5}
    for k, (score, low, high) in enumerate(((shift.score_a, lo, hi), (shift.score_b, lo_b, hi_b))):
        if low is not None and high is not None:
            error["array"][k], error["arrayminus"][k] = max(0.0, high - score), max(0.0, score - low)
    trace = {"type": "scatter", "mode": "markers", "y": ["A holdout", "B"], "x": [shift.score_a, shift.score_b],
             "marker": {"size": 14, "color": ["css:--side-a", "css:--side-b"]}, "error_x": error,
             "hovertemplate": "%{y}: %{x:.4g}<extra></extra>", "showlegend": False}
    layout = {"height": 200, "margin": {"l": 10, "t": 10},
              "xaxis": {"title": {"text": comp.plot_text(f"{metric} ({direction})")}},
              "yaxis": {"type": "category", "autorange": "reversed"}}
    note = shift.note or None
    return comp.Component(id="cmp-target", title=f"Target: {shift.target}", template="compare_target",
                          section="target", width="full", chart={"type": "figure", "data": [trace], "layout": layout},
                          note=note, columns=[shift.target],
                          context={"verdict": verdict, "facts": facts,
                                   "label": f"{metric} of the model trained on A, on A's holdout and on B, with "
                                            "their 95% intervals"})


def _sample_note(comparison: Comparison, sample: DataSample, side: list[int]) -> str:
    rows_b = sum(side)
    rows_a = len(side) - rows_b
    total_a, total_b = comparison.rows.rows_a, comparison.rows.rows_b
    sampled = rows_a < total_a or rows_b < total_b
    columns = f" {len(sample.columns)} common columns are embedded." if sample.columns else ""
    tests = ""
    if comparison.sample_rows:
        tests = f" The shift statistics were computed on up to {comparison.sample_rows:,} rows per side."
    if sampled:
        return (f"B ({comparison.name_b}) compared with A ({comparison.name_a}). Filters act on uniform random samples "
                f"of {rows_a:,} of A's {total_a:,} rows and {rows_b:,} of B's {total_b:,} rows, embedded in this "
                f"file; unfiltered charts and every statistic use all rows.{columns}{tests}")
    return (f"B ({comparison.name_b}) compared with A ({comparison.name_a}). All rows of both are embedded in this "
            f"file; charts and filters use them all.{columns}{tests}")


def _page(comparison: Comparison, a: pl.DataFrame, b: pl.DataFrame, *, theme: Theme, max_cells: int) -> str:
    shifts = _embedded_columns(comparison, a, b)
    sample, side = _samples(a, b, shifts, max_cells=max_cells)
    distributions = _distribution_cards(sample, shifts, a, b)
    charted = {c.columns[0]: c.id for c in distributions}
    table, row_ids = _shift_table(comparison, charted)
    cards: list[comp.Component] = [_header(comparison), _findings(comparison, charted, row_ids), _schema(comparison)]
    if comparison.target is not None:
        cards.append(_target_card(comparison.target))
    cards += distributions
    missing = _missing_card(sample, shifts)
    if missing is not None:
        cards.append(missing)
    cards.append(table)
    sections = [Section(key, name, note, [c for c in cards if c.section == key]) for key, name, note in _SECTIONS]
    data = sample.to_json()
    data.update(side=side, total_rows=comparison.rows.rows_a + comparison.rows.rows_b,
                sampled=len(side) < comparison.rows.rows_a + comparison.rows.rows_b)
    payload = {
        "data": data,
        "charts": {c.id: finite_json(c.chart) for c in cards if c.chart is not None},
        "filters": filter_columns(sample),
        "colorway": COLORWAY,
        "sides": [f"A · {_short(comparison.name_a)}", f"B · {_short(comparison.name_b)}"],
    }
    title = f"Comparison: {_short(comparison.name_a, 60)} → {_short(comparison.name_b, 60)}"
    return render_page(title=title, theme=theme, payload=payload, sections=[s for s in sections if s.components],
                       sample_note=_sample_note(comparison, sample, side))


def build_comparison_html(comparison: Comparison, a: pl.DataFrame, b: pl.DataFrame, *,
                          theme: Theme = "light") -> str:
    """Build the self-contained interactive HTML page of a comparison of two datasets.

    Parameters
    ----------
    comparison
        The ``Comparison`` of B against A (its findings ranked, its columns most shifted first).
    a, b
        The two datasets the comparison was made of: the charts' whole-data shares are counted on
        every row of them, and bounded uniform samples of each are embedded for the filters.
    theme
        Initial colour theme; the page has a switch for the other one.

    Returns
    -------
    str
        The whole HTML document: one file with plotly.js and the samples inlined, no external
        request, at most ``MAX_HTML_BYTES`` bytes in UTF-8.

    Examples
    --------
    >>> import polars as pl
    >>> from shared_contracts.compare import Comparison, RowOverlap, SchemaDiff
    >>> a = pl.DataFrame({"x": [1.0, 2.0, 3.0]})
    >>> doc = Comparison(name_a="a.csv", name_b="b.csv", rows=RowOverlap(rows_a=3, rows_b=3),
    ...                  schema_diff=SchemaDiff(common=["x"]))
    >>> build_comparison_html(doc, a, a).startswith("<!DOCTYPE html>")
    True
    """
    max_cells = MAX_CELLS
    for _attempt in range(6):
        html = _page(comparison, a, b, theme=theme, max_cells=max_cells)
        if len(html.encode("utf-8")) <= MAX_HTML_BYTES:
            return html
        max_cells //= 2
    raise ValueError("comparison page exceeds the size cap even with a minimal sample")  # pragma: no cover
