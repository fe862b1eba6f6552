"""The profile of a Parquet dataset, computed column batch by column batch.

Only a batch of columns is in memory at a time (the Parquet file is columnar, so reading a
subset of columns is cheap); what needs every column at once (duplicate rows, co-missing
patterns, correlations) is built from compact per-row summaries: a 128-bit fingerprint of each
row (folded batch by batch), a missing mask per column, and a bounded random sample of rows.

The work per column does not depend on the number of columns: the only all-pairs statistics,
the correlation matrices, pair at most :data:`MAX_CORRELATION_COLUMNS` columns of each kind
(the most informative ones), and the profile lists the cut in ``approximations``.
"""

from __future__ import annotations

import math
import os
import time
from collections import deque
from collections.abc import Callable, Collection
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl
from shared_contracts.cancel import CancelToken, never_cancelled
from shared_contracts.profile import (
    Approximation,
    ColumnProfile,
    Correlations,
    DatasetStats,
    Missingness,
    MissingPattern,
    Profile,
    ValidationSummary,
)
from shared_contracts.progress import ProgressFn, no_progress

from .alerts import find_alerts
from .columns import NUMERIC_SEMANTICS, ColumnFacts, profile_taken_column, round_significant
from .correlations import (
    MAX_CATEGORIES,
    correlation_ratio_matrix,
    cramers_v_matrix,
    nullity_correlation,
    numeric_correlations,
)
from .quality import quality_score

__all__ = ["CORRELATION_SAMPLE_ROWS", "EXACT_MAX_ROWS", "MAX_CORRELATION_COLUMNS", "OpenedDataset", "open_dataset",
           "profile_dataset", "use_sketches"]

CORRELATION_SAMPLE_ROWS = 100_000
"""Correlations are exact up to this many rows, and computed on a uniform sample beyond."""

MAX_CORRELATION_COLUMNS = 100
"""Each correlation matrix pairs at most this many columns of a kind: the most informative ones."""

EXACT_MAX_ROWS = 5_000_000
"""Datasets with more rows are profiled in chunks with sketches unless asked otherwise (``DSP_PROFILE_EXACT_MAX_ROWS``)."""

BATCH_BYTES = 96 * 1024 * 1024
"""Estimated in-memory size of the columns loaded at once."""

MISSING_PATTERNS = 20
NEAR_DUPLICATE_DIGITS = 6
_SAMPLE_SEED = 20_240_601


def column_workers() -> int:
    """Columns profiled at once: one per core, at most two (``DSP_PROFILE_COLUMN_WORKERS`` sets it).

    A column's statistics are numpy sorts and Polars queries, which release the GIL, so two columns
    profiled side by side keep two cores busy where one column mostly keeps one; the memory held is
    that of the columns in flight, on top of their batch.
    """
    setting = os.environ.get("DSP_PROFILE_COLUMN_WORKERS")
    if setting:
        return max(1, int(setting))
    return max(1, min(2, os.cpu_count() or 1))


def use_sketches(rows: int, *, sketches: bool | None = None, exact_max_rows: int | None = None) -> bool:
    """Whether a dataset of ``rows`` rows is profiled with sketches: the one place that chooses."""
    if sketches is not None:
        return sketches
    if exact_max_rows is None:
        exact_max_rows = int(os.environ.get("DSP_PROFILE_EXACT_MAX_ROWS", EXACT_MAX_ROWS))
    return rows > exact_max_rows


def _estimated_width(dtype: pl.DataType) -> int:
    """Bytes per value in memory, with room for the working copies of the statistics."""
    if dtype in (pl.String, pl.Binary) or isinstance(dtype, pl.List | pl.Struct | pl.Array | pl.Object):
        return 40
    if dtype == pl.Boolean:
        return 1
    return 8


def _batches(schema: pl.Schema, rows: int) -> list[list[str]]:
    batches: list[list[str]] = []
    current: list[str] = []
    size = 0
    for name, dtype in schema.items():
        width = _estimated_width(dtype) * max(rows, 1)
        if current and size + width > BATCH_BYTES:
            batches.append(current)
            current, size = [], 0
        current.append(name)
        size += width
    if current:
        batches.append(current)
    return batches


