"""Fitting a plan on data, and replaying the fitted pipeline on new rows.

Fitting walks the steps in order. Steps whose fits are independent (none reads a column an
earlier step of the group writes, and no row filter sits between them) are fitted together in
one pass over the data, so a plan of forty steps costs a handful of passes, not forty.
The same passes gather the before/after statistics of the lineage report.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

import polars as pl
from shared_contracts.cancel import CancelToken, never_cancelled
from shared_contracts.etl import ColumnStats, EtlPlan, EtlStep, FittedPipeline, FittedStep, StepLineage
from shared_contracts.progress import ProgressFn

from .plugins import PluginError, TransformPlugin, check_state, discover_plugins
from .steps import STEP_IMPLS, Aggregations, ApplyContext, StepImpl, select_per_key

__all__ = ["RowMode", "apply_pipeline", "fit_pipeline"]

RowMode = Literal["keep", "filter"]
"""keep: one output row per input row (prediction); filter: also drop the rows the plan drops."""

_ADD_ONLY = {"missing_indicator", "text_features", "bin", "interaction"}


def _schema(lf: pl.LazyFrame) -> dict[str, pl.DataType]:
    return dict(lf.collect_schema().items())


def _dtype_name(dtype: pl.DataType) -> str:
    return str(dtype)


_SIMPLE_DTYPES: dict[str, pl.DataType] = {
    name: getattr(pl, name)()
    for name in (
        "Int8", "Int16", "Int32", "Int64", "UInt8", "UInt16", "UInt32", "UInt64", "Float32", "Float64",
        "String", "Boolean", "Date", "Time", "Null", "Categorical",
    )
}


def dtype_from_name(name: str) -> pl.DataType | None:
    """The polars dtype written as ``name`` by :func:`str`, or None when unknown."""
    if name in _SIMPLE_DTYPES:
        return _SIMPLE_DTYPES[name]
    m = re.fullmatch(r"Datetime\(time_unit='(\w+)', time_zone=(?:'([^']*)'|None)\)", name)
    if m:
        return pl.Datetime(m.group(1), m.group(2))  # type: ignore[arg-type]
    m = re.fullmatch(r"Duration\(time_unit='(\w+)'\)", name)
    if m:
        return pl.Duration(m.group(1))  # type: ignore[arg-type]
    return None


def _is_row_filter(step: EtlStep, impl: StepImpl | None) -> bool:
    if impl is None:
        return False
    if step.kind == "outliers":
        return step.params.get("action") == "remove"
    return impl.row_filter


def _target_dependent(step: EtlStep) -> bool:
    """Whether the step's fit may learn from the target (target encoding; plugins, which see it)."""
    return step.kind == "plugin" or (step.kind == "encode" and step.params.get("method") == "target")


def _split_point(plan: EtlPlan) -> int:
    """Index of the first step fitted on the training rows only.

    Steps before it see every row: the deduplications (which compare a row with the rows before
    it, whatever their split) and what precedes them, as long as no target-dependent step does.
    A row that repeats a training row is then dropped before any fit sees the copy, so that no
    held-back row has a twin the target encoding learned from.
    """
    first_target = next((i for i, s in enumerate(plan.steps) if _target_dependent(s)), len(plan.steps))
    shared = [i for i, s in enumerate(plan.steps[:first_target])
              if s.kind in STEP_IMPLS and not STEP_IMPLS[s.kind].row_local]
    return shared[-1] + 1 if shared else 0


def _modifies_in_place(step: EtlStep) -> bool:
    if step.kind in _ADD_ONLY:
        return False
    if step.kind == "date_parts":
        return bool(step.params.get("drop_source"))
    if step.kind == "outliers":
        return step.params.get("action") != "flag"
    return True


class _PluginBox:
    """Plugins, loaded once per fit or apply and only when the plan has plugin steps."""

    def __init__(self, plugins_dir: str | None) -> None:
        self.plugins_dir = plugins_dir
        self._classes: dict[str, type[TransformPlugin]] | None = None

    def get(self, step: EtlStep) -> TransformPlugin:
        name = step.params.get("plugin")
        if not name:
            raise PluginError("?", "a plugin step needs params.plugin")
        if self._classes is None:
            self._classes = discover_plugins(self.plugins_dir)
        cls = self._classes.get(name)
        if cls is None:
            known = ", ".join(sorted(self._classes)) or "none"
            raise PluginError(name, f"no such plugin (available: {known})")
        return cls(step.params.get("config") or {})


