"""Declarative validation rules (JSON or YAML) and their evaluation with Polars expressions.

A rule file is a list of rules, or a mapping with a ``rules`` list. Each rule has a ``type``::

    - {type: not_null, column: id}
    - {type: range, column: age, min: 0, max: 120}
    - {type: regex, column: email, pattern: "^[^@]+@[^@]+$"}
    - {type: allowed_values, column: status, values: [active, inactive]}
    - {type: unique, columns: [id]}
    - {type: compare, column_a: end_date, op: ">=", column_b: start_date}
    - {type: expr, expr: "end_date >= start_date"}

Every rule may carry a ``name`` and a ``severity`` (``error`` or ``warning``).
"""

from __future__ import annotations

import json
import re
from datetime import date, datetime
from typing import Annotated, Any, Literal

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from .errors import IngestError

__all__ = [
    "AllowedValuesRule",
    "CompareRule",
    "ExprRule",
    "NotNullRule",
    "RangeRule",
    "RegexRule",
    "Rule",
    "UniqueRule",
    "load_rules",
    "parse_rules",
]

Op = Literal["<", "<=", ">", ">=", "==", "!="]
Scalar = int | float | str | bool | date | datetime


class _RuleBase(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str | None = Field(default=None, description="Label shown in the report; derived when omitted")
    severity: Literal["error", "warning"] = Field(default="error")

    def used_columns(self) -> list[str]:
        raise NotImplementedError

    def label(self) -> str:
        raise NotImplementedError

    def violations(self, schema: pl.Schema) -> pl.Expr:
        """Boolean expression: True on the rows that break the rule."""
        raise NotImplementedError

    def offending(self) -> pl.Expr:
        """Expression giving the values reported for failing rows."""
        cols = self.used_columns()
        return pl.col(cols[0]) if len(cols) == 1 else pl.struct(cols)


class NotNullRule(_RuleBase):
    """Every value of the column is present."""

    type: Literal["not_null"]
    column: str

    def used_columns(self) -> list[str]:
        return [self.column]

    def label(self) -> str:
        return f"{self.column} is not null"

    def violations(self, schema: pl.Schema) -> pl.Expr:
        return pl.col(self.column).is_null()


def _literal_for(value: Any, dtype: pl.DataType) -> pl.Expr:
    if isinstance(value, str) and dtype.is_temporal():
        return pl.lit(value).str.to_datetime().cast(dtype) if dtype != pl.Date else pl.lit(value).str.to_date()
    return pl.lit(value)


class RangeRule(_RuleBase):
    """Values lie between ``min`` and ``max`` (inclusive by default); missing values are not checked."""

    type: Literal["range"]
    column: str
    min: Scalar | None = None
    max: Scalar | None = None
    inclusive: bool = True

    @model_validator(mode="after")
    def _bounds(self) -> RangeRule:
        if self.min is None and self.max is None:
            raise ValueError("a range rule needs min, max or both")
        return self

    def used_columns(self) -> list[str]:
        return [self.column]

    def label(self) -> str:
        lo = "" if self.min is None else f"{self.min} <= "
        hi = "" if self.max is None else f" <= {self.max}"
        return f"{lo}{self.column}{hi}"

    def violations(self, schema: pl.Schema) -> pl.Expr:
        col = pl.col(self.column)
        dtype = schema[self.column]
        bad = pl.lit(False)
        if self.min is not None:
            lo = _literal_for(self.min, dtype)
            bad = bad | ((col < lo) if self.inclusive else (col <= lo))
        if self.max is not None:
            hi = _literal_for(self.max, dtype)
            bad = bad | ((col > hi) if self.inclusive else (col >= hi))
        return bad.fill_null(False)


class RegexRule(_RuleBase):
    """Text values match the regular expression (searched, so anchor it with ^...$ for a full match)."""

    type: Literal["regex"]
    column: str
    pattern: str

    @model_validator(mode="after")
    def _compiles(self) -> RegexRule:
        try:
            pl.select(pl.lit("").str.contains(self.pattern))
        except Exception as exc:
            # the regex engine's own diagnosis of the pattern (its last "error: ..." line), none of its other text
            said = [line.strip()[6:].strip() for line in str(exc).splitlines() if line.strip().startswith("error:")]
            why = f": {said[-1]}" if said else " (the syntax is Rust's regex: no look-around, no backreferences)"
            raise ValueError(f"invalid regular expression {self.pattern!r}{why}") from exc
        return self

    def used_columns(self) -> list[str]:
        return [self.column]

    def label(self) -> str:
        return f"{self.column} matches {self.pattern}"

    def violations(self, schema: pl.Schema) -> pl.Expr:
        return (~pl.col(self.column).cast(pl.String).str.contains(self.pattern)).fill_null(False)


class AllowedValuesRule(_RuleBase):
    """Values belong to a fixed set; missing values are not checked."""

    type: Literal["allowed_values"]
    column: str
    values: list[Scalar] = Field(min_length=1)

    def used_columns(self) -> list[str]:
        return [self.column]

    def label(self) -> str:
        return f"{self.column} in {self.values}"

    def violations(self, schema: pl.Schema) -> pl.Expr:
        dtype = schema[self.column]
        col = pl.col(self.column)
        if dtype == pl.String:
            allowed = pl.Series([str(v) for v in self.values], dtype=pl.String)
        else:
            allowed = pl.Series([str(v) for v in self.values], dtype=pl.String).cast(dtype, strict=False).drop_nulls()
        return (~col.is_in(allowed.implode())).fill_null(False) & col.is_not_null()


class UniqueRule(_RuleBase):
    """No two rows share the same value (or the same combination of values); rows with a missing value are not checked."""

    type: Literal["unique"]
    columns: list[str] = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _single_column(cls, data: Any) -> Any:
        if isinstance(data, dict) and "column" in data and "columns" not in data:
            data = {**data, "columns": [data["column"]]}
            del data["column"]
        return data

    def used_columns(self) -> list[str]:
        return list(self.columns)

    def label(self) -> str:
        return f"{', '.join(self.columns)} unique"

    def violations(self, schema: pl.Schema) -> pl.Expr:
        key = pl.col(self.columns[0]) if len(self.columns) == 1 else pl.struct(self.columns)
        present = pl.all_horizontal([pl.col(c).is_not_null() for c in self.columns])
        return key.is_duplicated() & present


_OPS = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
}


