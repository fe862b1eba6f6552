"""The ingest report: how an uploaded CSV was read, typed, checked and written as Parquet."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "ALWAYS_NA_TOKENS",
    "EVIDENCE_NA_TOKENS",
    "SEMANTIC_TYPES",
    "SUPPORTED_FORMATS",
    "BadRow",
    "BadRowsReport",
    "CellIssue",
    "ColumnReport",
    "DateDecision",
    "IngestReport",
    "RuleResult",
    "SemanticType",
    "SourceFormat",
]

# Missing-value tokens, compared after trimming. Each canonical token lists the spellings accepted.
# These are missing wherever they occur: no real value is spelled like that.
ALWAYS_NA_TOKENS: dict[str, tuple[str, ...]] = {
    "": ("",),
    "NA": ("NA", "na", "Na"),
    "#N/A": ("#N/A",),
    "null": ("null", "NULL", "Null"),
    "NaN": ("NaN", "nan", "NAN"),
}
# These are missing only when the column makes it plausible: in a numeric (or date, boolean)
# column, or as a rare value in a text column. "none" is a real level of many categories.
EVIDENCE_NA_TOKENS: dict[str, tuple[str, ...]] = {
    "N/A": ("N/A", "n/a", "N/a"),
    "None": ("None", "none", "NONE"),
    "-": ("-", "--"),
    ".": (".",),
    "?": ("?",),
}

SemanticType = Literal[
    "identifier",
    "categorical",
    "integer",
    "float",
    "boolean",
    "date",
    "datetime",
    "text",
    "email",
    "url",
    "currency",
    "percent",
    "latitude",
    "longitude",
]
SEMANTIC_TYPES: tuple[str, ...] = SemanticType.__args__  # type: ignore[attr-defined]

SourceFormat = Literal["csv", "parquet", "arrow", "xlsx", "xlsb", "xls", "ods", "json", "ndjson"]
"""The formats ingest reads, recognised by their content (never by the file name)."""
SUPPORTED_FORMATS: tuple[str, ...] = (
    "CSV or other delimited text (TSV, semicolons, pipes)",
    "Parquet",
    "Arrow IPC / Feather",
    "Excel workbooks (.xlsx, .xlsb, .xls)",
    "OpenDocument spreadsheets (.ods)",
    "JSON (an array of records, or {\"data\": [...]})",
    "NDJSON (one JSON record per line)",
    "gzip, zstd or bzip2 compressed CSV or JSON",
)
"""What ingest reads, in words, as error messages list it."""


class CellIssue(BaseModel):
    """One value that could not be converted to its column's type (it was stored as null)."""

    model_config = ConfigDict(frozen=True)

    line_number: int = Field(description="1-based physical line of the source file where the record starts")
    value: str = Field(description="The raw text of the value, as found in the file")


class DateDecision(BaseModel):
    """How a date or datetime column's format was chosen, with the evidence from the data."""

    model_config = ConfigDict(frozen=True)

    format: str = Field(description="strftime-style format used to parse the column", examples=["%d/%m/%Y"])
    day_first: bool | None = Field(
        default=None,
        description="True when the day comes before the month, False when the month comes first, "
        "None when the format has no day/month order question (e.g. ISO 8601)",
    )
    ambiguous: bool = Field(
        default=False,
        description="True when no sampled value settled the day/month order, so a default was applied",
    )
    day_first_evidence: int = Field(
        default=0, description="Sampled values that only parse day-first (their first part is above 12)"
    )
    month_first_evidence: int = Field(
        default=0, description="Sampled values that only parse month-first (their second part is above 12)"
    )
    explanation: str = Field(default="", description="Plain-language summary of the decision")