def _normalised(frame: pl.DataFrame, columns: list[str]) -> pl.DataFrame:
    """``frame`` with near-equal values mapped to one value in ``columns``."""
    exprs: list[pl.Expr | pl.Series] = []
    for name in columns:
        col = pl.col(name)
        dtype = frame.schema[name]
        if dtype == pl.String:
            exprs.append(col.str.strip_chars().str.to_lowercase())
        elif isinstance(dtype, pl.Categorical | pl.Enum):
            exprs.append(col.cast(pl.String).str.strip_chars().str.to_lowercase())
        elif dtype.is_float():
            exprs.append(pl.Series(name, round_significant(frame[name].to_numpy(), NEAR_DUPLICATE_DIGITS)))
    return frame.with_columns(exprs) if exprs else frame


def _needs_normalising(series: pl.Series, facts: ColumnFacts) -> bool:
    """Whether normalisation merges some distinct values of the column.

    When it merges none, equality after normalisation is equality before, so the column can be
    left as it is for the near-duplicate search.
    """
    dtype = series.dtype
    if dtype == pl.String or isinstance(dtype, pl.Categorical | pl.Enum):
        return facts.case_merges
    if dtype.is_float():
        return facts.rounding_merges
    return False


_SEEDS = (7, 1_000_003)
_FOLD = np.uint64(0x9E3779B97F4A7C15)  # odd, so that folding is a bijection in the running value


def _fingerprint(frame: pl.DataFrame) -> list[np.ndarray]:
    """Two independent 64-bit hashes of every row: a 128-bit fingerprint.

    NaN is hashed as null: both are a missing value, as everywhere in the profile.
    """
    floats = [n for n, d in frame.schema.items() if d.is_float()]
    if floats:
        frame = frame.with_columns(pl.col(floats).fill_nan(None))
    return [frame.hash_rows(seed=seed).to_numpy() for seed in _SEEDS]


def _fold(running: list[np.ndarray] | None, batch: list[np.ndarray]) -> list[np.ndarray]:
    """Fold a batch's row fingerprints into the running ones, in place (wrapping uint64)."""
    if running is None:
        return [h.copy() for h in batch]
    for acc, h in zip(running, batch, strict=True):
        np.multiply(acc, _FOLD, out=acc)
        np.add(acc, h, out=acc)
    return running


def _repeats(fingerprints: list[np.ndarray] | None) -> int:
    """Rows equal to an earlier row, counted on 128-bit row fingerprints.

    Two rows with equal values have equal fingerprints; two different rows share one with
    probability about 2**-128, so over 10**8 rows a wrong count has probability below 10**-22.
    """
    if fingerprints is None or fingerprints[0].size == 0:
        return 0
    first, second = fingerprints
    ordered = np.sort(first)
    repeated = ordered[1:][ordered[1:] == ordered[:-1]]
    if repeated.size == 0:
        return 0
    candidates = np.isin(first, np.unique(repeated))
    shared = pl.DataFrame({"a": first[candidates], "b": second[candidates]})
    return shared.height - shared.n_unique()


