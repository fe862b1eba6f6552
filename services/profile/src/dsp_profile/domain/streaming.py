"""The profile of a Parquet dataset read in row chunks: memory bounded by the chunk, not by the file.

Each chunk of rows (all columns, about :data:`CHUNK_BYTES` in memory) updates one
:class:`~.sketches.ColumnSketch` per column, the counts of co-missing patterns, a 64-bit
fingerprint of each row (as written and normalised, for duplicates and near-duplicates: 16 bytes a
row) and the uniform row sample of the correlations. Sketches of chunks merge, so the same
summaries could come from partitions profiled on several machines. The correlations, alerts and
quality score are then computed as on the exact path (:func:`.profiler.complete_profile`).
"""

from __future__ import annotations

import math
from collections.abc import Collection
from datetime import UTC, datetime

import numpy as np
import polars as pl
from shared_contracts.cancel import CancelToken
from shared_contracts.profile import Approximation, Missingness, MissingPattern, Profile, ValidationSummary
from shared_contracts.progress import ProgressFn

from .correlations import nullity_from_counts
from .profiler import (
    _SAMPLE_SEED,
    CORRELATION_SAMPLE_ROWS,
    MISSING_PATTERNS,
    OpenedDataset,
    _estimated_width,
    _normalised,
    column_cap,
    complete_profile,
    informative_missing,
)
from .sketches import ColumnSketch
from .sketches import approximations as sketch_approximations

__all__ = ["CHUNK_BYTES", "profile_in_chunks"]

CHUNK_BYTES = 128 * 1024 * 1024
"""Estimated in-memory size of the rows read at once."""
_HASH_SEED = 7


