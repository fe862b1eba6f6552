"""The profile of a dataset: per-column statistics, correlations, missingness, alerts, quality.

Treatment of special values (the same everywhere in the document):

* ``missing`` counts nulls plus NaN (a float NaN is a missing value, not a number).
* Positive and negative infinities are counted (``infinite``) but excluded from every
  moment and order statistic: ``min``, ``max``, ``mean``, ``std``, quantiles, histogram...
  are computed over the finite values only.
* ``std`` and ``variance`` are sample statistics (``ddof=1``, as pandas); ``skewness`` and
  ``kurtosis`` are the biased moment estimators of ``scipy.stats.skew``/``kurtosis``
  (Fisher: a normal distribution has kurtosis 0). Quantiles use linear interpolation
  (``numpy.quantile`` default). ``mad`` is the median absolute deviation from the median
  (``scipy.stats.median_abs_deviation``, ``scale=1``).
* A statistic that cannot be computed (no finite value, a single value for ``std``,
  zero variance for skewness) is ``None``.
* The date bounds (``DateStats.min``/``max``) of a column with a time zone are instants written in
  UTC (``2024-03-01T10:00:00Z``); those of a column without one (date-times without an offset, dates)
  are its wall-clock values as written (``2024-03-01T12:00:00``, JSON Schema format ``date-time-local``).

Everything is exact unless listed in :attr:`Profile.approximations` with its error bound.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema

from .ingest import RuleResult
from .ingest import SemanticType as IngestSemanticType

__all__ = [
    "ALERT_TYPES",
    "Alert",
    "AlertType",
    "Approximation",
    "ColumnProfile",
    "CorrelationMatrix",
    "Correlations",
    "DatasetStats",
    "DateStats",
    "LOCAL_DATE_TIME_PATTERN",
    "Histogram",
    "MissingPattern",
    "Missingness",
    "Monotonicity",
    "NumericStats",
    "Profile",
    "QualityComponent",
    "QualityScore",
    "ReadingKind",
    "ReadingNote",
    "SemanticType",
    "Severity",
    "StringStats",
    "ValidationRule",
    "ValidationStatus",
    "ValidationSummary",
    "ValueCount",
]

SemanticType = Literal[IngestSemanticType, "unsupported"]
"""The ingest types, plus ``unsupported`` for columns the profiler cannot describe."""

Severity = Literal["info", "warning", "critical"]

Monotonicity = Literal[
    "strictly_increasing", "increasing", "strictly_decreasing", "decreasing", "constant", "none"
]

AlertType = Literal[
    "CONSTANT",
    "ZEROS",
    "HIGH_CORRELATION",
    "HIGH_CARDINALITY",
    "UNSUPPORTED",
    "DUPLICATES",
    "NEAR_DUPLICATES",
    "SKEWED",
    "IMBALANCE",
    "MISSING",
    "INFINITE",
    "TYPE_DATE",
    "UNIQUE",
    "DIRTY_CATEGORY",
    "CONSTANT_LENGTH",
    "REJECTED",
    "UNIFORM",
    "NON_STATIONARY",
    "SEASONAL",
    "EMPTY",
    "OUTLIERS",
    "DISGUISED_MISSING",
    "MIXED_TYPES",
    "NUMBERS_AS_TEXT",
    "INCONSISTENT_CATEGORY",
    "ID_LIKE",
    "TARGET_LEAKAGE",
]

ALERT_TYPES: tuple[str, ...] = AlertType.__args__  # type: ignore[attr-defined]

_MODEL = ConfigDict(extra="forbid")

Scalar = str | int | float | bool | None


class ValueCount(BaseModel):
    """One value and how many rows hold it."""

    model_config = _MODEL

    value: Scalar = Field(description="The value; dates and datetimes as ISO 8601 strings")
    count: int = Field(ge=0)


class Histogram(BaseModel):
    """Counts of values in consecutive bins, as ``numpy.histogram`` (last bin closed)."""

    model_config = _MODEL

    edges: list[float] = Field(description="Bin edges, one more than the counts")
    counts: list[int] = Field(description="Number of values in each bin")


class NumericStats(BaseModel):
    """Statistics of a numeric column over its finite values (see the module docstring)."""

    model_config = _MODEL

    finite: int = Field(ge=0, description="Number of finite values the statistics are computed over")
    min: float | None = None
    max: float | None = None
    range: float | None = Field(default=None, description="max - min")
    sum: float | None = None
    mean: float | None = None
    std: float | None = Field(default=None, description="Sample standard deviation (ddof=1)")
    variance: float | None = Field(default=None, description="Sample variance (ddof=1)")
    cv: float | None = Field(default=None, description="Coefficient of variation std / |mean|")
    p5: float | None = Field(default=None, description="5th percentile")
    p25: float | None = Field(default=None, description="First quartile")
    p50: float | None = Field(default=None, description="Median")
    p75: float | None = Field(default=None, description="Third quartile")
    p95: float | None = Field(default=None, description="95th percentile")
    iqr: float | None = Field(default=None, description="p75 - p25")
    mad: float | None = Field(default=None, description="Median absolute deviation from the median")
    skewness: float | None = Field(default=None, description="Biased sample skewness (scipy default)")
    kurtosis: float | None = Field(default=None, description="Biased excess kurtosis (scipy default)")
    zeros: int = Field(default=0, ge=0, description="Values equal to zero")
    negatives: int = Field(default=0, ge=0, description="Values below zero, including -inf")
    infinite: int = Field(default=0, ge=0, description="Values equal to +inf or -inf")
    nan: int = Field(default=0, ge=0, description="NaN values (also counted as missing)")
    monotonicity: Monotonicity = Field(
        default="none", description="Order of the non-missing values in row order"
    )
    outliers_iqr: int = Field(default=0, ge=0, description="Values outside [p25 - 1.5 IQR, p75 + 1.5 IQR]")
    outliers_mad: int = Field(
        default=0, ge=0, description="Values with |x - median| / (1.4826 MAD) > 3.5 (robust z-score)"
    )


class StringStats(BaseModel):
    """Length and character-class statistics of a text column, over its non-missing values."""

    model_config = _MODEL

    min_length: int | None = Field(default=None, description="Shortest value, in characters")
    max_length: int | None = None
    mean_length: float | None = None
    median_length: float | None = None
    empty: int = Field(default=0, ge=0, description="Empty strings")
    whitespace_padded: int = Field(default=0, ge=0, description="Values with leading or trailing whitespace")
    with_letters: int = Field(default=0, ge=0, description="Values containing at least one letter")
    with_digits: int = Field(default=0, ge=0, description="Values containing at least one digit")
    with_spaces: int = Field(default=0, ge=0, description="Values containing whitespace")
    with_punctuation: int = Field(default=0, ge=0, description="Values containing punctuation or symbols")
    with_uppercase: int = Field(default=0, ge=0)
    with_lowercase: int = Field(default=0, ge=0)
    non_ascii: int = Field(default=0, ge=0, description="Values containing a non-ASCII character")
    numeric_like: int = Field(default=0, ge=0, description="Values that parse as a number")
    length_histogram: Histogram | None = None


LOCAL_DATE_TIME_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?$"
"""A date-time without an offset as the profile writes it (``2024-03-01T12:00:00``, ``2024-03-01T12:00:00.250000``):
RFC 3339's date-time without its time zone, the ``date-time-local`` format of the OpenAPI format registry."""