def _missing_patterns(masks: dict[str, pl.Series], rows: int) -> tuple[list[MissingPattern], int]:
    """The most common sets of columns missing together, from the missing masks packed to bits."""
    names = list(masks)
    if not names or rows == 0:
        return [], 0
    packed = np.zeros((rows, (len(names) + 7) // 8), dtype=np.uint8)
    for start in range(0, len(names), 8):
        # eight columns per byte: one byte column at a time keeps the memory at rows x columns / 8
        group = names[start : start + 8]
        byte = np.zeros(rows, dtype=np.uint8)
        for bit, name in enumerate(group):
            byte |= masks[name].to_numpy().astype(np.uint8) << np.uint8(7 - bit)
        packed[:, start // 8] = byte
    keys = packed.view(np.dtype((np.void, packed.shape[1]))).ravel()
    distinct, first, counts = np.unique(keys, return_index=True, return_counts=True)
    with_missing_rows = packed.any(axis=1)
    assert isinstance(with_missing_rows, np.ndarray)  # one flag per row of the 2-D array
    present = with_missing_rows[first]
    distinct, first, counts = distinct[present], first[present], counts[present]
    with_missing = int(counts.sum())
    order = np.lexsort((first, -counts))[:MISSING_PATTERNS]  # most rows first, then first seen
    patterns = []
    for i in order:
        bits = np.unpackbits(packed[first[i]])[: len(names)]
        patterns.append(MissingPattern(columns=[names[j] for j in np.flatnonzero(bits)], rows=int(counts[i])))
    return patterns, with_missing


def _most_informative(
    names: list[str], facts: dict[str, ColumnFacts], limit: int, *, keep: str | None = None
) -> list[str]:
    """At most ``limit`` of ``names``, in their order: those whose values have the highest entropy.

    Entropy (in bits, a missing value counting as one more value) does not depend on the unit
    of a column, unlike its variance; ties, common when most values are distinct, go to the
    larger coefficient of variation, then to the earlier column. ``keep`` (the target) is kept.
    """
    if len(names) <= limit:
        return names

    def spread(name: str) -> float:
        numeric = facts[name].profile.numeric
        return numeric.cv if numeric is not None and numeric.cv is not None else 0.0

    position = {n: i for i, n in enumerate(names)}
    ranked = sorted(names, key=lambda n: (n != keep, -round(facts[n].entropy, 6), -spread(n), position[n]))
    chosen = set(ranked[:limit])
    return [n for n in names if n in chosen]


def informative_missing(missing: dict[str, int], rows: int, limit: int) -> list[str]:
    """At most ``limit`` of the partly missing columns, in their order: those missing closest to half the rows."""
    partly = {n: m for n, m in missing.items() if 0 < m < rows}
    if len(partly) <= limit:
        return list(partly)
    position = {n: i for i, n in enumerate(partly)}
    ranked = sorted(partly, key=lambda n: (abs(partly[n] - rows / 2), position[n]))
    chosen = set(ranked[:limit])
    return [n for n in partly if n in chosen]


def _informative_masks(masks: dict[str, pl.Series], rows: int, limit: int) -> dict[str, pl.Series]:
    """At most ``limit`` of the partly missing columns' masks: those missing closest to half the rows."""
    return {n: masks[n] for n in informative_missing({n: int(m.sum()) for n, m in masks.items()}, rows, limit)}


def column_cap(statistic: str, kind: str, used: int, total: int, criterion: str) -> Approximation:
    return Approximation(
        statistic=statistic,
        method=f"computed on the {used} of {total} {kind} columns with the {criterion} (all {total} "
        f"would make a matrix of {total * total} cells)",
        error_bound=f"pairs involving the other {total - used} columns are not computed, so no "
        "HIGH_CORRELATION or TARGET_LEAKAGE alert is raised for them; the coefficients given are exact",
    )


def complete_profile(
    *,
    path: Path,
    rows: int,
    facts: dict[str, ColumnFacts],
    sample: pl.DataFrame,
    sampled: bool,
    approximations: list[Approximation],
    missingness: Missingness | Future[Missingness],
    duplicates: int,
    near_duplicates: int,
    target: str | None,
    validation: ValidationSummary | None,
    now: datetime,
    started: float,
    report: ProgressFn,
    token: CancelToken,
    max_correlation_columns: int,
) -> Profile:
    """The rest of the profile from the column facts, a row sample and the row-level figures: correlations,
    alerts, quality. Shared by the exact path and the chunked one; ``missingness`` may still be on its way."""
    columns: list[ColumnProfile] = [f.profile for f in facts.values()]
    n_columns = len(columns)
    token.check("correlations")
    report(0.9, "correlations")
    exact = not sampled
    numeric_cols = [
        c.name for c in columns if c.numeric is not None and c.semantic_type in NUMERIC_SEMANTICS and c.distinct > 1
    ]
    categorical_cols = [
        c.name
        for c in columns
        if c.semantic_type in ("categorical", "boolean") and 2 <= c.distinct <= MAX_CATEGORIES
    ]
    criterion = "highest value entropy (ties: larger coefficient of variation)"
    all_numeric, all_categorical = numeric_cols, categorical_cols
    numeric_cols = _most_informative(all_numeric, facts, max_correlation_columns, keep=target)
    categorical_cols = _most_informative(all_categorical, facts, max_correlation_columns, keep=target)
    if len(numeric_cols) < len(all_numeric):
        approximations.append(column_cap("pearson, spearman, correlation_ratio", "numeric", len(numeric_cols),
                                          len(all_numeric), criterion))
    if len(categorical_cols) < len(all_categorical):
        approximations.append(column_cap("cramers_v, correlation_ratio", "categorical", len(categorical_cols),
                                          len(all_categorical), "highest value entropy"))
    pair = numeric_correlations(sample, numeric_cols, exact=exact) if rows else None
    correlations = Correlations(
        pearson=pair[0] if pair else None,
        spearman=pair[1] if pair else None,
        cramers_v=cramers_v_matrix(sample, categorical_cols, exact=exact) if rows else None,
        correlation_ratio=correlation_ratio_matrix(sample, numeric_cols, categorical_cols, exact=exact)
        if rows
        else None,
        sample_rows=sample.height,
        sampled=sampled,
    )
    if sampled:
        bound = 3.0 / math.sqrt(CORRELATION_SAMPLE_ROWS)
        approximations.append(
            Approximation(
                statistic="correlations",
                method=f"uniform random sample of {CORRELATION_SAMPLE_ROWS} of {rows} rows without replacement",
                error_bound=f"about +/-{bound:.4f} on each coefficient (3 standard errors of a correlation near 0)",
            )
        )

    cells = rows * n_columns
    cells_missing = sum(c.missing for c in columns)
    type_counts: dict[str, int] = {}
    for c in columns:
        type_counts[c.semantic_type] = type_counts.get(c.semantic_type, 0) + 1
    dataset = DatasetStats(
        rows=rows,
        columns=n_columns,
        memory_bytes=sum(c.memory_bytes for c in columns),
        file_bytes=os.path.getsize(path),
        cells=cells,
        cells_missing=cells_missing,
        cells_missing_fraction=cells_missing / cells if cells else 0.0,
        duplicate_rows=duplicates,
        duplicate_fraction=duplicates / rows if rows else 0.0,
        near_duplicate_rows=near_duplicates,
        semantic_type_counts=type_counts,
    )

    token.check("alerts")
    report(0.95, "alerts")
    alerts = find_alerts(
        dataset=dataset,
        facts=facts,
        correlations=correlations,
        sample=sample,
        target=target,
    )
    quality = quality_score(dataset=dataset, columns=columns, alerts=alerts, validation=validation)
    profile = Profile(
        dataset=dataset,
        columns=columns,
        correlations=correlations,
        missingness=missingness.result() if isinstance(missingness, Future) else missingness,
        alerts=alerts,
        quality=quality,
        approximations=approximations,
        target=target,
        validation=validation,
        generated_at=now,
        elapsed_seconds=time.perf_counter() - started,
    )
    report(1.0, "profile done")
    return profile


@dataclass(frozen=True)
class OpenedDataset:
    """A Parquet dataset as a profile starts on it: the file, its lazy scan, its schema and its row count."""

    path: Path
    lazy: pl.LazyFrame
    schema: pl.Schema
    rows: int


def open_dataset(parquet: Path, *, target: str | None) -> OpenedDataset:
    """Open ``parquet`` for profiling; FileNotFoundError when it is missing, ValueError when ``target`` is not one
    of its columns."""
    path = Path(parquet)
    if not path.exists():
        raise FileNotFoundError(path)
    lazy = pl.scan_parquet(path)
    schema = lazy.collect_schema()
    if target is not None and target not in schema:
        raise ValueError(f"target column {target!r} is not in the dataset")
    return OpenedDataset(path=path, lazy=lazy, schema=schema, rows=int(lazy.select(pl.len()).collect().item()))


def profile_dataset(
    parquet: Path,
    *,
    semantic_types: dict[str, str] | None = None,
    target: str | None = None,
    progress: ProgressFn | None = None,
    overridden: Collection[str] = (),
    max_correlation_columns: int = MAX_CORRELATION_COLUMNS,
    validation: ValidationSummary | None = None,
    cancel: CancelToken | None = None,
    sketches: bool | None = None,
    exact_max_rows: int | None = None,
    after_column: Callable[[], object] | None = None,
) -> Profile:
    """Profile a Parquet dataset: column statistics, correlations, missingness, alerts, quality.

    Parameters
    ----------
    parquet
        Parquet file with typed columns (as written by ingest).
    semantic_types
        Column name -> semantic type from the ingest report. Columns it does not name get a
        type inferred from their dtype and cardinality.
    target
        Column to be predicted later; enables the target-leakage check.
    progress
        Called with (fraction done, message) as the work advances.
    overridden
        Columns whose semantic type the user set at ingest: marked ``overridden``, and spared the
        alerts that suggest another type (numbers or dates stored as text).
    max_correlation_columns
        Most columns of a kind (numeric, categorical, partly missing) a correlation matrix pairs;
        past it the most informative ones are used and ``approximations`` says so.
    validation
        The user's validation rules and their results (from the ingest report): carried in the
        document, and a broken rule lowers the quality score's validity.
    cancel
        The job's cancellation token, checked between columns and between sections; None is never cancelled.
    sketches
        True: profile in row chunks with sketches (:mod:`.streaming`), in memory bounded by the chunk
        size; False: exactly, a batch of whole columns at a time; None (default): with sketches when
        the dataset has more than ``exact_max_rows`` rows.
    exact_max_rows
        The threshold of ``sketches=None``; None reads ``DSP_PROFILE_EXACT_MAX_ROWS``
        (default :data:`EXACT_MAX_ROWS`).
    after_column
        Called after each column's facts are taken back, between columns: the service gives the C library's freed
        memory back to the system there (``mesh_kit.allocator.give_back_freed_memory``).

    Returns
    -------
    Profile
        The profile. Statistics are exact below the threshold; the correlations are computed on a
        uniform random sample of :data:`CORRELATION_SAMPLE_ROWS` rows when the dataset is larger,
        and the profile then says so in ``approximations``. With sketches, every estimated figure
        is named in its column's ``approximate`` and bounded in ``approximations``.

    Raises
    ------
    FileNotFoundError
        When ``parquet`` does not exist.
    ValueError
        When ``target`` is not a column of the dataset.
    Cancelled
        When ``cancel`` is cancelled; ``step`` names the column or section it stopped before.
    """
    started = time.perf_counter()
    report = progress or no_progress
    token = cancel or never_cancelled()
    semantic_types = semantic_types or {}
    dataset = open_dataset(parquet, target=target)
    path, schema, rows = dataset.path, dataset.schema, dataset.rows
    if use_sketches(rows, sketches=sketches, exact_max_rows=exact_max_rows):
        from .streaming import profile_in_chunks

        return profile_in_chunks(dataset, started=started, semantic_types=semantic_types, target=target,
                                 progress=report, overridden=overridden,
                                 max_correlation_columns=max_correlation_columns, validation=validation, cancel=token)
    now = datetime.now(UTC)

    sampled = rows > CORRELATION_SAMPLE_ROWS
    sample_idx = (
        pl.Series(np.sort(np.random.default_rng(_SAMPLE_SEED).choice(rows, CORRELATION_SAMPLE_ROWS, replace=False)))
        if sampled
        else None
    )

    facts: dict[str, ColumnFacts] = {}
    exact_prints: list[np.ndarray] | None = None
    near_prints: list[np.ndarray] | None = None
    sample_parts: list[pl.DataFrame] = []
    batches = _batches(schema, rows)
    report(0.0, f"profiling {len(schema)} columns of {rows} rows")
    workers = column_workers()
    in_flight: deque[tuple[str, Future[ColumnFacts]]] = deque()
    # batches read whose columns are not all profiled yet: (columns, sample, row fingerprints)
    unsettled: deque[tuple[list[str], pl.DataFrame, list[np.ndarray]]] = deque()
    steps = [f"column {n}" for n in schema] + ["duplicate rows"]  # steps[i]: what starts after i columns

    def settle() -> None:
        """Fold the near-duplicate fingerprints of the batches whose columns are all profiled, in order."""
        nonlocal near_prints
        while unsettled and all(n in facts for n in unsettled[0][0]):
            batch, batch_sample, whole = unsettled.popleft()
            normalise = [n for n in batch if _needs_normalising(batch_sample[n], facts[n])]
            if normalise:
                full = pl.read_parquet(path, columns=batch)
                near = _fingerprint(_normalised(full, normalise))
                del full
            else:
                near = whole
            near_prints = _fold(near_prints, near)
            del whole, near

    def pump(running: int) -> None:
        """Wait until at most ``running`` columns are unfinished, taking the finished ones' facts in the schema's order.

        A column is submitted as soon as a worker is free, whichever column is the slowest: the
        facts of the columns after it wait, not the workers. Nothing is reported after a cancel.
        """
        while True:
            while in_flight and in_flight[0][1].done():
                name, job = in_flight.popleft()
                facts[name] = job.result()
                facts[name].profile.overridden = name in overridden
                if after_column is not None:  # the column's working arrays, before the next column's take their place
                    after_column()
                report(0.8 * len(facts) / max(len(schema), 1), f"column {name}")
                token.check(steps[len(facts) + len(in_flight)])  # the next column to start
                settle()
            unfinished = [job for _, job in in_flight if not job.done()]
            if len(unfinished) <= running:
                return
            wait(unfinished, return_when=FIRST_COMPLETED)

    # a cancelled job stops between columns: the columns in flight finish, none more start
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="profile-column") as columns_pool:
        for batch in batches:
            # read while the last columns of the batch before still run, but never more than two batches ahead of
            # the oldest column in flight (each holds its rows' fingerprints until its columns are all profiled)
            while len(unsettled) > 1:
                wait([in_flight[0][1]])
                pump(workers - 1)
            frame = pl.read_parquet(path, columns=batch)
            sample_parts.append(frame[sample_idx] if sample_idx is not None else frame.clone())
            if rows:
                whole = _fingerprint(frame)
                exact_prints = _fold(exact_prints, whole)
                unsettled.append((batch, sample_parts[-1], whole))
                del whole
            # the columns are taken out of a list (drop_in_place would shift every later column of a wide frame)
            taken = frame.get_columns()
            del frame
            taken.reverse()
            for name in batch:
                token.check(f"column {name}")
                holder = [taken.pop()]
                in_flight.append((name, columns_pool.submit(profile_taken_column, holder,
                                                            semantic_type=semantic_types.get(name), now=now)))
                del holder
                pump(workers - 1)
        # every row's fingerprint is complete: its duplicates are counted while the last columns run
        repeated = columns_pool.submit(_repeats, exact_prints)
        pump(0)
        near_repeated = columns_pool.submit(_repeats, near_prints)  # the missingness is found meanwhile
        del exact_prints, near_prints

        columns: list[ColumnProfile] = [facts[n].profile for n in schema]
        token.check("duplicate rows")
        report(0.82, "duplicate rows")
        token.check("missingness")
        report(0.88, "missingness")
        masks = {n: f.missing_mask for n, f in facts.items() if f.missing_mask is not None}
        approximations = []
        nullity_masks = _informative_masks(masks, rows, max_correlation_columns)
        partly_missing = sum(1 for m in masks.values() if 0 < int(m.sum()) < rows)
        if len(nullity_masks) < partly_missing:
            approximations.append(column_cap("nullity_correlation", "partly missing", len(nullity_masks),
                                              partly_missing, "missing share closest to one half"))
        per_column = {c.name: c.missing for c in columns}

        def find_missingness() -> Missingness:
            patterns, rows_with_missing = _missing_patterns(masks, rows)
            return Missingness(per_column=per_column, rows_with_missing=rows_with_missing, patterns=patterns,
                               nullity_correlation=nullity_correlation(nullity_masks, rows))

        missingness = columns_pool.submit(find_missingness)  # found while the correlations are computed
        duplicates = repeated.result()
        near_duplicates = max(0, near_repeated.result() - duplicates)
        return complete_profile(
            path=path, rows=rows, facts=facts, sample=pl.concat(sample_parts, how="horizontal") if sample_parts
            else pl.DataFrame(), sampled=sampled, approximations=approximations, missingness=missingness,
            duplicates=duplicates, near_duplicates=near_duplicates, target=target, validation=validation, now=now,
            started=started, report=report, token=token, max_correlation_columns=max_correlation_columns)
