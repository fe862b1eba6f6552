"""Small real and planted datasets for the ML core tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest


@pytest.fixture
def write_parquet(tmp_path: Path):
    def write(frame: pl.DataFrame, name: str = "data.parquet") -> Path:
        path = tmp_path / name
        frame.write_parquet(path)
        return path

    return write


@pytest.fixture(scope="session")
def air_passengers() -> pl.DataFrame:
    """The monthly airline passengers series (1949-1960) that ships with statsforecast."""
    from statsforecast.utils import AirPassengersDF

    return pl.from_pandas(AirPassengersDF).select(pl.col("ds").alias("month"), pl.col("y").alias("passengers"))


@pytest.fixture(scope="session")
def breast_cancer() -> pl.DataFrame:
    from sklearn.datasets import load_breast_cancer

    frame = pl.from_pandas(load_breast_cancer(as_frame=True).frame)
    return frame.with_columns(
        pl.when(pl.col("target") == 1).then(pl.lit("benign")).otherwise(pl.lit("malignant")).alias("diagnosis")
    ).drop("target")


@pytest.fixture(scope="session")
def iris() -> pl.DataFrame:
    from sklearn.datasets import load_iris

    bunch = load_iris(as_frame=True)
    frame = pl.from_pandas(bunch.frame)
    names = dict(enumerate(bunch.target_names))
    return frame.with_columns(
        pl.col("target").replace_strict(names, return_dtype=pl.String).alias("species")
    ).drop("target")


@pytest.fixture(scope="session")
def planted() -> pl.DataFrame:
    """Three well separated blobs, a strong monotone pair, a group effect, and one extreme row."""
    rng = np.random.default_rng(7)
    n = 600
    blob = np.repeat([0, 1, 2], n // 3)
    centres = np.array([[0, 0], [8, 8], [-8, 8]])
    a = centres[blob, 0] + rng.normal(size=n)
    b = centres[blob, 1] + rng.normal(size=n)
    x = rng.normal(size=n)
    y = 3 * x + rng.normal(scale=0.3, size=n)
    group = np.where(rng.random(n) < 0.5, "north", "south")
    effect = np.where(group == "north", 10.0, 0.0) + rng.normal(size=n)
    noise = rng.normal(size=n)
    income = np.exp(rng.normal(3, 0.6, size=n))
    a[123], b[123], x[123] = 60.0, -50.0, 0.0
    return pl.DataFrame({"a": a, "b": b, "x": x, "twice_x": y, "group": group, "effect": effect, "noise": noise,
                         "income": income})
