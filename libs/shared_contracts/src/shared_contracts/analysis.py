"""The result of the ML analysis of one dataset, and the predictions of a trained model.

``AnalysisResult`` is a versioned document (``schema_version``). Within one version
fields are only added, with defaults. Every section that the dashboard draws carries
a ``chart_id``; insights point at those ids so a statement links to its chart.

Chart ids follow ``<kind>:<detail>``, for example ``association:dep_delay:arr_delay``,
``feature_importance``, ``forecast:sales``, ``clusters``, ``anomalies``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "ANALYSIS_SCHEMA_VERSION",
    "AnalysisResult",
    "Anomaly",
    "AnomalyReport",
    "Association",
    "AutoMLBudget",
    "AutoMLReport",
    "ClusterProfile",
    "ClusteringReport",
    "ConfusionMatrix",
    "DistributionFit",
    "Explanations",
    "FeatureImportance",
    "FeatureTest",
    "ForecastModelScore",
    "ForecastPoint",
    "ForecastReport",
    "GroupStatistics",
    "Insight",
    "LeaderboardEntry",
    "LeakageFinding",
    "ModelMetadata",
    "PartialDependence",
    "PredictionInput",
    "PredictionRow",
    "PredictionWarning",
    "Predictions",
    "RowExplanation",
    "SamplingNote",
    "TaskInfo",
    "TaskType",
    "TimePattern",
]

ANALYSIS_SCHEMA_VERSION = 1

TaskType = Literal["binary", "multiclass", "regression", "time_series", "unsupervised"]
TargetSource = Literal["given", "suggested", "none"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow")


class TaskInfo(_Model):
    """What the analysis decided to do, and why."""

    task_type: TaskType = Field(description="Detected task; 'unsupervised' when there is no target")
    target: str | None = Field(default=None, description="Column predicted, if any")
    target_source: TargetSource = Field(
        default="none", description="Whether the user gave the target, the platform suggested it, or none"
    )
    reason: str = Field(default="", description="Plain-language reason for the task and target choice")
    suggested_targets: list[str] = Field(
        default_factory=list, description="Columns that look like plausible targets, best first"
    )
    class_counts: dict[str, int] = Field(
        default_factory=dict, description="Rows per class of a classification target"
    )
    time_column: str | None = Field(default=None, description="Time column found in the data, if any")


class SamplingNote(_Model):
    """How many rows each part of the analysis used, and why fewer than all."""

    total_rows: int = Field(ge=0, description="Rows in the dataset")
    automl_rows: int = Field(default=0, ge=0, description="Rows AutoML trained and evaluated on")
    pattern_rows: int = Field(default=0, ge=0, description="Rows used for statistics, clustering, anomalies")
    stratified: bool = Field(default=False, description="Whether the AutoML sample kept class proportions")
    note: str = Field(default="", description="Plain-language explanation of the sampling")


class GroupStatistics(_Model):
    """Descriptive statistics of numeric columns within groups of one categorical column."""

    chart_id: str
    group_column: str
    measure: str = Field(description="Numeric column summarised")
    rows: list[dict[str, Any]] = Field(
        default_factory=list, description="One row per group: group, count, mean, std, median, min, max"
    )
    test: str | None = Field(default=None, description="Test of the groups' difference", examples=["kruskal"])
    p_value: float | None = None
    p_adjusted: float | None = Field(
        default=None, description="Benjamini-Hochberg adjusted p-value over every grouping and measure tested"
    )
    effect_size: float | None = Field(default=None, description="Share of the measure's variation the groups explain")
    effect_size_name: str | None = Field(default=None, examples=["epsilon_squared"])
    effect_threshold: float | None = Field(
        default=None, description="Smallest effect size shown: a grouping below it explains too little to compare"
    )
    weight: str | None = Field(default=None, description="Column counting the cases each row stands for, if any")


class FeatureTest(_Model):
    """A test of association between one feature and the target."""

    chart_id: str
    feature: str
    test: str = Field(examples=["welch_t", "anova", "mann_whitney", "kruskal", "chi_square", "spearman"])
    statistic: float
    p_value: float
    p_adjusted: float = Field(description="Benjamini-Hochberg adjusted p-value over all tests of the analysis")
    effect_size: float
    effect_size_name: str = Field(examples=["cohen_d", "eta_squared", "rank_biserial", "epsilon_squared"])
    significant: bool = Field(description="p_adjusted < 0.05")
    effect_threshold: float | None = Field(
        default=None, description="Smallest effect size (of effect_size_name) that counts as a meaningful relation"
    )
    meaningful: bool | None = Field(
        default=None, description="significant, |effect_size| at least effect_threshold, and not determined"
    )
    determined: str | None = Field(
        default=None, description="How one of the feature and the target determines the other, when it does (each "
                                  "car model has one class): a relation that holds by construction"
    )
    weight: str | None = Field(default=None, description="Column counting the cases each row stands for, if any")


class DistributionFit(_Model):
    """The best-fitting named distribution of a numeric column."""

    chart_id: str
    column: str
    best: str = Field(examples=["norm", "lognorm", "expon", "gamma"])
    params: dict[str, float] = Field(default_factory=dict)
    ks_statistic: float
    ks_p_value: float
    aic: float
    candidates: dict[str, float] = Field(default_factory=dict, description="AIC of every candidate fitted")
    skewness: float = 0.0
    kurtosis: float = 0.0
    accepted: bool | None = Field(
        default=None, description="The KS test does not reject ``best`` (p >= alpha); False: no candidate fits, and "
                                  "``best`` is only the closest"
    )
    alpha: float | None = Field(default=None, description="Level of the KS test")
    sample_size: int | None = Field(default=None, description="Values the fit and the KS test used (a sample)")


class Association(_Model):
    """Strength of the relation between two columns."""

    chart_id: str
    a: str
    b: str
    method: Literal["spearman", "pearson", "cramers_v", "correlation_ratio"]
    value: float = Field(description="Signed for correlations, in [0, 1] otherwise")
    p_value: float | None = None
    p_adjusted: float | None = Field(
        default=None, description="Benjamini-Hochberg adjusted p-value over every pair tested"
    )


class ClusterProfile(_Model):
    cluster: int
    size: int
    share: float
    means: dict[str, float] = Field(default_factory=dict, description="Mean of each feature in the cluster")
    distinguishing: list[str] = Field(
        default_factory=list, description="Plain-language notes on features that set this cluster apart"
    )


class ClusteringReport(_Model):
    """K-means with k chosen by silhouette."""

    chart_id: str = "clusters"
    k: int
    silhouette: float
    silhouette_by_k: dict[str, float] = Field(default_factory=dict)
    features: list[str] = Field(default_factory=list)
    profiles: list[ClusterProfile] = Field(default_factory=list)
    projection: list[list[float]] = Field(
        default_factory=list, description="2-D PCA coordinates of up to 2000 sample rows, for a scatter plot"
    )
    projection_labels: list[int] = Field(default_factory=list)


class Anomaly(_Model):
    row_index: int = Field(description="Row number in the analysed dataset (0-based)")
    score: float = Field(description="Higher is more anomalous")
    reasons: list[str] = Field(default_factory=list, description="Why the row stands out")
    values: dict[str, Any] = Field(default_factory=dict)


class AnomalyReport(_Model):
    """IsolationForest anomalies."""

    chart_id: str = "anomalies"
    contamination: float
    flagged: int
    rows_scored: int
    features: list[str] = Field(default_factory=list)
    top: list[Anomaly] = Field(default_factory=list)


class TimePattern(_Model):
    """Trend, seasonality and change points of one measure over time."""

    chart_id: str
    time_column: str
    value_column: str
    frequency: str | None = None
    trend_slope_per_period: float
    trend_direction: Literal["rising", "falling", "flat"]
    trend_p_value: float
    season_length: int | None = None
    seasonal_strength: float = Field(default=0.0, description="0 none .. 1 purely seasonal")
    change_points: list[str] = Field(default_factory=list, description="Timestamps where the level shifts")
    series_key: str | None = Field(default=None, description="In long-format data, the column naming the series")
    series_value: str | None = Field(default=None, description="The series (value of series_key) this describes")


class ForecastModelScore(_Model):
    model: str
    mase: float
    smape: float


class ForecastPoint(_Model):
    timestamp: str
    mean: float
    lo_80: float
    hi_80: float
    lo_95: float
    hi_95: float


class ForecastReport(_Model):
    """Forecast of one numeric measure with a rolling-origin backtest."""

    chart_id: str
    time_column: str
    value_column: str
    frequency: str
    season_length: int
    horizon: int
    backtest_windows: int
    scores: list[ForecastModelScore] = Field(default_factory=list)
    best_model: str
    baseline_model: str = "SeasonalNaive"
    points: list[ForecastPoint] = Field(default_factory=list)
    history: list[tuple[str, float]] = Field(default_factory=list, description="Recent history for the chart")
    series_key: str | None = Field(
        default=None, description="In long-format data (a time column and a series key), the column naming the series"
    )
    series_value: str | None = Field(default=None, description="The series (value of series_key) forecast here")


class LeaderboardEntry(_Model):
    model: str
    score_holdout: float | None = None
    score_val: float | None = None
    fit_time_s: float | None = None
    predict_time_s: float | None = None
    is_best: bool = False
    rank: int | None = Field(default=None, ge=1, description="1 for the best model; the leaderboard is ordered by rank")
    metric: str | None = Field(default=None, description="Metric of ``score``", examples=["rmse", "log_loss", "r2"])
    higher_is_better: bool | None = Field(default=None, description="Whether a larger ``score`` is better")
    score: float | None = Field(default=None, description="Holdout score in the metric's own units (errors positive)")
    family: str | None = Field(default=None, description="Model family",
                               examples=["LightGBM", "CatBoost", "Random forest", "Linear", "Ensemble"])
    shap_explained: bool = Field(default=False, description="Whether the SHAP values explain this model")


class ConfusionMatrix(_Model):
    labels: list[str]
    matrix: list[list[int]] = Field(description="Rows are true labels, columns predicted labels")


class AutoMLBudget(_Model):
    """How the analysis' time budget was shared out, in seconds."""

    total_s: float = Field(description="The budget asked for: the whole analysis")
    before_automl_s: float = Field(default=0.0, description="Spent on the steps before AutoML (statistics, patterns...)"
                                   ", the stages before the analysis included")
    before_analysis_s: float = Field(default=0.0, description="Spent by the job before the analysis began (reading, "
                                     "profiling, cleaning), counted against the budget; within before_automl_s")
    automl_s: float = Field(default=0.0, description="Given to AutoML: the remainder less the reserve for explanations")
    baseline_s: float = Field(default=0.0, description="Spent on the fast baseline model, within automl_s")
    automl_spent_s: float = Field(default=0.0, description="Spent by AutoML")
    after_automl_s: float = Field(default=0.0, description="Reserved for explanations and saving the model")


