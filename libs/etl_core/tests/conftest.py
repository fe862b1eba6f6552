"""Real public datasets shipped inside installed packages, loaded as polars frames."""

from __future__ import annotations

from pathlib import Path

import palmerpenguins
import polars as pl
import pytest
import sklearn

SKLEARN_DATA = Path(sklearn.__file__).parent / "datasets" / "data"
PENGUINS_DATA = Path(palmerpenguins.__file__).parent / "data"


def _sklearn_csv(name: str, feature_names: list[str] | None = None) -> pl.DataFrame:
    path = SKLEARN_DATA / name
    header = path.read_text().splitlines()[0].split(",")
    n_features = int(header[1])
    names = feature_names or [f"f{i}" for i in range(n_features)]
    return pl.read_csv(path, skip_rows=1, has_header=False, new_columns=[*names, "target"])


def load_dataset(name: str) -> pl.DataFrame:
    """One of the public datasets by short name."""
    if name == "iris":
        return _sklearn_csv("iris.csv", ["sepal_length", "sepal_width", "petal_length", "petal_width"])
    if name == "wine":
        return _sklearn_csv("wine_data.csv")
    if name == "breast_cancer":
        return _sklearn_csv("breast_cancer.csv")
    if name == "penguins":
        return pl.read_csv(PENGUINS_DATA / "penguins.csv", null_values=["NA"])
    if name == "penguins_raw":
        return pl.read_csv(PENGUINS_DATA / "penguins-raw.csv", null_values=["NA", ""], infer_schema_length=None)
    raise KeyError(name)


@pytest.fixture
def dataset():
    return load_dataset
