"""The components of a dashboard, each a small function from results to a ``Component``.

A function returns ``None`` (or an empty list) when the results do not support
its chart, so the builder shows only what the data can back. Charts come in
two forms: *live* specs (``{"type": "hist", ...}``) that the page's script
draws from the embedded sample and re-draws on every filter change, and
*fixed* Plotly figures (``{"type": "figure", ...}``) for model results, which
are computed on the whole dataset and do not follow the filters.

Every string that reaches a Plotly figure built here goes through
:func:`plot_text`, because Plotly reads a small HTML subset in labels.

Each component takes the result documents as their ``shared_contracts`` models
(``Profile``, ``EtlReport``, ``AnalysisResult``), or ``None`` when the stage did
not run, and reads them by attribute.
"""

from __future__ import annotations

import html
import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import numpy as np
from shared_contracts.analysis import (
    AnalysisResult,
    DistributionFit,
    Explanations,
    FeatureImportance,
    ForecastModelScore,
    ForecastReport,
    RowExplanation,
    TimePattern,
)
from shared_contracts.etl import EtlReport
from shared_contracts.profile import ColumnProfile, Profile

from .data import DataSample, EmbeddedColumn
from .inputs import jsonable, number, text

__all__ = [
    "Component",
    "Width",
    "anomalies_table",
    "association_charts",
    "best_model",
    "cluster_view",
    "column_cards",
    "confusion_matrix",
    "correlation_heatmap",
    "data_preview",
    "etl_lineage",
    "feature_importance",
    "feature_tests_table",
    "file_labels",
    "file_row",
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
    "shap_rows",
    "shap_summary",
    "shap_waterfall",
    "strongest_driver",
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


def file_row(row_index: int) -> int:
    """The number a row has in the user's file, counting its first row of data as 1.

    The analysis numbers rows from 0 in the order the file has them; people count from 1, as the
    row names R and spreadsheets write do.
    """
    return row_index + 1


def file_labels(profile: Profile | None) -> dict[str, tuple[str, str]]:
    """Each boolean column's labels as the file writes them, ``(false, true)``, e.g. ``("No", "Yes")``."""
    if profile is None:
        return {}
    return {c.name: (c.boolean_labels[0], c.boolean_labels[1]) for c in profile.columns
            if c.boolean_labels and len(c.boolean_labels) == 2}


def _as_written(value: Any, labels: tuple[str, str] | None) -> Any:
    """A boolean value (``True``, ``"false"``...) as the file writes it, when its labels are known."""
    if labels is None:
        return value
    if isinstance(value, bool):
        return labels[int(value)]
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return labels[value.lower() == "true"]
    return value


def _pct(part: float, whole: float) -> str:
    return "–" if not whole else f"{100 * part / whole:.1f}%"


def _iso(value: datetime | None, *, utc: bool = False) -> str:
    """A profile timestamp to the second, with a space between date and time; `` UTC`` after an instant."""
    if value is None:
        return "–"
    return value.isoformat()[:19].replace("T", " ") + (" UTC" if utc else "")


_METRIC_LABELS = {"roc_auc": "ROC AUC", "r2": "R²", "rmse": "RMSE", "mae": "MAE", "mape": "MAPE", "f1": "F1",
                  "f1_macro": "F1 (macro)", "log_loss": "Log loss", "balanced_accuracy": "Balanced accuracy",
                  "root_mean_squared_error": "RMSE", "mean_absolute_error": "MAE", "accuracy": "Accuracy"}


def _metric_label(name: str) -> str:
    return _METRIC_LABELS.get(name, name.replace("_", " ").capitalize())


# Errors, which AutoML scores negated so that higher is always better; the page shows them as they are.
_ERROR_METRICS = frozenset({
    "root_mean_squared_error", "mean_squared_error", "mean_absolute_error", "median_absolute_error",
    "mean_absolute_percentage_error", "symmetric_mean_absolute_percentage_error", "root_mean_squared_log_error",
    "log_loss", "pinball_loss", "rmse", "mse", "mae", "mape"})


def _leaderboard_score(metric: str, score: float | None, *, lower_is_better: bool | None = None) -> float | None:
    """A leaderboard score in the metric's own units: an error positive (AutoML reports it negated).

    ``lower_is_better`` is the entry's own word when the analysis gives it, else the metric's kind decides.
    """
    error = metric in _ERROR_METRICS if lower_is_better is None else lower_is_better
    if score is None or not error:
        return score
    return abs(score)


def _entry_lower_is_better(entry: Any) -> bool | None:
    """What a leaderboard entry says of its direction, when the analysis reports it (``higher_is_better``)."""
    higher = getattr(entry, "higher_is_better", None)
    return None if higher is None else not higher


def best_model(analysis: AnalysisResult | None) -> str | None:
    """The one model the page calls best: the AutoML report's, else the leaderboard entry marked best.

    The leaderboard, the key figures and the SHAP cards all name this model, so the page never
    calls two different models best.
    """
    automl = analysis.automl if analysis is not None else None
    if automl is None:
        return None
    if automl.best_model:
        return automl.best_model
    return next((e.model for e in automl.leaderboard if e.is_best), None)


# ---------------------------------------------------------------- overview


def _holdout_score(analysis: AnalysisResult | None) -> tuple[str, float] | None:
    """The holdout metric to headline: the evaluation metric, else the first finite one."""
    automl = analysis.automl if analysis is not None else None
    if automl is None:
        return None
    metrics = automl.metrics
    if automl.eval_metric in metrics:
        value = number(metrics[automl.eval_metric])
        return None if value is None else (automl.eval_metric, value)
    finite = ((name, number(value)) for name, value in metrics.items())
    return next(((name, value) for name, value in finite if value is not None), None)


def kpi_cards(sample: DataSample, profile: Profile | None, analysis: AnalysisResult | None) -> Component:
    """Headline numbers: rows, columns, missing cells, duplicates, quality, task and model score."""
    dataset = profile.dataset if profile is not None else None
    missing = number(dataset.cells_missing_fraction) if dataset is not None else None
    if missing is None:
        cells = sum(c.stats.count + c.stats.nulls for c in sample.columns if c.stats)
        missing = sum(c.stats.nulls for c in sample.columns if c.stats) / cells if cells else 0.0
    cards: list[dict[str, str]] = [
        {"label": "Rows", "value": _fmt(dataset.rows if dataset is not None else sample.total_rows)},
        {"label": "Columns", "value": _fmt(dataset.columns if dataset is not None else sample.total_columns)},
        {"label": "Missing cells", "value": f"{100 * missing:.1f}%"},
    ]
    if dataset is not None:
        cards.append({"label": "Duplicate rows", "value": _fmt(dataset.duplicate_rows)})
    score = number(profile.quality.score) if profile is not None else None
    if score is not None:
        cards.append({"label": "Quality score", "value": f"{score:.0f} / 100"})
    if analysis is not None:
        kind = analysis.task.task_type.replace("_", " ")
        target = text(analysis.task.target)
        cards.append({"label": "Analysis", "value": f"{kind} · {target}" if target else kind})
    headline = _holdout_score(analysis)
    if headline is not None:
        label, value = headline
        cards.append({"label": f"{_metric_label(label)} (holdout)", "value": _fmt(value)})
    best = best_model(analysis)
    if best:
        cards.append({"label": "Best model", "value": best})
    return Component(id="kpis", title="Key figures", template="kpis", section="overview", width="full",
                     context={"cards": cards})


def quality_panel(profile: Profile | None) -> Component | None:
    """The quality score, its components, and the profile's alerts, worst first."""
    if profile is None:
        return None
    score = number(profile.quality.score)
    if score is None and not profile.alerts:
        return None
    order = {"critical": 0, "warning": 1, "info": 2}
    rows = [{"severity": a.severity, "kind": a.type, "column": ", ".join(a.columns), "message": a.message}
            for a in profile.alerts]
    rows.sort(key=lambda r: order.get(r["severity"], 3))
    parts = [{"name": c.name.capitalize(), "value": number(c.score), "detail": c.detail}
             for c in profile.quality.components]
    return Component(id="quality", title="Data quality", template="quality", section="overview", width="full",
                     context={"score": score, "alerts": rows, "parts": [p for p in parts if p["value"] is not None]},
                     refs=["quality", "alerts"])


_READING_TITLES = {"missing_tokens": "Read as missing", "kept_tokens": "Kept as a value", "widened": "Type widened",
                   "values_nulled": "Stored as null", "trimmed": "Blanks trimmed", "identifier": "Identifier",
                   "out_of_range_years": "Odd years", "header": "Header"}


def reading_table(profile: Profile | None) -> Component | None:
    """How the file was read: every decision about its values, with the cells it concerns."""
    if profile is None or not profile.reading:
        return None
    rows = [[_READING_TITLES.get(n.kind, n.kind), n.column or "(file)", f"{n.count:,}" if n.count else "", n.detail]
            for n in profile.reading]
    return Component(id="reading", title="How the file was read", template="table", section="overview",
                     width="full", context={"header": ["Decision", "Column", "Cells", "Detail"], "rows": rows},
                     note="Nothing else was changed: every other value is as the file wrote it.",
                     columns=sorted({n.column for n in profile.reading if n.column}), refs=["reading"])


# ---------------------------------------------------------------- columns


def _fit_note(fit: DistributionFit) -> str:
    p = number(fit.ks_p_value)
    ks = f"KS p = {p:.2g}" if p is not None else ""
    on = f" on {fit.sample_size:,} values" if fit.sample_size else ""
    if fit.accepted is False:
        return f"No standard distribution fits (the closest, {fit.best}, is rejected: {ks or 'KS test'}{on})"
    return f"Best-fitting distribution: {fit.best}" + (f" ({ks}{on})" if ks else "")


def column_cards(sample: DataSample, profile: Profile | None, analysis: AnalysisResult | None = None) -> list[Component]:
    """One card per column: a chart fitted to its kind, and its whole-data statistics."""
    profiled = {c.name: c for c in profile.columns} if profile is not None else {}
    fits = {d.column: d for d in analysis.distributions} if analysis is not None else {}
    # columns the analysis found to identify rows (counters, keys), with why, when it reports them
    identifiers = getattr(analysis, "identifiers", None) or {}
    cards = []
    for col in sample.columns:
        prof = profiled.get(col.name)
        facts = _profile_facts(prof) if prof is not None else _sample_facts(col)
        fit = fits.get(col.name)
        note = _fit_note(fit) if fit is not None else None
        chart: dict[str, Any] | None
        if isinstance(identifiers, dict) and col.name in identifiers:
            chart = None
            reason = text(identifiers[col.name])
            note = "It identifies rows, so it is not charted as a measure" + (f": {reason}" if reason else ".")
        elif col.kind == "numeric":
            chart = {"type": "hist", "column": col.index, **_whole_data_bins(prof)}
        elif col.kind == "categorical":
            chart = {"type": "bar", "column": col.index}
            labels = file_labels(profile).get(col.name)
            if labels is not None:  # the page shows the file's No/Yes wherever it shows the column's levels
                chart["labels"] = {"false": labels[0], "true": labels[1]}
        elif col.kind == "datetime":
            chart = {"type": "timecount", "column": col.index, **_whole_data_span(prof)}
        else:
            chart = None
        top: list[tuple[str, int]] = []
        if col.kind == "text":
            if prof is not None:
                top = [(text(v.value), v.count) for v in prof.top_values[:5]]
            elif col.stats:
                top = col.stats.top
        cards.append(Component(
            id=f"col-{col.index}", title=col.name, template="column", section="columns", width="third",
            context={"kind": col.kind, "dtype": col.dtype, "semantic": prof.semantic_type if prof is not None else "",
                     "facts": facts, "top": top},
            chart=chart, columns=[col.name], note=note,
            refs=[fit.chart_id] if fit is not None and fit.chart_id else [],
        ))
    return cards


def _whole_data_bins(prof: ColumnProfile | None) -> dict[str, Any]:
    """The profile's histogram and range of a numeric column, over every row, for its live chart.

    The page draws them as they are while no filter is set, and uses the embedded sample only to
    count the rows that pass the filters; without a profile it bins the sample.
    """
    if prof is None:
        return {}
    out: dict[str, Any] = {}
    num = prof.numeric
    low, high = (number(num.min), number(num.max)) if num is not None else (None, None)
    if low is not None and high is not None:
        out["range"] = [low, high]
    hist = prof.histogram
    if hist is not None and len(hist.edges) == len(hist.counts) + 1 and len(hist.counts) >= 1:
        edges = [number(e) for e in hist.edges]
        if all(e is not None for e in edges):
            out.update(edges=edges, counts=list(hist.counts), rows=prof.count)
    return out


def _epoch_ms(value: datetime) -> int:
    """A timestamp as the page's script holds it: milliseconds since 1970 (a naive one read as UTC)."""
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return round(aware.timestamp() * 1000)


def _whole_data_span(prof: ColumnProfile | None) -> dict[str, Any]:
    """The first and last timestamp of a date column over every row, from the profile, for its live chart."""
    dates = prof.dates if prof is not None else None
    if dates is None or dates.min is None or dates.max is None:
        return {}
    return {"range": [_epoch_ms(dates.min), _epoch_ms(dates.max)]}


def _profile_facts(prof: ColumnProfile) -> list[tuple[str, str]]:
    facts = [("Non-missing", _fmt(prof.count)), ("Missing", _pct(prof.missing, prof.count + prof.missing)),
             ("Distinct", _fmt(prof.distinct))]
    num = prof.numeric
    if num is not None:
        facts += [("Mean", _fmt(number(num.mean))), ("Std", _fmt(number(num.std))),
                  ("Min", _fmt(number(num.min))), ("Median", _fmt(number(num.p50))),
                  ("Max", _fmt(number(num.max)))]
        if num.zeros:
            facts.append(("Zeros", _fmt(num.zeros)))
        if num.outliers_iqr:
            facts.append(("Outliers (IQR)", _fmt(num.outliers_iqr)))
        skew = number(num.skewness)
        if skew is not None:
            facts.append(("Skewness", f"{skew:.2f}"))
    dates = prof.dates
    if dates is not None:
        # a zoned column's bounds are instants, given in UTC; a wall-clock column's are as written
        facts += [("First", _iso(dates.min, utc=bool(dates.time_zone))),
                  ("Last", _iso(dates.max, utc=bool(dates.time_zone)))]
        if dates.time_zone and dates.time_zone != "UTC":
            facts.append(("Time zone", dates.time_zone))
        if dates.frequency:
            facts.append(("Frequency", dates.frequency))
    mean_length = number(prof.strings.mean_length) if prof.strings is not None else None
    if mean_length is not None:
        facts.append(("Mean length", f"{mean_length:.1f}"))
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


def _profile_pairs(profile: Profile | None) -> list[tuple[float, str, str]]:
    matrix = profile.correlations.pearson if profile is not None else None
    if matrix is None:
        return []
    names, values = matrix.columns, matrix.values
    rows = matrix.rows or names
    pairs = []
    for i, a in enumerate(rows):
        for j, b in enumerate(names):
            if j <= i or i >= len(values) or j >= len(values[i]):
                continue
            r = number(values[i][j])
            if r is not None and a != b:
                pairs.append((r, a, b))
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


def _target(analysis: AnalysisResult | None) -> str:
    """The analysis's target column, ``""`` when there is none."""
    return text(analysis.task.target) if analysis is not None else ""


def _colour_column(sample: DataSample, analysis: AnalysisResult | None, exclude: set[str]) -> EmbeddedColumn | None:
    target = sample.by_name(_target(analysis))
    candidates = ([target] if target else []) + sample.of_kind("categorical")
    return next((c for c in candidates if c.kind == "categorical" and c.levels and 2 <= len(c.levels) <= 10
                 and c.name not in exclude), None)


_SYMBOLS = {"pearson": "r", "spearman": "ρ", "cramers_v": "Cramér's V", "correlation_ratio": "η"}
NEAR_DUPLICATE = 0.95
"""Two numeric columns correlated at least this strongly carry the same information: one chart shows them."""


def strongest_driver(profile: Profile | None, analysis: AnalysisResult | None, *,
                     exclude: frozenset[str] = frozenset()) -> tuple[str, float, str] | None:
    """The feature most strongly related to the target: ``(feature, strength, how it was measured)``.

    Strength is the whole data's |Pearson r| from the profile where both are numeric, else the analysis's
    association or feature test (a squared effect size as its square root, to compare with a correlation),
    else the first feature of the importance ranking. The third item says how, with the figure
    (``"r = 0.92 on all rows"``). Columns in ``exclude`` (identifiers) are never the driver. ``None``
    without a target.
    """
    target = _target(analysis)
    if not target or analysis is None:
        return None
    strength: dict[str, tuple[float, str]] = {}

    def offer(feature: str, value: float | None, how: str) -> None:
        if feature != target and value is not None and feature not in strength and feature not in exclude:
            strength[feature] = (abs(value), how.format(value))

    for r, a, b in _profile_pairs(profile):
        if target in (a, b):
            offer(b if a == target else a, r, "r = {:.2f} on all rows")
    for assoc in analysis.associations:
        if target in (assoc.a, assoc.b):
            offer(assoc.b if assoc.a == target else assoc.a, number(assoc.value),
                  _SYMBOLS.get(assoc.method, assoc.method) + " = {:.2f}")
    for test in analysis.feature_tests:
        effect = number(test.effect_size)
        squared = test.effect_size_name in {"eta_squared", "epsilon_squared", "omega_squared"}
        if effect is not None:
            offer(test.feature, math.sqrt(abs(effect)) if squared else effect,
                  f"{test.effect_size_name.replace('_', ' ')}" + (" {:.2f} (square root)" if squared else " {:.2f}"))
    if strength:
        feature = max(strength, key=lambda f: strength[f][0])
        return feature, strength[feature][0], strength[feature][1]
    ranked = [f for f in importance_ranking(analysis) if f not in exclude]
    return (ranked[0], math.nan, "the model's most important feature") if ranked else None


def _pair_chart(sample: DataSample, analysis: AnalysisResult | None, x: EmbeddedColumn,
                y: EmbeddedColumn) -> tuple[dict[str, Any], str] | None:
    """The chart of two columns fitted to their kinds, ``y`` on the vertical axis where it can be."""
    kinds = {x.kind, y.kind}
    if kinds == {"numeric"}:
        colour = _colour_column(sample, analysis, {x.name, y.name})
        return {"type": "scatter", "x": x.index, "y": y.index, "color": colour.index if colour else None}, \
            f"{y.name} vs {x.name}"
    if kinds == {"numeric", "categorical"}:
        cat, num = (x, y) if x.kind == "categorical" else (y, x)
        return {"type": "box", "group": cat.index, "value": num.index}, f"{num.name} by {cat.name}"
    if kinds == {"categorical"}:
        return {"type": "crosstab", "x": x.index, "y": y.index}, f"{y.name} × {x.name}"
    return None


def _near_duplicate_groups(found: list[tuple[str, str, float, str, str | None]],
                           sample: DataSample) -> dict[str, str]:
    """Each numeric column to the first column of its group of near-duplicates (itself when alone)."""
    group: dict[str, str] = {}

    def root(name: str) -> str:
        while group.get(name, name) != name:
            name = group[name]
        return name

    for a_name, b_name, value, method, _ in found:
        a, b = sample.by_name(a_name), sample.by_name(b_name)
        if (a is None or b is None or a.kind != "numeric" or b.kind != "numeric"
                or method not in {"pearson", "spearman"} or abs(value) < NEAR_DUPLICATE):
            continue
        ra, rb = root(a_name), root(b_name)
        if ra != rb:
            group[rb] = ra
    return {name: root(name) for name in {n for a, b, *_ in found for n in (a, b)}}


def association_charts(sample: DataSample, profile: Profile | None, analysis: AnalysisResult | None, *,
                       count: int = 4, min_abs: float = 0.3) -> list[Component]:
    """Charts of the strongest relations between two columns, fitted to their kinds.

    Two numeric columns give a scatter plot, a categorical and a numeric one box plots,
    two categorical ones a heatmap of their cross-tabulation. The pairs come from the
    analysis when there is one, else from the profile's Pearson matrix, else from the sample.
    The target against its strongest driver comes first, always; columns that are near-duplicates
    of each other (|r| >= 0.95, such as a diamond's carat, x, y and z) get one chart for the group.
    """
    found: list[tuple[str, str, float, str, str | None]] = []
    for assoc in analysis.associations if analysis is not None else []:
        value = number(assoc.value)
        if value is not None:
            found.append((assoc.a, assoc.b, value, assoc.method, assoc.chart_id or None))
    source = "analysis"
    if not found:
        profile_pairs = _profile_pairs(profile)
        pairs = profile_pairs or _sample_pairs(_useful_numeric(sample, 20))
        source = "profile" if profile_pairs else "sample"
        found = [(a, b, r, "pearson", None) for r, a, b in pairs]
    groups = _near_duplicate_groups(found + [(a, b, r, "pearson", None) for r, a, b in _profile_pairs(profile)], sample)
    members: dict[str, list[str]] = {}
    for name, head in groups.items():
        members.setdefault(head, []).append(name)
    out: list[Component] = []
    seen: set[frozenset[str]] = set()

    target_col = sample.by_name(_target(analysis))
    identifiers = getattr(analysis, "identifiers", None) or {}
    row_keys = frozenset(c.name for c in sample.columns if looks_like_identifier(c)) | frozenset(identifiers)
    driver = strongest_driver(profile, analysis, exclude=row_keys)
    driver_col = sample.by_name(driver[0]) if driver is not None else None
    if target_col is not None and driver_col is not None and driver is not None:
        drawn = _pair_chart(sample, analysis, driver_col, target_col)
        if drawn is not None:
            chart, title = drawn
            feature, value, how = driver
            note = (f"The target against its strongest driver ({how})." if math.isfinite(value)
                    else "The target against its most important feature.")
            out.append(Component(id=f"pair-{len(out)}", title=title, template="chart", section="relations",
                                 width="half", chart=chart, note=note, columns=[feature, target_col.name],
                                 refs=[c for a, b, _, _, c in found if c and {a, b} == {feature, target_col.name}]))
            seen.add(frozenset((groups.get(feature, feature), groups.get(target_col.name, target_col.name))))
    for a_name, b_name, value, method, chart_id in found:
        if len(out) >= count:
            break
        a, b = sample.by_name(a_name), sample.by_name(b_name)
        key = frozenset((groups.get(a_name, a_name), groups.get(b_name, b_name)))
        if a is None or b is None or a is b or key in seen or abs(value) < min_abs:
            continue
        drawn = _pair_chart(sample, analysis, a, b)
        if drawn is None:
            continue
        chart, title = drawn
        seen.add(key)
        note = f"{_SYMBOLS.get(method, method)} = {value:.2f}" + {
            "analysis": " (analysis)", "profile": " on all rows", "sample": " on the sample"}[source]
        group = members.get(groups.get(a_name, a_name), []) if len(key) == 1 else []
        if len(group) > 2:
            others = sorted(set(group) - {a_name, b_name})
            note += f"; {', '.join(others)} are near-duplicates of both (|r| ≥ {NEAR_DUPLICATE}), so this chart stands for them."
        out.append(Component(id=f"pair-{len(out)}", title=title, template="chart", section="relations", width="half",
                             chart=chart, note=note, columns=[a.name, b.name], refs=[chart_id] if chart_id else []))
    return out


def _pattern_note(p: TimePattern) -> str:
    desc = f"{p.value_column}: {p.trend_direction} trend"
    strength = number(p.seasonal_strength)
    if p.season_length and strength:
        desc += f", seasonal (period {p.season_length}, strength {strength:.2f})"
    if p.change_points:
        desc += f", {len(p.change_points)} change point(s)"
    return desc


def time_series(sample: DataSample, analysis: AnalysisResult | None, *, max_series: int = 2) -> Component | None:
    """Numeric columns over time, averaged per time bucket, with the analysis's change points."""
    times = [c for c in sample.of_kind("datetime") if c.stats and c.stats.distinct and c.stats.distinct > 2]
    if not times:
        return None
    wanted = text(analysis.task.time_column) if analysis is not None else ""
    time_col = next((c for c in times if c.name == wanted), times[0])
    patterns = [p for p in (analysis.time_patterns if analysis is not None else []) if p.time_column == time_col.name]
    names = [p.value_column for p in patterns]
    names += [_target(analysis)] + [c.name for c in _useful_numeric(sample, 50)]
    values: list[EmbeddedColumn] = []
    for name in names:
        col = sample.by_name(name)
        if col is not None and col.kind == "numeric" and col not in values:
            values.append(col)
    values = values[:max_series]
    if not values:
        return None
    plotted = {c.name for c in values}
    patterns = [p for p in patterns if p.value_column in plotted]
    marks = [cp for p in patterns[:1] for cp in p.change_points]
    notes = [_pattern_note(p) for p in patterns[:3]]
    note = "Mean per time bucket of the rows that pass the filters." + (" " + "; ".join(notes) + "." if notes else "")
    if marks:
        note += " Dotted lines: change points."
    return Component(id="timeseries", title=f"Over time ({time_col.name})", template="chart", section="relations",
                     width="full", chart={"type": "timeseries", "time": time_col.index,
                                          "values": [c.index for c in values], "marks": marks},
                     note=note, columns=[c.name for c in values],
                     refs=[p.chart_id for p in patterns if p.chart_id])


# ---------------------------------------------------------------- model results (fixed figures)


def _figure(data: list[dict[str, Any]], layout: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"type": "figure", "data": data, "layout": layout or {}}


def task_summary(analysis: AnalysisResult | None) -> Component | None:
    """What the analysis did and on how many rows, with the parts it skipped."""
    if analysis is None:
        return None
    lines = [analysis.task.reason, analysis.sampling.note]
    return Component(id="task", title="What the analysis did", template="notes", section="model", width="full",
                     context={"lines": [line for line in lines if line],
                              "suggested": [t for t in analysis.task.suggested_targets
                                            if t != analysis.task.target][:5],
                              "warnings": list(analysis.warnings)},
                     refs=["task"])


def leaderboard(analysis: AnalysisResult | None) -> Component | None:
    """The models AutoML tried, best first, as a chart of their scores and a table."""
    automl = analysis.automl if analysis is not None else None
    if automl is None or not automl.leaderboard:
        return None
    metric = automl.eval_metric
    said = next((d for d in map(_entry_lower_is_better, automl.leaderboard) if d is not None), None)
    lower_is_better = metric in _ERROR_METRICS if said is None else said
    direction = "lower is better" if lower_is_better else "higher is better"
    best = best_model(analysis)
    # the best model ranks first, the others keep AutoML's order
    entries = sorted(automl.leaderboard, key=lambda e: e.model != best)
    table: list[dict[str, Any]] = [{
        "model": e.model,
        # the entry's score in the metric's own units, when the analysis reports one
        "holdout": number(getattr(e, "score", None)) if number(getattr(e, "score", None)) is not None
        else number(_leaderboard_score(metric, e.score_holdout, lower_is_better=lower_is_better)),
        "val": number(_leaderboard_score(metric, e.score_val, lower_is_better=lower_is_better)),
        "fit_time": number(e.fit_time_s),
        "predict_time": number(e.predict_time_s),
        "best": e.model == best,
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
            {"xaxis": {"title": {"text": plot_text(f"{_metric_label(metric)} ({key}), {direction}")}},
             "margin": {"l": 10},
             "height": max(220, 24 * len(scored) + 80)},
        )
    metrics = [(_metric_label(k), _fmt(number(v))) for k, v in automl.metrics.items()]
    for r in table:
        for k in ("holdout", "val", "fit_time", "predict_time"):
            r[k] = _fmt(r[k])
    facts = [("Best model", best or "–"), ("Train rows", _fmt(automl.train_rows)),
             ("Holdout rows", _fmt(automl.holdout_rows)),
             ("Fit time (s)", _fmt(number(automl.fit_time_s))),
             ("Budget (s)", _fmt(number(automl.time_budget_s)))]
    return Component(id="leaderboard", title="Model leaderboard", template="leaderboard", section="model",
                     width="full", context={"rows": table, "metric": f"{_metric_label(metric)} ({direction})",
                                            "metrics": metrics,
                                            "facts": facts},
                     chart=chart, refs=[automl.chart_id, "automl", "model"])


def confusion_matrix(analysis: AnalysisResult | None, profile: Profile | None = None) -> Component | None:
    """Holdout confusion matrix of the best classifier; a boolean target's classes as the file writes them."""
    cm = analysis.automl.confusion_matrix if analysis is not None and analysis.automl is not None else None
    if cm is None:
        return None
    labels, matrix = cm.labels, cm.matrix
    if not labels or len(matrix) != len(labels):
        return None
    written = file_labels(profile).get(_target(analysis))
    names = [plot_text(_as_written(v, written)) for v in labels]
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


def _importance(items: list[FeatureImportance]) -> list[tuple[str, float, float]]:
    out = []
    for item in items:
        importance = number(item.importance)
        if importance is not None:
            out.append((item.feature, importance, number(item.std) or 0.0))
    out.sort(key=lambda p: -abs(p[1]))
    return out


def _explanations(analysis: AnalysisResult | None) -> Explanations | None:
    return analysis.explanations if analysis is not None else None


def _permutation_ranking(explanations: Explanations | None) -> list[tuple[str, float, float]]:
    return _importance(explanations.permutation_importance) if explanations is not None else []


def _shap_ranking(explanations: Explanations | None) -> list[tuple[str, float, float]]:
    return _importance(explanations.shap_global) if explanations is not None else []


def importance_ranking(analysis: AnalysisResult | None) -> list[str]:
    """Features from most to least important, by permutation importance, else mean |SHAP|."""
    explanations = _explanations(analysis)
    ranked = _permutation_ranking(explanations) or _shap_ranking(explanations)
    return [name for name, _, _ in ranked]


def feature_importance(analysis: AnalysisResult | None, *, top: int = 20) -> Component | None:
    """Permutation importance of the top features on the holdout, with its spread."""
    explanations = _explanations(analysis)
    ranked = _permutation_ranking(explanations)
    title, axis = "Feature importance (permutation)", "drop in score when shuffled"
    if not ranked:
        ranked = _shap_ranking(explanations)
        title, axis = "Feature importance (mean |SHAP|)", "mean |SHAP value|"
    measured = [r for r in ranked if r[1] != 0 or r[2] != 0]
    left_out = len(ranked) - len(measured)
    ranked = measured[:top]
    if explanations is None or not ranked:
        return None
    trace: dict[str, Any] = {"type": "bar", "orientation": "h", "y": [plot_text(n) for n, _, _ in ranked][::-1],
                             "x": [v for _, v, _ in ranked][::-1], "hovertemplate": "%{y}: %{x:.4g}<extra></extra>"}
    if any(s for _, _, s in ranked):
        trace["error_x"] = {"type": "data", "array": [s for _, _, s in ranked][::-1], "thickness": 1}
    return Component(
        id="importance", title=title, template="chart", section="model", width="half",
        chart=_figure([trace], {"margin": {"l": 10}, "xaxis": {"title": {"text": axis}},
                                "height": max(260, 22 * len(ranked) + 90)}),
        columns=[n for n, _, _ in ranked[:5]],
        note=f"{left_out} feature(s) with no measurable importance are left out." if left_out else None,
        refs=[explanations.chart_id, "feature_importance", "importance"],
    )


def _shap_title(title: str, analysis: AnalysisResult | None) -> str:
    """A SHAP card's title, naming the model explained when it is not the best one."""
    explanations = _explanations(analysis)
    explained = text(explanations.shap_model) if explanations is not None else ""
    best = best_model(analysis)
    if explained and best and explained != best:
        return f"{title}: explains {explained}, not the best model {best}"
    if best:
        return f"{title} of the best model {best}"
    return title


def shap_rows(analysis: AnalysisResult | None) -> list[RowExplanation]:
    """The explained rows of the analysis that carry at least one SHAP contribution."""
    explanations = _explanations(analysis)
    return [r for r in explanations.shap_rows if r.contributions] if explanations is not None else []


def shap_summary(analysis: AnalysisResult | None, feature_values: dict[str, dict[int, Any]] | None = None, *,
                 top: int = 15) -> Component | None:
    """SHAP summary: each explained row's SHAP value per feature, coloured by the feature's value.

    With fewer than 10 explained rows it falls back to the bar chart of mean |SHAP|.
    ``feature_values`` maps feature -> row index -> value, read from the dataset.
    """
    explanations = _explanations(analysis)
    if explanations is None:
        return None
    rows = shap_rows(analysis)
    output = text(explanations.shap_output)
    model = text(explanations.shap_model)
    why = text(getattr(explanations, "shap_note", ""))  # why another model than the best, when the analysis says
    named = model and not best_model(analysis)  # else the title names the model explained
    note = " · ".join(s for s in [f"explains {model}" if named else "", f"output: {output}" if output else "", why]
                      if s)
    if len(rows) < 10:
        ranked = _shap_ranking(explanations)[:top]
        if not ranked or not _permutation_ranking(explanations):
            return None  # the importance card already shows mean |SHAP|
        bars = {"type": "bar", "orientation": "h", "y": [plot_text(n) for n, _, _ in ranked][::-1],
                "x": [v for _, v, _ in ranked][::-1], "hovertemplate": "%{y}: %{x:.4g}<extra></extra>"}
        return Component(id="shap-summary", title=_shap_title("SHAP: mean impact per feature", analysis),
                         template="chart", section="model",
                         width="half", chart=_figure([bars], {"margin": {"l": 10},
                                                              "xaxis": {"title": {"text": "mean |SHAP value|"}}}),
                         note=note or None, refs=["shap", "shap_global"], columns=[n for n, _, _ in ranked[:5]])
    mean_abs: dict[str, float] = {}
    for r in rows:
        for f, v in r.contributions.items():
            contribution = number(v)
            if contribution is not None:
                mean_abs[f] = mean_abs.get(f, 0.0) + abs(contribution)
    order = sorted(mean_abs, key=lambda f: -mean_abs[f])[:top][::-1]
    rng = np.random.default_rng(0)
    traces = []
    feature_values = feature_values or {}
    for rank, feature in enumerate(order):
        xs = [number(r.contributions.get(feature)) for r in rows]
        raw = [number(feature_values.get(feature, {}).get(r.row_index)) for r in rows]
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
            "customdata": [[file_row(r.row_index), "" if v is None else _fmt(v)] for r, v in zip(rows, raw, strict=True)],
            "hovertemplate": plot_text(feature) + " = %{customdata[1]} (row %{customdata[0]}): SHAP %{x:.3g}<extra></extra>",
        })
    layout = {"yaxis": {"tickvals": list(range(len(order))), "ticktext": [plot_text(f) for f in order],
                        "zeroline": False, "showgrid": False},
              "xaxis": {"title": {"text": "SHAP value (impact on the prediction)"}, "zeroline": True},
              "margin": {"l": 10}, "height": max(300, 28 * len(order) + 100)}
    return Component(id="shap-summary", title=_shap_title(f"SHAP summary ({len(rows)} explained rows)", analysis),
                     template="chart",
                     section="model", width="half", chart=_figure(traces, layout), note=note or None,
                     refs=["shap", "shap_summary", "shap_global"], columns=order[::-1][:5])


