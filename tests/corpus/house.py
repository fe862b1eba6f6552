"""A realistic house-price table with a date column, the shape that must stay a regression.

Three thousand sales: the price is driven by the living area, the rooms, the neighbourhood and the
condition, with noise; ``Built`` is a date spread over a century, almost unique per row, so the
table has a date column without being a time series.

Examples
--------
>>> frame = house_prices(rows=200)
>>> frame.columns
['Area', 'Size', 'Rooms', 'Bathrooms', 'Condition', 'Garage', 'Built', 'Price']
>>> frame["Built"].dtype
Date
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import numpy as np
import polars as pl

__all__ = ["house_prices", "write_house_csv"]

_AREAS = {"Riverside": 60_000, "Old Town": 90_000, "Hillcrest": 40_000, "Harbour": 120_000,
          "Meadows": 0, "Industrial": -30_000}
_CONDITIONS = {"Poor": -25_000, "Fair": -8_000, "Good": 0, "Excellent": 30_000}


def house_prices(*, rows: int = 3_000, seed: int = 13) -> pl.DataFrame:
    """House sales: ``Price`` (float) from Size, Rooms, Area and Condition; ``Built`` a mostly unique date."""
    rng = np.random.default_rng(seed)
    areas = rng.choice(list(_AREAS), size=rows, p=[0.2, 0.15, 0.2, 0.1, 0.25, 0.1])
    conditions = rng.choice(list(_CONDITIONS), size=rows, p=[0.1, 0.3, 0.45, 0.15])
    rooms = rng.integers(1, 9, size=rows)
    size = np.round(25 + 22 * rooms + rng.gamma(4.0, 8.0, size=rows), 1)
    bathrooms = np.clip(np.round(rooms / 2.5 + rng.normal(0, 0.5, size=rows)), 1, 4).astype(int)
    garage = rng.choice(["Yes", "No"], size=rows, p=[0.55, 0.45])
    days = rng.integers(0, (date(2020, 12, 31) - date(1900, 1, 1)).days, size=rows)
    built = [date(1900, 1, 1) + timedelta(days=int(day)) for day in days]
    age = (2021 - np.array([b.year for b in built])).astype(float)
    price = (40_000 + 1_900 * size + 6_000 * rooms + 4_000 * bathrooms
             + np.vectorize(_AREAS.get)(areas) + np.vectorize(_CONDITIONS.get)(conditions)
             + np.where(garage == "Yes", 9_000, 0) - 250 * age + rng.normal(0, 18_000, size=rows))
    return pl.DataFrame({
        "Area": areas, "Size": size, "Rooms": rooms, "Bathrooms": bathrooms, "Condition": conditions,
        "Garage": garage, "Built": pl.Series(built, dtype=pl.Date), "Price": np.round(price, -2),
    })


def write_house_csv(path: Path, **kwargs: int) -> Path:
    """Write :func:`house_prices` as a CSV (ISO dates) and return the path."""
    house_prices(**kwargs).write_csv(path)
    return path
