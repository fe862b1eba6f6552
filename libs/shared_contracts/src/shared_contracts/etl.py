"""ETL documents: the user's config, the plan derived from it, the fitted pipeline and the report.

The flow is ``EtlConfig`` + ``Profile`` -> ``EtlPlan`` (ordered steps, each with the reason it was
chosen) -> ``FittedPipeline`` (each step with the statistics it learned, stored as plain JSON
data so that it can be replayed on new rows without pickle) -> ``EtlReport`` (what each step did
to the data: rows and columns touched, before/after statistics).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "ETL_CONFIG_VERSION",
    "MAX_BINS",
    "MAX_CONFIG_ITEMS",
    "MAX_ONEHOT",
    "MAX_OUTLIER_THRESHOLD",
    "MAX_PLAN_COLUMNS",
    "PIPELINE_FORMAT_VERSION",
    "ColumnOverride",
    "ColumnStats",
    "DuplicateOptions",
    "EncodeMethod",
    "EtlConfig",
    "EtlPlan",
    "EtlReport",
    "EtlStep",
    "FeatureOptions",
    "FittedPipeline",
    "FittedStep",
    "MissingOptions",
    "MissingStrategy",
    "OutlierAction",
    "OutlierMethod",
    "OutlierOptions",
    "PluginSpec",
    "PowerMethod",
    "ScaleMethod",
    "SplitInfo",
    "SplitOptions",
    "StepKind",
    "StepLineage",
    "StringOptions",
    "ValidationRule",
    "feature_uses_column",
    "model_input_columns",
]

ETL_CONFIG_VERSION: Final = 1
PIPELINE_FORMAT_VERSION = 1

StepKind = Literal[
    "drop_columns",
    "strings",
    "cast",
    "invalid_to_null",
    "merge_categories",
    "dedupe",
    "drop_rows_missing",
    "outliers",
    "missing_indicator",
    "fill_missing",
    "date_parts",
    "text_features",
    "power",
    "scale",
    "bin",
    "encode",
    "interaction",
    "plugin",
]
"""Every step kind, in the order a plan runs them; ``etl_core.steps.STEP_KINDS`` is the registry it must match."""
MissingStrategy = Literal["none", "drop_rows", "mean", "median", "mode", "constant", "ffill", "bfill"]
OutlierMethod = Literal["iqr", "zscore", "mad"]
OutlierAction = Literal["none", "cap", "winsorize", "remove", "flag"]
ScaleMethod = Literal["none", "standard", "minmax", "robust"]
PowerMethod = Literal["none", "auto", "log", "boxcox", "yeojohnson"]
EncodeMethod = Literal["none", "auto", "onehot", "ordinal", "frequency", "target"]
CastType = Literal["float", "integer", "boolean", "string", "date", "datetime", "categorical"]

_STRICT = ConfigDict(extra="forbid")

# Upper bounds of the options: a config past them is refused when it is read (422 at the gateway, exit 2 in
# the command), before any worker spends memory on it (bins of 10^8 once took a worker to 10 GB).
MAX_BINS: Final = 1000
"""Most quantile or uniform bins of one column."""
MAX_ONEHOT: Final = 1000
"""Most categories one one-hot encoding keeps."""
MAX_OUTLIER_THRESHOLD: Final = 1000.0
"""Largest IQR multiplier, standard deviations or robust z-score."""
MAX_CONFIG_ITEMS: Final = 10_000
"""Most entries of a config's lists and maps (columns, steps, rules, plugins, interactions, key columns)."""
MAX_PLAN_COLUMNS: Final = 10_000
"""Most columns the steps of one plan may add (one-hot categories, bins, date parts, indicators...)."""