def _in_utc(value: datetime | None) -> datetime | None:
    """An instant in UTC (the same instant, whatever offset it came with); a wall-clock date-time unchanged."""
    return value.astimezone(UTC) if value is not None and value.tzinfo is not None else value


_BOUND_SCHEMA = {"anyOf": [
    {"type": "string", "format": "date-time",
     "description": "A column with a time zone: the instant, in UTC (RFC 3339, ending in Z)"},
    {"type": "string", "format": "date-time-local", "pattern": LOCAL_DATE_TIME_PATTERN,
     "description": "A column without a time zone (wall-clock date-times, dates): the local date-time as in the "
                    "data, without an offset; not an instant"},
    {"type": "null"},
]}

DateBound = Annotated[datetime | None, AfterValidator(_in_utc), WithJsonSchema(_BOUND_SCHEMA)]
"""``DateStats.min``/``max``: an instant in UTC when the column has a time zone, else a wall-clock date-time."""


class DateStats(BaseModel):
    """Range, gaps and frequency of a date or datetime column.

    ``min`` and ``max`` keep the column's meaning. A column with a time zone holds instants: they are written in
    UTC with ``Z`` (``2024-03-01T10:00:00Z``), and ``time_zone`` names the column's zone. A column without one
    (date-times written without an offset, dates) holds wall-clock times of an unknown zone: they are written as
    in the data, without an offset (``2024-03-01T12:00:00``; a date at midnight), never shifted by any zone, and
    ``time_zone`` is None.
    """

    model_config = _MODEL

    min: DateBound = Field(default=None, description="The earliest value: in UTC ending in Z when the column has a "
                                                     "time zone, else the local date-time without an offset")
    max: DateBound = Field(default=None, description="The latest value, written as min is")
    time_zone: str | None = Field(
        default=None, examples=["UTC", "Europe/Paris"],
        description="The column's time zone (UTC for a CSV column written with offsets); min and max are then in "
                    "UTC. None for a column without one: min and max are local date-times without an offset")
    range_seconds: float | None = Field(default=None, description="max - min in seconds")
    distinct_steps: int = Field(default=0, ge=0, description="Distinct gaps between consecutive sorted values")
    median_step_seconds: float | None = Field(default=None, description="Median gap between sorted distinct values")
    frequency: str | None = Field(
        default=None,
        description="Detected regular frequency (pandas alias: S, min, h, D, W, MS/ME, QS/QE, YS/YE) or None",
    )
    gaps: int = Field(default=0, ge=0, description="Gaps longer than 1.5 times the detected step")
    largest_gap_seconds: float | None = None
    future_values: int = Field(default=0, ge=0, description="Values after the time of profiling")