class AutoMLReport(_Model):
    """AutoGluon training and holdout evaluation."""

    chart_id: str = "leaderboard"
    eval_metric: str
    best_model: str
    time_budget_s: float
    fit_time_s: float
    train_rows: int
    holdout_rows: int
    features: list[str] = Field(default_factory=list)
    metrics: dict[str, float] = Field(default_factory=dict, description="Holdout metrics of the best model")
    confusion_matrix: ConfusionMatrix | None = None
    leaderboard: list[LeaderboardEntry] = Field(default_factory=list)
    ranked_by: str = Field(default="holdout", description="Leaderboard order: by score on the holdout every model "
                                                          "is scored on; the best model is the first row")
    holdout_source: Literal["etl_split", "random"] | None = Field(
        default=None, description="etl_split: the rows ETL kept out of its fit; random: one holdout drawn once")
    families: list[str] = Field(default_factory=list, description="Model families in the leaderboard")
    budget: AutoMLBudget | None = None


class FeatureImportance(_Model):
    feature: str
    importance: float
    std: float = 0.0
    p_value: float | None = None


class RowExplanation(_Model):
    row_index: int
    prediction: Any = None
    base_value: float
    contributions: dict[str, float] = Field(description="SHAP value of each feature, largest first")


class PartialDependence(_Model):
    chart_id: str
    feature: str
    grid: list[Any]
    average: list[float]
    output: str = Field(default="", description="What the average is of", examples=["P(churned = yes)", "price"])


