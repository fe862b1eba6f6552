"""Deciding the task: which column to predict, and whether it is classification, regression or a series."""

from __future__ import annotations

import re

import polars as pl
from shared_contracts.analysis import TargetSource, TaskInfo, TaskType
from shared_contracts.events import AnalysisTask

from .columns import ColumnRoles
from .errors import AnalysisError
from .timeseries import numeric_time_kind, text_time_kind

__all__ = ["MIN_ROWS", "detect_task", "find_time_column", "forced_task", "with_class_labels"]

MIN_ROWS = 20
_MIN_FORECAST_STAMPS = 24
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
    # with no datetime column, the date parts found (``constructed``: a year and a quarter column) are the time
    derived = set(roles.derived) - set(roles.constructed)
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


def detect_task(frame: pl.DataFrame, roles: ColumnRoles, target: str | None, *,
                task: AnalysisTask = "auto") -> TaskInfo:
    """Decide the task for ``target`` (given, suggested from the data, or none).

    ``task`` other than ``auto`` is the user's choice and is final: it is checked against the data
    (:func:`forced_task`) instead of detected. Raises ``AnalysisError`` for a missing target column,
    a target with one class, too few rows, or a chosen task the data cannot support.
    """
    time_column = find_time_column(frame, roles)
    suggestions = _suggest_targets(frame, roles)
    if task != "auto":
        return forced_task(frame, roles, target, task=task, time_column=time_column, suggestions=suggestions)
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
    values = _target_values(frame, target)
    distinct = values.n_unique()
    dtype = values.dtype
    is_numeric = dtype.is_numeric() and dtype != pl.Boolean
    if is_numeric and (dtype.is_float() and not _all_integral(values) or distinct > _MAX_CLASSES):
        if _is_series(frame, time_column, [target]) and not _other_features(roles, target, time_column):
            task_type = "time_series"
            why = (f"{target!r} is numeric with one value per {time_column!r} timestamp and no other column "
                   "to learn from, so it is forecast")
        else:
            task_type = "regression"
            why = f"{target!r} is numeric with {distinct} distinct values"
            if time_column is not None:
                why += (f"; the other columns can explain it, so a model is trained, and its course over "
                        f"{time_column!r} is looked at beside the model")
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
        counted = values.cast(pl.String).rename("value").value_counts(sort=True)
        counts = {str(row[0]): int(row[1]) for row in counted.iter_rows()}
    prefix = "The target was given" if source == "given" else f"{target!r} is named like a target, so it was chosen"
    return TaskInfo(task_type=task_type, target=target, target_source=source, reason=f"{prefix}; {why}.",
                    suggested_targets=suggestions, class_counts=counts, time_column=time_column)


def forced_task(frame: pl.DataFrame, roles: ColumnRoles, target: str | None, *, task: AnalysisTask,
                time_column: str | None, suggestions: list[str]) -> TaskInfo:
    """The task the user chose, once the data is found to support it.

    Raises ``AnalysisError``: ``task_not_supported`` when the target (or the data) cannot serve the
    task, such as ``binary`` over three classes or ``forecast`` without a time column;
    ``target_required`` for a supervised task with no target given or named like one.
    """
    if task == "unsupervised":
        if target is not None:
            raise AnalysisError("task_not_supported",
                                f"the unsupervised task predicts nothing; leave the target {target!r} out")
        return TaskInfo(task_type="unsupervised", target=None, target_source="none",
                        reason="The unsupervised task was chosen, so nothing is predicted.",
                        suggested_targets=suggestions, time_column=time_column)
    if task == "forecast":
        return _forced_forecast(frame, target, time_column=time_column, suggestions=suggestions)
    source: TargetSource = "given"
    if target is None:
        named = [name for name in suggestions if _TARGET_NAME.match(name)]
        if not named:
            raise AnalysisError("target_required",
                                f"the {task} task needs a target column; name it"
                                + (f" (plausible: {', '.join(suggestions)})" if suggestions else ""))
        target, source = named[0], "suggested"
    values = _target_values(frame, target)
    distinct = values.n_unique()
    dtype = values.dtype
    task_type: TaskType
    if task == "regression":
        if not dtype.is_numeric() or dtype == pl.Boolean:
            raise AnalysisError("task_not_supported",
                                f"regression needs a numeric target; {target!r} holds {_kind(dtype)} values "
                                f"({distinct} distinct). Choose binary or multiclass, or cast it at upload")
        task_type, why = "regression", f"{target!r} is numeric with {distinct} distinct values"
    elif task == "binary":
        if distinct != 2:
            raise AnalysisError("task_not_supported",
                                f"binary classification needs exactly two classes; {target!r} has {distinct}"
                                + (f" ({_examples(values)})" if distinct <= _MAX_CLASSES else "")
                                + ". Choose multiclass" + (" or regression" if dtype.is_numeric() else ""))
        task_type, why = "binary", f"{target!r} has two classes"
    else:
        if distinct == 2:
            raise AnalysisError("task_not_supported",
                                f"{target!r} has two classes ({_examples(values)}); choose binary for it")
        if distinct > _MAX_CLASSES * 5 or values.len() / distinct < _MIN_ROWS_PER_CLASS:
            raise AnalysisError(
                "task_not_supported",
                f"multiclass classification needs at least {_MIN_ROWS_PER_CLASS} rows per class; {target!r} has "
                f"{distinct} distinct values over {values.len()} rows"
                + (". Choose regression" if dtype.is_numeric() and dtype != pl.Boolean else ""))
        task_type, why = "multiclass", f"{target!r} has {distinct} classes"
    counts: dict[str, int] = {}
    if task_type in ("binary", "multiclass"):
        counted = values.cast(pl.String).rename("value").value_counts(sort=True)
        counts = {str(row[0]): int(row[1]) for row in counted.iter_rows()}
    chosen = "given" if source == "given" else f"{target!r}, named like a target,"
    return TaskInfo(task_type=task_type, target=target, target_source=source,
                    reason=f"The {task} task was chosen and the target {chosen} fits it; {why}.",
                    suggested_targets=suggestions, class_counts=counts, time_column=time_column)


