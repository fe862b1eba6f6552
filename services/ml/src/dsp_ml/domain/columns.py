"""Reading the dataset and deciding what each column is for."""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from .errors import AnalysisError

__all__ = [
    "ColumnRoles",
    "as_cases",
    "excluded_columns",
    "file_sha256",
    "identifier_warnings",
    "infer_roles",
    "overridden_text_columns",
    "read_dataset",
]

_ID_NAME = re.compile(r"(^|_)(id|uuid|guid|key|index|idx)$|^unnamed|^rownames$", re.IGNORECASE)
# names that say "a number given to each row": "Sample Number", "case_no", "seq", "ID"
_NUMBER_NAME = re.compile(r"(^|[_\s.])(id|no|nr|num|number|seq|serial|index|idx)\.?$|^#$", re.IGNORECASE)
# whole numbers that label rather than measure: a flight number, a postcode
_CODE_NAME = re.compile(r"^(flight|flight_?(no|num|number)|code|zip|zip_?code|post_?code|postal_?code|fips|phone|sku|isbn)$",
                        re.IGNORECASE)
# a date split over columns (airquality's Month and Day): the part each name stands for, and its range
_PART_NAMES = {"year": ("year", 1000, 3000), "yr": ("year", 1000, 3000), "quarter": ("quarter", 1, 4),
               "month": ("month", 1, 12), "mon": ("month", 1, 12), "week": ("week", 0, 53),
               "day": ("day", 1, 31), "mday": ("day", 1, 31), "weekday": ("weekday", 0, 7), "wday": ("weekday", 0, 7),
               "yday": ("day of the year", 1, 366), "hour": ("hour", 0, 24), "hr": ("hour", 0, 24),
               "minute": ("minute", 0, 59), "min": ("minute", 0, 59), "second": ("second", 0, 60),
               "sec": ("second", 0, 60)}
_WEIGHT_NAME = re.compile(r"^(freq|frequency|frequencies|n|count|counts|weight|weights|wt|cases|number)$",
                          re.IGNORECASE)
_MAX_CATEGORIES = 50
_MAX_GROUPING = 50
_DATE_PARTS = ("year", "quarter", "month", "week", "day", "weekday", "ordinal_day", "hour", "minute", "second")
_CASES_CAP = 200_000


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
    constructed: dict[str, str] = field(default_factory=dict)
    """Columns in ``derived`` because they are parts of a datetime beside them, with the reason."""
    weight: str | None = None
    """A frequency table's count column (``Freq``, ``n``): how many cases each row stands for.

    Statistics and tests weight rows by it (see :func:`as_cases`); it is no feature itself. A model
    passes it as the sample weight."""

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

    groupings = _groupings(frame, exclude)
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
            elif (reason := _integer_id_reason(name, column, distinct=distinct, non_null=non_null, rows=n)
                    or _group_counter_reason(frame, name, groupings)) and identifier(name, reason):
                continue
            elif part := _datetime_part_reason(frame, name) or _split_date_reason(frame, name):
                roles.derived.append(name)
                roles.constructed[name] = part
            else:
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
    roles.weight = _frequency_weight(frame, roles)
    if roles.weight is not None:
        roles.numeric.remove(roles.weight)
    return roles


def as_cases(frame: pl.DataFrame, roles: ColumnRoles, *, cap: int = _CASES_CAP, seed: int = 0) -> pl.DataFrame:
    """One row per case: a frequency table's rows repeated by their count (``roles.weight``).

    Counts, tests and measures on the result are the weighted ones. Past ``cap`` cases, ``cap``
    rows are drawn with probability proportional to the count. Without a weight, ``frame`` as it is.
    """
    if roles.weight is None or roles.weight not in frame.columns:
        return frame
    counts = frame[roles.weight].cast(pl.Float64).fill_null(0.0).fill_nan(0.0).clip(lower_bound=0.0).to_numpy()
    total = counts.sum()
    if total <= 0:
        return frame.head(0)
    if total <= cap:
        rows = np.repeat(np.arange(frame.height), counts.round().astype(np.int64))
    else:
        rows = np.sort(np.random.default_rng(seed).choice(frame.height, size=cap, p=counts / total))
    return frame[rows]


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
    if roles.weight is not None:
        notes.append(f"{roles.weight!r} counts the cases each row stands for (a frequency table): statistics "
                     "and tests weight the rows by it.")
    for option, names in (("keep_columns", keep_columns), ("id_columns", id_columns),
                          ("exclude_columns", exclude_columns)):
        unknown = [name for name in names if columns and name not in columns]
        if unknown:
            notes.append(f"{option} names column(s) not in the data: {', '.join(map(repr, unknown))}.")
    return notes


