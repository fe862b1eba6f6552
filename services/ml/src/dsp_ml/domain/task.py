"""Deciding the task: which column to predict, and whether it is classification, regression or a series."""

from __future__ import annotations

import re

import polars as pl
from shared_contracts.analysis import TargetSource, TaskInfo, TaskType

from .columns import ColumnRoles
from .errors import AnalysisError
from .timeseries import numeric_time_kind, text_time_kind

__all__ = ["MIN_ROWS", "detect_task", "find_time_column"]

MIN_ROWS = 20
_MAX_CLASSES = 20
_MIN_ROWS_PER_CLASS = 5
_TARGET_NAME = re.compile(
    r"^(target|label|labels|class|y|outcome|churn|churned|survived|species|diagnosis|is_fraud|fraud|default)$",
    re.IGNORECASE,
)


def find_time_column(frame: pl.DataFrame, roles: ColumnRoles) -> str | None:
    """The datetime column with the most distinct values; failing one, a numeric column that holds time.

    Numeric time is what R ``ts`` exports and some tools write: decimal years (1949.0833 for
    February 1949), whole years in a column named like a time, and YYYYMMDD integers
    (see :func:`~dsp_ml.domain.timeseries.numeric_time_kind`); R's tsibble writes periods as
    text (``1939 Jan``, ``1998 Q1``, ``1991 W06``). Such a column may be typed a measure, a
    category or an identifier (unique and sorted), so every numeric and text column is looked at.
    """
    best, best_distinct = None, 1
    for name in roles.datetime:
        distinct = frame[name].n_unique()
        if distinct > best_distinct:
            best, best_distinct = name, distinct
    return best if best is not None else _numeric_time_column(frame, roles)


def _numeric_time_column(frame: pl.DataFrame, roles: ColumnRoles) -> str | None:
    derived = set(roles.derived)
    best, best_distinct = None, 1
    for name, dtype in frame.schema.items():
        if name in derived:
            continue
        if dtype in (pl.String, pl.Categorical):
            if text_time_kind(frame[name]) is None:
                continue
        elif not dtype.is_numeric() or numeric_time_kind(frame[name]) is None:
            continue
        distinct = frame[name].n_unique()
        if distinct > best_distinct:
            best, best_distinct = name, distinct
    return best


def detect_task(frame: pl.DataFrame, roles: ColumnRoles, target: str | None) -> TaskInfo:
    """Decide the task for ``target`` (given, suggested from the data, or none).

    Raises ``AnalysisError`` for a missing target column, a target with one class,
    or too few rows.
    """
    time_column = find_time_column(frame, roles)
    suggestions = _suggest_targets(frame, roles)
    task_type: TaskType
    source: TargetSource
    if target is None:
        named = [name for name in suggestions if _TARGET_NAME.match(name)]
        if not named:
            task_type = "time_series" if _is_series(frame, time_column, roles.numeric) else "unsupervised"
            reason = (
                "No target was given and no column is named like one, so the analysis is unsupervised"
                + (f"; the data is a series over {time_column}, so its measures are forecast" if task_type == "time_series" else "")
                + "."
            )
            return TaskInfo(task_type=task_type, target=None, target_source="none", reason=reason,
                            suggested_targets=suggestions, time_column=time_column)
        target, source = named[0], "suggested"
    else:
        source = "given"
        if target not in frame.columns:
            raise AnalysisError(
                "target_not_found",
                f"the target column {target!r} is not in the data; columns are: {', '.join(frame.columns[:30])}",
            )
    values = frame[target].drop_nulls()
    if values.len() < MIN_ROWS:
        raise AnalysisError(
            "too_few_rows", f"only {values.len()} rows have a value for {target!r}; at least {MIN_ROWS} are needed"
        )
    distinct = values.n_unique()
    if distinct < 2:
        raise AnalysisError(
            "single_class_target", f"every row has the same {target!r} ({values[0]!r}); there is nothing to predict"
        )
    dtype = values.dtype
    if dtype.is_temporal():
        raise AnalysisError("unsupported_target", f"{target!r} holds dates or times; predicting them is not supported. "
                            "Pick a numeric or categorical column, or leave the target out to forecast the measures")
    is_numeric = dtype.is_numeric() and dtype != pl.Boolean
    if is_numeric and (dtype.is_float() and not _all_integral(values) or distinct > _MAX_CLASSES):
        if _is_series(frame, time_column, [target]):
            task_type = "time_series"
            why = f"{target!r} is numeric with one value per {time_column!r} timestamp, so it is forecast"
        else:
            task_type = "regression"
            why = f"{target!r} is numeric with {distinct} distinct values"
    elif distinct == 2:
        task_type, why = "binary", f"{target!r} has two classes"
    elif distinct > _MAX_CLASSES * 5 or values.len() / distinct < _MIN_ROWS_PER_CLASS:
        raise AnalysisError(
            "too_many_classes",
            f"{target!r} has {distinct} distinct values over {values.len()} rows, too few rows per class "
            "to learn from; it cannot be a classification target",
        )
    else:
        task_type, why = "multiclass", f"{target!r} has {distinct} classes"
    counts: dict[str, int] = {}
    if task_type in ("binary", "multiclass"):
        counted = values.cast(pl.String).value_counts(sort=True)
        counts = {str(row[0]): int(row[1]) for row in counted.iter_rows()}
    prefix = "The target was given" if source == "given" else f"{target!r} is named like a target, so it was chosen"
    return TaskInfo(task_type=task_type, target=target, target_source=source, reason=f"{prefix}; {why}.",
                    suggested_targets=suggestions, class_counts=counts, time_column=time_column)


def _all_integral(values: pl.Series) -> bool:
    return bool((values.cast(pl.Float64) % 1 == 0).all())


def _is_series(frame: pl.DataFrame, time_column: str | None, measures: list[str]) -> bool:
    if time_column is None or not measures:
        return False
    stamps = frame[time_column].drop_nulls()
    return stamps.len() >= 24 and stamps.n_unique() >= 0.95 * frame.height


def _suggest_targets(frame: pl.DataFrame, roles: ColumnRoles) -> list[str]:
    ranked: list[tuple[int, str]] = []
    for position, name in enumerate(frame.columns):
        if name not in roles.features:
            continue
        score = 0
        if _TARGET_NAME.match(name):
            score += 100
        if name in roles.categorical and frame[name].n_unique() <= 10:
            score += 10
        if position == frame.width - 1:
            score += 5
        if score:
            ranked.append((score, name))
    return [name for _, name in sorted(ranked, key=lambda item: -item[0])][:5]