class ValidationRule(BaseModel):
    """A rule a value must satisfy; values failing it become null."""

    model_config = _STRICT

    column: str
    min: float | None = Field(default=None, description="Smallest valid value (inclusive)")
    max: float | None = Field(default=None, description="Largest valid value (inclusive)")
    allowed: list[str | int | float | bool] | None = Field(default=None, description="The only valid values")
    pattern: str | None = Field(default=None, description="Regular expression a text value must match in full")
    invalid_values: list[str | int | float] | None = Field(
        default=None, description="Values that mean 'missing' (sentinels such as -999 or 'N/A')"
    )


class StringOptions(BaseModel):
    """Normalisation of text cells."""

    model_config = _STRICT

    trim: bool = Field(default=True, description="Strip leading and trailing whitespace")
    nfkc: bool = Field(default=True, description="Unicode NFKC normalisation (full-width digits, ligatures...)")
    case: Literal["none", "lower", "upper"] = Field(default="none", description="Case folding")
    empty_as_null: bool = Field(default=True, description="Empty strings (after trimming) become null")
    merge_near_duplicates: bool = Field(
        default=True,
        description="Merge categories equal up to case, spacing and punctuation ('N.Y.', 'NY', 'ny ') "
        "into their most frequent spelling, when the profile flags the column",
    )


class MissingOptions(BaseModel):
    """Defaults for missing values."""

    model_config = _STRICT

    drop_column_above: float = Field(
        default=0.6, ge=0, le=1, description="Drop a column whose missing fraction exceeds this"
    )
    drop_row_above: float | None = Field(
        default=None, ge=0, le=1, description="Drop a row whose missing fraction exceeds this; None keeps all"
    )
    indicator_above: float = Field(
        default=0.05, ge=0, le=1, description="Add a missing-indicator column when the missing fraction exceeds this"
    )
    numeric: MissingStrategy | Literal["auto"] = Field(
        default="auto", description="auto: median when skewed (|skew| > 1), else mean; ffill for time series"
    )
    categorical: MissingStrategy | Literal["auto"] = Field(
        default="auto", description="auto: mode below 5% missing, else the constant '(missing)'"
    )
    fill_value: str | int | float | bool | None = Field(default=None, description="Constant for strategy 'constant'")


class OutlierOptions(BaseModel):
    """Defaults for outliers of numeric columns."""

    model_config = _STRICT

    method: OutlierMethod = "iqr"
    threshold: float = Field(
        default=3.0,
        gt=0,
        le=MAX_OUTLIER_THRESHOLD,
        description="IQR multiplier (iqr), standard deviations (zscore) or robust z-score (mad)",
    )
    action: OutlierAction = Field(default="cap", description="What the auto plan does with flagged outliers")
    winsor_quantiles: tuple[Annotated[float, Field(ge=0, le=1)], Annotated[float, Field(ge=0, le=1)]] = Field(
        default=(0.01, 0.99))


class DuplicateOptions(BaseModel):
    """Duplicate rows."""

    model_config = _STRICT

    action: Literal["drop", "keep"] = Field(default="drop", description="drop: keep the first of each group")
    subset: list[str] | None = Field(default=None, max_length=MAX_CONFIG_ITEMS,
                                     description="Key columns; None compares whole rows")


class FeatureOptions(BaseModel):
    """Feature engineering the auto plan adds."""

    model_config = _STRICT

    date_parts: bool = Field(default=True, description="Year, quarter, month, day, day of week, hour, weekend")
    cyclical: bool = Field(default=True, description="sin/cos of month, day of week and hour")
    text_features: bool = Field(default=True, description="Length and word count of free-text columns")
    transform: PowerMethod = Field(
        default="none", description="Transform of numeric columns; auto: Yeo-Johnson when |skew| > 1"
    )
    scale: ScaleMethod = "none"
    encode: EncodeMethod = Field(
        default="none",
        description="Encoding of categorical columns; auto: one-hot up to max_onehot categories, else frequency",
    )
    max_onehot: int = Field(default=10, ge=1, le=MAX_ONEHOT, description="Most categories one-hot encoding keeps")
    bins: int | None = Field(default=None, ge=2, le=MAX_BINS, description="Add quantile bins of each numeric column")
    interactions: list[tuple[str, str]] = Field(default_factory=list, max_length=MAX_CONFIG_ITEMS,
                                                description="Column pairs to multiply")