def _apply_step(
    step: EtlStep, state: dict[str, Any], lf: pl.LazyFrame, ctx: ApplyContext, plugins: _PluginBox
) -> pl.LazyFrame:
    if step.kind == "plugin":
        plugin = plugins.get(step)
        try:
            out = plugin.transform(lf, [c for c in step.columns if ctx.has(c)], state)
        except PluginError:
            raise
        except Exception as exc:
            raise PluginError(plugin.name, f"transform() failed: {type(exc).__name__}: {exc}") from exc
        if not isinstance(out, pl.LazyFrame):
            raise PluginError(plugin.name, f"transform() must return a polars LazyFrame, not {type(out).__name__}")
        return out
    return STEP_IMPLS[step.kind].apply(step, state, lf, ctx)


# --- statistics for lineage --------------------------------------------------------------------------


def _stats_exprs(column: str, dtype: pl.DataType) -> dict[str, pl.Expr]:
    """The aggregations of a column's lineage statistics, by ``ColumnStats`` field."""
    col = pl.col(column)
    nulls = col.null_count()
    if dtype.is_float():
        nulls = nulls + col.is_nan().sum()
    exprs = {"nulls": nulls}
    if not dtype.is_float():
        # Distinct counts of continuous values say little and cost a hash of every value.
        exprs["distinct"] = col.approx_n_unique()
    if dtype == pl.Boolean:
        exprs["mean"] = col.cast(pl.Float64).mean()
    elif dtype.is_numeric():
        x = col.cast(pl.Float64)
        x = x.filter(x.is_finite())
        exprs |= {"mean": x.mean(), "std": x.std(), "min": x.min(), "max": x.max()}
    elif dtype.is_temporal() or dtype == pl.String:
        exprs |= {"min": col.min().cast(pl.String), "max": col.max().cast(pl.String)}
    return exprs


def _stats_from(values: dict[str, Any], dtype: pl.DataType) -> ColumnStats:
    def num(name: str) -> Any:
        v = values.get(name)
        if isinstance(v, float) and v != v:
            return None
        return v

    return ColumnStats(
        dtype=_dtype_name(dtype),
        nulls=int(num("nulls") or 0),
        distinct=None if num("distinct") is None else int(num("distinct")),
        mean=num("mean"),
        std=num("std"),
        min=num("min"),
        max=num("max"),
    )


@dataclass(frozen=True)
class _Pass:
    """One select over the data: the row count, the fits' aggregations and lineage statistics."""

    fits: dict[int, Aggregations] = field(default_factory=dict)
    stats: dict[str, dict[str, pl.Expr]] = field(default_factory=dict)

    def run(self, lf: pl.LazyFrame) -> tuple[int, dict[int, dict[str, tuple[Any, ...]]], dict[str, dict[str, Any]]]:
        """Row count, each fit's values per column, and each column's statistics by field."""
        request: dict[tuple[Any, ...], tuple[pl.Expr, ...]] = {("rows",): (pl.len(),)}
        for i, fit in self.fits.items():
            request |= {("fit", i, c): exprs for c, exprs in fit.exprs.items()}
        for c, fields in self.stats.items():
            request[("stats", c)] = tuple(fields.values())
        values = select_per_key(lf, request)
        fit_values = {i: {c: values[("fit", i, c)] for c in fit.exprs} for i, fit in self.fits.items()}
        stats = {c: dict(zip(fields, values[("stats", c)], strict=True)) for c, fields in self.stats.items()}
        return int(values[("rows",)][0]), fit_values, stats


def column_stats(lf: pl.LazyFrame, columns: list[str] | None = None) -> tuple[int, dict[str, ColumnStats]]:
    """Row count and the lineage statistics of ``columns`` (default all) in one pass."""
    schema = _schema(lf)
    cols = [c for c in (columns if columns is not None else list(schema)) if c in schema]
    rows, _, stats = _Pass(stats={c: _stats_exprs(c, schema[c]) for c in cols}).run(lf)
    return rows, {c: _stats_from(stats[c], schema[c]) for c in cols}


