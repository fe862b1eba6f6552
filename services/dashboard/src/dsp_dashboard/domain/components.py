"""The components of a dashboard, each a small function from results to a ``Component``.

A function returns ``None`` (or an empty list) when the results do not support
its chart, so the builder shows only what the data can back. Charts come in
two forms: *live* specs (``{"type": "hist", ...}``) that the page's script
draws from the embedded sample and re-draws on every filter change, and
*fixed* Plotly figures (``{"type": "figure", ...}``) for model results, which
are computed on the whole dataset and do not follow the filters.

Every string that reaches a Plotly figure built here goes through
:func:`plot_text`, because Plotly reads a small HTML subset in labels.
"""

from __future__ import annotations

import html
import math
import re
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from .data import DataSample, EmbeddedColumn
from .inputs import first, number, text

__all__ = [
    "Component",
    "Width",
    "anomalies_table",
    "association_charts",
    "cluster_view",
    "column_cards",
    "confusion_matrix",
    "correlation_heatmap",
    "data_preview",
    "etl_lineage",
    "feature_importance",
    "feature_tests_table",
    "forecast_charts",
    "group_statistics",
    "importance_ranking",
    "insights_list",
    "kpi_cards",
    "leaderboard",
    "leakage_table",
    "looks_like_identifier",
    "missingness_matrix",
    "partial_dependence",
    "plot_text",
    "quality_panel",
    "shap_summary",
    "shap_waterfall",
    "task_summary",
    "time_series",
]

Width = Literal["full", "half", "third"]


@dataclass
class Component:
    """One card of the dashboard.

    ``template`` names the Jinja2 macro that renders the card body; ``chart`` is
    the JSON spec the page's script draws into the card, if any.
    """

    id: str
    title: str
    template: str
    section: str
    width: Width = "half"
    context: dict[str, Any] = field(default_factory=dict)
    chart: dict[str, Any] | None = None
    note: str | None = None
    columns: list[str] = field(default_factory=list)
    """Dataset columns the card is about, so insights can link to it."""
    refs: list[str] = field(default_factory=list)
    """Chart ids of the analysis (``AnalysisResult`` sections) the card shows."""

    @property
    def has_chart(self) -> bool:
        return self.chart is not None


def plot_text(value: Any) -> str:
    """A string safe to show as a Plotly label: markup is escaped and shown literally."""
    return html.escape(text(value), quote=False)


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if not math.isfinite(value):
            return "–"
        if value != 0 and (abs(value) >= 1e6 or abs(value) < 1e-3):
            return f"{value:.3g}"
        return f"{value:,.4g}" if abs(value) < 1e4 else f"{value:,.0f}"
    return str(value)


def _pct(part: float, whole: float) -> str:
    return "–" if not whole else f"{100 * part / whole:.1f}%"


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


_METRIC_LABELS = {"roc_auc": "ROC AUC", "r2": "R²", "rmse": "RMSE", "mae": "MAE", "mape": "MAPE", "f1": "F1",
                  "f1_macro": "F1 (macro)", "log_loss": "Log loss", "balanced_accuracy": "Balanced accuracy",
                  "root_mean_squared_error": "RMSE", "mean_absolute_error": "MAE", "accuracy": "Accuracy"}


def _metric_label(name: str) -> str:
    return _METRIC_LABELS.get(name, name.replace("_", " ").capitalize())


# ---------------------------------------------------------------- overview


def kpi_cards(sample: DataSample, profile: dict[str, Any], analysis: dict[str, Any]) -> Component:
    """Headline numbers: rows, columns, missing cells, duplicates, quality, task and model score."""
    dataset = _dict(profile.get("dataset"))
    rows = dataset.get("rows", sample.total_rows)
    missing = number(dataset.get("cells_missing_fraction"))
    if missing is None:
        cells = sum(c.stats.count + c.stats.nulls for c in sample.columns if c.stats)
        missing = sum(c.stats.nulls for c in sample.columns if c.stats) / cells if cells else 0.0
    cards: list[dict[str, str]] = [
        {"label": "Rows", "value": _fmt(int(rows))},
        {"label": "Columns", "value": _fmt(int(dataset.get("columns", sample.total_columns)))},
        {"label": "Missing cells", "value": f"{100 * missing:.1f}%"},
    ]
    if dataset.get("duplicate_rows") is not None:
        cards.append({"label": "Duplicate rows", "value": _fmt(int(dataset["duplicate_rows"]))})
    score = number(first(profile, "quality.score"))
    if score is not None:
        cards.append({"label": "Quality score", "value": f"{score:.0f} / 100"})
    task = _dict(analysis.get("task"))
    if task.get("task_type"):
        kind = text(task["task_type"]).replace("_", " ")
        target = text(task.get("target"))
        cards.append({"label": "Analysis", "value": f"{kind} · {target}" if target else kind})
    automl = _dict(analysis.get("automl"))
    metrics = _dict(automl.get("metrics"))
    metric = text(automl.get("eval_metric"))
    value = number(metrics.get(metric)) if metric in metrics else next(
        (number(v) for v in metrics.values() if number(v) is not None), None)
    if value is not None:
        label = metric if metric in metrics else next(k for k, v in metrics.items() if number(v) is not None)
        cards.append({"label": f"{_metric_label(label)} (holdout)", "value": _fmt(value)})
    if automl.get("best_model"):
        cards.append({"label": "Best model", "value": text(automl["best_model"])})
    return Component(id="kpis", title="Key figures", template="kpis", section="overview", width="full",
                     context={"cards": cards})