class ColumnReport(BaseModel):
    """What the reader decided about one column."""

    model_config = ConfigDict(frozen=True)

    name: str = Field(description="Column name in the Parquet output (trimmed, unique, never empty)")
    source_name: str = Field(description="Header text as found in the file ('' when the file has no header)")
    physical_type: str = Field(description="Polars dtype of the column in the Parquet output", examples=["Int64"])
    semantic_type: SemanticType = Field(description="What the values mean, as inferred or overridden")
    confidence: float = Field(
        ge=0, le=1, description="Share of non-missing values that fit the semantic type (1.0 when overridden)"
    )
    unit: str | None = Field(
        default=None, description="Unit stripped from the values: a currency symbol or code, or '%'", examples=["$"]
    )
    date_format: str | None = Field(
        default=None, description="strftime-style format of a date or datetime column (same as date.format)"
    )
    day_first: bool | None = Field(
        default=None, description="Day/month order of a date or datetime column (same as date.day_first)"
    )
    date: DateDecision | None = Field(
        default=None, description="Format decision for date and datetime columns, with the evidence behind it"
    )
    overridden: bool = Field(default=False, description="True when the user forced the semantic type")
    null_count: int = Field(default=0, ge=0, description="Missing values in the output, NA tokens included")
    unparseable_count: int = Field(
        default=0, ge=0, description="Non-missing values that did not fit the column type and were stored as null"
    )
    unparseable_sample: list[CellIssue] = Field(
        default_factory=list, description="Up to a few of those values, with their line numbers"
    )
    missing_tokens: dict[str, int] = Field(
        default_factory=dict,
        description="Missing-value tokens read as missing in this column -> how many cells held them",
        examples=[{"NA": 12, "?": 3}],
    )
    kept_tokens: dict[str, int] = Field(
        default_factory=dict,
        description="Tokens that could mean missing but were kept as values here (e.g. 'none' as a category level)",
        examples=[{"None": 991}],
    )
    widened_from: SemanticType | None = Field(
        default=None,
        description="The type the sample suggested, when values further down did not fit and the type was widened",
    )
    identifier_reason: str | None = Field(
        default=None, description="Why the column is an identifier, when its position or name decided it"
    )
    out_of_range_years: int = Field(
        default=0, ge=0, description="Date or datetime values whose year is outside 1000-9999 (kept, with a warning)"
    )
    trimmed_values: int = Field(
        default=0, ge=0, description="Text values whose surrounding blanks were trimmed (the rest is kept as written)"
    )
    boolean_labels: list[str] | None = Field(
        default=None, min_length=2, max_length=2,
        description="How the file writes False and True in a boolean column, in that order (its most frequent "
                    "spelling of each)", examples=[["No", "Yes"]],
    )


class BadRow(BaseModel):
    """A record the reader could not take as is."""

    model_config = ConfigDict(frozen=True)

    line_number: int = Field(description="1-based physical line where the record starts")
    raw: str = Field(description="The record's text as found in the file (truncated to 500 characters)")
    reason: str = Field(description="Why the record is bad", examples=["expected 5 fields, found 7"])


class BadRowsReport(BaseModel):
    """Ragged records (a field count different from the header's) and what was done with them."""

    model_config = ConfigDict(frozen=True)

    count: int = Field(default=0, ge=0, description="How many records were bad")
    policy: Literal["reject", "skip"] = Field(
        default="reject", description="Policy applied: reject the file, or skip the records and report them"
    )
    sample: list[BadRow] = Field(default_factory=list, description="The first bad records, with line numbers")
    empty_lines_skipped: int = Field(
        default=0, ge=0, description="Blank lines (no data at all) left out of the output; never counted as bad"
    )


class RuleResult(BaseModel):
    """The outcome of one validation rule on the whole dataset."""

    model_config = ConfigDict(frozen=True)

    name: str = Field(description="Rule name, given by the user or derived from the rule")
    kind: str = Field(
        description="Rule kind",
        examples=["not_null", "range", "regex", "allowed_values", "unique", "compare", "expr"],
    )
    columns: list[str] = Field(default_factory=list, description="Columns the rule reads")
    passed: bool = Field(description="True when no row breaks the rule")
    failing_count: int = Field(ge=0, description="Rows that break the rule")
    sample_rows: list[int] = Field(
        default_factory=list, description="0-based row indices in the Parquet output of the first failing rows"
    )
    sample_lines: list[int] = Field(
        default_factory=list, description="Source line numbers of the same rows, in the same order"
    )
    sample_values: list[Any] = Field(
        default_factory=list, description="The offending values of the same rows (a dict per row for multi-column rules)"
    )
    severity: Literal["error", "warning"] = Field(default="error", description="How the user ranked the rule")
    message: str = Field(default="", description="Plain-language summary")