@dataclass
class _Tracker:
    """Collects what each step did, for the lineage report."""

    entries: list[StepLineage] = field(default_factory=list)
    awaiting_after: dict[int, list[str]] = field(default_factory=dict)
    awaiting_rows: list[int] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def measure_after(self, rows: int, stats: dict[str, ColumnStats]) -> None:
        for index, cols in self.awaiting_after.items():
            entry = self.entries[index]
            entry.after = {c: stats[c] for c in cols if c in stats}
        for index in self.awaiting_rows:
            self.entries[index].rows_after = rows
        self.awaiting_after.clear()
        self.awaiting_rows.clear()

    def pending_columns(self) -> list[str]:
        return sorted({c for cols in self.awaiting_after.values() for c in cols})


def _learned_summary(state: dict[str, Any]) -> dict[str, Any]:
    """A short, JSON-sized view of a fitted state for the report."""

    def shorten(value: Any, depth: int = 0) -> Any:
        if isinstance(value, dict):
            items = list(value.items())
            out = {str(k): shorten(v, depth + 1) for k, v in items[:20]}
            if len(items) > 20:
                out["…"] = f"{len(items) - 20} more"
            return out
        if isinstance(value, list):
            return [shorten(v, depth + 1) for v in value[:20]] + ([f"… {len(value) - 20} more"] if len(value) > 20 else [])
        if isinstance(value, float):
            return round(value, 6)
        return value

    return shorten(state)


# --- fitting -----------------------------------------------------------------------------------------