def quality_panel(profile: dict[str, Any]) -> Component | None:
    """The quality score, its components, and the profile's alerts, worst first."""
    quality = _dict(profile.get("quality"))
    score = number(quality.get("score"))
    alerts = [a for a in _list(profile.get("alerts")) if isinstance(a, dict)]
    if score is None and not alerts:
        return None
    order = {"critical": 0, "warning": 1, "info": 2}
    rows = [{
        "severity": text(a.get("severity"), "info"),
        "kind": text(a.get("type"), "alert"),
        "column": ", ".join(map(str, _list(a.get("columns")))),
        "message": text(a.get("message")),
    } for a in alerts]
    rows.sort(key=lambda r: order.get(r["severity"], 3))
    parts = [{"name": text(c.get("name")).capitalize(), "value": number(c.get("score")), "detail": text(c.get("detail"))}
             for c in _list(quality.get("components")) if isinstance(c, dict)]
    return Component(id="quality", title="Data quality", template="quality", section="overview", width="full",
                     context={"score": score, "alerts": rows, "parts": [p for p in parts if p["value"] is not None]},
                     refs=["quality", "alerts"])


# ---------------------------------------------------------------- columns


def column_cards(sample: DataSample, profile: dict[str, Any], analysis: dict[str, Any] | None = None) -> list[Component]:
    """One card per column: a chart fitted to its kind, and its whole-data statistics."""
    profiled = {text(c.get("name")): c for c in _list(profile.get("columns")) if isinstance(c, dict)}
    fits = {text(d.get("column")): d for d in _list((analysis or {}).get("distributions")) if isinstance(d, dict)}
    cards = []
    for col in sample.columns:
        prof = profiled.get(col.name)
        facts = _profile_facts(prof) if prof else _sample_facts(col)
        fit = fits.get(col.name)
        note = None
        if fit:
            p = number(fit.get("ks_p_value"))
            note = f"Best-fitting distribution: {text(fit.get('best'))}" + (f" (KS p = {p:.2g})" if p is not None else "")
        if col.kind == "numeric":
            chart: dict[str, Any] | None = {"type": "hist", "column": col.index}
        elif col.kind == "categorical":
            chart = {"type": "bar", "column": col.index}
        elif col.kind == "datetime":
            chart = {"type": "timecount", "column": col.index}
        else:
            chart = None
        top: list[tuple[str, int]] = []
        if col.kind == "text":
            if prof:
                top = [(text(v.get("value")), int(v.get("count", 0))) for v in _list(prof.get("top_values"))[:5]]
            elif col.stats:
                top = col.stats.top
        cards.append(Component(
            id=f"col-{col.index}", title=col.name, template="column", section="columns", width="third",
            context={"kind": col.kind, "dtype": col.dtype, "semantic": text((prof or {}).get("semantic_type")),
                     "facts": facts, "top": top},
            chart=chart, columns=[col.name], note=note,
            refs=[text(fit.get("chart_id"))] if fit and fit.get("chart_id") else [],
        ))
    return cards


def _profile_facts(prof: dict[str, Any]) -> list[tuple[str, str]]:
    count, missing = int(prof.get("count", 0)), int(prof.get("missing", 0))
    facts = [("Non-missing", _fmt(count)), ("Missing", _pct(missing, count + missing)),
             ("Distinct", _fmt(int(prof.get("distinct", 0))))]
    num = _dict(prof.get("numeric"))
    if num:
        facts += [("Mean", _fmt(number(num.get("mean")))), ("Std", _fmt(number(num.get("std")))),
                  ("Min", _fmt(number(num.get("min")))), ("Median", _fmt(number(num.get("p50")))),
                  ("Max", _fmt(number(num.get("max"))))]
        if num.get("zeros"):
            facts.append(("Zeros", _fmt(int(num["zeros"]))))
        if num.get("outliers_iqr"):
            facts.append(("Outliers (IQR)", _fmt(int(num["outliers_iqr"]))))
        skew = number(num.get("skewness"))
        if skew is not None:
            facts.append(("Skewness", f"{skew:.2f}"))
    dates = _dict(prof.get("dates"))
    if dates:
        facts += [("First", text(dates.get("min"), "–")[:19].replace("T", " ")),
                  ("Last", text(dates.get("max"), "–")[:19].replace("T", " "))]
        if dates.get("frequency"):
            facts.append(("Frequency", text(dates["frequency"])))
    strings = _dict(prof.get("strings"))
    if strings and number(strings.get("mean_length")) is not None:
        facts.append(("Mean length", f"{number(strings['mean_length']):.1f}"))
    return facts


def _sample_facts(col: EmbeddedColumn) -> list[tuple[str, str]]:
    stats = col.stats
    if stats is None:
        return []
    facts = [("Non-missing", _fmt(stats.count)), ("Missing", _pct(stats.nulls, stats.count + stats.nulls))]
    if stats.distinct is not None:
        facts.append(("Distinct", _fmt(stats.distinct)))
    if col.kind == "numeric":
        facts += [("Mean", _fmt(stats.mean)), ("Std", _fmt(stats.std)), ("Min", _fmt(stats.min)),
                  ("Median", _fmt(stats.median)), ("Max", _fmt(stats.max))]
    elif col.kind == "datetime":
        facts += [("First", text(stats.min)[:19]), ("Last", text(stats.max)[:19])]
    return facts


# ---------------------------------------------------------------- relations (drawn live from the sample)


def _numeric_matrix(columns: list[EmbeddedColumn]) -> np.ndarray:
    return np.array([[np.nan if v is None else v for v in c.values] for c in columns], dtype=float)


def _sample_pairs(columns: list[EmbeddedColumn]) -> list[tuple[float, str, str]]:
    if len(columns) < 2:
        return []
    matrix = _numeric_matrix(columns)
    finite = np.isfinite(matrix)
    pairs = []
    for i in range(len(columns)):
        for j in range(i + 1, len(columns)):
            mask = finite[i] & finite[j]
            a, b = matrix[i][mask], matrix[j][mask]
            if len(a) < 10 or np.std(a) == 0 or np.std(b) == 0:
                continue
            r = float(np.corrcoef(a, b)[0, 1])
            if math.isfinite(r):
                pairs.append((r, columns[i].name, columns[j].name))
    pairs.sort(key=lambda p: -abs(p[0]))
    return pairs


