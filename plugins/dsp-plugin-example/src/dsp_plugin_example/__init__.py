"""Example ETL plugin: fold rare categories into one label."""

from __future__ import annotations

from typing import Any

import polars as pl
from etl_core import TransformPlugin
from pydantic import BaseModel, ConfigDict, Field

__all__ = ["RareCategories"]


class RareCategories(TransformPlugin):
    """Replace categories seen in fewer than ``min_fraction`` of the training rows by ``label``."""

    name = "rare_categories"
    description = "Fold categories rarer than a fraction of the rows into one label"

    class Config(BaseModel):
        model_config = ConfigDict(extra="forbid")

        min_fraction: float = Field(default=0.05, gt=0, lt=1, description="Categories below this share are rare")
        label: str = Field(default="other", min_length=1, description="Label that replaces rare categories")

    def fit(self, data: pl.LazyFrame, columns: list[str]) -> dict[str, Any]:
        kept: dict[str, list[str]] = {}
        for column in columns:
            counts = (
                data.select(pl.col(column).cast(pl.String))
                .drop_nulls()
                .group_by(column)
                .agg(pl.len().alias("n"))
                .collect()
            )
            total = int(counts["n"].sum()) or 1
            frequent = counts.filter(pl.col("n") / total >= self.config.min_fraction)[column]
            kept[column] = sorted(frequent.to_list())
        return {"kept": kept}

    def transform(self, data: pl.LazyFrame, columns: list[str], state: dict[str, Any]) -> pl.LazyFrame:
        exprs = []
        for column in columns:
            kept = state["kept"].get(column)
            if kept is None:
                continue
            value = pl.col(column).cast(pl.String)
            exprs.append(
                pl.when(value.is_null() | value.is_in(kept)).then(value).otherwise(pl.lit(self.config.label)).alias(column)
            )
        return data.with_columns(exprs) if exprs else data