class ColumnProfile(BaseModel):
    """Everything known about one column."""

    model_config = _MODEL

    name: str
    physical_type: str = Field(description="Polars dtype of the Parquet column", examples=["Float64", "String"])
    semantic_type: SemanticType
    count: int = Field(ge=0, description="Non-missing values (not null, not NaN)")
    missing: int = Field(ge=0, description="Nulls plus NaN")
    missing_fraction: float = Field(ge=0, le=1)
    distinct: int = Field(ge=0, description="Distinct non-missing values")
    distinct_fraction: float = Field(ge=0, le=1, description="distinct / count (0 when count is 0)")
    unique: int = Field(ge=0, description="Values occurring exactly once")
    memory_bytes: int = Field(ge=0, description="Estimated in-memory size (Arrow)")
    top_values: list[ValueCount] = Field(default_factory=list, description="Most frequent values, most first")
    numeric: NumericStats | None = None
    histogram: Histogram | None = Field(default=None, description="Histogram of the finite numeric values")
    strings: StringStats | None = None
    dates: DateStats | None = None
    boolean_true: int | None = Field(default=None, description="True values of a boolean column")
    overridden: bool = Field(default=False, description="True when the user set the semantic type at ingest; "
                             "later stages keep the column as typed (ETL casts it to nothing else)")
    approximate: list[str] = Field(
        default_factory=list,
        description="Figures of this column estimated by a sketch (past the profile's exact-size threshold), "
                    "e.g. distinct, unique, top_values, numeric.p50, histogram; each one's bound is in "
                    "Profile.approximations. Empty: every figure of the column is exact",
        examples=[["distinct", "unique", "top_values"]],
    )
    boolean_labels: list[str] | None = Field(
        default=None, min_length=2, max_length=2,
        description="How the file writes False and True in a boolean column, in that order, from ingest",
        examples=[["No", "Yes"]],
    )


class DatasetStats(BaseModel):
    """Table-level figures."""

    model_config = _MODEL

    name: str | None = Field(default=None, description="The dataset's display name (the uploaded file's name)")
    rows: int = Field(ge=0)
    columns: int = Field(ge=0)
    memory_bytes: int = Field(ge=0, description="Estimated in-memory size of the table (Arrow)")
    file_bytes: int | None = Field(default=None, description="Size of the Parquet file")
    cells: int = Field(ge=0)
    cells_missing: int = Field(ge=0)
    cells_missing_fraction: float = Field(ge=0, le=1)
    duplicate_rows: int = Field(ge=0, description="Rows identical to an earlier row")
    duplicate_fraction: float = Field(ge=0, le=1)
    near_duplicate_rows: int = Field(
        ge=0,
        description="Rows equal to an earlier row after normalisation (text trimmed and lower-cased, "
        "numbers rounded to 6 significant digits) that are not exact duplicates",
    )
    semantic_type_counts: dict[str, int] = Field(default_factory=dict)