def _profile_pairs(profile: dict[str, Any]) -> list[tuple[float, str, str]]:
    matrix = _dict(first(profile, "correlations.pearson"))
    names, values = _list(matrix.get("columns")), _list(matrix.get("values"))
    rows = _list(matrix.get("rows")) or names
    pairs = []
    for i, a in enumerate(rows):
        for j, b in enumerate(names):
            if j <= i or i >= len(values) or j >= len(values[i]):
                continue
            r = number(values[i][j])
            if r is not None and a != b:
                pairs.append((r, str(a), str(b)))
    pairs.sort(key=lambda p: -abs(p[0]))
    return pairs


_ID_NAME = re.compile(r"(^|[_\s.-])(id|key|index|idx)$|^(id|index)[_\s.-]", re.IGNORECASE)


def looks_like_identifier(column: EmbeddedColumn) -> bool:
    """An integer column unique on every row, or named like a key: not a measure to chart."""
    if _ID_NAME.search(column.name):
        return True
    stats = column.stats
    return column.dtype.startswith(("Int", "UInt")) and stats is not None and stats.count > 50 and (
        stats.distinct == stats.count)


def _useful_numeric(sample: DataSample, limit: int) -> list[EmbeddedColumn]:
    cols = [c for c in sample.of_kind("numeric") if c.stats and c.stats.distinct and c.stats.distinct > 1
            and not looks_like_identifier(c)]
    return cols[:limit]


def correlation_heatmap(sample: DataSample, *, max_columns: int = 20) -> Component | None:
    """Pearson correlations between numeric columns, re-computed on the filtered rows."""
    cols = _useful_numeric(sample, max_columns)
    if len(cols) < 2:
        return None
    return Component(id="corr", title="Correlations (Pearson)", template="chart", section="relations",
                     width="half", chart={"type": "corr", "columns": [c.index for c in cols]},
                     columns=[c.name for c in cols], refs=["correlations"])


def missingness_matrix(sample: DataSample) -> Component | None:
    """Where values are missing, row by row, for the columns that have any."""
    cols = [c for c in sample.columns if c.stats and c.stats.nulls > 0]
    if not cols:
        return None
    return Component(id="missing", title="Missing values", template="chart", section="relations", width="half",
                     chart={"type": "missing", "columns": [c.index for c in cols]},
                     note="Each line is a row of the embedded sample (first 400 that pass the filters); highlighted cells are missing.",
                     columns=[c.name for c in cols], refs=["missingness"])


def _colour_column(sample: DataSample, analysis: dict[str, Any], exclude: set[str]) -> EmbeddedColumn | None:
    target = sample.by_name(text(first(analysis, "task.target")))
    candidates = ([target] if target else []) + sample.of_kind("categorical")
    return next((c for c in candidates if c.kind == "categorical" and c.levels and 2 <= len(c.levels) <= 10
                 and c.name not in exclude), None)


def association_charts(sample: DataSample, profile: dict[str, Any], analysis: dict[str, Any], *,
                       count: int = 4, min_abs: float = 0.3) -> list[Component]:
    """Charts of the strongest relations between two columns, fitted to their kinds.

    Two numeric columns give a scatter plot, a categorical and a numeric one box plots,
    two categorical ones a heatmap of their cross-tabulation. The pairs come from the
    analysis when there is one, else from the profile's Pearson matrix, else from the sample.
    """
    found: list[tuple[str, str, float, str, str | None]] = []
    for a in _list(analysis.get("associations")):
        if isinstance(a, dict) and number(a.get("value")) is not None:
            found.append((text(a.get("a")), text(a.get("b")), number(a["value"]) or 0.0,
                          text(a.get("method")), text(a.get("chart_id")) or None))
    source = "analysis"
    if not found:
        pairs = _profile_pairs(profile) or _sample_pairs(_useful_numeric(sample, 20))
        source = "profile" if _profile_pairs(profile) else "sample"
        found = [(a, b, r, "pearson", None) for r, a, b in pairs]
    out: list[Component] = []
    seen: set[frozenset[str]] = set()
    symbols = {"pearson": "r", "spearman": "ρ", "cramers_v": "Cramér's V", "correlation_ratio": "η"}
    for a_name, b_name, value, method, chart_id in found:
        a, b = sample.by_name(a_name), sample.by_name(b_name)
        key = frozenset((a_name, b_name))
        if a is None or b is None or a is b or key in seen or abs(value) < min_abs:
            continue
        kinds = {a.kind, b.kind}
        if kinds == {"numeric"}:
            colour = _colour_column(sample, analysis, {a.name, b.name})
            chart = {"type": "scatter", "x": a.index, "y": b.index, "color": colour.index if colour else None}
            title = f"{b.name} vs {a.name}"
        elif kinds == {"numeric", "categorical"}:
            cat, num = (a, b) if a.kind == "categorical" else (b, a)
            chart = {"type": "box", "group": cat.index, "value": num.index}
            title = f"{num.name} by {cat.name}"
        elif kinds == {"categorical"}:
            chart = {"type": "crosstab", "x": a.index, "y": b.index}
            title = f"{b.name} × {a.name}"
        else:
            continue
        seen.add(key)
        note = f"{symbols.get(method, method)} = {value:.2f}" + {
            "analysis": " (analysis)", "profile": " on all rows", "sample": " on the sample"}[source]
        out.append(Component(id=f"pair-{len(out)}", title=title, template="chart", section="relations", width="half",
                             chart=chart, note=note, columns=[a.name, b.name], refs=[chart_id] if chart_id else []))
        if len(out) >= count:
            break
    return out


