"""Assembling the dashboard: choose components from the results, render one HTML file."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl
from shared_contracts.analysis import AnalysisResult
from shared_contracts.cancel import CancelToken, never_cancelled
from shared_contracts.etl import EtlReport
from shared_contracts.profile import Profile

from . import components as comp
from . import lineage
from .data import DataSample, column_changes, load_sample, read_columns
from .inputs import as_model, text
from .page import (
    COLORWAY,
    MAX_HTML_BYTES,
    Section,
    Theme,
    asset,
    embed_json,
    filter_columns,
    finite_json,
    render_page,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

    from shared_contracts.progress import ProgressFn

__all__ = ["MAX_HTML_BYTES", "Theme", "build_dashboard", "build_zip", "embed_json"]

MAX_COLUMNS = 60
"""Most dataset columns the page carries (the target and the most important features first)."""

_SECTIONS: list[tuple[str, str, str | None]] = [
    ("overview", "Overview", None),
    ("insights", "Insights", None),
    ("model", "Model results", "Computed by the analysis on the whole dataset; the filters do not change them."),
    ("relations", "Relations", "Drawn from the embedded rows; every chart here follows the filters."),
    ("columns", "Columns", "Charts follow the filters; the statistics under them do not."),
    ("etl", "Cleaning", None),
    ("data", "Data", "The rows that pass the filters. Click a header to sort."),
]



def _semantic_types(profile: Profile | None) -> dict[str, str]:
    return {c.name: c.semantic_type for c in profile.columns} if profile is not None else {}


def _distinct_counts(profile: Profile | None) -> dict[str, int]:
    return {c.name: c.distinct for c in profile.columns} if profile is not None else {}


def _priority_columns(analysis: AnalysisResult | None) -> list[str]:
    named = [c for c in (analysis.task.target, analysis.task.time_column) if c] if analysis is not None else []
    return named + comp.importance_ranking(analysis)


def _sample_note(sample: DataSample, *, whole_stats: bool, as_ingested: bool = False) -> str:
    columns = ""
    if len(sample.columns) < sample.total_columns:
        columns = f" The page carries {len(sample.columns)} of the {sample.total_columns:,} columns."
    if as_ingested:
        columns += (" The page shows the data as ingested; the model results come from the cleaned data, "
                    "which the Cleaning section compares with it.")
    if sample.sampled:
        stats = ("column statistics and model results use every row" if whole_stats
                 else "column statistics are estimated from the same sample")
        return (f"Charts, filters and the data preview use a uniform random sample of {sample.rows:,} of the "
                f"{sample.total_rows:,} rows, embedded in this file; {stats}.{columns}")
    return f"All {sample.total_rows:,} rows are embedded in this file; charts, filters and the preview use them all.{columns}"


def _shap_feature_values(frame: pl.DataFrame, analysis: AnalysisResult | None) -> dict[str, dict[int, Any]]:
    rows = comp.shap_rows(analysis)
    indices = sorted({r.row_index for r in rows if 0 <= r.row_index < frame.height})
    if not indices:
        return {}
    features = {f for r in rows for f in r.contributions} & set(frame.columns)
    numeric = [f for f in features if frame.schema[f].is_numeric() or frame.schema[f] == pl.Boolean]
    if not numeric:
        return {}
    picked = frame.select(numeric)[indices]
    return {f: dict(zip(indices, picked.get_column(f).cast(pl.Float64).to_list(), strict=True)) for f in numeric}


def _choose_components(sample: DataSample, frame: pl.DataFrame, profile: Profile | None, etl: EtlReport | None,
                       analysis: AnalysisResult | None, changes: list[comp.Component] | None = None
                       ) -> list[comp.Component]:
    chosen: list[comp.Component | None] = [
        comp.kpi_cards(sample, profile, analysis),
        comp.quality_panel(profile),
        comp.validation_panel(profile),
        comp.reading_table(profile),
        comp.task_summary(analysis),
        comp.leaderboard(analysis),
        comp.confusion_matrix(analysis, profile),
        comp.feature_importance(analysis),
        comp.shap_summary(analysis, _shap_feature_values(frame, analysis)),
        comp.shap_waterfall(analysis),
        *comp.partial_dependence(analysis),
        comp.leakage_table(analysis),
        comp.feature_tests_table(analysis),
        *comp.group_statistics(analysis, profile),
        *comp.forecast_charts(analysis),
        comp.cluster_view(analysis),
        comp.anomalies_table(analysis, profile),
        comp.time_series(sample, analysis),
        comp.correlation_heatmap(sample),
        comp.missingness_matrix(sample),
        *comp.association_charts(sample, profile, analysis),
        *comp.column_cards(sample, profile, analysis),
        comp.etl_lineage(etl),
        *(changes or []),
        comp.data_preview(sample),
    ]
    cards = [c for c in chosen if c is not None]
    insights = comp.insights_list(analysis, profile, cards)
    if insights is not None:
        cards.append(insights)
    return cards


def _render(sample: DataSample, cards: list[comp.Component], *, title: str, theme: Theme, whole_stats: bool,
            as_ingested: bool = False) -> str:
    sections = [
        Section(key, name, note, [c for c in cards if c.section == key])
        for key, name, note in _SECTIONS
    ]
    sections = [s for s in sections if s.components]
    payload = {
        "data": sample.to_json(),
        "charts": {c.id: finite_json(c.chart) for c in cards if c.chart is not None},
        "filters": filter_columns(sample),
        "colorway": COLORWAY,
    }
    return render_page(title=title, theme=theme, payload=payload, sections=sections,
                       sample_note=_sample_note(sample, whole_stats=whole_stats, as_ingested=as_ingested))


def build_dashboard(
    *,
    data: Path | str | pl.DataFrame,
    typed_data: Path | str | pl.DataFrame | None = None,
    profile: Profile | Mapping[str, Any] | None,
    etl_report: EtlReport | Mapping[str, Any] | None = None,
    analysis: AnalysisResult | Mapping[str, Any] | None = None,
    title: str = "Dataset analysis",
    theme: Theme = "light",
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> str:
    """Build the self-contained interactive HTML dashboard of a dataset and its results.

    Parameters
    ----------
    data
        The dataset as a Parquet file (the cleaned one when there is an ETL report),
        or a Polars DataFrame already in memory. The model's explanations read it.
    typed_data
        The typed data as ingested (ingest's Parquet, or its frame), before any cleaning: the
        embedded sample, so the filters, column cards, relations and data preview, come from it,
        and the lineage draws each column the cleaning changed from it and from ``data``. None:
        they come from ``data``, less the columns the cleaning added.
    profile
        The ``Profile`` of the dataset (or its JSON as a dict, validated into one); ``None``
        shows what the data alone supports, with statistics computed here.
    etl_report
        The ``EtlReport`` whose lineage the page lists, if cleaning ran (or its JSON as a dict).
    analysis
        The ``AnalysisResult`` (leaderboard, importance, SHAP, forecast, clusters,
        anomalies, insights), or its JSON as a dict, if the analysis ran.
    title
        Title of the page.
    theme
        Initial colour theme; the page has a switch for the other one.
    progress
        Called with ``(fraction, message)`` as the build advances.
    cancel
        The job's cancellation token, checked between the sections of the build; None is never cancelled.

    Returns
    -------
    str
        The whole HTML document: one file with plotly.js and the data inlined,
        no external request, at most ``MAX_HTML_BYTES`` bytes in UTF-8.

    Raises
    ------
    pydantic.ValidationError
        A document given as a dict is not a valid ``Profile``, ``EtlReport`` or ``AnalysisResult``.
    Cancelled
        When ``cancel`` is cancelled; ``step`` names the section it stopped before.
    """
    token = cancel or never_cancelled()

    def report(fraction: float, message: str) -> None:
        token.check(message)  # every section starts with its report
        if progress is not None:
            progress(fraction, message)

    report(0.0, "reading results")
    profile_doc = as_model(Profile, profile)
    etl_doc = as_model(EtlReport, etl_report)
    analysis_doc = as_model(AnalysisResult, analysis)
    max_cells = 250_000
    report(0.1, "sampling the dataset")
    priority = _priority_columns(analysis_doc)
    cleaned = data if isinstance(data, pl.DataFrame) else Path(data)
    frame, _ = read_columns(cleaned, max_columns=MAX_COLUMNS, priority_columns=priority)
    # the page describes the data as ingested; what the cleaning added shows only in the lineage and the model
    typed = typed_data if typed_data is None or isinstance(typed_data, pl.DataFrame) else Path(typed_data)
    described, total_columns = read_columns(typed if typed is not None else cleaned, max_columns=MAX_COLUMNS,
                                            priority_columns=priority, exclude=lineage.engineered_columns(etl_doc))
    changes: list[comp.Component] = []
    if typed is not None:
        report(0.3, "comparing the data before and after cleaning")
        changed = lineage.changed_columns(etl_doc, priority=priority)
        changes = lineage.before_after_charts(column_changes(
            _read(typed, list(changed)), _read(cleaned, list(changed)), changed))
    for _attempt in range(6):
        sample = load_sample(described, max_cells=max_cells, max_columns=MAX_COLUMNS, total_columns=total_columns,
                             semantic_types=_semantic_types(profile_doc), distinct_counts=_distinct_counts(profile_doc),
                             priority_columns=priority)
        report(0.5, "choosing charts")
        cards = _choose_components(sample, frame, profile_doc, etl_doc, analysis_doc, changes)
        report(0.7, "rendering HTML")
        whole_stats = bool(profile_doc is not None and profile_doc.columns) or sample.stats_on_all_rows
        html = _render(sample, cards, title=text(title, "Dataset analysis"), theme=theme, whole_stats=whole_stats,
                       as_ingested=typed is not None and etl_doc is not None)
        if len(html.encode("utf-8")) <= MAX_HTML_BYTES:
            break
        max_cells //= 2
    else:  # pragma: no cover - the sample shrinks below any realistic payload first
        raise ValueError("dashboard exceeds the size cap even with a minimal sample")
    report(1.0, "dashboard built")
    return html


def _read(data: Path | pl.DataFrame, columns: list[str]) -> pl.DataFrame:
    """The named columns of a Parquet file or frame that has them."""
    names = data.columns if isinstance(data, pl.DataFrame) else list(pl.read_parquet_schema(data))
    present = [c for c in columns if c in names]
    return data.select(present) if isinstance(data, pl.DataFrame) else pl.read_parquet(data, columns=present)


def build_zip(html: str) -> bytes:
    """A zip of the static dashboard: ``index.html`` and the notice of the bundled library.

    Parameters
    ----------
    html
        A document returned by :func:`build_dashboard`.

    Returns
    -------
    bytes
        The zip archive.
    """
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("index.html", html)
        archive.writestr("THIRD_PARTY_NOTICES.txt", asset("PLOTLY_LICENSE.txt"))
    return buffer.getvalue()