def shap_waterfall(analysis: AnalysisResult | None, *, max_rows: int = 40, top: int = 10) -> Component | None:
    """Per-row SHAP waterfall: how one prediction is built from the base value; pick the row on the page."""
    rows = shap_rows(analysis)[:max_rows]
    explanations = _explanations(analysis)
    if not rows or explanations is None:
        return None
    options = []
    for r in rows:
        contributions = [(f, number(v) or 0.0) for f, v in r.contributions.items()]
        contributions.sort(key=lambda p: -abs(p[1]))
        shown, rest = contributions[:top], contributions[top:]
        names = [plot_text(f) for f, _ in shown]
        deltas = [v for _, v in shown]
        if rest:
            names.append(f"{len(rest)} other features")
            deltas.append(sum(v for _, v in rest))
        base = number(r.base_value) or 0.0
        prediction = jsonable(r.prediction)
        label = f"row {file_row(r.row_index):,}" + (f" → {_fmt(prediction)}" if prediction is not None else "")
        options.append({"label": label, "base": base, "names": names, "deltas": deltas})
    output = text(explanations.shap_output)
    return Component(
        id="shap-waterfall", title=_shap_title("Why this prediction (SHAP waterfall)", analysis), template="waterfall",
        section="model",
        width="half", chart={"type": "waterfall", "rows": options},
        context={"options": [o["label"] for o in options]},
        note="From the base value (dotted line) each bar adds a feature's SHAP value: red raises the output, "
             "blue lowers it" + (f" ({output})." if output else "."),
        refs=["shap_rows", "shap_waterfall"],
    )