def time_series(sample: DataSample, analysis: dict[str, Any], *, max_series: int = 2) -> Component | None:
    """Numeric columns over time, averaged per time bucket, with the analysis's change points."""
    times = [c for c in sample.of_kind("datetime") if c.stats and c.stats.distinct and c.stats.distinct > 2]
    if not times:
        return None
    wanted = text(first(analysis, "task.time_column"))
    time_col = next((c for c in times if c.name == wanted), times[0])
    patterns = [p for p in _list(analysis.get("time_patterns"))
                if isinstance(p, dict) and p.get("time_column") == time_col.name]
    names = [text(p.get("value_column")) for p in patterns]
    target = text(first(analysis, "task.target"))
    names += [target] + [c.name for c in _useful_numeric(sample, 50)]
    values = []
    for name in names:
        col = sample.by_name(name)
        if col is not None and col.kind == "numeric" and col not in values:
            values.append(col)
    values = values[:max_series]
    if not values:
        return None
    plotted = {c.name for c in values}
    patterns = [p for p in patterns if p.get("value_column") in plotted]
    marks = [text(cp) for p in patterns[:1] for cp in _list(p.get("change_points"))]
    notes = []
    for p in patterns[:3]:
        desc = f"{text(p.get('value_column'))}: {text(p.get('trend_direction'), 'no')} trend"
        season = p.get("season_length")
        strength = number(p.get("seasonal_strength"))
        if season and strength:
            desc += f", seasonal (period {season}, strength {strength:.2f})"
        if p.get("change_points"):
            desc += f", {len(p['change_points'])} change point(s)"
        notes.append(desc)
    note = "Mean per time bucket of the rows that pass the filters." + (" " + "; ".join(notes) + "." if notes else "")
    if marks:
        note += " Dotted lines: change points."
    return Component(id="timeseries", title=f"Over time ({time_col.name})", template="chart", section="relations",
                     width="full", chart={"type": "timeseries", "time": time_col.index,
                                          "values": [c.index for c in values], "marks": marks},
                     note=note, columns=[c.name for c in values],
                     refs=[text(p.get("chart_id")) for p in patterns if p.get("chart_id")])


# ---------------------------------------------------------------- model results (fixed figures)


def _figure(data: list[dict[str, Any]], layout: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"type": "figure", "data": data, "layout": layout or {}}


def task_summary(analysis: dict[str, Any]) -> Component | None:
    """What the analysis did and on how many rows, with the parts it skipped."""
    task = _dict(analysis.get("task"))
    if not task:
        return None
    sampling = _dict(analysis.get("sampling"))
    lines = [text(task.get("reason")), text(sampling.get("note"))]
    suggested = [str(s) for s in _list(task.get("suggested_targets"))[:5]]
    return Component(id="task", title="What the analysis did", template="notes", section="model", width="full",
                     context={"lines": [line for line in lines if line],
                              "suggested": suggested,
                              "warnings": [text(w) for w in _list(analysis.get("warnings"))]},
                     refs=["task"])


def leaderboard(analysis: dict[str, Any]) -> Component | None:
    """The models AutoML tried, best first, as a chart of their scores and a table."""
    automl = _dict(analysis.get("automl"))
    entries = [e for e in _list(automl.get("leaderboard")) if isinstance(e, dict)]
    if not entries:
        return None
    metric = text(automl.get("eval_metric"), "score")
    table = [{
        "model": text(e.get("model")),
        "holdout": number(e.get("score_holdout")),
        "val": number(e.get("score_val")),
        "fit_time": number(e.get("fit_time_s")),
        "predict_time": number(e.get("predict_time_s")),
        "best": bool(e.get("is_best")) or text(e.get("model")) == text(automl.get("best_model")),
    } for e in entries]
    key = "holdout" if any(r["holdout"] is not None for r in table) else "val"
    scored = [r for r in table if r[key] is not None][:15]
    chart = None
    if scored:
        chart = _figure(
            [{"type": "bar", "orientation": "h", "y": [plot_text(r["model"]) for r in scored][::-1],
              "x": [r[key] for r in scored][::-1],
              "marker": {"color": ["#e4572e" if r["best"] else "#3b6fd8" for r in scored][::-1]},
              "hovertemplate": "%{y}: %{x:.4g}<extra></extra>"}],
            {"xaxis": {"title": {"text": plot_text(f"{_metric_label(metric)} ({key})")}}, "margin": {"l": 10},
             "height": max(220, 24 * len(scored) + 80)},
        )
    metrics = [(_metric_label(str(k)), _fmt(number(v))) for k, v in _dict(automl.get("metrics")).items()]
    for r in table:
        for k in ("holdout", "val", "fit_time", "predict_time"):
            r[k] = _fmt(r[k])
    facts = [("Train rows", _fmt(automl.get("train_rows"))), ("Holdout rows", _fmt(automl.get("holdout_rows"))),
             ("Fit time (s)", _fmt(number(automl.get("fit_time_s")))),
             ("Budget (s)", _fmt(number(automl.get("time_budget_s"))))]
    return Component(id="leaderboard", title="Model leaderboard", template="leaderboard", section="model",
                     width="full", context={"rows": table, "metric": _metric_label(metric), "metrics": metrics,
                                            "facts": facts},
                     chart=chart, refs=[text(automl.get("chart_id"), "leaderboard"), "automl", "model"])


def confusion_matrix(analysis: dict[str, Any]) -> Component | None:
    """Holdout confusion matrix of the best classifier."""
    cm = _dict(first(analysis, "automl.confusion_matrix"))
    labels, matrix = [str(v) for v in _list(cm.get("labels"))], _list(cm.get("matrix"))
    if not labels or len(matrix) != len(labels):
        return None
    names = [plot_text(v) for v in labels]
    totals = [sum(row) or 1 for row in matrix]
    share = [[cell / totals[i] for cell in row] for i, row in enumerate(matrix)]
    trace = {"type": "heatmap", "x": names, "y": names, "z": share, "zmin": 0, "zmax": 1,
             "colorscale": "dsp-sequential", "text": [[str(c) for c in row] for row in matrix],
             "texttemplate": "%{text}" if len(labels) <= 12 else None, "showscale": False,
             "hovertemplate": "true %{y}, predicted %{x}: %{text} rows<extra></extra>"}
    layout = {"xaxis": {"title": {"text": "predicted"}, "type": "category"},
              "yaxis": {"title": {"text": "actual"}, "autorange": "reversed", "type": "category"},
              "height": max(280, 34 * len(labels) + 120)}
    return Component(id="confusion", title="Confusion matrix (holdout)", template="chart", section="model",
                     width="half", chart=_figure([trace], layout), refs=["confusion_matrix"],
                     note="Cells show row counts; colour is the share of each actual class.")