class Explanations(_Model):
    chart_id: str = "feature_importance"
    permutation_importance: list[FeatureImportance] = Field(default_factory=list)
    shap_model: str | None = Field(default=None, description="Tree model the SHAP values explain")
    shap_global: list[FeatureImportance] = Field(
        default_factory=list, description="Mean |SHAP| per feature, largest first"
    )
    shap_rows: list[RowExplanation] = Field(default_factory=list)
    shap_output: str | None = Field(default=None, description="What SHAP values add up to (raw, log-odds...)")
    shap_explains_best: bool | None = Field(default=None, description="Whether shap_model is the best model")
    shap_note: str = Field(default="", description="Why SHAP explains another model than the best, when it does")
    partial_dependence: list[PartialDependence] = Field(default_factory=list)


class LeakageFinding(_Model):
    """A feature that alone predicts the target suspiciously well."""

    feature: str
    metric: str = Field(examples=["roc_auc", "accuracy", "r2"])
    score: float
    evidence: str
    dropped: bool
    kind: str | None = Field(
        default=None, description="Why it is a leak",
        examples=["near_identity", "deterministic_function", "dominates_other_features", "band_around_target"])
    others_score: float | None = Field(
        default=None, description="Score the other features reach together, for the same metric")
    measures: dict[str, float] = Field(
        default_factory=dict, description="The figures behind the finding (correlations, share of rows inside a band...)")