class ColumnOverride(BaseModel):
    """The user's choice for one column; anything left None keeps the auto decision."""

    model_config = _STRICT

    drop: bool | None = None
    cast: CastType | None = None
    missing: MissingStrategy | None = None
    fill_value: str | int | float | bool | None = None
    missing_indicator: bool | None = None
    outliers: OutlierAction | None = None
    outlier_method: OutlierMethod | None = None
    outlier_threshold: float | None = Field(default=None, gt=0, le=MAX_OUTLIER_THRESHOLD)
    case: Literal["none", "lower", "upper"] | None = None
    merge_categories: bool | dict[str, str] | None = Field(
        default=None, description="True: merge near-identical spellings; a dict maps variant -> canonical"
    )
    transform: PowerMethod | None = None
    scale: ScaleMethod | None = None
    encode: EncodeMethod | None = None
    bins: int | None = Field(default=None, ge=2, le=MAX_BINS)
    bin_method: Literal["quantile", "uniform"] = "quantile"
    date_parts: bool | None = None
    text_features: bool | None = None


class PluginSpec(BaseModel):
    """A plugin step the user adds to the plan."""

    model_config = _STRICT

    name: str = Field(description="Plugin name (entry point name or the plugin class's `name`)")
    columns: list[str] = Field(default_factory=list, max_length=MAX_CONFIG_ITEMS)
    config: dict[str, Any] = Field(default_factory=dict, description="Validated by the plugin's config schema")


class SplitOptions(BaseModel):
    """The deterministic train/holdout split that target-dependent steps are fitted on."""

    model_config = _STRICT

    holdout_fraction: float = Field(default=0.2, ge=0, lt=1)
    seed: int = Field(default=0, ge=0, le=2**32 - 1)


class EtlStep(BaseModel):
    """One step of a plan."""

    model_config = _STRICT

    kind: StepKind
    columns: list[str] = Field(default_factory=list, max_length=MAX_CONFIG_ITEMS, description="Columns the step works on")
    params: dict[str, Any] = Field(default_factory=dict)
    reason: str = Field(description="Why the step is in the plan, in plain language")
    origin: Literal["auto", "override", "config"] = Field(
        default="auto", description="auto: from the profile; override: a per-column choice; config: an explicit step"
    )


class EtlConfig(BaseModel):
    """What the user wants from ETL (YAML or JSON). Every field has a sensible default."""

    model_config = _STRICT

    version: Literal[1] = ETL_CONFIG_VERSION
    mode: Literal["auto", "manual"] = Field(
        default="auto", description="auto derives steps from the profile; manual runs only `steps` and `plugins`"
    )
    drop_constant: bool = Field(default=True, description="Drop columns holding a single value")
    missing: MissingOptions = Field(default_factory=MissingOptions)
    outliers: OutlierOptions = Field(default_factory=OutlierOptions)
    duplicates: DuplicateOptions = Field(default_factory=DuplicateOptions)
    strings: StringOptions = Field(default_factory=StringOptions)
    features: FeatureOptions = Field(default_factory=FeatureOptions)
    rules: list[ValidationRule] = Field(default_factory=list, max_length=MAX_CONFIG_ITEMS)
    columns: dict[str, ColumnOverride] = Field(default_factory=dict, max_length=MAX_CONFIG_ITEMS,
                                               description="Per-column overrides")
    steps: list[EtlStep] = Field(default_factory=list, max_length=MAX_CONFIG_ITEMS,
                                 description="Explicit steps appended to the plan")
    plugins: list[PluginSpec] = Field(default_factory=list, max_length=100, description="Plugin steps appended to the plan")
    plugins_dir: str | None = Field(default=None, description="Directory of plugin modules (else DSP_PLUGINS_DIR)")
    split: SplitOptions = Field(default_factory=SplitOptions)


