"""Reading the dataset and deciding what each column is for."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from .errors import AnalysisError

__all__ = [
    "ColumnRoles",
    "excluded_columns",
    "file_sha256",
    "identifier_warnings",
    "infer_roles",
    "overridden_text_columns",
    "read_dataset",
]

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
    identifiers: dict[str, str] = field(default_factory=dict)
    """Columns left out because they identify rows (a subset of ``ignored``), with the reason."""
    kept: list[str] = field(default_factory=list)
    """Columns that look like identifiers but that the user asked to keep."""

    @property
    def features(self) -> list[str]:
        """Columns the statistics and patterns describe."""
        return [*self.numeric, *self.categorical]

    @property
    def model_features(self) -> list[str]:
        """Columns a model may learn from: the features plus those derived from other columns."""
        return [*self.features, *self.derived]


def read_dataset(data: Path | pl.DataFrame, *, keep_text: Sequence[str] = ()) -> pl.DataFrame:
    """Read a Parquet or CSV file (or pass a frame through), parsing date-like text columns.

    Columns named in ``keep_text`` (typed as text by the user) stay as they are.
    """
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
    return _parse_date_strings(frame, keep_text=keep_text)


def overridden_text_columns(profile: Any) -> list[str]:
    """Columns the user typed at ingest as something other than a date: their text is not parsed as dates."""
    return [column.name for column in getattr(profile, "columns", None) or []
            if getattr(column, "overridden", False) and column.semantic_type not in ("date", "datetime")]


def excluded_columns(columns: Sequence[str], exclude: Sequence[str], *, target: str | None = None) -> list[str]:
    """The columns ``exclude`` names, with those cleaning derived from them (``name__part``); never the target."""
    named = set(exclude) - {target}
    return [name for name in columns if name in named or (name.split("__", 1)[0] in named and name != target)]


def _parse_date_strings(frame: pl.DataFrame, *, keep_text: Sequence[str] = ()) -> pl.DataFrame:
    sample = frame.head(500)
    replacements = []
    for name, dtype in frame.schema.items():
        if dtype != pl.String or name in keep_text:
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


def infer_roles(frame: pl.DataFrame, *, profile: Any = None, exclude: tuple[str, ...] = (),
                keep: tuple[str, ...] | list[str] = (), ids: Sequence[str] = ()) -> ColumnRoles:
    """Sort columns into numeric, categorical, datetime, or ignored (with the reason).

    Identifiers never become features: a column the reader typed ``identifier``, one the profile
    flags ``ID_LIKE``, a unique integer named like an id, a row counter, unique text, and any
    column derived from one of them. A column named in ``keep`` stays a feature all the same;
    one named in ``ids`` (the user's identifiers) is an identifier whatever it looks like.
    """
    roles = ColumnRoles()
    semantic = _semantic_types(profile)
    id_alerts = _id_like_alerts(profile)
    kept = set(keep)
    n = frame.height

    def identifier(name: str, reason: str) -> bool:
        if name in kept:
            if name not in roles.kept:
                roles.kept.append(name)
            return False
        roles.ignored[name] = roles.identifiers[name] = reason
        return True

    for name, dtype in frame.schema.items():
        if name in exclude:
            continue
        column = frame[name]
        non_null = column.len() - column.null_count()
        kind = semantic.get(name, "")
        source = name.split("__", 1)[0] if "__" in name.strip("_") else None
        if name in ids or (source in ids and source != name and source in frame.columns):
            roles.ignored[name] = roles.identifiers[name] = (
                "is named an identifier (id_columns)" if name in ids
                else f"is derived from {source!r}, which is named an identifier (id_columns)")
            continue
        if source and source != name and source in frame.columns and non_null > 0:
            # cleaning derived it from another column (date parts, encodings): a model may use it,
            # but describing it beside its source would only repeat the source
            source_id = _identifier_reason(source, semantic, id_alerts)
            if source_id and source not in kept and identifier(name, f"is derived from {source!r}, which {source_id}"):
                continue
            if column.n_unique() > 1:
                roles.derived.append(name)
            else:
                roles.ignored[name] = "constant"
        elif non_null == 0:
            roles.ignored[name] = "all values are missing"
        elif (reason := _identifier_reason(name, semantic, id_alerts)) and identifier(name, reason):
            continue
        elif kind in {"id", "text", "free_text", "url", "email", "unsupported"}:
            roles.ignored[name] = f"profiled as {kind}"
        elif dtype.is_temporal() and dtype != pl.Duration and dtype != pl.Time:
            roles.datetime.append(name)
        elif dtype == pl.Boolean:
            roles.categorical.append(name)
        elif dtype.is_numeric():
            distinct = column.n_unique()
            if distinct <= 1:
                roles.ignored[name] = "constant"
            elif not (reason := _integer_id_reason(name, column, distinct=distinct, non_null=non_null, rows=n)) \
                    or not identifier(name, reason):
                roles.numeric.append(name)
        elif dtype in (pl.String, pl.Categorical) or isinstance(dtype, pl.Enum):
            distinct = column.n_unique()
            if distinct <= 1:
                roles.ignored[name] = "constant"
            elif distinct <= max(_MAX_CATEGORIES, 0) and distinct < max(2, 0.5 * non_null):
                roles.categorical.append(name)
            elif _ID_NAME.search(name) or distinct >= 0.9 * non_null:
                if not identifier(name, "is unique text, like an identifier"):
                    roles.categorical.append(name)
            else:
                roles.ignored[name] = f"text with {distinct} distinct values"
        else:
            roles.ignored[name] = f"unsupported type {dtype}"
    return roles


def identifier_warnings(roles: ColumnRoles, *, keep_columns: Sequence[str] = (), columns: Sequence[str] = (),
                        target: str | None = None, id_columns: Sequence[str] = (),
                        exclude_columns: Sequence[str] = ()) -> list[str]:
    """Plain-language notes on the identifiers left out of the models and the ones the user kept.

    The user's own identifiers (``id_columns``) need no note; option names not in the data get one.
    """
    notes = [f"{name!r} was left out of the models: it {reason}. Name it in keep_columns to use it as a feature."
             for name, reason in roles.identifiers.items()
             if name != target and name not in id_columns and name.split("__", 1)[0] not in id_columns]
    notes += [f"{name!r} looks like an identifier but is used as a feature, as asked (keep_columns)."
              for name in roles.kept if name != target]
    for option, names in (("keep_columns", keep_columns), ("id_columns", id_columns),
                          ("exclude_columns", exclude_columns)):
        unknown = [name for name in names if columns and name not in columns]
        if unknown:
            notes.append(f"{option} names column(s) not in the data: {', '.join(map(repr, unknown))}.")
    return notes


def _integer_id_reason(name: str, column: pl.Series, *, distinct: int, non_null: int, rows: int) -> str | None:
    if not column.dtype.is_integer():
        return None
    if _ID_NAME.search(name) and distinct >= 0.9 * non_null:
        return "looks like an identifier (a unique integer named like an id)"
    if distinct == rows and rows > 50 and _is_row_counter(column):
        return "is a row counter (1, 2, 3...)"
    return None


def _identifier_reason(name: str, semantic: dict[str, str], id_alerts: dict[str, str]) -> str | None:
    """Why the profile says ``name`` identifies rows, or None."""
    if semantic.get(name) in ("identifier", "id"):
        return "is typed identifier by ingest"
    if name in id_alerts:
        return f"is flagged ID_LIKE by the profile ({id_alerts[name]})"
    return None


def _id_like_alerts(profile: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    for alert in getattr(profile, "alerts", None) or []:
        if str(getattr(alert, "type", "")) == "ID_LIKE":
            evidence = getattr(alert, "evidence", {}) or {}
            share = evidence.get("distinct_fraction")
            detail = f"{100 * share:.0f}% distinct values" if isinstance(share, int | float) else "identifies rows"
            for column in getattr(alert, "columns", None) or []:
                out[str(column)] = detail
    return out


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