class ModelMetadata(_Model):
    """Registry metadata of the trained model."""

    model_dir: str | None = None
    manifest_sha256: str | None = Field(
        default=None, description="SHA-256 of the model directory's manifest; pass it to load_model to pin it"
    )
    best_model: str
    task_type: TaskType
    target: str
    features: list[str]
    training_data_sha256: str
    metrics: dict[str, float] = Field(default_factory=dict)
    config: dict[str, Any] = Field(default_factory=dict)
    library_versions: dict[str, str] = Field(default_factory=dict)


class Insight(_Model):
    """One plain-language statement tied to its evidence."""

    rank: int
    kind: str = Field(examples=["association", "driver", "forecast", "anomaly", "cluster", "leakage", "test"])
    statement: str
    evidence: dict[str, float] = Field(default_factory=dict)
    chart_id: str
    score: float = Field(description="Ranking weight; higher first")


class AnalysisResult(_Model):
    """Everything the ML analysis found about one dataset."""

    schema_version: int = ANALYSIS_SCHEMA_VERSION
    task: TaskInfo
    sampling: SamplingNote
    row_count: int
    column_count: int
    descriptive: list[GroupStatistics] = Field(default_factory=list)
    feature_tests: list[FeatureTest] = Field(default_factory=list)
    distributions: list[DistributionFit] = Field(default_factory=list)
    associations: list[Association] = Field(default_factory=list)
    clustering: ClusteringReport | None = None
    anomalies: AnomalyReport | None = None
    time_patterns: list[TimePattern] = Field(default_factory=list)
    forecasts: list[ForecastReport] = Field(default_factory=list)
    automl: AutoMLReport | None = None
    explanations: Explanations | None = None
    leakage: list[LeakageFinding] = Field(default_factory=list)
    model: ModelMetadata | None = None
    insights: list[Insight] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list, description="Parts skipped or reduced, in plain language")
    timings_s: dict[str, float] = Field(default_factory=dict, description="Seconds spent per part")
    identifiers: dict[str, str] = Field(
        default_factory=dict, description="Columns that identify rows (ids, row counters, counters within groups), "
                                          "left out of the statistics, the insights and the models, with the reason"
    )
    date_parts: dict[str, str] = Field(
        default_factory=dict, description="Columns that are parts of a datetime (month, hour beside time_hour), left "
                                          "out of the statistics and insights but offered to the models, with the reason"
    )
    weight: str | None = Field(
        default=None, description="A frequency table's count column: statistics and tests count each row that many times"
    )


class PredictionRow(_Model):
    prediction: Any
    probabilities: dict[str, float] | None = None
    contributions: dict[str, float] | None = Field(default=None, description="SHAP values when explain=True")
    base_value: float | None = Field(
        default=None, description="SHAP expected value when explain=True: base_value + sum(contributions) is the "
                                  "model's raw output for this row (in shap_output units)")


class PredictionWarning(_Model):
    """Something about the rows sent that did not stop the prediction."""

    code: Literal["unknown_columns"] = Field(description="unknown_columns: columns the model does not take, "
                                                         "ignored")
    message: str
    columns: list[str] = Field(default_factory=list)


class PredictionInput(_Model):
    """What the rows sent needed before the model could read them."""

    rows: int = Field(ge=0, description="Rows received")
    filled: int = Field(ge=0, description="Rows with a null in a column the model needs, filled by the pipeline")
    coerced: int = Field(ge=0, description="Rows with a value converted to its column's training type "
                                           "(\"3\" to 3, \"yes\" to true); not counted: one number type to another")


class Predictions(_Model):
    """Predictions of a trained model for a batch of rows."""

    model: str
    task_type: TaskType
    target: str
    rows: list[PredictionRow]
    explained_by: str | None = Field(default=None, description="Tree model behind the contributions")
    shap_output: str | None = Field(default=None, description="What base value plus contributions add up to "
                                                               "(log-odds, raw class scores, target units)")
    warnings: list[PredictionWarning] = Field(default_factory=list)
    input: PredictionInput | None = Field(default=None, description="Rows received, filled and coerced")
