"""The whole ETL stage on files: plan, fit, transform, export, report."""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import polars as pl
from shared_contracts.cancel import CancelToken, never_cancelled
from shared_contracts.etl import EtlConfig, EtlReport, FittedPipeline, SplitInfo
from shared_contracts.profile import Profile
from shared_contracts.progress import ProgressFn

from .export import write_safe_csv
from .pipeline import _fit, _Tracker, column_stats, replay
from .planner import plan_etl
from .steps import INTERNAL_PREFIX

__all__ = ["IN_MEMORY_MAX_BYTES", "EtlResult", "ExportFormat", "run_etl", "train_mask"]

ExportFormat = Literal["parquet", "csv"]
_ROW = f"{INTERNAL_PREFIX}row"
_SPLIT_BUCKETS = 10_000
IN_MEMORY_MAX_BYTES = 1 << 30
"""Parquet files up to this size are read into memory once; bigger ones are streamed at every pass."""
_PARQUET: dict[str, Any] = {"compression": "zstd", "compression_level": 1}


@dataclass
class EtlResult:
    """What :func:`run_etl` produced."""

    report: EtlReport
    pipeline: FittedPipeline
    paths: dict[str, Path] = field(default_factory=dict)


def train_mask(row_index: pl.Expr, *, holdout_fraction: float, seed: int) -> pl.Expr:
    """True for the rows of the training split: a deterministic hash of the row index and seed."""
    bucket = row_index.hash(seed=seed) % _SPLIT_BUCKETS
    return bucket >= round(holdout_fraction * _SPLIT_BUCKETS)


def _needs_split(report_plan: Any, target: str | None) -> bool:
    return target is not None and any(
        s.kind == "encode" and s.params.get("method") == "target" for s in report_plan.steps
    )


