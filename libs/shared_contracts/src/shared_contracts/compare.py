"""The comparison of two datasets: what changed between A (the reference) and B.

``Comparison`` is a versioned document (``schema_version``); within one version fields are only
added, with defaults. It answers the questions a user asks of this month's export against last
month's, or of production data against the training data:

- the schema diff: columns added in B, removed from A, and columns whose type changed;
- per-column shift: PSI and the Kolmogorov–Smirnov statistic for numbers; chi-square, Cramér's V,
  PSI and new or missing levels for categories; missingness changes;
- the row-count change, and rows of B that also appear in A (on their common columns);
- with a target, whether the relation of the features to the target moved: a model trained on A,
  scored on A's holdout and on B;
- findings in plain language, ranked by how much each change matters.

Effect sizes rank and gate the findings, never p-values alone: on large samples every
difference is "significant", and on a random split of one table a p-value below 0.05 comes one
time in twenty. The thresholds used are recorded in ``thresholds``.

Chart ids follow ``compare:<detail>``, for example ``compare:column:price``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "COMPARISON_SCHEMA_VERSION",
    "CategoricalShift",
    "ColumnShift",
    "Comparison",
    "CompareFinding",
    "LevelShare",
    "NumericShift",
    "RowOverlap",
    "SchemaDiff",
    "Severity",
    "ShiftThresholds",
    "TargetShift",
    "TypeChange",
]

COMPARISON_SCHEMA_VERSION = 1

Severity = Literal["none", "small", "moderate", "large"]
ColumnKind = Literal["numeric", "categorical", "boolean", "datetime", "text", "identifier", "other"]
FindingKind = Literal["schema", "distribution", "levels", "missingness", "rows", "overlap", "target"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow")


class ShiftThresholds(_Model):
    """The effect sizes at which a change becomes a finding, and each severity begins."""

    psi_small: float = Field(default=0.1, description="PSI from which a shift is small (industry rule of thumb)")
    psi_large: float = Field(default=0.25, description="PSI from which a shift is large")
    ks_small: float = Field(default=0.1, description="KS statistic D from which a numeric shift is a finding")
    cramers_v_small: float = Field(default=0.1, description="Cramér's V from which a level shift is a finding")
    missing_change: float = Field(default=0.05, description="Change of the missing share (absolute) that is a finding")
    new_level_share: float = Field(default=0.01, description="Share of B's rows in levels A never had that is a finding")
    row_change: float = Field(default=0.2, description="Relative change of the row count that is a finding")
    overlap_share: float = Field(default=0.01, description="Share of B's rows also in A that is a finding")
    target_drop: float = Field(default=0.05, description="Relative loss of the model's score on B that is a finding")
    alpha: float = Field(default=0.01, description="A distribution or missingness change also needs its test's p-value "
                                                   "under this (small samples have noisy effect sizes); never alone")


class TypeChange(_Model):
    column: str
    type_a: str = Field(description="Semantic type in A (the profile's)")
    type_b: str = Field(description="Semantic type in B")


class SchemaDiff(_Model):
    added: list[str] = Field(default_factory=list, description="Columns of B that A does not have")
    removed: list[str] = Field(default_factory=list, description="Columns of A that B does not have")
    changed_type: list[TypeChange] = Field(default_factory=list)
    common: list[str] = Field(default_factory=list, description="Columns in both, in A's order")


class NumericShift(_Model):
    psi: float = Field(description="Population stability index over A's decile bins")
    ks_statistic: float = Field(description="Two-sample Kolmogorov–Smirnov D (largest gap of the two CDFs)")
    ks_pvalue: float | None = None
    mean_a: float | None = None
    mean_b: float | None = None
    median_a: float | None = None
    median_b: float | None = None
    std_a: float | None = None
    std_b: float | None = None
    bin_edges: list[float] = Field(default_factory=list, description="The bins the PSI counted in: the smallest value "
                                   "of A and B, A's distinct deciles, the largest value; bin i holds the values in "
                                   "(edges[i], edges[i+1]], the first bin every value up to edges[1]")
    share_a: list[float] = Field(default_factory=list, description="Share of A's known values in each bin")
    share_b: list[float] = Field(default_factory=list, description="Share of B's known values in each bin")
    unit: str | None = Field(default=None, description="'epoch_seconds' for dates and datetimes (compared as seconds "
                                                       "since 1970-01-01 UTC), else None (the column's own unit)")


class LevelShare(_Model):
    level: str
    share_a: float
    share_b: float


class CategoricalShift(_Model):
    psi: float = Field(description="PSI over the levels (the rarest pooled as 'other')")
    chi2: float | None = None
    chi2_pvalue: float | None = None
    cramers_v: float | None = Field(default=None, description="Effect size of the chi-square test, 0..1")
    new_levels: list[str] = Field(default_factory=list, description="Levels in B that A never had (the most common)")
    new_levels_share: float = Field(default=0.0, description="Share of B's known values in those levels")
    missing_levels: list[str] = Field(default_factory=list, description="Levels of A that B never has (most common)")
    missing_levels_share: float = Field(default=0.0, description="Share of A's known values in those levels")
    levels: list[LevelShare] = Field(default_factory=list, description="The most common levels, share in each")


class ColumnShift(_Model):
    column: str
    kind: ColumnKind
    semantic_type_a: str | None = None
    semantic_type_b: str | None = None
    missing_a: float = Field(description="Share of A's rows where the value is missing")
    missing_b: float
    numeric: NumericShift | None = None
    categorical: CategoricalShift | None = None
    id_overlap: float | None = Field(default=None, description="For identifiers: share of B's known values A also has")
    score: float = Field(description="The column's shift on one scale (its largest effect, PSI-like); ranks columns")
    severity: Severity = "none"
    chart_id: str | None = None


class RowOverlap(_Model):
    rows_a: int
    rows_b: int
    row_change: float | None = Field(default=None, description="(rows_b - rows_a) / rows_a")
    compared_on: list[str] = Field(default_factory=list, description="The common columns rows are matched on")
    rows_of_b_in_a: int = Field(default=0, description="Rows of B identical to some row of A on those columns")
    share_of_b_in_a: float = 0.0
    duplicates_in_a: int = Field(default=0, description="Rows of A that repeat an earlier row of A")
    duplicates_in_b: int = 0


class TargetShift(_Model):
    target: str
    task: Literal["binary", "multiclass", "regression"]
    model: str = Field(description="The model trained on A, e.g. 'LightGBM'")
    metric: str = Field(examples=["roc_auc", "r2", "accuracy"])
    higher_is_better: bool = True
    score_a: float = Field(description="Score on A's holdout rows (never seen in training)")
    score_b: float = Field(description="Score on B's rows")
    change: float = Field(description="score_b - score_a, in the metric's units")
    relative_change: float | None = Field(default=None, description="change / |score_a|")
    interval_a: tuple[float, float] | None = Field(
        default=None, description="Bootstrap 95% interval of score_a: a score_b inside it is within noise")
    interval_b: tuple[float, float] | None = Field(
        default=None, description="Bootstrap 95% interval of score_b (B's rows are a sample too)")
    moved: bool = Field(description="Whether B's score falls outside A's interval, the worse way, A's score is "
                                    "outside B's, and the relative drop exceeds the threshold")
    rows_train: int = 0
    rows_holdout_a: int = 0
    rows_scored_b: int = 0
    features: list[str] = Field(default_factory=list)
    note: str | None = None


class CompareFinding(_Model):
    rank: int = Field(ge=1)
    kind: FindingKind
    column: str | None = None
    severity: Severity
    score: float = Field(description="What the ranking sorts by, PSI-like: 0.1 small, 0.25 large")
    title: str = Field(description="One plain-language sentence")
    detail: str = ""
    evidence: dict[str, float | str | None] = Field(default_factory=dict)
    chart_id: str | None = None


class Comparison(_Model):
    """The comparison of dataset B against dataset A (the reference)."""

    schema_version: int = COMPARISON_SCHEMA_VERSION
    name_a: str
    name_b: str
    dataset_id_a: str | None = None
    dataset_id_b: str | None = None
    rows: RowOverlap
    schema_diff: SchemaDiff
    columns: list[ColumnShift] = Field(default_factory=list, description="Common columns, most shifted first")
    findings: list[CompareFinding] = Field(default_factory=list, description="Ranked, most important first")
    target: TargetShift | None = None
    thresholds: ShiftThresholds = Field(default_factory=ShiftThresholds)
    sample_rows: int | None = Field(default=None, description="Rows per side the tests ran on, when sampled")
    notes: list[str] = Field(default_factory=list)