def _groupings(frame: pl.DataFrame, exclude: tuple[str, ...]) -> list[str]:
    """Text or boolean columns with a few repeated values, within which a counter may run."""
    out = []
    for name, dtype in frame.schema.items():
        if name in exclude or not (dtype in (pl.String, pl.Categorical, pl.Boolean) or isinstance(dtype, pl.Enum)):
            continue
        distinct = frame[name].n_unique()
        if 2 <= distinct <= min(_MAX_GROUPING, frame.height // 3):
            out.append(name)
    return out


def _group_counter_reason(frame: pl.DataFrame, name: str, groupings: list[str]) -> str | None:
    """A counter restarting in each group (1..n within each species) or, named like one, unique in each group.

    Penguins' "Sample Number" runs 1..152 among the Adelie, 1..68 among the Chinstrap: it numbers
    the rows, it measures nothing.
    """
    column = frame[name]
    if not column.dtype.is_integer() or frame.height < 20:
        return None
    named = bool(_NUMBER_NAME.search(name.strip()))
    for group in groupings:
        if group == name:
            continue
        # the aggregates are named apart from every column (birthwt has a column named "low")
        parts = (frame.select(pl.col(group), pl.col(name)).drop_nulls().group_by(group)
                 .agg(pl.len().alias("__dsp_rows"), pl.col(name).n_unique().alias("__dsp_distinct"),
                      pl.col(name).min().alias("__dsp_low"), pl.col(name).max().alias("__dsp_high")))
        rows, low, high = parts["__dsp_rows"], parts["__dsp_low"], parts["__dsp_high"]
        if parts.height < 2 or rows.max() < 3:  # type: ignore[operator]
            continue
        unique = (rows == parts["__dsp_distinct"]).all()
        if not unique:
            continue
        counter = ((low <= 1) & (low >= 0) & (high - low + 1 == rows)).all()
        if counter:
            return f"counts the rows within each {group!r} (1, 2, 3... in each group), like an identifier"
        if named:
            return f"is named like a number given to each row and is unique within each {group!r}"
    if named and column.n_unique() > 0.5 * (column.len() - column.null_count()) and _is_monotone(column):
        return "is named like a number given to each row and rises row by row"
    return None


def _is_monotone(column: pl.Series) -> bool:
    diffs = column.drop_nulls().diff().drop_nulls()
    return diffs.len() > 0 and bool((diffs > 0).all())


def _datetime_part_reason(frame: pl.DataFrame, name: str) -> str | None:
    """``name`` is a part (year, month, day, hour...) of a datetime column beside it.

    Either it equals that part of the datetime on nearly every row or, named like a date part,
    where the datetime repeats (flights' ``time_hour`` in UTC beside local ``hour`` and ``day``),
    each datetime value goes with one value of it. A measure joined per date (the day's
    temperature) is determined by the date too, but is not named like a part of it.
    """
    column = frame[name]
    if not column.dtype.is_integer():
        return None
    values = column.n_unique()
    if values > 366:
        return None
    for source, dtype in frame.schema.items():
        if source == name or not dtype.is_temporal() or dtype in (pl.Duration, pl.Time):
            continue
        pair = frame.select(pl.col(source), pl.col(name)).drop_nulls()
        if pair.height < 20:
            continue
        when = pair[source]
        for part in _DATE_PARTS:
            if dtype == pl.Date and part in ("hour", "minute", "second"):
                continue
            try:
                extracted = getattr(when.dt, part)()
            except (AttributeError, pl.exceptions.InvalidOperationError):
                continue
            if (extracted.cast(pl.Int64) == pair[name].cast(pl.Int64)).mean() >= 0.99:
                return f"is the {part.replace('_', ' ')} of {source!r}"
        if _date_part_name(frame, name) is None:
            continue
        repeated = pair.group_by(source).agg(pl.len().alias("rows"), pl.col(name).n_unique().alias("distinct"))
        repeated = repeated.filter(pl.col("rows") >= 2)
        if repeated.height >= 20 and repeated["rows"].sum() >= 0.5 * pair.height \
                and (repeated["distinct"] == 1).all() and values >= 2:
            return f"is determined by {source!r}, like a part of it (each {source} has one {name})"
    return None


def _split_date_reason(frame: pl.DataFrame, name: str) -> str | None:
    """``name`` is one part of a date written over several columns: airquality's Month beside its Day."""
    own = _date_part_name(frame, name)
    if own is None:
        return None
    others = [other for other in frame.columns if other != name and (part := _date_part_name(frame, other))
              and part != own]
    if not others:
        return None
    return f"is the {own} of a date written over columns ({', '.join(map(repr, [name, *others]))})"


def _date_part_name(frame: pl.DataFrame, name: str) -> str | None:
    entry = _PART_NAMES.get(name.strip().lower())
    column = frame[name]
    if entry is None or not column.dtype.is_integer():
        return None
    part, low, high = entry
    values = column.drop_nulls()
    if values.len() == 0 or values.min() < low or values.max() > high:  # type: ignore[operator]
        return None
    return part


def _frequency_weight(frame: pl.DataFrame, roles: ColumnRoles) -> str | None:
    """The count column of a frequency table: Titanic's ``Freq`` beside Class, Sex, Age and Survived.

    A column of non-negative whole numbers, named like a count (or the only number, beside a
    complete cross table), where every other column is categorical and each combination of
    their values appears once.
    """
    if len(roles.numeric) != 1 or not roles.categorical or roles.datetime:
        return None
    name = roles.numeric[0]
    column = frame[name].drop_nulls()
    if column.len() != frame.height or column.dtype.is_float() and not (column == column.round()).all():
        return None
    if column.min() < 0 or column.sum() <= frame.height:  # type: ignore[operator]
        return None
    cells = frame.select(roles.categorical).n_unique()
    if cells != frame.height:
        return None
    full_table = len(roles.categorical) >= 2 and math.prod(frame[c].n_unique() for c in roles.categorical) == cells
    return name if _WEIGHT_NAME.match(name.strip()) or full_table else None


def _integer_id_reason(name: str, column: pl.Series, *, distinct: int, non_null: int, rows: int) -> str | None:
    if not column.dtype.is_integer():
        return None
    if _ID_NAME.search(name) and distinct >= 0.9 * non_null:
        return "looks like an identifier (a unique integer named like an id)"
    if _CODE_NAME.match(name.strip()):
        return "is named like a code (a number that labels rows rather than measures them)"
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