def partial_dependence(analysis: AnalysisResult | None, *, limit: int = 3) -> list[Component]:
    """Average prediction as one feature varies, for the top features."""
    explanations = _explanations(analysis)
    out: list[Component] = []
    for pd_ in explanations.partial_dependence[:limit] if explanations is not None else []:
        if not pd_.grid:
            continue
        grid = [g if isinstance(g, int | float) and not isinstance(g, bool) else plot_text(g)
                for g in jsonable(pd_.grid)]
        numeric = all(isinstance(g, int | float) for g in grid)
        trace = ({"type": "scatter", "mode": "lines+markers", "x": grid, "y": list(pd_.average)} if numeric
                 else {"type": "bar", "x": grid, "y": list(pd_.average)})
        out.append(Component(
            id=f"pdp-{len(out)}", title=f"Partial dependence: {pd_.feature}", template="chart", section="model",
            width="third", chart=_figure([trace], {"xaxis": {"title": {"text": plot_text(pd_.feature)}},
                                                   "yaxis": {"title": {"text": "average prediction"}},
                                                   "height": 260}),
            columns=[pd_.feature], refs=[pd_.chart_id] if pd_.chart_id else []))
    return out


def _mase(scores: dict[str, ForecastModelScore], model: str) -> float | None:
    return number(scores[model].mase) if model in scores else None


