"""The ML analysis of one dataset, end to end, within a time budget."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import importlib.metadata
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import polars as pl
from shared_contracts.analysis import AnalysisResult, AutoMLBudget, Explanations, ModelMetadata, SamplingNote
from shared_contracts.cancel import Cancelled, CancelToken, never_cancelled
from shared_contracts.events import AnalysisTask
from shared_contracts.profile import Profile
from shared_contracts.progress import ProgressFn, no_progress
from threadpoolctl import threadpool_limits

from . import patterns, statistics
from .columns import (
    ColumnRoles,
    excluded_columns,
    file_sha256,
    identifier_warnings,
    infer_roles,
    overridden_text_columns,
    read_dataset,
)
from .errors import AnalysisError
from .insights import build_insights
from .leakage import find_leaky_features
from .task import MIN_ROWS, detect_task, with_class_labels
from .timeseries import (
    forecast_series,
    largest_series,
    period_column,
    regular_series,
    series_key,
    time_pattern,
)

if TYPE_CHECKING:
    from .automl import AutoMLRun

__all__ = ["AutoMLRows", "analyze", "automl_rows", "read_split"]

_ROW_ID = "__dsp_row_id"
_PATTERN_ROWS = 20_000
_MIN_AUTOML_ROWS = 30
_MAX_HOLDOUT_ROWS = 20_000
_MAX_FORECASTS = 2
_MAX_SERIES = 5
_MIN_AUTOML_S = 5.0
_RESERVE_SHARE = 0.15
_MIN_RESERVE_S = 3.0
_MAX_RESERVE_S = 25.0
_MULTITHREADED_STEPS = {"automl", "permutation importance", "partial dependence"}
_UNINTERRUPTIBLE_STEPS = {"loading AutoML"}
"""Steps a cancellation waits for: an import cut short may leave a package half-initialised for later jobs."""
T = TypeVar("T")


def _after_automl_reserve(time_budget_s: float) -> float:
    """Seconds kept after AutoML for permutation importance, SHAP, partial dependence and saving."""
    return min(_MAX_RESERVE_S, max(_MIN_RESERVE_S, _RESERVE_SHARE * time_budget_s))


def _automl_row_cap(time_budget_s: float) -> int:
    return int(min(250_000, max(5_000, 800 * time_budget_s)))


def analyze(
    data: Path,
    *,
    target: str | None = None,
    time_budget_s: float = 60.0,
    model_dir: Path | None = None,
    keep_leaky_features: bool = False,
    keep_columns: Sequence[str] = (),
    profile: Profile | None = None,
    progress: ProgressFn | None = None,
    random_state: int = 0,
    split: Path | pl.DataFrame | None = None,
    spent_before_s: float = 0.0,
    task: AnalysisTask = "auto",
    exclude_columns: Sequence[str] = (),
    id_columns: Sequence[str] = (),
    typed: Path | pl.DataFrame | None = None,
    cancel: CancelToken | None = None,
) -> AnalysisResult:
    """Analyse a dataset: task, statistics, patterns, forecasts, AutoML, explanations, insights.

    Two views of the data are kept apart: the model (leakage, AutoML, explanations) learns from
    the cleaned data, while the descriptive parts (statistics, distribution fits, associations,
    clusters, anomalies, time patterns, forecasts) describe the typed data as ingested, before
    outliers are capped, gaps filled and columns engineered.

    Parameters
    ----------
    data
        Cleaned Parquet (or CSV) file.
    target
        Column to predict. When omitted, a column named like a target (``target``, ``label``,
        ``class``...) is used and the choice explained; otherwise the analysis is unsupervised.
    time_budget_s
        Wall-clock budget for the whole analysis. Large data is sampled to fit it and the
        result says so in ``sampling``.
    model_dir
        Where to keep the trained model (with a manifest for ``load_model``); None keeps nothing.
    keep_leaky_features
        Keep features flagged as leaking the target in the model instead of leaving them out.
    keep_columns
        Columns to use as features even though they look like identifiers (typed ``identifier``
        by ingest, flagged ``ID_LIKE`` by the profile, row counters). Identifiers are otherwise
        left out of every model, and ``warnings`` says which and why.
    profile
        The dataset's Profile, whose semantic types (identifier, free text) refine column roles.
    progress
        Called with (fraction, message) as the analysis advances.
    random_state
        Seed for every sampled or randomised step, so that a rerun gives the same result.
    split
        ETL's ``split.parquet`` (or its frame): one row per row of ``data``, in the same order, with
        a boolean ``is_train``. When given, AutoML trains on the ``is_train`` rows only and scores the
        model on the others, the rows target-dependent ETL steps (target encoding) never saw,
        instead of drawing its own holdout.
    spent_before_s
        Seconds of ``time_budget_s`` the job already spent before the analysis (reading, profiling,
        cleaning), at most half of it: the analysis' deadline is what is left.
    task
        ``auto`` detects the task; ``binary``, ``multiclass``, ``regression``, ``forecast`` or
        ``unsupervised`` is the user's choice, checked against the data but never replaced.
    exclude_columns
        Columns left out of the whole analysis (with the columns cleaning derived from them).
    id_columns
        Columns that identify rows: never model features, whatever they look like.
    typed
        The typed data as ingested (ingest's Parquet, or its frame), which the descriptive parts
        describe on their own: its rows need not match ``data``'s. Column roles come from its own
        columns, so no column the ETL engineered appears there. None: they describe ``data``.
    cancel
        The job's cancellation token, checked between the parts of the analysis (statistics, patterns,
        time patterns and forecasts, leakage, AutoML, explanations, saving); each part runs inside
        ``cancel.interruptible()``, so a long fit stops at once. None is never cancelled.

    Returns
    -------
    AnalysisResult
        Everything found, with ranked insights. Parts that could not run are listed in ``warnings``.

    Raises
    ------
    AnalysisError
        ``target_not_found``, ``single_class_target``, ``too_many_classes``, ``too_few_rows``,
        ``unreadable_data``, ``split_mismatch``, ``task_not_supported``, ``target_required``.
    Cancelled
        When ``cancel`` is cancelled; ``step`` names the part it stopped in, and a ``model_dir`` this call
        created is removed (no half-written model is left).
    """
    started = time.monotonic()
    token = cancel or never_cancelled()
    # the budget is the job's: what the stages before the analysis took is already spent (at most half of it)
    spent_before_s = min(max(0.0, spent_before_s), 0.5 * time_budget_s)
    deadline = started + time_budget_s - spent_before_s
    report = progress or no_progress
    timings: dict[str, float] = {}
    warnings_out: list[str] = []

    def remaining() -> float:
        return deadline - time.monotonic()

    def step(name: str, fraction: float, func: Callable[[], T], default: T) -> T:
        token.check(name)
        report(fraction, name)
        begun = time.monotonic()
        try:
            with token.interruptible() if name not in _UNINTERRUPTIBLE_STEPS else contextlib.nullcontext():
                if name in _MULTITHREADED_STEPS:
                    return func()
                # OpenMP pools spin-wait; on a small shared machine one thread per step is far faster
                with threadpool_limits(limits=1):
                    return func()
        except Cancelled as exc:
            raise Cancelled(exc.step or name, token.reason) from exc
        except AnalysisError:
            raise
        except Exception as exc:  # noqa: BLE001 - one failing part reduces the analysis, never ends it
            if token.cancelled:  # the interruption broke the part: the job is cancelled, not reduced
                raise Cancelled(name, token.reason) from exc
            warnings_out.append(f"{name} was skipped: {type(exc).__name__}: {exc}")
            return default
        finally:
            timings[name] = round(time.monotonic() - begun, 3)

    token.check("reading data")
    report(0.0, "reading data")
    begun = time.monotonic()
    frame = read_dataset(data, keep_text=overridden_text_columns(profile))
    if frame.height < MIN_ROWS:
        raise AnalysisError("too_few_rows", f"the data has {frame.height} rows; at least {MIN_ROWS} are needed")
    is_train = read_split(split, rows=frame.height) if split is not None else None
    frame = frame.with_row_index(_ROW_ID)
    columns = frame.columns
    frame = frame.drop(excluded_columns(columns, exclude_columns, target=target))
    roles = infer_roles(frame, profile=profile, exclude=(_ROW_ID,), keep=tuple(keep_columns), ids=id_columns)
    task_info = detect_task(frame.drop(_ROW_ID), roles, target, task=task)
    target = task_info.target
    frame = with_class_labels(frame, task_info)
    warnings_out += identifier_warnings(roles, keep_columns=keep_columns, columns=columns, target=target,
                                        id_columns=id_columns, exclude_columns=exclude_columns)
    if target is not None:
        roles = _without(roles, target)
        frame = frame.filter(pl.col(target).is_not_null())
    if not roles.features and not roles.datetime:
        raise AnalysisError("no_usable_columns", "no column is numeric, categorical or a date: "
                            + "; ".join(f"{k}: {v}" for k, v in roles.ignored.items()))
    if target is not None and task_info.task_type != "time_series":
        # shap takes seconds to import; the statistics below leave a core free for it
        threading.Thread(target=_import_quietly, args=("shap",), name="dsp-ml-import", daemon=True).start()
    described, described_roles = _descriptive_view(typed, frame, roles, profile=profile, keep_columns=keep_columns,
                                                   exclude_columns=exclude_columns, id_columns=id_columns,
                                                   target=target, warnings_out=warnings_out)
    timings["reading data"] = round(time.monotonic() - begun, 3)
    token.check("statistics")
    sample = described if described.height <= _PATTERN_ROWS else described.sample(
        _PATTERN_ROWS, seed=random_state).sort(_ROW_ID)
    sampling = SamplingNote(total_rows=described.height, pattern_rows=sample.height)
    if sample.height < described.height:
        sampling.note = f"statistics, clusters and anomalies used {sample.height:,} sampled rows"
    result = AnalysisResult(task=task_info, sampling=sampling, row_count=frame.height, column_count=frame.width - 1)

    supervised = task_info.task_type in ("binary", "multiclass", "regression")
    classification = task_info.task_type in ("binary", "multiclass")
    result.descriptive = step("descriptive statistics", 0.05, lambda: statistics.describe_by_group(
        sample, described_roles, group_column=target if classification else None), [])
    if target is not None:
        result.feature_tests = step("feature tests", 0.08, lambda: statistics.test_features_against_target(
            sample, described_roles, target=target, task_type=task_info.task_type), [])
    result.distributions = step("distribution fits", 0.1, lambda: statistics.fit_distributions(
        sample, described_roles, random_state=random_state), [])
    result.associations = step("associations", 0.13, lambda: patterns.find_associations(sample, described_roles), [])
    result.clustering = step("clusters", 0.16, lambda: patterns.find_clusters(
        sample, described_roles, random_state=random_state), None)
    # an anomalous row is shown with its values; a constant or empty column says nothing of it
    blank = [name for name, why in described_roles.ignored.items() if why in ("constant", "all values are missing")]
    result.anomalies = step("anomalies", 0.2, lambda: patterns.find_anomalies(
        sample.drop(_ROW_ID, *blank), described_roles, row_ids=sample[_ROW_ID].to_numpy(),
        random_state=random_state), None)

    if task_info.time_column is not None:
        # forecasts are fitted on the data as ingested, before outliers are capped
        in_described = task_info.time_column in described.columns
        _time_section(result, described if in_described else frame, described_roles if in_described else roles,
                      target=target, supervised=supervised, step=step, remaining=remaining,
                      time_budget_s=time_budget_s, warnings_out=warnings_out)

    if supervised and target is not None:
        _supervised(result, frame, roles, target=target, remaining=remaining, step=step, deadline=deadline,
                    time_budget_s=time_budget_s, model_dir=model_dir, keep_leaky_features=keep_leaky_features,
                    data=data, random_state=random_state, warnings_out=warnings_out, is_train=is_train,
                    cancel=token)
    if result.automl is not None and result.automl.budget is not None:
        result.automl.budget.before_analysis_s = round(spent_before_s, 3)

    token.check("insights")
    report(0.97, "insights")
    result.identifiers, result.date_parts, result.weight = dict(roles.identifiers), dict(roles.constructed), roles.weight
    result.insights = build_insights(result)
    result.warnings = [*warnings_out, *result.warnings]
    timings.update(result.timings_s)
    timings["total"] = round(time.monotonic() - started, 3)
    if spent_before_s:
        timings["before the analysis"] = round(spent_before_s, 3)
    result.timings_s = timings
    report(1.0, "analysis done")
    return result


def _time_section(result: AnalysisResult, frame: pl.DataFrame, roles: ColumnRoles, *, target: str | None,
                  supervised: bool, step, remaining, time_budget_s: float, warnings_out: list[str]) -> None:
    """Trend, seasonality and change points of the main measures over time, and their forecasts.

    ``frame`` is whichever data the caller describes (the typed data as ingested, so that
    forecasts see the true peaks, not a cleaning step's caps). Beside a supervised task the time
    section is secondary: one measure, and a forecast only when the series shows a trend or a
    seasonal cycle. Long-format data (a time column plus a series key such as ``category``) gets
    one series per key value, the largest first, instead of one average over all of them.
    """
    time_column = result.task.time_column
    if time_column is None or time_column not in frame.columns:
        return
    if result.task.task_type == "time_series" and target or result.task.task_type == "regression" and target:
        measures = [target]
    else:
        parts = {time_column, period_column(frame, time_column)}
        measures = [name for name in _series_measures(frame, roles) if name not in parts]
    candidates = [*roles.categorical, *roles.identifiers]
    key = step("series key", 0.21, lambda: series_key(frame, time_column, candidates), None)
    measures = [name for name in measures if name != key]
    limit = 1 if supervised else _MAX_FORECASTS
    jobs: list[tuple[str, pl.DataFrame, tuple[str, str] | None]]
    if key is None:
        jobs = [(measure, frame, None) for measure in measures[:limit]]
    else:
        jobs = [(name, part, (key, value)) for name in measures[:1]
                for value, part in largest_series(frame, key, name, time_column, limit=1 if supervised else _MAX_SERIES)]
    # beside a model the forecasts leave it half the budget; alone they may use most of it
    reserve = 0.5 if supervised else 0.25
    for position, (measure, part, series_of) in enumerate(jobs):
        label = measure if series_of is None else f"{measure} ({series_of[0]} = {series_of[1]})"
        if position > 0 and remaining() < reserve * time_budget_s:
            warnings_out.append(f"the forecast of {label} was skipped to stay within the time budget")
            continue
        series = step(f"series of {label}", 0.22, lambda m=measure, p=part, s=series_of: regular_series(
            p, time_column, m, series=s), None)
        if series is None:
            continue
        pattern = step(f"time pattern of {label}", 0.24, lambda s=series: time_pattern(s), None)
        if pattern is None:
            continue
        result.time_patterns.append(pattern)
        if supervised and pattern.trend_direction == "flat" and pattern.seasonal_strength < 0.3:
            continue
        forecast = step(f"forecast of {label}", 0.27, lambda s=series: forecast_series(s), None)
        if forecast is not None:
            result.forecasts.append(forecast)


def _descriptive_view(typed: Path | pl.DataFrame | None, frame: pl.DataFrame, roles: ColumnRoles, *,
                      profile: Profile | None, keep_columns: Sequence[str], exclude_columns: Sequence[str],
                      id_columns: Sequence[str], target: str | None,
                      warnings_out: list[str]) -> tuple[pl.DataFrame, ColumnRoles]:
    """The rows and column roles the descriptive parts describe: the typed data as ingested when given.

    ``frame`` is the cleaned data (with its row index) and ``roles`` its roles, the fallback when
    there is no typed data or when it lacks the target. The typed rows are numbered by their own
    position, so anomalies name rows of the data as ingested.
    """
    if typed is None:
        return frame, roles
    described = read_dataset(typed, keep_text=overridden_text_columns(profile))
    described = described.drop(excluded_columns(described.columns, exclude_columns, target=target))
    if target is not None and target not in described.columns:
        warnings_out.append(f"the data as ingested has no column {target!r}; the statistics describe the cleaned data")
        return frame, roles
    described = described.with_row_index(_ROW_ID)
    described_roles = infer_roles(described, profile=profile, exclude=(_ROW_ID,), keep=tuple(keep_columns),
                                  ids=id_columns)
    if target is not None:
        described_roles = _without(described_roles, target)
        described = described.filter(pl.col(target).is_not_null())
    return described, described_roles


def _import_quietly(module: str) -> None:
    with contextlib.suppress(Exception):
        importlib.import_module(module)


def _without(roles: ColumnRoles, column: str) -> ColumnRoles:
    return dataclasses.replace(
        roles, numeric=[c for c in roles.numeric if c != column],
        categorical=[c for c in roles.categorical if c != column], datetime=[c for c in roles.datetime if c != column],
        derived=[c for c in roles.derived if c != column and not c.startswith(f"{column}__")],
        ignored=dict(roles.ignored))


def _series_measures(frame: pl.DataFrame, roles: ColumnRoles) -> list[str]:
    """Numeric measures worth forecasting, most variable (relative to their mean) first."""
    scored = []
    for name in roles.numeric:
        if name not in frame.columns:
            continue
        column = frame[name].cast(pl.Float64)
        mean, std = column.mean(), column.std()
        if not isinstance(mean, float) or not isinstance(std, float) or std == 0 or column.n_unique() < 10:
            continue
        scored.append((std / (abs(mean) + 1e-9), name))
    return [name for _, name in sorted(scored, reverse=True)]


def _supervised(result: AnalysisResult, frame: pl.DataFrame, roles: ColumnRoles, *, target: str, remaining,
                step, deadline: float, time_budget_s: float, model_dir: Path | None, keep_leaky_features: bool,
                data: Path, random_state: int, warnings_out: list[str], is_train: pl.Series | None,
                cancel: CancelToken) -> None:
    task_type = result.task.task_type
    result.leakage = step("leakage check", 0.3, lambda: find_leaky_features(
        frame, roles, target=target, task_type=task_type, drop=not keep_leaky_features,
        random_state=random_state), [])
    dropped = {finding.feature for finding in result.leakage if finding.dropped}
    features = [name for name in roles.model_features if name not in dropped]
    if not features:
        warnings_out.append("AutoML was skipped: no feature is left once leaky features are left out")
        return
    if frame.height < _MIN_AUTOML_ROWS:
        warnings_out.append(f"AutoML was skipped: {frame.height} rows are too few to train and evaluate a model")
        return
    rows = automl_rows(frame, target=target, task_type=task_type, cap=_automl_row_cap(time_budget_s),
                       random_state=random_state, is_train=is_train)
    if is_train is not None and rows.holdout is None:
        warnings_out.append("the ETL split leaves no holdout row with a target; AutoML drew its own holdout, "
                            "whose rows the target encoding has seen")
    training = rows.training
    offered = rows.offered
    sampling = result.sampling
    sampling.automl_rows = training.height
    sampling.stratified = rows.stratified
    if training.height < offered:
        automl_note = (f"AutoML used a {'stratified ' if rows.stratified else ''}random sample of "
                       f"{training.height:,} of {offered:,} {'training ' if rows.holdout is not None else ''}rows "
                       f"to fit the {time_budget_s:.0f} s budget")
        sampling.note = "; ".join(part for part in (automl_note, sampling.note) if part)

    model_rows = training if rows.holdout is None else pl.concat([training, rows.holdout])
    # a frequency table's count column (Freq) weights the fit: each row stands for that many cases
    weight = getattr(roles, "weight", None)
    weight = weight if weight in model_rows.columns and weight not in features and weight != target else None
    pandas_frame = model_rows.select([*features, target, _ROW_ID, *([weight] if weight else [])]).to_pandas()
    row_ids = pandas_frame.pop(_ROW_ID)
    sample_weight = pandas_frame.pop(weight) if weight else None
    is_holdout = None if rows.holdout is None else (row_ids.index >= training.height)
    with contextlib.ExitStack() as stack:
        if model_dir is None:
            base = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="dsp-ml-")))
        else:
            base = Path(model_dir)
            # a cancelled analysis leaves no model behind: the folder if this call made it, else what it wrote
            made = not base.exists()
            stack.callback(_remove_if_cancelled, cancel, base if made else base / "predictor")
            base.mkdir(parents=True, exist_ok=True)
        step("loading AutoML", 0.34, lambda: importlib.import_module("autogluon.tabular"), None)
        from .automl import train_automl

        # the budget is the whole analysis': AutoML gets what the steps before it left, less a reserve
        # for the explanations and the saving after it
        before = time_budget_s - remaining()
        reserve = _after_automl_reserve(time_budget_s)
        budget = max(_MIN_AUTOML_S, remaining() - reserve)
        automl_started = time.monotonic()
        run: AutoMLRun | None = step("automl", 0.35, lambda: train_automl(
            pandas_frame, target=target, task_type=task_type, features=features, time_limit_s=budget,
            path=base / "predictor", random_state=random_state, is_holdout=is_holdout,
            sample_weight=sample_weight, cancel=cancel), None)
        if run is None:
            return
        result.automl = run.report
        result.automl.budget = AutoMLBudget(
            total_s=float(time_budget_s), before_automl_s=round(before, 3), automl_s=round(budget, 3),
            baseline_s=run.report.budget.baseline_s if run.report.budget else 0.0,
            automl_spent_s=round(time.monotonic() - automl_started, 3), after_automl_s=round(reserve, 3))
        _explain(result, run, features=features, row_ids=row_ids, step=step, remaining=remaining,
                 deadline=deadline, random_state=random_state, task_type=task_type)
        if model_dir is not None:
            from .automl import keep_models

            # the saved model needs the best model and the one SHAP explains; the others only ranked
            shap_model = result.explanations.shap_model if result.explanations else None
            step("pruning models", 0.95, lambda: keep_models(run.predictor, [run.report.best_model, shap_model]),
                 None)
        metadata = ModelMetadata(
            model_dir=str(model_dir) if model_dir is not None else None, best_model=run.report.best_model,
            task_type=task_type, target=target, features=features,
            training_data_sha256=file_sha256(Path(data)) if isinstance(data, str | Path) else "",
            metrics=run.report.metrics,
            config={"time_budget_s": time_budget_s, "automl_time_limit_s": budget, "random_state": random_state,
                    "automl_rows": training.height, "holdout_rows": run.report.holdout_rows,
                    "holdout": "random" if rows.holdout is None else "etl_split",
                    "keep_leaky_features": keep_leaky_features, "dropped_features": sorted(dropped),
                    "excluded_identifiers": sorted(roles.identifiers), "kept_columns": list(roles.kept),
                    "eval_metric": run.report.eval_metric, "models": "LightGBM baseline, then fast families",
                    "families": run.report.families, "sample_weight": weight},
            library_versions=dict(_versions()),
        )
        if model_dir is not None:
            from .registry import write_manifest, write_metadata

            cancel.check("saving model")
            begun = time.monotonic()
            write_metadata(base, metadata, explainer_model=result.explanations.shap_model
                           if result.explanations else None)
            metadata.manifest_sha256 = write_manifest(base)
            result.timings_s["saving model"] = round(time.monotonic() - begun, 3)
        result.model = metadata


def _remove_if_cancelled(cancel: CancelToken, folder: Path) -> None:
    if cancel.cancelled:
        shutil.rmtree(folder, ignore_errors=True)


def read_split(split: Path | pl.DataFrame, *, rows: int) -> pl.Series:
    """The ``is_train`` flag of every row of the cleaned data, from ETL's ``split.parquet``.

    The split describes the cleaned rows by position: its row ``k`` is the cleaned row ``k``
    (``source_row`` says which input row that was). A split of another length belongs to other
    data and is refused.
    """
    if isinstance(split, pl.DataFrame):
        frame = split
    else:
        try:
            frame = pl.read_parquet(split)
        except Exception as exc:  # noqa: BLE001 - any reader failure is a bad file, not a crash
            raise AnalysisError("split_mismatch", f"could not read the train/holdout split: {exc}") from exc
    if "is_train" not in frame.columns or frame.schema["is_train"] != pl.Boolean:
        raise AnalysisError("split_mismatch", "the train/holdout split has no boolean is_train column")
    if frame.height != rows:
        raise AnalysisError("split_mismatch", f"the train/holdout split describes {frame.height} rows but the data "
                            f"has {rows}; it belongs to other data")
    flags = frame["is_train"]
    if flags.null_count():
        raise AnalysisError("split_mismatch", "the train/holdout split leaves some rows unassigned")
    return flags


@dataclass(frozen=True)
class AutoMLRows:
    """The rows AutoML trains on and, when a split was given, the rows it is scored on."""

    training: pl.DataFrame
    holdout: pl.DataFrame | None
    """None: AutoML draws its own holdout from ``training``."""
    stratified: bool
    offered: int
    """Rows ``training`` was sampled from."""


def automl_rows(frame: pl.DataFrame, *, target: str, task_type: str, cap: int, random_state: int,
                is_train: pl.Series | None = None, max_holdout_rows: int = _MAX_HOLDOUT_ROWS) -> AutoMLRows:
    """Choose AutoML's rows: a sample of at most ``cap`` to train on and, with a split, the holdout.

    ``frame`` carries the row position ``__dsp_row_id`` in the cleaned data; ``is_train`` (from
    :func:`read_split`) is indexed by that position. With a split only its training rows are
    sampled for training and only its holdout rows (at most ``max_holdout_rows`` of them) are
    scored; without one, or when the split leaves no holdout row, the holdout is left to AutoML.
    """
    if is_train is not None:
        train_part = frame.filter(is_train.gather(frame[_ROW_ID]))
        holdout = frame.filter(~is_train.gather(frame[_ROW_ID]))
        if holdout.height and train_part.height:
            if holdout.height > max_holdout_rows:
                holdout = holdout.sample(max_holdout_rows, seed=random_state).sort(_ROW_ID)
            training, stratified = _sample_for_automl(train_part, target, task_type, cap, random_state)
            return AutoMLRows(training, holdout, stratified, train_part.height)
    training, stratified = _sample_for_automl(frame, target, task_type, cap, random_state)
    return AutoMLRows(training, None, stratified, frame.height)


def _sample_for_automl(frame: pl.DataFrame, target: str, task_type: str, cap: int,
                       random_state: int) -> tuple[pl.DataFrame, bool]:
    if frame.height <= cap:
        return frame, False
    if task_type in ("binary", "multiclass"):
        counts = frame[target].rename("value").value_counts()
        smallest = counts["count"].min()
        if isinstance(smallest, int) and smallest >= 2:
            fraction = cap / frame.height
            parts = [
                part.sample(max(1, round(part.height * fraction)), seed=random_state)
                for part in frame.partition_by(target, maintain_order=True)
            ]
            return pl.concat(parts).sort(_ROW_ID), True
    return frame.sample(cap, seed=random_state).sort(_ROW_ID), False


def _explain(result: AnalysisResult, run: AutoMLRun, *, features: list[str], row_ids, step, remaining,
             deadline: float, random_state: int, task_type: str) -> None:
    from . import explain

    explanations = Explanations()
    holdout = run.holdout
    # permutation importance and partial dependence read the best model; SHAP the best it can
    explanations.permutation_importance = step("permutation importance", 0.75, lambda: explain.permutation_importance(
        run.predictor, holdout, time_limit_s=max(1.0, min(remaining() * 0.45, 30.0))), [])
    choice = explain.shap_choice(run.predictor, run.report.leaderboard, features=features)
    explainer = choice.explainer
    if explainer is not None:
        # an ensemble is explained member by member: fewer rows keep it within the reserve
        shown = holdout.head(min(len(holdout), 200 if isinstance(explainer, explain.EnsembleExplainer) else 500))
        sample_rows = shown.head(5)
        ids = [int(row_ids.loc[index]) for index in sample_rows.index]

        def shap_part():
            with explain.quiet_autogluon():
                predicted = list(run.predictor.predict(sample_rows, model=explainer.model_name))
            summary, _ = explain.explain_rows(explainer, shown, row_ids=list(range(len(shown))),
                                              predictions=[None] * len(shown))
            _, rows = explain.explain_rows(explainer, sample_rows, row_ids=ids, predictions=predicted)
            return summary, rows

        shap_result = step("shap", 0.85, shap_part, None)
        if shap_result is not None:
            explanations.shap_global, explanations.shap_rows = shap_result
            explanations.shap_model = explainer.model_name
            explanations.shap_output = explainer.output
            explanations.shap_explains_best = explainer.model_name == run.report.best_model
            explanations.shap_note = choice.note
            for entry in run.report.leaderboard:
                entry.shap_explained = entry.model == explainer.model_name
    else:
        result.warnings.append(f"SHAP was skipped: {choice.note}")
    ranking = explanations.permutation_importance or explanations.shap_global
    top = [item.feature for item in ranking if item.feature in features][:3]
    if top:
        explanations.partial_dependence = step("partial dependence", 0.92, lambda: explain.partial_dependence(
            run.predictor, run.train, features=top, deadline=deadline, task_type=task_type,
            positive_class=run.positive_class, random_state=random_state), [])
    result.explanations = explanations


@functools.cache
def _versions() -> dict[str, str]:
    """The versions of the libraries an analysis runs on (read once a process: about 0.1 s of metadata scans)."""
    out = {}
    for package in ("autogluon.tabular", "scikit-learn", "lightgbm", "xgboost", "catboost", "shap", "statsforecast",
                    "polars", "numpy"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            out[package] = importlib.metadata.version(package)
    return out