class CompareRule(_RuleBase):
    """``column_a <op> column_b`` (or ``<op> value``) holds on every row where both sides are present."""

    type: Literal["compare"]
    column_a: str
    op: Op
    column_b: str | None = None
    value: Scalar | None = None

    @model_validator(mode="after")
    def _one_right_side(self) -> CompareRule:
        if (self.column_b is None) == (self.value is None):
            raise ValueError("a compare rule needs exactly one of column_b or value")
        return self

    def used_columns(self) -> list[str]:
        return [self.column_a] + ([self.column_b] if self.column_b else [])

    def label(self) -> str:
        right = self.column_b if self.column_b is not None else repr(self.value)
        return f"{self.column_a} {self.op} {right}"

    def violations(self, schema: pl.Schema) -> pl.Expr:
        left = pl.col(self.column_a)
        right = pl.col(self.column_b) if self.column_b else _literal_for(self.value, schema[self.column_a])
        return (~_OPS[self.op](left, right)).fill_null(False)


_EXPR = re.compile(r"^\s*(`[^`]+`|[^<>=!]+?)\s*(<=|>=|==|!=|<|>)\s*(`[^`]+`|.+?)\s*$")


class ExprRule(_RuleBase):
    """A comparison written as text: ``"end_date >= start_date"``, ``"`unit price` > 0"``."""

    type: Literal["expr"]
    expr: str

    @model_validator(mode="after")
    def _parses(self) -> ExprRule:
        self.as_compare()
        return self

    def as_compare(self) -> CompareRule:
        match = _EXPR.match(self.expr)
        if not match:
            raise ValueError(f"cannot read {self.expr!r}: write '<column> <op> <column or value>'")
        left, op, right = match.groups()
        left = left.strip("`")
        if right.startswith("`"):
            return CompareRule(type="compare", column_a=left, op=op, column_b=right.strip("`"))  # type: ignore[arg-type]
        try:
            value: Any = json.loads(right)
        except ValueError:
            if right[:1] in "'\"" and right[-1:] == right[:1]:
                value = right[1:-1]
            else:
                return CompareRule(type="compare", column_a=left, op=op, column_b=right)  # type: ignore[arg-type]
        return CompareRule(type="compare", column_a=left, op=op, value=value)  # type: ignore[arg-type]

    def used_columns(self) -> list[str]:
        return self.as_compare().used_columns()

    def label(self) -> str:
        return self.expr

    def violations(self, schema: pl.Schema) -> pl.Expr:
        return self.as_compare().violations(schema)


Rule = Annotated[
    NotNullRule | RangeRule | RegexRule | AllowedValuesRule | UniqueRule | CompareRule | ExprRule,
    Field(discriminator="type"),
]
_RULES = TypeAdapter(list[Rule])


def parse_rules(data: Any) -> list[Rule]:
    """Validate already-parsed rule data (a list, or a mapping with a ``rules`` list).

    Raises
    ------
    IngestError
        ``invalid_rules`` with the problems found.
    """
    if isinstance(data, dict) and "rules" in data:
        data = data["rules"]
    if data is None:
        return []
    if not isinstance(data, list):
        raise IngestError("invalid_rules", "Validation rules must be a list of rules.", {"found": type(data).__name__})
    try:
        return _RULES.validate_python(data)
    except ValidationError as exc:
        problems = [
            {"rule": err["loc"][0] if err["loc"] else None, "where": ".".join(map(str, err["loc"][1:])), "problem": err["msg"]}
            for err in exc.errors(include_url=False)
        ]
        raise IngestError(
            "invalid_rules",
            f"{len(problems)} problem(s) in the validation rules; the first: {problems[0]['problem']}.",
            {"problems": problems},
        ) from exc


def load_rules(text: str) -> list[Rule]:
    """Read validation rules from JSON or YAML text.

    Parameters
    ----------
    text
        A JSON or YAML document: a list of rules, or a mapping with a ``rules`` list.

    Returns
    -------
    list of Rule
        Validated rules, in order.

    Raises
    ------
    IngestError
        ``invalid_rules`` when the text does not parse or a rule is malformed.
    """
    try:
        data = json.loads(text)
    except ValueError:
        import yaml  # YAML support costs a noticeable import; only rule files need it

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = {"line": mark.line + 1, "column": mark.column + 1} if mark is not None else {}
            raise IngestError("invalid_rules", "The validation rules are neither valid JSON nor valid YAML"
                              + (f" (line {where['line']}, column {where['column']})." if where else "."),
                              where) from exc
    return parse_rules(data)