def forecast_charts(analysis: AnalysisResult | None) -> list[Component]:
    """History and forecast of each forecast series, with 80% and 95% prediction bands.

    Forecasts of one measure over several series of long-format data (``series_key``) share one
    card, with a menu in the chart to pick the series; it is part of the figure, so it works offline.
    """
    out: list[Component] = []
    groups: dict[tuple[str, str], list[ForecastReport]] = {}
    cards: list[list[ForecastReport]] = []
    for fc in analysis.forecasts if analysis is not None else []:
        if not fc.points:
            continue
        if fc.series_key is None:
            cards.append([fc])
            continue
        key = (fc.value_column, fc.series_key)
        if key not in groups:
            groups[key] = []
            cards.append(groups[key])
        groups[key].append(fc)
    for group in cards:
        first = group[0]
        value = first.value_column
        per_series = [_forecast_traces(fc) for fc in group]
        traces = [trace for series in per_series for trace in series]
        owners = [k for k, series in enumerate(per_series) for _ in series]
        layout: dict[str, Any] = {"yaxis": {"title": {"text": plot_text(value)}}, "hovermode": "x unified",
                                  "xaxis": {"type": "date"}, "height": 340}
        title, note = f"Forecast of {value}", _forecast_note(first)
        if first.series_key is not None:
            title = f"Forecast of {value} by {first.series_key}"
            for trace, owner in zip(traces, owners, strict=True):
                trace["visible"] = owner == 0
            layout["updatemenus"] = [_series_menu(group, owners)]
            # the menu sits top left, where the legend would be; the legend moves right
            layout["margin"] = {"t": 40}
            layout["legend"] = {"x": 1, "xanchor": "right"}
            note = (f"{len(group)} series of {first.series_key}, largest first; pick one in the menu. "
                    + " ".join(f"{fc.series_value}: {_forecast_note(fc)}" for fc in group))
        out.append(Component(
            id=f"forecast-{len(out)}", title=title, template="chart", section="model", width="full",
            chart=_figure(traces, layout), note=note, columns=[value],
            refs=[fc.chart_id for fc in group if fc.chart_id],
        ))
    return out


