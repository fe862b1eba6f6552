"""A minimal profile computed from the data, for callers without the profile stage.

It fills the fields the ETL planner reads (types, missingness, moments, quartiles, duplicates,
string hygiene, a few alerts) in one or two passes; it is no substitute for the profile stage's
document, which the services and the CLI use.
"""

from __future__ import annotations

import re
from datetime import datetime

import polars as pl
from shared_contracts.profile import (
    Alert,
    ColumnProfile,
    DatasetStats,
    DateStats,
    NumericStats,
    Profile,
    QualityScore,
    SemanticType,
    StringStats,
    ValueCount,
)

__all__ = ["quick_profile"]

_NUMBER = r"^\s*[+-]?[$€£]?\s*(?:\d{1,3}(?:,\d{3})+|\d+)?(?:\.\d+)?\s*%?\s*$"
_DATE = r"^\s*\d{4}-\d{2}-\d{2}(?:[ T]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?\s*$"


def _f(value: object) -> float | None:
    if value is None:
        return None
    value = float(value)  # type: ignore[arg-type]
    return value if value == value and abs(value) != float("inf") else None


def _int(value: object) -> int | None:
    return int(value) if isinstance(value, int | float) else None


def _merge_key(value: str) -> str:
    return re.sub(r"[\W_]+", "", value.casefold())


