"""The 0-100 data quality score and its breakdown."""

from __future__ import annotations

from shared_contracts.profile import (
    Alert,
    ColumnProfile,
    DatasetStats,
    QualityComponent,
    QualityScore,
    ValidationSummary,
)

__all__ = ["QUALITY_WEIGHTS", "RULE_PENALTIES", "quality_score", "validation_penalty"]

QUALITY_WEIGHTS = {
    "completeness": 0.30,
    "uniqueness": 0.20,
    "validity": 0.20,
    "consistency": 0.15,
    "informativeness": 0.15,
}

RULE_PENALTIES = {"error": (20.0, 30.0), "warning": (5.0, 10.0)}
"""Validity points a broken rule takes, by severity: (for being broken at all, times the share of rows breaking it)."""

_VALIDITY = frozenset({"INFINITE", "DISGUISED_MISSING", "MIXED_TYPES", "NUMBERS_AS_TEXT", "TYPE_DATE", "UNSUPPORTED"})
_CONSISTENCY = frozenset({"INCONSISTENT_CATEGORY", "DIRTY_CATEGORY", "OUTLIERS"})
_UNINFORMATIVE = frozenset({"CONSTANT", "EMPTY"})


def _share_clean(columns: list[ColumnProfile], alerts: list[Alert], kinds: frozenset[str]) -> tuple[float, list[str]]:
    flagged = sorted({c for a in alerts if a.type in kinds for c in a.columns})
    if not columns:
        return 100.0, flagged
    return 100.0 * (1 - len(flagged) / len(columns)), flagged


def validation_penalty(validation: ValidationSummary | None) -> float:
    """The validity points the user's broken rules take (:data:`RULE_PENALTIES`), 0 when none is broken.

    >>> from shared_contracts.ingest import RuleResult
    >>> broken = RuleResult(name="id is not null", kind="not_null", passed=False, failing_count=22, severity="error")
    >>> validation_penalty(ValidationSummary.of([broken], rows=100))
    26.6
    >>> validation_penalty(ValidationSummary.of([broken.model_copy(update={"severity": "warning"})], rows=100))
    7.2
    """
    if validation is None:
        return 0.0
    points = 0.0
    for rule in validation.rules:
        if not rule.passed:
            base, per_share = RULE_PENALTIES[rule.severity]
            points += base + per_share * rule.failed_fraction
    return round(points, 6)


def _validity_detail(invalid: list[str], validation: ValidationSummary | None) -> str:
    detail = f"columns with invalid or disguised values: {', '.join(invalid) or 'none'}"
    if validation is None:
        return detail
    broken = [r for r in validation.rules if not r.passed]
    if not broken:
        return f"{detail}; all {validation.rules_checked} validation rule(s) pass"
    rules = ", ".join(f"{r.name} ({r.severity}, {r.failed_count} rows)" for r in broken)
    return f"{detail}; validation rules broken: {rules}"


def quality_score(*, dataset: DatasetStats, columns: list[ColumnProfile], alerts: list[Alert],
                  validation: ValidationSummary | None = None) -> QualityScore:
    """Score the dataset's quality from 0 (unusable) to 100 (no issue found).

    Parameters
    ----------
    dataset
        Table-level statistics.
    columns
        Column profiles.
    alerts
        The alerts found.
    validation
        The user's validation rules and their results, if any were given.

    Returns
    -------
    QualityScore
        The weighted mean of five components (weights in :data:`QUALITY_WEIGHTS`):
        completeness (share of cells present), uniqueness (share of rows that are not exact
        duplicates, near duplicates counting half), validity, consistency and informativeness
        (share of columns without an alert of that kind).

        Validity also answers to the user's validation rules: each broken rule takes points off the
        share of valid columns (:data:`RULE_PENALTIES`): a rule of severity ``error`` 20 points plus 30
        times the share of rows breaking it, a ``warning`` 5 plus 10 times that share; validity stays
        at or above 0. A rule that passes takes nothing.
    """
    completeness = 100.0 * (1 - dataset.cells_missing_fraction)
    near = dataset.near_duplicate_rows / dataset.rows if dataset.rows else 0.0
    uniqueness = 100.0 * max(0.0, 1 - dataset.duplicate_fraction - 0.5 * near)
    validity, invalid = _share_clean(columns, alerts, _VALIDITY)
    validity = max(0.0, validity - validation_penalty(validation))
    consistency, inconsistent = _share_clean(columns, alerts, _CONSISTENCY)
    informativeness, useless = _share_clean(columns, alerts, _UNINFORMATIVE)
    if dataset.rows == 0:
        completeness = uniqueness = informativeness = 0.0
    parts = [
        QualityComponent(name="completeness", score=completeness, weight=QUALITY_WEIGHTS["completeness"],
                         detail=f"{dataset.cells_missing} of {dataset.cells} cells missing"),
        QualityComponent(name="uniqueness", score=uniqueness, weight=QUALITY_WEIGHTS["uniqueness"],
                         detail=f"{dataset.duplicate_rows} duplicate and {dataset.near_duplicate_rows} "
                         "near-duplicate rows"),
        QualityComponent(name="validity", score=validity, weight=QUALITY_WEIGHTS["validity"],
                         detail=_validity_detail(invalid, validation)),
        QualityComponent(name="consistency", score=consistency, weight=QUALITY_WEIGHTS["consistency"],
                         detail=f"columns with inconsistent categories or outliers: {', '.join(inconsistent) or 'none'}"),
        QualityComponent(name="informativeness", score=informativeness, weight=QUALITY_WEIGHTS["informativeness"],
                         detail=f"constant or empty columns: {', '.join(useless) or 'none'}"),
    ]
    score = sum(p.score * p.weight for p in parts) / sum(p.weight for p in parts)
    return QualityScore(score=round(min(100.0, max(0.0, score)), 2), components=parts)