def _forecast_traces(fc: ForecastReport) -> list[dict[str, Any]]:
    points = fc.points
    x = [p.timestamp for p in points]
    traces: list[dict[str, Any]] = []
    if fc.history:
        traces.append({"type": "scatter", "mode": "lines", "name": "history",
                       "x": [h[0] for h in fc.history], "y": [number(h[1]) for h in fc.history],
                       "line": {"color": "css:--fg"}})
    bands = (("95", "rgba(59,111,216,0.15)", [p.hi_95 for p in points], [p.lo_95 for p in points]),
             ("80", "rgba(59,111,216,0.3)", [p.hi_80 for p in points], [p.lo_80 for p in points]))
    for level, colour, highs, lows in bands:
        traces.append({"type": "scatter", "mode": "lines", "x": x, "y": [number(v) for v in highs],
                       "line": {"width": 0}, "showlegend": False, "hoverinfo": "skip"})
        traces.append({"type": "scatter", "mode": "lines", "x": x, "y": [number(v) for v in lows],
                       "line": {"width": 0}, "fill": "tonexty", "fillcolor": colour, "name": f"{level}% interval",
                       "hoverinfo": "skip"})
    traces.append({"type": "scatter", "mode": "lines+markers", "name": "forecast", "x": x,
                   "y": [number(p.mean) for p in points], "line": {"color": "#3b6fd8", "dash": "dash"},
                   "marker": {"size": 4}})
    return traces