def run_etl(
    parquet: Path,
    profile: Profile | dict[str, Any],
    *,
    out_dir: Path,
    config: EtlConfig | None = None,
    target: str | None = None,
    formats: Sequence[ExportFormat] = ("parquet",),
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> EtlResult:
    """Clean a dataset and engineer its features, writing the result and explaining every step.

    Parameters
    ----------
    parquet
        The ingested dataset.
    profile
        Its profile; the auto plan is derived from it.
    out_dir
        Where ``cleaned.parquet`` (always), ``cleaned.csv`` (when asked), ``pipeline.json``,
        ``etl_report.json`` and, for target-dependent plans, ``split.parquet`` are written.
    config
        Thresholds and overrides; defaults when omitted.
    target
        Column to predict. When the plan has target-dependent steps (target encoding), they
        and every step after the deduplication are fitted on a deterministic training split
        only (``config.split``); deduplication itself sees every row, so that a held-back row
        repeated among the training rows is dropped before any fit learns from the copy. The
        split of every output row is written to ``split.parquet`` so that the model is evaluated
        on rows the encoding never saw. Its row ``k`` describes row ``k`` of ``cleaned.parquet``
        (same count, same order; rows the plan drops have no entry): ``is_train`` and
        ``source_row``, the index of the input row it came from. Pass it on as
        ``dsp_ml.domain.analyze(..., split=paths["split"])``.
    formats
        Export formats; Parquet is always written, CSV (formula-defused) on request.
    progress
        Called with (fraction, message).
    cancel
        The job's cancellation token, checked after planning, between pipeline steps and before each output
        is written; None is never cancelled.

    Returns
    -------
    EtlResult
        The report with its lineage, the fitted pipeline, and the paths written.

    Raises
    ------
    Cancelled
        When ``cancel`` is cancelled (``out_dir`` may then hold part of the outputs: it is the caller's to remove).
    """
    started = time.perf_counter()
    report_progress = progress or (lambda fraction, message: None)
    config = config or EtlConfig()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if not isinstance(profile, Profile):
        profile = Profile.model_validate(profile)
    report_progress(0.0, "planning")
    plan = plan_etl(profile, config=config, target=target)
    token = cancel or never_cancelled()
    token.check("planning")
    low_memory = Path(parquet).stat().st_size > IN_MEMORY_MAX_BYTES
    data = pl.scan_parquet(parquet) if low_memory else pl.read_parquet(parquet).lazy()
    columns_in = list(data.collect_schema())
    split = _needs_split(plan, target)
    indexed = data.with_row_index(_ROW)
    is_train = train_mask(pl.col(_ROW), holdout_fraction=config.split.holdout_fraction, seed=config.split.seed)

    tracker = _Tracker()
    pipeline, fitted_output = _fit(
        plan,
        indexed if split else data,
        target=target,
        tracker=tracker,
        progress=lambda f, m: report_progress(0.05 + 0.6 * f, m),
        low_memory=low_memory,
        train_rows=is_train if split else None,
        row_column=_ROW if split else None,
        cancel=token,
    )
    token.check("writing cleaned data")
    report_progress(0.7, "writing cleaned data")
    paths: dict[str, Path] = {}
    cleaned_path = out_dir / "cleaned.parquet"
    in_memory: pl.DataFrame | None = None
    written: Future[None] | None = None
    if split:
        out = replay(pipeline, indexed, rows="filter", passthrough=(_ROW,))
        out.sink_parquet(cleaned_path.with_suffix(".tmp.parquet"), **_PARQUET)
        tmp = pl.scan_parquet(cleaned_path.with_suffix(".tmp.parquet"))
        tmp.drop(_ROW).sink_parquet(cleaned_path, **_PARQUET)
        split_path = out_dir / "split.parquet"
        tmp.select(is_train.alias("is_train"), pl.col(_ROW).alias("source_row")).sink_parquet(split_path)
        cleaned_path.with_suffix(".tmp.parquet").unlink()
        paths["split"] = split_path
    elif low_memory:
        replay(pipeline, data, rows="filter").sink_parquet(cleaned_path, **_PARQUET)
    else:
        # Fitted on every row, the fit's last pass already is the cleaned table.
        in_memory = fitted_output.select(list(pipeline.output_schema)).collect()
        # Encoding and writing the file waits on the disk as much as on a core: the result is
        # measured meanwhile, from memory.
        writer = ThreadPoolExecutor(1, thread_name_prefix="etl-write")
        written = writer.submit(in_memory.write_parquet, cleaned_path, **_PARQUET)
        writer.shutdown(wait=False)
    paths["parquet"] = cleaned_path
    cleaned = in_memory.lazy() if in_memory is not None else pl.scan_parquet(cleaned_path)

    try:
        token.check("measuring the result")
        report_progress(0.85, "measuring the result")
        rows_out, final_stats = column_stats(cleaned, tracker.pending_columns())
    finally:
        if written is not None:
            written.result()  # the file is whole (or its error raised) before anything else happens
    if not split:
        tracker.measure_after(rows_out, final_stats)
    else:
        # The last steps' "after" describes the training rows like the rest of the lineage.
        fit_out = replay(pipeline, indexed, rows="filter", passthrough=(_ROW,)).filter(is_train).drop(_ROW)
        train_rows, train_stats = column_stats(fit_out, tracker.pending_columns())
        tracker.measure_after(train_rows, train_stats)
    if "csv" in formats:
        token.check("writing CSV")
        report_progress(0.9, "writing CSV")
        paths["csv"] = write_safe_csv(cleaned, out_dir / "cleaned.csv")

    rows_in = pipeline.fit_rows if not split else int(data.select(pl.len()).collect().item())
    split_info = None
    if split:
        counts = pl.scan_parquet(paths["split"]).select(pl.col("is_train").sum(), pl.len()).collect().row(0)
        split_info = SplitInfo(
            scope="train_split",
            holdout_fraction=config.split.holdout_fraction,
            seed=config.split.seed,
            train_rows=int(counts[0]),
            holdout_rows=int(counts[1] - counts[0]),
        )
    else:
        split_info = SplitInfo(scope="all_rows", train_rows=pipeline.fit_rows)
    report = EtlReport(
        target=target,
        rows_in=rows_in,
        rows_out=rows_out,
        columns_in=columns_in,
        columns_out=list(cleaned.collect_schema()),
        plan=plan,
        lineage=tracker.entries,
        split=split_info,
        warnings=tracker.warnings,
        elapsed_seconds=time.perf_counter() - started,
    )
    token.check("writing the report")
    pipeline_path = out_dir / "pipeline.json"
    pipeline_path.write_text(pipeline.model_dump_json(indent=1))
    report_path = out_dir / "etl_report.json"
    report_path.write_text(report.model_dump_json(indent=1))
    paths["pipeline"] = pipeline_path
    paths["report"] = report_path
    report_progress(1.0, "done")
    return EtlResult(report=report, pipeline=pipeline, paths=paths)