class IngestReport(BaseModel):
    """Everything the reader detected and decided while turning a CSV into Parquet."""

    model_config = ConfigDict(frozen=True)

    source_bytes: int = Field(default=0, ge=0, description="Size of the uploaded file in bytes")
    encoding: str = Field(description="Detected (or given) text encoding, Python codec name", examples=["utf-8"])
    encoding_confidence: float = Field(default=1.0, ge=0, le=1, description="How sure the encoding detection is")
    had_bom: bool = Field(default=False, description="True when the file started with a byte-order mark")
    delimiter: str = Field(description="Field separator", examples=[",", ";", "\t", "|"])
    quote_char: str | None = Field(default='"', description="Quote character, or None when fields are never quoted")
    escape_char: str | None = Field(
        default=None, description="Escape character inside quoted fields; None means quotes are doubled ('\"\"')"
    )
    line_terminator: Literal["\n", "\r\n", "\r"] = Field(default="\n", description="Line ending found in the file")
    has_header: bool = Field(description="True when the first record holds column names")
    decimal_separator: Literal[".", ","] = Field(default=".", description="Decimal mark in numeric columns")
    thousands_separator: str | None = Field(
        default=None, description="Digit-group separator in numeric columns, if any", examples=[",", ".", " "]
    )
    na_tokens_found: dict[str, int] = Field(
        default_factory=dict,
        description="Missing-value tokens found in the data -> how many cells held them ('' is an empty cell)",
    )
    row_count: int = Field(ge=0, description="Rows written to the Parquet output")
    column_count: int = Field(default=0, ge=0, description="Columns written to the Parquet output")
    columns: list[ColumnReport] = Field(default_factory=list, description="One entry per output column, in order")
    bad_rows: BadRowsReport = Field(default_factory=BadRowsReport, description="Ragged records and the policy applied")
    validation: list[RuleResult] = Field(default_factory=list, description="One result per validation rule")
    warnings: list[str] = Field(default_factory=list, description="Plain-language notes on anything surprising")
    header_reason: str = Field(
        default="", description="Why the first record was (or was not) taken as the header, with the evidence"
    )
    bad_values: Literal["keep", "null"] = Field(
        default="keep", description="Policy applied to values that did not fit their column type"
    )
    values_nulled: int = Field(
        default=0,
        ge=0,
        description="Present values stored as null because they did not fit their column type (bad_values: null); "
        "per column in columns[].unparseable_count and unparseable_sample",
    )
    source_format: SourceFormat = Field(
        default="csv",
        description="The format detected from the file's content. For every format but csv the table is first "
        "written as UTF-8 CSV text, each value exactly (numbers as their shortest round-trip text), and read as a "
        "CSV is; encoding, delimiter and line numbers then describe that text",
    )
    compression: Literal["gzip", "zstd", "bz2"] | None = Field(
        default=None, description="The compression the file was decompressed from, detected from its content"
    )
    decompressed_bytes: int | None = Field(
        default=None, ge=0, description="Size of the file once decompressed (None when it was not compressed)"
    )
    sheet: str | None = Field(
        default=None, description="The worksheet read, for a workbook (xlsx, xlsb, xls, ods)"
    )
    sheets: list[str] = Field(default_factory=list, description="Every worksheet of the workbook, in order")

    def column(self, name: str) -> ColumnReport:
        """The report of the column called ``name``; ``KeyError`` when there is none."""
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(name)