def _forecast_note(fc: ForecastReport) -> str:
    scores = {s.model: s for s in fc.scores}
    best, baseline = fc.best_model, fc.baseline_model
    note = f"Best model {best}"
    best_mase, baseline_mase = _mase(scores, best), _mase(scores, baseline)
    if best_mase is not None:
        note += f", MASE {best_mase:.2f}"
        if baseline != best and baseline_mase is not None:
            note += f" (baseline {baseline}: {baseline_mase:.2f})"
    return note + f"; horizon {fc.horizon} × {fc.frequency}, backtested on {fc.backtest_windows} windows."


def _series_menu(group: list[ForecastReport], owners: list[int]) -> dict[str, Any]:
    """A Plotly dropdown showing one series' traces at a time; ``owners[n]`` is the series of trace ``n``."""
    buttons = [{"label": plot_text(fc.series_value), "method": "restyle",
                "args": [{"visible": [owner == k for owner in owners]}]}
               for k, fc in enumerate(group)]
    return {"type": "dropdown", "buttons": buttons, "active": 0, "showactive": True, "x": 0, "xanchor": "left",
            "y": 1.02, "yanchor": "bottom", "font": {"color": "#1f2328"}, "bgcolor": "#f6f8fa"}


def cluster_view(analysis: AnalysisResult | None) -> Component | None:
    """Clusters on a 2-D PCA projection, one colour per cluster, with what sets each apart."""
    cl = analysis.clustering if analysis is not None else None
    if cl is None or (not cl.projection and not cl.profiles):
        return None
    projection, labels, profiles = cl.projection, cl.projection_labels, cl.profiles
    traces: list[dict[str, Any]] = []
    if projection and len(labels) == len(projection):
        groups: dict[int, tuple[list[float], list[float]]] = {}
        for (x, y, *_), label in zip(projection, labels, strict=True):
            xs, ys = groups.setdefault(label, ([], []))
            xs.append(x)
            ys.append(y)
        for label in sorted(groups):
            traces.append({"type": "scatter", "mode": "markers", "name": f"cluster {label}", "x": groups[label][0],
                           "y": groups[label][1], "marker": {"size": 5, "opacity": 0.75}})
    elif profiles:
        traces.append({"type": "bar", "x": [f"cluster {p.cluster}" for p in profiles], "y": [p.size for p in profiles]})
    sil = number(cl.silhouette)
    rows = [{"cluster": str(p.cluster), "size": _fmt(p.size), "share": f"{100 * (number(p.share) or 0):.1f}%",
             "notes": "; ".join(p.distinguishing[:3])} for p in profiles]
    return Component(
        id="clusters", title=f"Clusters (k = {cl.k})", template="clusters", section="model",
        width="full", chart=_figure(traces, {"xaxis": {"title": {"text": "PC 1"}}, "yaxis": {"title": {"text": "PC 2"}},
                                             "height": 340}),
        context={"rows": rows},
        note=f"K-means on {len(cl.features)} features" + (f", silhouette {sil:.2f}" if sil is not None else "")
        + "; points are a sample of rows projected on their first two principal components.",
        refs=[cl.chart_id, "clusters", "clustering"],
    )