class CorrelationMatrix(BaseModel):
    """A matrix of association measures; ``values[i][j]`` pairs ``rows[i]`` with ``columns[j]``."""

    model_config = _MODEL

    method: Literal["pearson", "spearman", "cramers_v", "correlation_ratio", "nullity"]
    rows: list[str]
    columns: list[str]
    values: list[list[float | None]] = Field(description="None where undefined (constant column, no pairs)")
    rows_used: int = Field(ge=0, description="Rows the measure was computed on")
    exact: bool = Field(description="False when computed on a sample of the rows")


class Correlations(BaseModel):
    """Pairwise associations. Numeric pairs use pairwise-complete finite observations."""

    model_config = _MODEL

    pearson: CorrelationMatrix | None = None
    spearman: CorrelationMatrix | None = None
    cramers_v: CorrelationMatrix | None = Field(
        default=None, description="Bias-uncorrected Cramér's V between categorical columns"
    )
    correlation_ratio: CorrelationMatrix | None = Field(
        default=None, description="Correlation ratio eta: rows are numeric columns, columns categorical"
    )
    sample_rows: int = Field(default=0, ge=0, description="Rows used; equal to the row count when exact")
    sampled: bool = Field(default=False, description="True when a uniform random sample of rows was used")


class MissingPattern(BaseModel):
    """A set of columns missing together, and in how many rows."""

    model_config = _MODEL

    columns: list[str] = Field(description="Columns missing in these rows (and only these)")
    rows: int = Field(ge=0)


class Missingness(BaseModel):
    """Where values are missing."""

    model_config = _MODEL

    per_column: dict[str, int] = Field(default_factory=dict, description="Missing cells per column")
    rows_with_missing: int = Field(default=0, ge=0)
    patterns: list[MissingPattern] = Field(default_factory=list, description="Most common co-missing patterns")
    nullity_correlation: CorrelationMatrix | None = Field(
        default=None, description="Pearson correlation of the missing indicators of partly missing columns"
    )


class Alert(BaseModel):
    """Something in the data that deserves attention."""

    model_config = _MODEL

    type: AlertType
    columns: list[str] = Field(default_factory=list, description="Columns concerned; empty for the dataset")
    severity: Severity
    evidence: dict[str, float | int | str | bool | None] = Field(default_factory=dict)
    message: str = Field(description="Plain-language explanation")


class QualityComponent(BaseModel):
    """One dimension of the quality score."""

    model_config = _MODEL

    name: Literal["completeness", "uniqueness", "validity", "consistency", "informativeness"]
    score: float = Field(ge=0, le=100)
    weight: float = Field(ge=0, le=1)
    detail: str


class QualityScore(BaseModel):
    """A 0-100 data quality score: weighted mean of its components."""

    model_config = _MODEL

    score: float = Field(ge=0, le=100)
    components: list[QualityComponent]


class Approximation(BaseModel):
    """A statistic that was not computed exactly, and how far off it can be."""

    model_config = _MODEL

    statistic: str = Field(examples=["correlations", "distinct"])
    method: str
    error_bound: str = Field(description="Bound on the error, in words and figures")
    columns: list[str] = Field(
        default_factory=list, description="Columns whose figures it concerns; empty when it concerns the dataset "
                                          "or the correlation matrices")
    relative_error: float | None = Field(
        default=None, ge=0, description="The bound as a number: a relative error of an estimate, or a rank error "
                                        "as a fraction of the values (quantiles, histogram counts), at ``confidence``")
    confidence: float | None = Field(default=None, gt=0, le=1, description="Probability that the bound holds")


ReadingKind = Literal["missing_tokens", "kept_tokens", "widened", "values_nulled", "trimmed", "identifier",
                      "out_of_range_years", "header"]


class ReadingNote(BaseModel):
    """One decision the reader took about the values of the file, with its count: nothing is changed silently."""

    model_config = _MODEL

    kind: ReadingKind
    column: str | None = Field(default=None, description="The column it concerns; None for the whole file")
    count: int = Field(default=0, ge=0, description="How many cells it concerns (0 when it is a decision, not cells)")
    detail: str = Field(description="What was done and why, in words")


ValidationStatus = Literal["passed", "warnings", "failed"]
"""``failed``: a rule of severity ``error`` is broken by at least one row; ``warnings``: only ``warning``
rules are broken; ``passed``: every row satisfies every rule."""


