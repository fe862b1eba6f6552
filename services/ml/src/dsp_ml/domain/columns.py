"""Reading the dataset and deciding what each column is for."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from .errors import AnalysisError

__all__ = ["ColumnRoles", "file_sha256", "infer_roles", "read_dataset"]

_ID_NAME = re.compile(r"(^|_)(id|uuid|guid|key|index|idx)$|^unnamed", re.IGNORECASE)
_MAX_CATEGORIES = 50


@dataclass
class ColumnRoles:
    """Columns grouped by the role they play in the analysis."""

    numeric: list[str] = field(default_factory=list)
    categorical: list[str] = field(default_factory=list)
    datetime: list[str] = field(default_factory=list)
    derived: list[str] = field(default_factory=list)
    ignored: dict[str, str] = field(default_factory=dict)

    @property
    def features(self) -> list[str]:
        """Columns the statistics and patterns describe."""
        return [*self.numeric, *self.categorical]

    @property
    def model_features(self) -> list[str]:
        """Columns a model may learn from: the features plus those derived from other columns."""
        return [*self.features, *self.derived]


def read_dataset(data: Path | pl.DataFrame) -> pl.DataFrame:
    """Read a Parquet or CSV file (or pass a frame through), parsing date-like text columns."""
    if isinstance(data, pl.DataFrame):
        frame = data
    else:
        path = Path(data)
        if not path.exists():
            raise AnalysisError("unreadable_data", f"no data file at {path}")
        try:
            if path.suffix.lower() in {".csv", ".txt", ".tsv"}:
                frame = pl.read_csv(path, separator="\t" if path.suffix.lower() == ".tsv" else ",",
                                    infer_schema_length=10_000, try_parse_dates=True)
            else:
                frame = pl.read_parquet(path)
        except Exception as exc:  # noqa: BLE001 - any reader failure is the user's file, not a crash
            raise AnalysisError("unreadable_data", f"could not read {path.name}: {exc}") from exc
    return _parse_date_strings(frame)


def _parse_date_strings(frame: pl.DataFrame) -> pl.DataFrame:
    sample = frame.head(500)
    replacements = []
    for name, dtype in frame.schema.items():
        if dtype != pl.String:
            continue
        values = sample[name].drop_nulls()
        if values.len() == 0 or not values.str.contains(r"\d{4}-\d{1,2}(-\d{1,2})?|\d{1,2}/\d{1,2}/\d{2,4}").all():
            continue
        parsed = _try_parse(frame[name])
        if parsed is not None:
            replacements.append(parsed.alias(name))
    return frame.with_columns(replacements) if replacements else frame


def _try_parse(column: pl.Series) -> pl.Series | None:
    non_null = column.drop_nulls().len()
    for fmt in (None, "%Y-%m", "%m/%d/%Y", "%d/%m/%Y"):
        try:
            parsed = column.str.to_datetime(format=fmt, strict=False)
        except Exception:  # noqa: BLE001 - an unparseable format is just not a date column
            continue
        if non_null and parsed.drop_nulls().len() >= 0.95 * non_null:
            return parsed
    return None


def infer_roles(frame: pl.DataFrame, *, profile: Any = None, exclude: tuple[str, ...] = ()) -> ColumnRoles:
    """Sort columns into numeric, categorical, datetime, or ignored (with the reason)."""
    roles = ColumnRoles()
    semantic = _semantic_types(profile)
    n = frame.height
    for name, dtype in frame.schema.items():
        if name in exclude:
            continue
        column = frame[name]
        non_null = column.len() - column.null_count()
        kind = semantic.get(name, "")
        source = name.split("__", 1)[0] if "__" in name.strip("_") else None
        if source and source != name and source in frame.columns and non_null > 0:
            # cleaning derived it from another column (date parts, encodings): a model may use it,
            # but describing it beside its source would only repeat the source
            if column.n_unique() > 1:
                roles.derived.append(name)
            else:
                roles.ignored[name] = "constant"
        elif non_null == 0:
            roles.ignored[name] = "all values are missing"
        elif kind in {"identifier", "id", "text", "free_text", "url", "email", "unsupported"}:
            roles.ignored[name] = f"profiled as {kind}"
        elif dtype.is_temporal() and dtype != pl.Duration and dtype != pl.Time:
            roles.datetime.append(name)
        elif dtype == pl.Boolean:
            roles.categorical.append(name)
        elif dtype.is_numeric():
            distinct = column.n_unique()
            if distinct <= 1:
                roles.ignored[name] = "constant"
            elif dtype.is_integer() and _ID_NAME.search(name) and distinct >= 0.9 * non_null:
                roles.ignored[name] = "looks like an identifier"
            elif dtype.is_integer() and distinct == n and n > 50 and _is_row_counter(column):
                roles.ignored[name] = "a row counter"
            else:
                roles.numeric.append(name)
        elif dtype in (pl.String, pl.Categorical) or isinstance(dtype, pl.Enum):
            distinct = column.n_unique()
            if distinct <= 1:
                roles.ignored[name] = "constant"
            elif distinct <= max(_MAX_CATEGORIES, 0) and distinct < max(2, 0.5 * non_null):
                roles.categorical.append(name)
            elif _ID_NAME.search(name) or distinct >= 0.9 * non_null:
                roles.ignored[name] = "unique text, like an identifier"
            else:
                roles.ignored[name] = f"text with {distinct} distinct values"
        else:
            roles.ignored[name] = f"unsupported type {dtype}"
    return roles


def _is_row_counter(column: pl.Series) -> bool:
    diffs = column.diff().drop_nulls()
    return diffs.len() > 0 and diffs.n_unique() == 1


def _semantic_types(profile: Any) -> dict[str, str]:
    if profile is None:
        return {}
    columns = getattr(profile, "columns", None) or []
    if isinstance(columns, dict):
        columns = list(columns.values())
    out = {}
    for column in columns:
        name = getattr(column, "name", None)
        kind = getattr(column, "semantic_type", None)
        if name and kind:
            out[str(name)] = str(kind).lower()
    return out


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