def anomalies_table(analysis: AnalysisResult | None, profile: Profile | None = None, *,
                    limit: int = 15) -> Component | None:
    """The most anomalous rows, their scores, why they stand out, and their values (booleans as the file
    writes them)."""
    an = analysis.anomalies if analysis is not None else None
    top = an.top[:limit] if an is not None else []
    if an is None or not top:
        return None
    values = [jsonable(a.values) for a in top]
    value_keys: list[str] = []
    for row_values in values:
        for k in row_values:
            if k not in value_keys:
                value_keys.append(k)
    value_keys = value_keys[:6]
    written = file_labels(profile)
    values = [{k: _as_written(v, written.get(k)) for k, v in row_values.items()} for row_values in values]
    header = ["row", "score", "why it stands out", *value_keys]
    rows = [[_fmt(file_row(a.row_index)), _fmt(number(a.score)), "; ".join(a.reasons[:3]),
             *[_fmt(v) if isinstance(v, int | float) else text(v) for v in (row_values.get(k) for k in value_keys)]]
            for a, row_values in zip(top, values, strict=True)]
    note = (f"IsolationForest flagged {_fmt(an.flagged)} of {_fmt(an.rows_scored)} rows "
            f"(contamination {100 * (number(an.contamination) or 0):.1f}%). Rows are numbered as in the file: "
            "1 is its first row of data.")
    return Component(id="anomalies", title="Anomalies", template="table", section="model", width="full",
                     context={"header": header, "rows": rows}, note=note, refs=[an.chart_id, "anomalies"])


def leakage_table(analysis: AnalysisResult | None) -> Component | None:
    """Features that predict the target suspiciously well on their own."""
    found = analysis.leakage if analysis is not None else []
    if not found:
        return None
    rows = [[f.feature, f"{_metric_label(f.metric)} {_fmt(number(f.score))}",
             "left out of the model" if f.dropped else "kept", f.evidence] for f in found]
    return Component(id="leakage", title="Possible target leakage", template="table", section="model", width="full",
                     context={"header": ["feature", "alone scores", "decision", "evidence"], "rows": rows},
                     columns=[f.feature for f in found], refs=["leakage"])


def _p_adjusted_or_one(p: float) -> float:
    value = number(p)
    return value if value is not None else 1.0


def feature_tests_table(analysis: AnalysisResult | None, *, limit: int = 25) -> Component | None:
    """Statistical tests of each feature against the target, most significant first."""
    tests = sorted(analysis.feature_tests if analysis is not None else [], key=lambda t: _p_adjusted_or_one(t.p_adjusted))
    if not tests:
        return None
    rows = [[t.feature, t.test.replace("_", " "), _pvalue(number(t.p_adjusted)),
             f"{t.effect_size_name.replace('_', ' ')} {_fmt(number(t.effect_size))}",
             "yes" if t.significant else "no"] for t in tests[:limit]]
    return Component(id="tests", title="Feature tests against the target", template="table", section="model",
                     width="half", context={"header": ["feature", "test", "adjusted p", "effect size", "significant"],
                                            "rows": rows},
                     note="p-values adjusted for multiple tests (Benjamini-Hochberg).",
                     refs=[t.chart_id for t in tests if t.chart_id])