class ValidationRule(BaseModel):
    """The outcome of one of the user's validation rules on the whole dataset."""

    model_config = _MODEL

    name: str = Field(description="Rule name, given by the user or derived from the rule", examples=["id is not null"])
    kind: str = Field(description="Rule kind", examples=["not_null", "range", "regex", "unique"])
    columns: list[str] = Field(default_factory=list, description="Columns the rule reads")
    severity: Literal["error", "warning"] = Field(description="How the user ranked the rule")
    passed: bool = Field(description="True when no row breaks the rule")
    failed_count: int = Field(ge=0, description="Rows that break the rule")
    failed_fraction: float = Field(default=0.0, ge=0, le=1, description="Share of the rows that break the rule")
    sample_rows: list[int] = Field(
        default_factory=list, description="0-based row indices (in the ingested data) of the first failing rows"
    )
    sample_lines: list[int] = Field(
        default_factory=list, description="Line numbers in the user's file of the same rows, in the same order"
    )
    sample_values: list[Any] = Field(
        default_factory=list, description="The offending values of the same rows (a mapping per row for "
                                          "multi-column rules)"
    )
    message: str = Field(default="", description="Plain-language summary")


class ValidationSummary(BaseModel):
    """The user's validation rules on the whole dataset: a verdict, counts, and each rule's result.

    A broken rule never stops the analysis unless the upload asked for it
    (``IngestOptions.block_on_validation_error``); it marks the dataset ``failed`` and lowers the quality
    score's validity (see ``dsp_profile.domain.quality``).

    Examples
    --------
    >>> from shared_contracts.ingest import RuleResult
    >>> summary = ValidationSummary.of([RuleResult(name="id is not null", kind="not_null", columns=["id"],
    ...                                            passed=False, failing_count=22, severity="error")], rows=200)
    >>> summary.status, summary.errors_failed, summary.rules[0].failed_fraction
    ('failed', 1, 0.11)
    """

    model_config = _MODEL

    status: ValidationStatus = Field(description="failed (an error rule is broken), warnings (only warning rules "
                                                 "are), passed (no rule is)")
    rows_checked: int = Field(ge=0, description="Rows the rules ran on: every row of the ingested data")
    rules_checked: int = Field(ge=0, description="How many rules ran")
    errors_failed: int = Field(default=0, ge=0, description="Rules of severity error that at least one row breaks")
    warnings_failed: int = Field(default=0, ge=0, description="Rules of severity warning that at least one row breaks")
    rules: list[ValidationRule] = Field(default_factory=list, description="Each rule's result, in the rules' order")

    @classmethod
    def of(cls, results: Sequence[RuleResult], *, rows: int) -> ValidationSummary | None:
        """The summary of ingest's rule results over ``rows`` rows; None when no rule ran."""
        if not results:
            return None
        rules = [ValidationRule(
            name=r.name, kind=r.kind, columns=list(r.columns), severity=r.severity, passed=r.passed,
            failed_count=r.failing_count, failed_fraction=min(1.0, r.failing_count / rows) if rows else 0.0,
            sample_rows=list(r.sample_rows), sample_lines=list(r.sample_lines), sample_values=list(r.sample_values),
            message=r.message,
        ) for r in results]
        errors = sum(1 for r in rules if not r.passed and r.severity == "error")
        warnings = sum(1 for r in rules if not r.passed and r.severity == "warning")
        status: ValidationStatus = "failed" if errors else ("warnings" if warnings else "passed")
        return cls(status=status, rows_checked=rows, rules_checked=len(rules), errors_failed=errors,
                   warnings_failed=warnings, rules=rules)


class Profile(BaseModel):
    """The profile of one dataset."""

    model_config = _MODEL

    schema_version: Literal[1] = 1
    dataset: DatasetStats
    columns: list[ColumnProfile]
    correlations: Correlations = Field(default_factory=Correlations)
    missingness: Missingness = Field(default_factory=Missingness)
    alerts: list[Alert] = Field(default_factory=list)
    quality: QualityScore
    approximations: list[Approximation] = Field(
        default_factory=list, description="Statistics that are approximate; empty means all exact"
    )
    target: str | None = Field(default=None, description="Target column the leakage check used")
    reading: list[ReadingNote] = Field(
        default_factory=list,
        description="How the file was read: missing-value tokens taken or kept, widened types, values stored as "
                    "null, trimmed text, identifiers, the header decision",
    )
    validation: ValidationSummary | None = Field(
        default=None, description="The user's validation rules and what they found; None when no rule was given"
    )
    generated_at: datetime | None = None
    elapsed_seconds: float | None = Field(default=None, ge=0)

    def column(self, name: str) -> ColumnProfile:
        """The profile of the column called ``name``."""
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(name)