def _fit(
    plan: EtlPlan,
    data: pl.LazyFrame,
    *,
    target: str | None,
    tracker: _Tracker | None,
    progress: ProgressFn | None,
    low_memory: bool = False,
    train_rows: pl.Expr | None = None,
    row_column: str | None = None,
    cancel: CancelToken | None = None,
) -> tuple[FittedPipeline, pl.LazyFrame]:
    """Fit ``plan``; with ``train_rows`` (a mask over the passthrough ``row_column`` of ``data``)
    only the steps from :func:`_split_point` on, and each of their fits, see the training rows alone.
    ``cancel`` is checked before each step is fitted (``Cancelled`` names the step)."""
    token = cancel or never_cancelled()
    target = target if target is not None else plan.target
    split_at = _split_point(plan) if train_rows is not None else None
    lf = data
    if split_at == 0 and train_rows is not None:
        lf = lf.filter(train_rows)
    if row_column is not None and split_at == 0:
        lf = lf.drop(row_column)
    schema = _schema(lf)
    input_schema = {c: t for c, t in schema.items() if c != row_column}
    plugins = _PluginBox(plan.plugins_dir)
    fitted: list[FittedStep | None] = [None] * len(plan.steps)
    pending: list[tuple[int, Any]] = []
    written: set[str] = set()
    fit_rows = 0
    first_flush = True
    n_steps = max(len(plan.steps), 1)

    def flush() -> None:
        nonlocal lf, schema, fit_rows, first_flush
        stat_exprs: dict[str, dict[str, pl.Expr]] = {}
        if tracker is not None:
            wanted = set(tracker.pending_columns())
            for i, _ in pending:
                wanted |= {c for c in plan.steps[i].columns if c in schema}
            stat_exprs = {c: _stats_exprs(c, schema[c]) for c in sorted(wanted) if c in schema}
        one_pass = _Pass(fits={i: fit for i, fit in pending if isinstance(fit, Aggregations)}, stats=stat_exprs)
        rows = fit_rows
        fit_values: dict[int, dict[str, tuple[Any, ...]]] = {i: {} for i in one_pass.fits}
        measured: dict[str, dict[str, Any]] = {}
        if any(fit.exprs for fit in one_pass.fits.values()) or tracker is not None or first_flush:
            rows, fit_values, measured = one_pass.run(lf)
        if first_flush:
            fit_rows = rows
            first_flush = False
        stats = {c: _stats_from(values, schema[c]) for c, values in measured.items()}
        if tracker is not None:
            tracker.measure_after(rows, stats)
        for i, fit in pending:
            step = plan.steps[i]
            token.check(f"step {i} ({step.kind})")
            if isinstance(fit, Aggregations):
                state = fit.finish(fit_values[i])
            elif callable(fit):
                try:
                    state = fit(lf)
                except PluginError:
                    raise
                except Exception as exc:
                    if step.kind == "plugin":
                        raise PluginError(step.params.get("plugin", "?"), f"fit() failed: {exc}") from exc
                    raise
                if step.kind == "plugin":
                    state = check_state(step.params.get("plugin", "?"), state)
            else:
                state = {}
            fitted[i] = FittedStep(step=step, state=state)
            absent = [c for c in step.columns if c not in schema]
            if absent and tracker is not None:
                tracker.warnings.append(
                    f"step {i} ({step.kind}): column(s) {', '.join(absent)} not in the data at this point; skipped"
                )
            before_schema = schema
            lf = _apply_step(step, state, lf, ApplyContext(schema=schema, target=target), plugins)
            schema = _schema(lf)
            if tracker is not None:
                added = [c for c in schema if c not in before_schema]
                removed = [c for c in before_schema if c not in schema]
                modified = (
                    [c for c in step.columns if c in before_schema and c in schema] if _modifies_in_place(step) else []
                )
                entry = StepLineage(
                    index=i,
                    kind=step.kind,
                    columns=step.columns,
                    reason=step.reason,
                    origin=step.origin,
                    rows_before=rows,
                    rows_after=rows,
                    columns_added=added,
                    columns_removed=removed,
                    columns_modified=modified,
                    before={c: stats[c] for c in step.columns if c in stats},
                    learned=_learned_summary(state),
                )
                tracker.entries.append(entry)
                tracker.awaiting_after[len(tracker.entries) - 1] = modified + added
                if _is_row_filter(step, STEP_IMPLS.get(step.kind)):
                    tracker.awaiting_rows.append(len(tracker.entries) - 1)
        if progress is not None and pending:
            progress(min(1.0, (pending[-1][0] + 1) / n_steps), f"fitted {plan.steps[pending[-1][0]].kind}")
        if not low_memory and pending:
            # Later passes start from here instead of re-running every earlier step (deduplication
            # above all) from the source; the price is holding the intermediate table in memory.
            lf = lf.collect().lazy()
        pending.clear()
        written.clear()

    def split() -> None:
        nonlocal lf, schema, first_flush
        assert train_rows is not None
        if pending:
            flush()
        if tracker is not None and (tracker.awaiting_after or tracker.awaiting_rows):
            flush()  # the shared steps' "after", measured on every row like their "before"
        lf = lf.filter(train_rows)
        if row_column is not None:
            lf = lf.drop(row_column)
        schema = _schema(lf)
        first_flush = True  # fit_rows counts the training rows

    for i, step in enumerate(plan.steps):
        if split_at is not None and i == split_at and i > 0:
            split()
        impl = STEP_IMPLS.get(step.kind)
        if step.kind == "plugin":
            if pending:
                flush()
            plugin = plugins.get(step)
            cols = [c for c in step.columns if c in schema]
            pending.append((i, lambda frame, plugin=plugin, cols=cols: plugin.fit(frame, cols)))
            flush()
            continue
        assert impl is not None, step.kind
        reads = set(step.columns)
        if impl.needs_target and target:
            reads.add(target)
        # A step reading a column an unfitted step writes (or adds) must wait for that step's fit.
        conflict = impl.reads_all or bool(reads & written) or any(c not in schema for c in reads)
        if pending and conflict:
            flush()
        fit = impl.fit(step, ApplyContext(schema=schema, target=target))
        pending.append((i, fit))
        written.update(step.columns)
        if _is_row_filter(step, impl):
            flush()
    if split_at is not None and split_at >= len(plan.steps) > 0:
        split()
    if pending or first_flush:
        flush()
    pipeline = FittedPipeline(
        target=target,
        input_schema={c: _dtype_name(t) for c, t in input_schema.items()},
        output_schema={c: _dtype_name(t) for c, t in schema.items()},
        steps=[s for s in fitted if s is not None],
        fit_rows=fit_rows,
        plugins_dir=plan.plugins_dir,
    )
    return pipeline, lf


def fit_pipeline(
    plan: EtlPlan, data: pl.LazyFrame, *, target: str | None = None, low_memory: bool = False
) -> FittedPipeline:
    """Learn every step's statistics from training data.

    Parameters
    ----------
    plan
        The steps to fit, from :func:`plan_etl` or written by hand.
    data
        Training rows. Only these rows are seen, so target encoding fitted here does not leak
        the held-back rows.
    target
        The target column; defaults to ``plan.target``.
    low_memory
        Fitting takes a few passes over the data, each needing the output of earlier steps. By
        default the intermediate table is kept in memory between passes; ``True`` streams every
        pass from ``data`` again instead (slower, for data larger than memory).

    Returns
    -------
    FittedPipeline
        JSON-serialisable pipeline that :func:`apply_pipeline` replays.
    """
    pipeline, _ = _fit(plan, data, target=target, tracker=None, progress=None, low_memory=low_memory)
    return pipeline