def _pvalue(p: float | None) -> str:
    if p is None:
        return "–"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def group_statistics(analysis: AnalysisResult | None, profile: Profile | None = None, *,
                     limit: int = 2) -> list[Component]:
    """Mean (± std) of a numeric measure in each group of a categorical column (a boolean's as the file writes
    them)."""
    out: list[Component] = []
    for g in analysis.descriptive[:limit] if analysis is not None else []:
        rows: list[dict[str, Any]] = [jsonable(r) for r in g.rows[:25]]
        if not rows:
            continue
        measure, group = g.measure, g.group_column
        written = file_labels(profile).get(group)
        trace = {"type": "bar", "x": [plot_text(_as_written(r.get("group"), written)) for r in rows], "y": [number(r.get("mean")) for r in rows],
                 "error_y": {"type": "data", "array": [number(r.get("std")) or 0 for r in rows], "thickness": 1},
                 "customdata": [r.get("count") for r in rows],
                 "hovertemplate": "%{x}: mean %{y:.4g} (%{customdata} rows)<extra></extra>"}
        out.append(Component(
            id=f"groups-{len(out)}", title=f"{measure} by {group}", template="chart", section="model", width="half",
            chart=_figure([trace], {"xaxis": {"title": {"text": plot_text(group)}, "type": "category"},
                                    "yaxis": {"title": {"text": plot_text(f"mean {measure}")}}}),
            note="Bars are means, whiskers one standard deviation.", columns=[measure, group],
            refs=[g.chart_id] if g.chart_id else []))
    return out


# ---------------------------------------------------------------- cleaning, insights, data


def _name_list(label: str, names: list[str], *, limit: int = 6) -> str:
    return f"{label}: {', '.join(names[:limit])}" + (f" and {len(names) - limit} more" if len(names) > limit else "")


def etl_lineage(etl: EtlReport | None) -> Component | None:
    """What the cleaning did, step by step: operation, columns, reason and rows before/after."""
    if etl is None or not etl.lineage:
        return None
    rows = []
    for step in etl.lineage:
        changes = [_name_list(label, names) for label, names in (
            ("added", step.columns_added), ("removed", step.columns_removed), ("changed", step.columns_modified))
            if names]
        before, after, cols = step.rows_before, step.rows_after, step.columns
        rows.append({
            "n": step.index + 1,
            "op": step.kind.replace("_", " "),
            "columns": ", ".join(cols[:8]) + (f" and {len(cols) - 8} more" if len(cols) > 8 else ""),
            "reason": step.reason,
            "origin": step.origin,
            "rows": f"{_fmt(before)} → {_fmt(after)}" if before != after else "",
            "changes": "; ".join(changes),
        })
    summary = {"before": _fmt(etl.rows_in), "after": _fmt(etl.rows_out),
               "cols_before": _fmt(len(etl.columns_in)), "cols_after": _fmt(len(etl.columns_out))}
    return Component(id="lineage", title="Cleaning steps (ETL lineage)", template="lineage", section="etl",
                     width="full", context={"steps": rows, "summary": summary, "warnings": list(etl.warnings)},
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
        column_card = next((c for c in cards if c.template == "column" and c.columns == [name]), None)
        if column_card:
            return column_card
    by_id = {c.id: c for c in cards}
    for key in (parts[0] if parts else "", kind):
        for needle, card_id in _KIND_TARGETS:
            if needle in key.lower() and card_id in by_id:
                return by_id[card_id]
    return None


def insights_list(analysis: AnalysisResult | None, profile: Profile | None, cards: list[Component]) -> Component | None:
    """Findings in plain language, best first, each linking to the card that shows it."""
    found = sorted(analysis.insights if analysis is not None else [], key=lambda i: (i.rank, -(number(i.score) or 0)))
    items: list[dict[str, Any]] = []
    for item in found:
        target = _link_target(item.chart_id, item.kind, cards)
        items.append({"text": item.statement, "kind": item.kind,
                      "target": target.id if target else None, "target_title": target.title if target else None})
    quality_card = next((c for c in cards if c.id == "quality"), None)
    for alert in profile.alerts if profile is not None else []:
        if alert.severity == "critical" and len(items) < 25:
            columns = alert.columns
            linked = _link_target("column:" + ":".join(columns), "quality", cards) if columns else None
            shown = linked or quality_card or cards[0]
            items.append({"text": alert.message, "kind": "data quality", "target": shown.id,
                          "target_title": shown.title})
    if not items:
        return None
    return Component(id="insights", title="What stands out", template="insights", section="insights", width="full",
                     context={"entries": items})


def data_preview(sample: DataSample) -> Component:
    """The filtered rows as a paged table, sortable by clicking a header."""
    return Component(id="preview", title="Data preview", template="preview", section="data", width="full")


# ---------------------------------------------------------------- validation

_VALIDATION_VERDICTS = {"failed": "failed validation", "warnings": "passed with warnings", "passed": "passed"}
_VALIDATION_SAMPLE = 5


def _rule_values(values: list[Any]) -> str:
    shown = []
    for value in values[:_VALIDATION_SAMPLE]:
        if isinstance(value, dict):
            shown.append(", ".join(f"{k}={'missing' if v is None else text(v)}" for k, v in value.items()))
        else:
            shown.append("missing" if value is None else text(value))
    return "; ".join(shown)


def validation_panel(profile: Profile | None) -> Component | None:
    """The user's validation rules: the verdict, each rule's failing rows and the first of them, as file lines."""
    summary = profile.validation if profile is not None else None
    if summary is None:
        return None
    rules = sorted(summary.rules, key=lambda r: (r.passed, r.severity != "error"))
    rows = [[r.name, r.severity, ", ".join(r.columns), f"{r.failed_count:,}" if r.failed_count else "0",
             _pct(r.failed_count, summary.rows_checked) if r.failed_count else "",
             ", ".join(f"{line:,}" for line in r.sample_lines[:_VALIDATION_SAMPLE]) if r.failed_count else "",
             _rule_values(r.sample_values) if r.failed_count else "all rows pass"]
            for r in rules]
    broken = summary.errors_failed + summary.warnings_failed
    note = (f"{summary.errors_failed} error rule(s) and {summary.warnings_failed} warning rule(s) broken, of "
            f"{summary.rules_checked} checked on {summary.rows_checked:,} rows. "
            if broken else f"All {summary.rules_checked} rule(s) pass on {summary.rows_checked:,} rows. ")
    note += ("The analysis still ran on every row; broken rules lower the quality score's validity."
             if broken else "")
    return Component(id="validation", title=f"Validation rules: {_VALIDATION_VERDICTS[summary.status]}",
                     template="table", section="overview", width="full",
                     context={"header": ["Rule", "Severity", "Columns", "Rows failing", "Share",
                                         "First file lines", "First values"], "rows": rows,
                              "status": summary.status, "errors_failed": summary.errors_failed,
                              "warnings_failed": summary.warnings_failed},
                     note=note.strip(), columns=sorted({c for r in summary.rules for c in r.columns}),
                     refs=["validation"])


__all__ += ["validation_panel"]