def _importance(items: Any) -> list[tuple[str, float, float]]:
    out = []
    for item in _list(items):
        if isinstance(item, dict) and number(item.get("importance")) is not None:
            out.append((text(item.get("feature")), number(item["importance"]) or 0.0, number(item.get("std")) or 0.0))
    out.sort(key=lambda p: -abs(p[1]))
    return out


def importance_ranking(analysis: dict[str, Any]) -> list[str]:
    """Features from most to least important, by permutation importance, else mean |SHAP|."""
    explanations = _dict(analysis.get("explanations"))
    ranked = _importance(explanations.get("permutation_importance")) or _importance(explanations.get("shap_global"))
    return [name for name, _, _ in ranked]


def feature_importance(analysis: dict[str, Any], *, top: int = 20) -> Component | None:
    """Permutation importance of the top features on the holdout, with its spread."""
    explanations = _dict(analysis.get("explanations"))
    ranked = _importance(explanations.get("permutation_importance"))
    title, axis = "Feature importance (permutation)", "drop in score when shuffled"
    if not ranked:
        ranked = _importance(explanations.get("shap_global"))
        title, axis = "Feature importance (mean |SHAP|)", "mean |SHAP value|"
    measured = [r for r in ranked if r[1] != 0 or r[2] != 0]
    left_out = len(ranked) - len(measured)
    ranked = measured[:top]
    if not ranked:
        return None
    trace = {"type": "bar", "orientation": "h", "y": [plot_text(n) for n, _, _ in ranked][::-1],
             "x": [v for _, v, _ in ranked][::-1], "hovertemplate": "%{y}: %{x:.4g}<extra></extra>"}
    if any(s for _, _, s in ranked):
        trace["error_x"] = {"type": "data", "array": [s for _, _, s in ranked][::-1], "thickness": 1}
    return Component(
        id="importance", title=title, template="chart", section="model", width="half",
        chart=_figure([trace], {"margin": {"l": 10}, "xaxis": {"title": {"text": axis}},
                                "height": max(260, 22 * len(ranked) + 90)}),
        columns=[n for n, _, _ in ranked[:5]],
        note=f"{left_out} feature(s) with no measurable importance are left out." if left_out else None,
        refs=[text(explanations.get("chart_id"), "feature_importance"), "feature_importance", "importance"],
    )


def _shap_rows(analysis: dict[str, Any]) -> list[dict[str, Any]]:
    rows = _list(first(analysis, "explanations.shap_rows"))
    return [r for r in rows if isinstance(r, dict) and isinstance(r.get("contributions"), dict) and r["contributions"]]


def shap_summary(analysis: dict[str, Any], feature_values: dict[str, dict[int, Any]] | None = None, *,
                 top: int = 15) -> Component | None:
    """SHAP summary: each explained row's SHAP value per feature, coloured by the feature's value.

    With fewer than 10 explained rows it falls back to the bar chart of mean |SHAP|.
    ``feature_values`` maps feature -> row index -> value, read from the dataset.
    """
    explanations = _dict(analysis.get("explanations"))
    rows = _shap_rows(analysis)
    output = text(explanations.get("shap_output"))
    model = text(explanations.get("shap_model"))
    note = " · ".join(s for s in [f"explains {model}" if model else "", f"output: {output}" if output else ""] if s)
    if len(rows) < 10:
        ranked = _importance(explanations.get("shap_global"))[:top]
        if not ranked or not _importance(explanations.get("permutation_importance")):
            return None  # the importance card already shows mean |SHAP|
        trace = {"type": "bar", "orientation": "h", "y": [plot_text(n) for n, _, _ in ranked][::-1],
                 "x": [v for _, v, _ in ranked][::-1], "hovertemplate": "%{y}: %{x:.4g}<extra></extra>"}
        return Component(id="shap-summary", title="SHAP: mean impact per feature", template="chart", section="model",
                         width="half", chart=_figure([trace], {"margin": {"l": 10},
                                                               "xaxis": {"title": {"text": "mean |SHAP value|"}}}),
                         note=note or None, refs=["shap", "shap_global"], columns=[n for n, _, _ in ranked[:5]])
    mean_abs: dict[str, float] = {}
    for r in rows:
        for f, v in r["contributions"].items():
            if number(v) is not None:
                mean_abs[f] = mean_abs.get(f, 0.0) + abs(number(v) or 0.0)
    order = sorted(mean_abs, key=lambda f: -mean_abs[f])[:top][::-1]
    rng = np.random.default_rng(0)
    traces = []
    feature_values = feature_values or {}
    for rank, feature in enumerate(order):
        xs = [number(r["contributions"].get(feature)) for r in rows]
        raw = [number(feature_values.get(feature, {}).get(int(r.get("row_index", -1)))) for r in rows]
        finite = [v for v in raw if v is not None]
        marker: dict[str, Any] = {"size": 6, "opacity": 0.8, "color": "#8e9bb5"}
        if len(finite) >= 2 and max(finite) > min(finite):
            lo, hi = float(np.percentile(finite, 5)), float(np.percentile(finite, 95))
            span = (hi - lo) or 1.0
            marker.update(color=[None if v is None else float(np.clip((v - lo) / span, 0, 1)) for v in raw],
                          colorscale=[[0, "#3b6fd8"], [0.5, "#b9a8c9"], [1, "#e4572e"]], cmin=0, cmax=1,
                          showscale=rank == len(order) - 1,
                          colorbar={"title": {"text": "feature<br>value"}, "tickvals": [0, 1],
                                    "ticktext": ["low", "high"], "len": 0.5, "thickness": 10})
        jitter = rng.uniform(-0.28, 0.28, len(rows))
        traces.append({
            "type": "scatter", "mode": "markers", "x": xs, "y": [rank + d for d in jitter], "showlegend": False,
            "marker": marker, "name": plot_text(feature),
            "customdata": [[int(r.get("row_index", -1)), "" if v is None else _fmt(v)] for r, v in zip(rows, raw, strict=True)],
            "hovertemplate": plot_text(feature) + " = %{customdata[1]} (row %{customdata[0]}): SHAP %{x:.3g}<extra></extra>",
        })
    layout = {"yaxis": {"tickvals": list(range(len(order))), "ticktext": [plot_text(f) for f in order],
                        "zeroline": False, "showgrid": False},
              "xaxis": {"title": {"text": "SHAP value (impact on the prediction)"}, "zeroline": True},
              "margin": {"l": 10}, "height": max(300, 28 * len(order) + 100)}
    return Component(id="shap-summary", title=f"SHAP summary ({len(rows)} explained rows)", template="chart",
                     section="model", width="half", chart=_figure(traces, layout), note=note or None,
                     refs=["shap", "shap_summary", "shap_global"], columns=order[::-1][:5])


