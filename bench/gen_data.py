"""Generate the benchmark CSV: N rows x 20 mixed columns (~185 bytes a row), deterministic.

    python bench/gen_data.py --rows 1000000 --out bench-data/mixed_1m.csv

Columns: integers, floats (with missing values, zeros, negatives, a -999 code), percentages,
coordinates, categories (with inconsistent spellings), e-mails, dates, datetimes, booleans,
free text and a constant, plus a few exact duplicate rows. Rows are generated in chunks of
500,000 from seeds derived from ``--seed``, so any row count is produced in bounded memory and
the first N rows of a bigger file equal a file of N rows.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import polars as pl

__all__ = ["generate", "generate_chunk"]

CHUNK_ROWS = 500_000
_CATEGORIES = ["North", "South", "East", "West", "Central", "north", "South ", "Overseas"]
_CATEGORY_P = [0.22, 0.2, 0.18, 0.17, 0.13, 0.04, 0.03, 0.03]
_SEGMENTS = ["consumer", "corporate", "home office", "small business"]
_WORDS = np.array(
    ["good", "bad", "late", "early", "refund", "broken", "fast", "slow", "great", "poor", "ok", "please", "call", "back", "again", "never", "love", "hate", "price", "quality", "delivery", "support", "staff", "product", "order"]
)
_EPOCH_2015 = np.datetime64("2015-01-01", "D").astype(np.int64)


def generate_chunk(start: int, rows: int, seed: int) -> pl.DataFrame:
    """Rows ``start`` .. ``start + rows - 1`` of the dataset."""
    rng = np.random.default_rng([seed, start])
    ids = np.arange(start + 1, start + rows + 1, dtype=np.int64)

    def some(p: float) -> np.ndarray:
        return rng.random(rows) < p

    age = rng.integers(18, 91, rows).astype(np.float64)
    age[some(0.005)] = -999
    age[some(0.02)] = np.nan
    income = np.round(rng.lognormal(10.5, 0.6, rows), 2)
    income[some(0.05)] = np.nan
    balance = np.round(rng.normal(1500, 2500, rows), 2)
    balance[some(0.1)] = 0.0
    n_words = rng.integers(1, 7, rows)
    words = rng.choice(_WORDS, (rows, 6))
    comment = [" ".join(w[:k]) for w, k in zip(words.tolist(), n_words.tolist(), strict=True)]
    signup_days = _EPOCH_2015 + rng.integers(0, 3650, rows)
    event_seconds = np.datetime64("2024-01-01T00:00:00", "s").astype(np.int64) + rng.integers(0, 365 * 86400, rows)

    frame = pl.DataFrame(
        {
            "id": ids,
            "customer_id": pl.Series(rng.integers(0, 10_000_000, rows)).cast(pl.String).str.zfill(7),
            "age": age,
            "income": income,
            "score": rng.normal(0, 1, rows),
            "balance": balance,
            "rate": np.round(rng.beta(2, 5, rows), 4),
            "latitude": np.round(rng.uniform(-60, 70, rows), 6),
            "longitude": np.round(rng.uniform(-180, 180, rows), 6),
            "region": rng.choice(_CATEGORIES, rows, p=_CATEGORY_P),
            "segment": rng.choice(_SEGMENTS, rows, p=[0.5, 0.3, 0.15, 0.05]),
            "city": rng.integers(0, 300, rows),
            "email": ids,
            "signup_date": signup_days,
            "event_time": event_seconds,
            "is_active": some(0.7),
            "churned": some(0.03).astype(np.int8),
            "comment": comment,
            "quantity": rng.poisson(3, rows),
            "channel": np.full(rows, "web"),
        }
    ).with_columns(
        ("C" + pl.col("customer_id")).alias("customer_id"),
        ("city_" + pl.col("city").cast(pl.String)).alias("city"),
        ("user" + pl.col("email").cast(pl.String) + "@example.com").alias("email"),
        pl.col("signup_date").cast(pl.Date),
        pl.from_epoch(pl.col("event_time"), time_unit="s").cast(pl.Datetime("us")),
        pl.when(pl.lit(some(0.3))).then(None).otherwise(pl.col("comment")).alias("comment"),
        pl.col("age").cast(pl.Int64, strict=False),
    )
    # a few exact duplicate rows, as real exports have
    dup = rng.choice(rows, max(1, rows // 2000), replace=False)
    source = np.arange(rows)
    source[dup[dup > 0]] -= 1
    return frame[source]


def generate(rows: int, out: Path, *, seed: int = 42) -> Path:
    """Write ``rows`` rows to the CSV ``out`` and return its path."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(out.suffix + ".tmp")
    with tmp.open("wb") as fh:
        for i, start in enumerate(range(0, rows, CHUNK_ROWS)):
            chunk = generate_chunk(start, min(CHUNK_ROWS, rows - start), seed)
            chunk.write_csv(fh, include_header=i == 0, datetime_format="%Y-%m-%d %H:%M:%S")
    tmp.replace(out)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)
    path = generate(args.rows, args.out, seed=args.seed)
    print(f"{path}: {args.rows} rows, {path.stat().st_size / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