class EtlPlan(BaseModel):
    """Ordered steps, before any statistic is learned from the data."""

    model_config = _STRICT

    config_version: int = ETL_CONFIG_VERSION
    target: str | None = None
    input_columns: list[str] = Field(default_factory=list)
    steps: list[EtlStep] = Field(default_factory=list)
    plugins_dir: str | None = None


class FittedStep(BaseModel):
    """A step and what it learned (means, categories, bin edges...), as JSON data."""

    model_config = _STRICT

    step: EtlStep
    state: dict[str, Any] = Field(default_factory=dict)


class FittedPipeline(BaseModel):
    """A plan fitted on training data; replays exactly on new rows (no pickle)."""

    model_config = _STRICT

    format_version: int = PIPELINE_FORMAT_VERSION
    target: str | None = None
    input_schema: dict[str, str] = Field(description="Column -> polars dtype seen at fit time")
    output_schema: dict[str, str] = Field(description="Column -> polars dtype produced")
    steps: list[FittedStep] = Field(default_factory=list)
    fit_rows: int = Field(default=0, ge=0, description="Rows the pipeline was fitted on")
    plugins_dir: str | None = None


class ColumnStats(BaseModel):
    """Summary of one column at one point of the pipeline."""

    model_config = _STRICT

    dtype: str
    nulls: int = Field(ge=0)
    distinct: int | None = Field(
        default=None, ge=0, description="Approximate distinct values (HyperLogLog); None for float columns"
    )
    mean: float | None = None
    std: float | None = None
    min: float | str | None = None
    max: float | str | None = None


class StepLineage(BaseModel):
    """What one step did to the data."""

    model_config = _STRICT

    index: int = Field(ge=0)
    kind: StepKind
    columns: list[str]
    reason: str
    origin: str = "auto"
    rows_before: int = Field(ge=0)
    rows_after: int = Field(ge=0)
    columns_added: list[str] = Field(default_factory=list)
    columns_removed: list[str] = Field(default_factory=list)
    columns_modified: list[str] = Field(default_factory=list)
    before: dict[str, ColumnStats] = Field(default_factory=dict, description="Touched columns before the step")
    after: dict[str, ColumnStats] = Field(default_factory=dict, description="Touched columns after the step")
    learned: dict[str, Any] = Field(default_factory=dict, description="Short summary of the fitted state")


class SplitInfo(BaseModel):
    """Which rows the pipeline was fitted on."""

    model_config = _STRICT

    scope: Literal["all_rows", "train_split"]
    holdout_fraction: float = 0.0
    seed: int = 0
    train_rows: int = Field(ge=0)
    holdout_rows: int = Field(default=0, ge=0)


class EtlReport(BaseModel):
    """The ETL run: plan, lineage of every step, and the shape of the data before and after."""

    model_config = _STRICT

    schema_version: Literal[1] = 1
    target: str | None = None
    rows_in: int = Field(ge=0)
    rows_out: int = Field(ge=0)
    columns_in: list[str]
    columns_out: list[str]
    plan: EtlPlan
    lineage: list[StepLineage] = Field(default_factory=list)
    split: SplitInfo | None = None
    warnings: list[str] = Field(default_factory=list)
    elapsed_seconds: float | None = Field(default=None, ge=0)


def feature_uses_column(column: str, features: Sequence[str]) -> bool:
    """Whether a model feature is the column or made from it by the ETL (column__year, a__x__column)."""
    return any(f == column or f.startswith(f"{column}__") or f.endswith(f"__x__{column}") for f in features)


def model_input_columns(input_schema: Mapping[str, str], features: Sequence[str],
                        target: str | None) -> dict[str, str]:
    """The columns a row to predict needs, with their training types: those of the pipeline's input schema
    (``FittedPipeline.input_schema``) the model's features come from. The pipeline drops the other input
    columns, and reads a missing column as null."""
    return {name: kind for name, kind in input_schema.items() if name != target and feature_uses_column(name, features)}