def shap_waterfall(analysis: dict[str, Any], *, max_rows: int = 40, top: int = 10) -> Component | None:
    """Per-row SHAP waterfall: how one prediction is built from the base value; pick the row on the page."""
    rows = _shap_rows(analysis)[:max_rows]
    if not rows:
        return None
    options = []
    for r in rows:
        contributions = [(str(f), number(v) or 0.0) for f, v in r["contributions"].items()]
        contributions.sort(key=lambda p: -abs(p[1]))
        shown, rest = contributions[:top], contributions[top:]
        names = [plot_text(f) for f, _ in shown]
        deltas = [v for _, v in shown]
        if rest:
            names.append(f"{len(rest)} other features")
            deltas.append(sum(v for _, v in rest))
        base = number(r.get("base_value")) or 0.0
        prediction = r.get("prediction")
        label = f"row {r.get('row_index')}" + (f" → {_fmt(prediction)}" if prediction is not None else "")
        options.append({"label": label, "base": base, "names": names, "deltas": deltas})
    output = text(first(analysis, "explanations.shap_output"))
    return Component(
        id="shap-waterfall", title="Why this prediction (SHAP waterfall)", template="waterfall", section="model",
        width="half", chart={"type": "waterfall", "rows": options},
        context={"options": [o["label"] for o in options]},
        note="From the base value (dotted line) each bar adds a feature's SHAP value: red raises the output, "
             "blue lowers it" + (f" ({output})." if output else "."),
        refs=["shap_rows", "shap_waterfall"],
    )


def partial_dependence(analysis: dict[str, Any], *, limit: int = 3) -> list[Component]:
    """Average prediction as one feature varies, for the top features."""
    out = []
    for pd_ in _list(first(analysis, "explanations.partial_dependence"))[:limit]:
        if not isinstance(pd_, dict) or not _list(pd_.get("grid")):
            continue
        grid = [g if isinstance(g, int | float) and not isinstance(g, bool) else plot_text(g) for g in pd_["grid"]]
        numeric = all(isinstance(g, int | float) for g in grid)
        trace = ({"type": "scatter", "mode": "lines+markers", "x": grid, "y": pd_.get("average", [])} if numeric
                 else {"type": "bar", "x": grid, "y": pd_.get("average", [])})
        feature = text(pd_.get("feature"))
        out.append(Component(
            id=f"pdp-{len(out)}", title=f"Partial dependence: {feature}", template="chart", section="model",
            width="third", chart=_figure([trace], {"xaxis": {"title": {"text": plot_text(feature)}},
                                                   "yaxis": {"title": {"text": "average prediction"}},
                                                   "height": 260}),
            columns=[feature], refs=[text(pd_.get("chart_id"))] if pd_.get("chart_id") else []))
    return out


def forecast_charts(analysis: dict[str, Any]) -> list[Component]:
    """History and forecast of each forecast series, with 80% and 95% prediction bands."""
    out = []
    for n, fc in enumerate(_list(analysis.get("forecasts"))):
        if not isinstance(fc, dict) or not _list(fc.get("points")):
            continue
        points = [p for p in fc["points"] if isinstance(p, dict)]
        x = [text(p.get("timestamp")) for p in points]
        traces: list[dict[str, Any]] = []
        history = [h for h in _list(fc.get("history")) if isinstance(h, list | tuple) and len(h) == 2]
        if history:
            traces.append({"type": "scatter", "mode": "lines", "name": "history",
                           "x": [text(h[0]) for h in history], "y": [number(h[1]) for h in history],
                           "line": {"color": "css:--fg"}})
        for level, colour in (("95", "rgba(59,111,216,0.15)"), ("80", "rgba(59,111,216,0.3)")):
            traces.append({"type": "scatter", "mode": "lines", "x": x, "y": [number(p.get(f"hi_{level}")) for p in points],
                           "line": {"width": 0}, "showlegend": False, "hoverinfo": "skip"})
            traces.append({"type": "scatter", "mode": "lines", "x": x, "y": [number(p.get(f"lo_{level}")) for p in points],
                           "line": {"width": 0}, "fill": "tonexty", "fillcolor": colour, "name": f"{level}% interval",
                           "hoverinfo": "skip"})
        traces.append({"type": "scatter", "mode": "lines+markers", "name": "forecast", "x": x,
                       "y": [number(p.get("mean")) for p in points], "line": {"color": "#3b6fd8", "dash": "dash"},
                       "marker": {"size": 4}})
        value = text(fc.get("value_column"), "value")
        scores = {text(s.get("model")): s for s in _list(fc.get("scores")) if isinstance(s, dict)}
        best, baseline = text(fc.get("best_model")), text(fc.get("baseline_model"))
        note = f"Best model {best}"
        if best in scores and number(scores[best].get("mase")) is not None:
            note += f", MASE {number(scores[best]['mase']):.2f}"
            if baseline in scores and baseline != best and number(scores[baseline].get("mase")) is not None:
                note += f" (baseline {baseline}: {number(scores[baseline]['mase']):.2f})"
        note += (f"; horizon {fc.get('horizon')} × {text(fc.get('frequency'))}, backtested on "
                 f"{fc.get('backtest_windows')} windows.")
        out.append(Component(
            id=f"forecast-{n}", title=f"Forecast of {value}", template="chart", section="model", width="full",
            chart=_figure(traces, {"yaxis": {"title": {"text": plot_text(value)}}, "hovermode": "x unified",
                                   "xaxis": {"type": "date"}, "height": 340}),
            note=note, columns=[value], refs=[text(fc.get("chart_id"))] if fc.get("chart_id") else [],
        ))
    return out