def with_class_labels(frame: pl.DataFrame, task: TaskInfo) -> pl.DataFrame:
    """``frame`` with a fractional numeric target of a classification task as text labels ("0.2", "1.3").

    Only a chosen task makes classes of such a column; the learners take them as labels, not as numbers.
    """
    target = task.target
    if task.task_type not in ("binary", "multiclass") or target is None or not frame[target].dtype.is_float():
        return frame
    if _all_integral(frame[target].drop_nulls()):
        return frame
    return frame.with_columns(pl.col(target).cast(pl.String))


def _forced_forecast(frame: pl.DataFrame, target: str | None, *, time_column: str | None,
                     suggestions: list[str]) -> TaskInfo:
    if time_column is None:
        raise AnalysisError("task_not_supported",
                            "forecasting needs a date or time column, and the data has none; type one as a date "
                            "at upload, or choose another task")
    stamps = frame[time_column].drop_nulls().n_unique()
    if stamps < _MIN_FORECAST_STAMPS:
        raise AnalysisError("task_not_supported",
                            f"forecasting needs at least {_MIN_FORECAST_STAMPS} distinct times; {time_column!r} "
                            f"has {stamps}")
    if target is None:
        return TaskInfo(task_type="time_series", target=None, target_source="none",
                        reason=f"The forecast task was chosen, so the measures are forecast over {time_column!r}.",
                        suggested_targets=suggestions, time_column=time_column)
    values = _target_values(frame, target)
    if not values.dtype.is_numeric() or values.dtype == pl.Boolean:
        raise AnalysisError("task_not_supported",
                            f"forecasting needs a numeric target; {target!r} holds {_kind(values.dtype)} values")
    return TaskInfo(task_type="time_series", target=target, target_source="given",
                    reason=f"The forecast task was chosen, so {target!r} is forecast over {time_column!r}.",
                    suggested_targets=suggestions, time_column=time_column)


def _target_values(frame: pl.DataFrame, target: str) -> pl.Series:
    """The target's non-missing values, once it is found to be a column one can predict."""
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
    if values.n_unique() < 2:
        raise AnalysisError(
            "single_class_target", f"every row has the same {target!r} ({values[0]!r}); there is nothing to predict"
        )
    if values.dtype.is_temporal():
        raise AnalysisError("unsupported_target", f"{target!r} holds dates or times; predicting them is not supported. "
                            "Pick a numeric or categorical column, or leave the target out to forecast the measures")
    return values


def _other_features(roles: ColumnRoles, target: str, time_column: str | None) -> list[str]:
    """Model features besides the target, the time column and the parts derived from either."""
    own = (target, time_column)
    return [name for name in roles.model_features
            if name not in own and name.split("__", 1)[0] not in own]


def _kind(dtype: pl.DataType) -> str:
    return "yes/no" if dtype == pl.Boolean else "text" if dtype in (pl.String, pl.Categorical) else str(dtype)


def _examples(values: pl.Series, limit: int = 5) -> str:
    shown = values.cast(pl.String).unique(maintain_order=True).head(limit).to_list()
    return ", ".join(shown) + (", ..." if values.n_unique() > limit else "")


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