def quick_profile(data: pl.DataFrame | pl.LazyFrame) -> Profile:
    """Profile ``data`` well enough for :func:`plan_etl`.

    Parameters
    ----------
    data
        The dataset.

    Returns
    -------
    Profile
        A profile with per-column statistics and the alerts the planner acts on.
    """
    df = data.collect() if isinstance(data, pl.LazyFrame) else data
    rows = df.height
    alerts: list[Alert] = []
    columns: list[ColumnProfile] = []
    for name, dtype in df.schema.items():
        s = df.get_column(name)
        missing_mask = s.is_null() | (s.is_nan() if dtype.is_float() else pl.repeat(False, rows, eager=True))
        missing = int(missing_mask.sum())
        present = s.filter(~missing_mask)
        count = present.len()
        distinct = present.n_unique() if count else 0
        vc = present.value_counts(sort=True).head(10) if count else None
        top = [ValueCount(value=str(r[0]) if dtype.is_temporal() else r[0], count=int(r[1])) for r in vc.iter_rows()] if vc is not None else []
        numeric = strings = dates = None
        semantic: SemanticType = "categorical"
        if dtype == pl.Boolean:
            semantic = "boolean"
        elif dtype.is_numeric():
            x = present.cast(pl.Float64)
            finite = x.filter(x.is_finite())
            q = {p: _f(finite.quantile(p / 100, "linear")) if finite.len() else None for p in (5, 25, 50, 75, 95)}
            q25, q75 = q[25], q[75]
            iqr = None if q25 is None or q75 is None else q75 - q25
            n_out = 0
            if q25 is not None and q75 is not None and iqr is not None:
                n_out = int(((finite < q25 - 1.5 * iqr) | (finite > q75 + 1.5 * iqr)).sum())
            numeric = NumericStats(
                finite=finite.len(),
                min=_f(finite.min()), max=_f(finite.max()),
                mean=_f(finite.mean()), std=_f(finite.std()) if finite.len() > 1 else None,
                p5=q[5], p25=q[25], p50=q[50], p75=q[75], p95=q[95], iqr=iqr,
                mad=_f((finite - finite.median()).abs().median()) if finite.len() else None,
                skewness=_f(finite.skew()) if finite.len() > 2 else None,
                zeros=int((finite == 0).sum()), negatives=int((x < 0).sum()),
                infinite=int(x.is_infinite().sum()), outliers_iqr=n_out,
            )
            semantic = "integer" if dtype.is_integer() else "float"
            if dtype.is_integer() and distinct <= 2:
                semantic = "boolean" if set(present.unique().to_list()) <= {0, 1} else "integer"
        elif dtype.is_temporal():
            semantic = "date" if dtype == pl.Date else "datetime"
            earliest = present.min()
            dates = DateStats(min=earliest if isinstance(earliest, datetime) else None, max=None,
                              time_zone=getattr(dtype, "time_zone", None))
        elif dtype == pl.String:
            lengths = present.str.len_chars()
            strings = StringStats(
                min_length=_int(lengths.min()), max_length=_int(lengths.max()),
                mean_length=_f(lengths.mean()),
                empty=int((lengths == 0).sum()),
                whitespace_padded=int((present != present.str.strip_chars()).sum()),
                with_spaces=int(present.str.contains(r"\s").sum()),
                non_ascii=int(present.str.contains(r"[^\x00-\x7f]").sum()),
                numeric_like=int(present.str.contains(_NUMBER).sum()),
            )
            nonblank = present.filter(present.str.strip_chars() != "")
            if nonblank.len() and (_f(nonblank.str.contains(_NUMBER).mean()) or 0.0) >= 0.95:
                semantic = "float"
                alerts.append(Alert(type="NUMBERS_AS_TEXT", columns=[name], severity="warning", message=f"{name} holds numbers as text"))
            elif nonblank.len() and (_f(nonblank.str.contains(_DATE).mean()) or 0.0) >= 0.95:
                semantic = "datetime" if nonblank.str.contains(r"\d:\d").any() else "date"
                alerts.append(Alert(type="TYPE_DATE", columns=[name], severity="info", message=f"{name} holds dates as text"))
            elif (strings.mean_length or 0) > 30 and strings.with_spaces > count / 2:
                semantic = "text"
            elif count and distinct / count > 0.95 and count > 50:
                semantic = "identifier"
            keys = pl.Series(present.unique().to_list(), dtype=pl.String).map_elements(_merge_key, return_dtype=pl.String) if count else None
            if semantic == "categorical" and keys is not None and keys.n_unique() < distinct:
                alerts.append(Alert(type="DIRTY_CATEGORY", columns=[name], severity="warning",
                                    evidence={"variants": distinct - keys.n_unique()},
                                    message=f"{name} has {distinct - keys.n_unique()} near-identical spellings"))
        if count and distinct <= 1:
            alerts.append(Alert(type="CONSTANT", columns=[name], severity="warning", message=f"{name} is constant"))
        if missing:
            alerts.append(Alert(type="MISSING", columns=[name], severity="info",
                                evidence={"fraction": missing / rows}, message=f"{name} has missing values"))
        columns.append(ColumnProfile(
            name=name, physical_type=str(dtype), semantic_type=semantic, count=count, missing=missing,
            missing_fraction=missing / rows if rows else 0.0, distinct=distinct,
            distinct_fraction=distinct / count if count else 0.0,
            unique=int((present.value_counts()["count"] == 1).sum()) if count else 0,
            memory_bytes=int(s.estimated_size()), top_values=top, numeric=numeric, strings=strings, dates=dates,
        ))
    duplicates = rows - df.unique().height if rows else 0
    if duplicates:
        alerts.append(Alert(type="DUPLICATES", severity="warning", evidence={"rows": duplicates},
                            message=f"{duplicates} duplicate rows"))
    cells = rows * df.width
    cells_missing = sum(c.missing for c in columns)
    return Profile(
        dataset=DatasetStats(
            rows=rows, columns=df.width, memory_bytes=int(df.estimated_size()), cells=cells,
            cells_missing=cells_missing, cells_missing_fraction=cells_missing / cells if cells else 0.0,
            duplicate_rows=duplicates, duplicate_fraction=duplicates / rows if rows else 0.0,
            near_duplicate_rows=0,
        ),
        columns=columns,
        alerts=alerts,
        quality=QualityScore(score=100.0 * (1 - (cells_missing / cells if cells else 0.0)), components=[]),
    )