def cluster_view(analysis: dict[str, Any]) -> Component | None:
    """Clusters on a 2-D PCA projection, one colour per cluster, with what sets each apart."""
    cl = _dict(analysis.get("clustering"))
    projection, labels = _list(cl.get("projection")), _list(cl.get("projection_labels"))
    profiles = [p for p in _list(cl.get("profiles")) if isinstance(p, dict)]
    if not projection and not profiles:
        return None
    traces: list[dict[str, Any]] = []
    if projection and len(labels) == len(projection):
        groups: dict[int, tuple[list[float], list[float]]] = {}
        for (x, y, *_), label in zip(projection, labels, strict=True):
            xs, ys = groups.setdefault(int(label), ([], []))
            xs.append(x)
            ys.append(y)
        for label in sorted(groups):
            traces.append({"type": "scatter", "mode": "markers", "name": f"cluster {label}", "x": groups[label][0],
                           "y": groups[label][1], "marker": {"size": 5, "opacity": 0.75}})
    elif profiles:
        traces.append({"type": "bar", "x": [f"cluster {p.get('cluster')}" for p in profiles],
                       "y": [p.get("size") for p in profiles]})
    sil = number(cl.get("silhouette"))
    rows = [{"cluster": text(p.get("cluster")), "size": _fmt(p.get("size")),
             "share": f"{100 * (number(p.get('share')) or 0):.1f}%",
             "notes": "; ".join(text(d) for d in _list(p.get("distinguishing"))[:3])} for p in profiles]
    return Component(
        id="clusters", title=f"Clusters (k = {cl.get('k', len(traces))})", template="clusters", section="model",
        width="full", chart=_figure(traces, {"xaxis": {"title": {"text": "PC 1"}}, "yaxis": {"title": {"text": "PC 2"}},
                                             "height": 340}),
        context={"rows": rows},
        note=f"K-means on {len(_list(cl.get('features')))} features" + (f", silhouette {sil:.2f}" if sil is not None else "")
        + "; points are a sample of rows projected on their first two principal components.",
        refs=[text(cl.get("chart_id"), "clusters"), "clusters", "clustering"],
    )


def anomalies_table(analysis: dict[str, Any], *, limit: int = 15) -> Component | None:
    """The most anomalous rows, their scores, why they stand out, and their values."""
    an = _dict(analysis.get("anomalies"))
    top = [a for a in _list(an.get("top")) if isinstance(a, dict)][:limit]
    if not top:
        return None
    value_keys: list[str] = []
    for a in top:
        for k in _dict(a.get("values")):
            if k not in value_keys:
                value_keys.append(k)
    value_keys = value_keys[:6]
    header = ["row", "score", "why it stands out", *value_keys]
    rows = [[text(a.get("row_index")), _fmt(number(a.get("score"))), "; ".join(map(str, _list(a.get("reasons"))[:3])),
             *[_fmt(v) if isinstance(v, int | float) else text(v) for v in (_dict(a.get("values")).get(k) for k in value_keys)]]
            for a in top]
    note = (f"IsolationForest flagged {_fmt(an.get('flagged'))} of {_fmt(an.get('rows_scored'))} rows "
            f"(contamination {100 * (number(an.get('contamination')) or 0):.1f}%). Row numbers count from 0.")
    return Component(id="anomalies", title="Anomalies", template="table", section="model", width="full",
                     context={"header": header, "rows": rows}, note=note,
                     refs=[text(an.get("chart_id"), "anomalies"), "anomalies"])


def leakage_table(analysis: dict[str, Any]) -> Component | None:
    """Features that predict the target suspiciously well on their own."""
    found = [f for f in _list(analysis.get("leakage")) if isinstance(f, dict)]
    if not found:
        return None
    rows = [[text(f.get("feature")), f"{_metric_label(text(f.get('metric')))} {_fmt(number(f.get('score')))}",
             "left out of the model" if f.get("dropped") else "kept", text(f.get("evidence"))] for f in found]
    return Component(id="leakage", title="Possible target leakage", template="table", section="model", width="full",
                     context={"header": ["feature", "alone scores", "decision", "evidence"], "rows": rows},
                     columns=[text(f.get("feature")) for f in found], refs=["leakage"])


def feature_tests_table(analysis: dict[str, Any], *, limit: int = 25) -> Component | None:
    """Statistical tests of each feature against the target, most significant first."""
    tests = [t for t in _list(analysis.get("feature_tests")) if isinstance(t, dict)]
    if not tests:
        return None
    tests.sort(key=lambda t: number(t.get("p_adjusted")) if number(t.get("p_adjusted")) is not None else 1.0)
    rows = [[text(t.get("feature")), text(t.get("test")).replace("_", " "), _pvalue(number(t.get("p_adjusted"))),
             f"{text(t.get('effect_size_name')).replace('_', ' ')} {_fmt(number(t.get('effect_size')))}",
             "yes" if t.get("significant") else "no"] for t in tests[:limit]]
    return Component(id="tests", title="Feature tests against the target", template="table", section="model",
                     width="half", context={"header": ["feature", "test", "adjusted p", "effect size", "significant"],
                                            "rows": rows},
                     note="p-values adjusted for multiple tests (Benjamini-Hochberg).",
                     refs=[text(t.get("chart_id")) for t in tests if t.get("chart_id")])