_TRUE_TOKENS = ["true", "t", "yes", "y", "1"]
_FALSE_TOKENS = ["false", "f", "no", "n", "0"]


def _conform(pipeline: FittedPipeline, lf: pl.LazyFrame) -> pl.LazyFrame:
    """Give the input the column types the pipeline was fitted on (JSON rows come loosely typed)."""
    schema = _schema(lf)
    exprs = []
    for name, dtype_name in pipeline.input_schema.items():
        dtype = dtype_from_name(dtype_name)
        if name not in schema:
            if name != pipeline.target:
                exprs.append(pl.lit(None, dtype=dtype or pl.Null).alias(name))
            continue
        if dtype is None or schema[name] == dtype:
            continue
        col = pl.col(name)
        if (schema[name] == pl.String) and (dtype == pl.Date or isinstance(dtype, pl.Datetime)):
            parsed = col.str.to_datetime(strict=False, time_unit="us")
            exprs.append((parsed.dt.date() if dtype == pl.Date else parsed.cast(dtype)).alias(name))
        elif schema[name] == pl.String and dtype == pl.Boolean:
            token = col.str.strip_chars().str.to_lowercase()
            exprs.append(pl.when(token.is_in(_TRUE_TOKENS)).then(True)
                         .when(token.is_in(_FALSE_TOKENS)).then(False)
                         .otherwise(None).alias(name))
        elif schema[name] == pl.String and dtype.is_numeric():
            exprs.append(col.str.strip_chars().cast(dtype, strict=False).alias(name))
        elif schema[name] == pl.Null:
            exprs.append(col.cast(dtype).alias(name))
        else:
            exprs.append(col.cast(dtype, strict=False).alias(name))
    return lf.with_columns(exprs) if exprs else lf


def conform_input(pipeline: FittedPipeline, data: pl.LazyFrame) -> pl.LazyFrame:
    """The first part of :func:`apply_pipeline`: the rows with the column types the pipeline was fitted on.

    A missing input column (other than the target) becomes null; a column of another type is cast to the
    training type, and a value that does not parse as it (``"abc"`` for a float column) becomes null.
    """
    return _conform(pipeline, data)


def apply_pipeline(pipeline: FittedPipeline, data: pl.LazyFrame, *, rows: RowMode = "keep") -> pl.LazyFrame:
    """Replay a fitted pipeline on new rows.

    Parameters
    ----------
    pipeline
        From :func:`fit_pipeline` (or its JSON, through ``FittedPipeline.model_validate_json``).
    data
        Rows with the training columns; the target may be absent, missing columns become null and
        columns of another type are cast to the training type.
    rows
        ``"keep"`` returns one row per input row, in order, which makes the replay on any slice of
        rows equal to the same slice of the replay on all rows (except forward/backward fills,
        which by nature read the neighbouring rows). ``"filter"`` also drops the rows the plan
        drops (duplicates, missing target, removed outliers).

    Returns
    -------
    polars.LazyFrame
        The transformed rows, with the columns of ``pipeline.output_schema`` in that order.
    """
    return replay(pipeline, data, rows=rows)


def replay(
    pipeline: FittedPipeline, data: pl.LazyFrame, *, rows: RowMode = "keep", passthrough: tuple[str, ...] = ()
) -> pl.LazyFrame:
    """:func:`apply_pipeline`, also carrying the ``passthrough`` columns (named ``__dsp_*``) along."""
    lf = _conform(pipeline, data)
    plugins = _PluginBox(pipeline.plugins_dir)
    filter_rows = rows == "filter"
    for fitted in pipeline.steps:
        ctx = ApplyContext(schema=_schema(lf), target=pipeline.target, filter_rows=filter_rows)
        lf = _apply_step(fitted.step, fitted.state, lf, ctx, plugins)
    present = _schema(lf)
    return lf.select([c for c in pipeline.output_schema if c in present] + [c for c in passthrough if c in present])