def chunk_rows(schema: pl.Schema) -> int:
    """Rows per chunk: about :data:`CHUNK_BYTES` of the columns, between 10,000 and 1,000,000 rows."""
    width = sum(_estimated_width(d) for d in schema.values()) or 1
    return max(10_000, min(1_000_000, CHUNK_BYTES // width))


def _row_hashes(frame: pl.DataFrame) -> np.ndarray:
    floats = [n for n, d in frame.schema.items() if d.is_float()]
    if floats:
        frame = frame.with_columns(pl.col(floats).fill_nan(None))
    return frame.hash_rows(seed=_HASH_SEED).to_numpy()


def _repeats(hashes: np.ndarray) -> int:
    """Rows whose fingerprint equals an earlier row's (sorts ``hashes`` in place)."""
    if hashes.size == 0:
        return 0
    hashes.sort()
    return int(np.count_nonzero(hashes[1:] == hashes[:-1]))


def _patterns(frame: pl.DataFrame, offset: int) -> pl.DataFrame:
    """The chunk's co-missing patterns: one row per set of missing columns, its row count and first row."""
    masks = frame.select(
        [(pl.col(n).is_null() | pl.col(n).is_nan()) if d.is_float() else pl.col(n).is_null()
         for n, d in frame.schema.items()]
    ).with_row_index("__row", offset=offset)
    return masks.group_by([n for n in frame.columns]).agg(pl.len().alias("__rows"), pl.col("__row").min())


def _merge_patterns(a: pl.DataFrame | None, b: pl.DataFrame) -> pl.DataFrame:
    if a is None:
        return b
    keys = [n for n in b.columns if n not in ("__rows", "__row")]
    return pl.concat([a, b]).group_by(keys).agg(pl.col("__rows").sum(), pl.col("__row").min())


def _missingness(patterns: pl.DataFrame | None, names: list[str], rows: int, missing: dict[str, int],
                 limit: int) -> tuple[Missingness, list[Approximation]]:
    approximations: list[Approximation] = []
    if patterns is None or rows == 0:
        return Missingness(per_column=missing), approximations
    flags = patterns.select(names).to_numpy().astype(bool)
    counts = patterns["__rows"].to_numpy().astype(np.int64)
    first = patterns["__row"].to_numpy()
    with_missing = np.asarray(flags.any(axis=1), dtype=bool)
    order = [i for i in np.lexsort((first, -counts)) if with_missing[i]][:MISSING_PATTERNS]
    listed = [MissingPattern(columns=[names[j] for j in np.flatnonzero(flags[i])], rows=int(counts[i])) for i in order]
    chosen = informative_missing(missing, rows, limit)
    partly = sum(1 for m in missing.values() if 0 < m < rows)
    if len(chosen) < partly:
        approximations.append(column_cap("nullity_correlation", "partly missing", len(chosen), partly,
                                         "missing share closest to one half"))
    nullity = None
    if len(chosen) >= 2:
        picked = flags[:, [names.index(n) for n in chosen]].astype(np.float64)
        both = (picked * counts[:, None].astype(np.float64)).T @ picked
        nullity = nullity_from_counts(chosen, both, rows)
    return Missingness(per_column=missing, rows_with_missing=int(counts[with_missing].sum()), patterns=listed,
                       nullity_correlation=nullity), approximations


def profile_in_chunks(
    dataset: OpenedDataset,
    *,
    started: float,
    semantic_types: dict[str, str],
    target: str | None,
    progress: ProgressFn,
    overridden: Collection[str],
    max_correlation_columns: int,
    validation: ValidationSummary | None,
    cancel: CancelToken,
    rows_per_chunk: int | None = None,
) -> Profile:
    """Profile an opened Parquet dataset chunk of rows by chunk, with sketches past what is cheap to keep exactly.

    :func:`.profiler.profile_dataset` calls it past its threshold, with its own parameters and the
    ``time.perf_counter()`` it started at; ``rows_per_chunk`` defaults to :func:`chunk_rows`. Figures that
    are estimated are named in each column's ``approximate`` and bounded in the profile's ``approximations``.
    """
    report, token = progress, cancel
    path, lazy, schema, rows = dataset.path, dataset.lazy, dataset.schema, dataset.rows
    now = datetime.now(UTC)
    step = rows_per_chunk or chunk_rows(schema)
    names = list(schema)

    sampled = rows > CORRELATION_SAMPLE_ROWS
    sample_idx = (np.sort(np.random.default_rng(_SAMPLE_SEED).choice(rows, CORRELATION_SAMPLE_ROWS, replace=False))
                  if sampled else None)
    sketches = {n: ColumnSketch.empty(d) for n, d in schema.items()}
    exact_prints = np.empty(rows, dtype=np.uint64)
    near_prints = np.empty(rows, dtype=np.uint64)
    normalise = [n for n, d in schema.items() if d == pl.String or d.is_float() or isinstance(d, pl.Categorical | pl.Enum)]
    patterns: pl.DataFrame | None = None
    sample_parts: list[pl.DataFrame] = []
    chunks = max(1, math.ceil(rows / step))
    report(0.0, f"profiling {len(schema)} columns of {rows} rows in {chunks} chunks")
    for number, offset in enumerate(range(0, rows, step)):
        token.check(f"rows {offset}")
        frame = lazy.slice(offset, step).collect()
        end = offset + frame.height
        exact_prints[offset:end] = _row_hashes(frame)
        near_prints[offset:end] = _row_hashes(_normalised(frame, normalise)) if normalise else exact_prints[offset:end]
        patterns = _merge_patterns(patterns, _patterns(frame, offset))
        if sample_idx is not None:
            lo, hi = np.searchsorted(sample_idx, [offset, end])
            sample_parts.append(frame[pl.Series(sample_idx[lo:hi] - offset)])
        else:
            sample_parts.append(frame)
        for name in names:
            sketches[name].update(frame[name], now=now)
        del frame
        report(0.8 * (number + 1) / chunks, f"rows {offset + 1}-{end}")

    facts = {}
    for name in names:
        facts[name] = sketches[name].facts(name, semantic_type=semantic_types.get(name), now=now)
        facts[name].profile.overridden = name in overridden
    del sketches
    columns = [f.profile for f in facts.values()]

    token.check("duplicate rows")
    report(0.82, "duplicate rows")
    duplicates = _repeats(exact_prints)
    del exact_prints
    near_duplicates = max(0, _repeats(near_prints) - duplicates)
    del near_prints

    token.check("missingness")
    report(0.88, "missingness")
    missing = {c.name: c.missing for c in columns}
    missingness, approximations = _missingness(patterns, names, rows, missing, max_correlation_columns)
    approximations += sketch_approximations(columns)
    if rows > 1:
        pairs = rows * (rows - 1) / 2
        approximations.append(Approximation(
            statistic="duplicate_rows", method="64-bit fingerprint of each row (and of each row normalised, for "
            "near-duplicates), sorted", relative_error=None, confidence=None,
            error_bound=f"a wrong count needs two different rows with equal fingerprints: about {pairs / 2**64:.1e} "
                        "such pairs expected"))
    sample = pl.concat(sample_parts, how="vertical") if sample_parts else pl.DataFrame(schema=schema)
    del sample_parts
    return complete_profile(
        path=path, rows=rows, facts=facts, sample=sample, sampled=sampled, approximations=approximations,
        missingness=missingness, duplicates=duplicates, near_duplicates=near_duplicates, target=target,
        validation=validation, now=now, started=started, report=report, token=token,
        max_correlation_columns=max_correlation_columns)