def _pvalue(p: float | None) -> str:
    if p is None:
        return "–"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def group_statistics(analysis: dict[str, Any], *, limit: int = 2) -> list[Component]:
    """Mean (± std) of a numeric measure in each group of a categorical column."""
    out = []
    for g in _list(analysis.get("descriptive"))[:limit]:
        if not isinstance(g, dict):
            continue
        rows = [r for r in _list(g.get("rows")) if isinstance(r, dict)][:25]
        if not rows:
            continue
        measure, group = text(g.get("measure")), text(g.get("group_column"))
        trace = {"type": "bar", "x": [plot_text(r.get("group")) for r in rows], "y": [number(r.get("mean")) for r in rows],
                 "error_y": {"type": "data", "array": [number(r.get("std")) or 0 for r in rows], "thickness": 1},
                 "customdata": [r.get("count") for r in rows],
                 "hovertemplate": "%{x}: mean %{y:.4g} (%{customdata} rows)<extra></extra>"}
        out.append(Component(
            id=f"groups-{len(out)}", title=f"{measure} by {group}", template="chart", section="model", width="half",
            chart=_figure([trace], {"xaxis": {"title": {"text": plot_text(group)}, "type": "category"},
                                    "yaxis": {"title": {"text": plot_text(f"mean {measure}")}}}),
            note="Bars are means, whiskers one standard deviation.", columns=[measure, group],
            refs=[text(g.get("chart_id"))] if g.get("chart_id") else []))
    return out


# ---------------------------------------------------------------- cleaning, insights, data


def etl_lineage(etl: dict[str, Any]) -> Component | None:
    """What the cleaning did, step by step: operation, columns, reason and rows before/after."""
    steps = [s for s in _list(etl.get("lineage")) if isinstance(s, dict)]
    if not steps:
        return None
    rows = []
    for step in steps:
        changes = []
        for key, label in (("columns_added", "added"), ("columns_removed", "removed"), ("columns_modified", "changed")):
            if _list(step.get(key)):
                names = [str(c) for c in step[key]]
                changes.append(f"{label}: {', '.join(names[:6])}" + (f" and {len(names) - 6} more" if len(names) > 6 else ""))
        before, after = step.get("rows_before"), step.get("rows_after")
        cols = [str(c) for c in _list(step.get("columns"))]
        rows.append({
            "n": int(step.get("index", len(rows))) + 1,
            "op": text(step.get("kind")).replace("_", " "),
            "columns": ", ".join(cols[:8]) + (f" and {len(cols) - 8} more" if len(cols) > 8 else ""),
            "reason": text(step.get("reason")),
            "origin": text(step.get("origin")),
            "rows": f"{_fmt(before)} → {_fmt(after)}" if before is not None and before != after else "",
            "changes": "; ".join(changes),
        })
    summary = {"before": _fmt(etl.get("rows_in")), "after": _fmt(etl.get("rows_out")),
               "cols_before": _fmt(len(_list(etl.get("columns_in")))), "cols_after": _fmt(len(_list(etl.get("columns_out"))))}
    return Component(id="lineage", title="Cleaning steps (ETL lineage)", template="lineage", section="etl",
                     width="full", context={"steps": rows, "summary": summary,
                                            "warnings": [text(w) for w in _list(etl.get("warnings"))]},
                     refs=["etl", "lineage"])


_KIND_TARGETS = (("forecast", "forecast-0"), ("cluster", "clusters"), ("anomal", "anomalies"), ("leak", "leakage"),
                 ("driver", "importance"), ("importance", "importance"), ("shap", "shap-summary"), ("test", "tests"),
                 ("model", "leaderboard"), ("association", "corr"), ("correl", "corr"), ("missing", "missing"),
                 ("quality", "quality"), ("trend", "timeseries"), ("season", "timeseries"))


def _link_target(chart_id: str, kind: str, cards: list[Component]) -> Component | None:
    by_ref: dict[str, Component] = {}
    for card in cards:
        for ref in card.refs:
            by_ref.setdefault(ref, card)
    if chart_id in by_ref:
        return by_ref[chart_id]
    parts = [p for p in chart_id.split(":") if p]
    if parts and parts[0] in by_ref and len(parts) == 1:
        return by_ref[parts[0]]
    named = set(parts[1:])
    charted = [c for c in cards if c.has_chart and named and named <= set(c.columns)]
    if charted:
        return charted[0]
    for name in parts[1:]:
        card = next((c for c in cards if c.template == "column" and c.columns == [name]), None)
        if card:
            return card
    by_id = {c.id: c for c in cards}
    for key in (parts[0] if parts else "", kind):
        for needle, card_id in _KIND_TARGETS:
            if needle in key.lower() and card_id in by_id:
                return by_id[card_id]
    return None


def insights_list(analysis: dict[str, Any], profile: dict[str, Any], cards: list[Component]) -> Component | None:
    """Findings in plain language, best first, each linking to the card that shows it."""
    found = [i for i in _list(analysis.get("insights")) if isinstance(i, dict)]
    found.sort(key=lambda i: (int(i.get("rank", 10**6)), -(number(i.get("score")) or 0)))
    items = []
    for item in found:
        target = _link_target(text(item.get("chart_id")), text(item.get("kind")), cards)
        items.append({"text": text(item.get("statement")), "kind": text(item.get("kind")),
                      "target": target.id if target else None, "target_title": target.title if target else None})
    for alert in _list(profile.get("alerts")):
        if isinstance(alert, dict) and alert.get("severity") == "critical" and len(items) < 25:
            columns = [str(c) for c in _list(alert.get("columns"))]
            target = _link_target("column:" + ":".join(columns), "quality", cards) if columns else None
            items.append({"text": text(alert.get("message")), "kind": "data quality",
                          "target": (target or next((c for c in cards if c.id == "quality"), None) or cards[0]).id,
                          "target_title": (target or next((c for c in cards if c.id == "quality"), cards[0])).title})
    if not items:
        return None
    return Component(id="insights", title="What stands out", template="insights", section="insights", width="full",
                     context={"entries": items})


def data_preview(sample: DataSample) -> Component:
    """The filtered rows as a paged table, sortable by clicking a header."""
    return Component(id="preview", title="Data preview", template="preview", section="data", width="full")
