"""The 0-100 data quality score and its breakdown."""

from __future__ import annotations

from shared_contracts.profile import Alert, ColumnProfile, DatasetStats, QualityComponent, QualityScore

__all__ = ["QUALITY_WEIGHTS", "quality_score"]

QUALITY_WEIGHTS = {
    "completeness": 0.30,
    "uniqueness": 0.20,
    "validity": 0.20,
    "consistency": 0.15,
    "informativeness": 0.15,
}

_VALIDITY = frozenset({"INFINITE", "DISGUISED_MISSING", "MIXED_TYPES", "NUMBERS_AS_TEXT", "TYPE_DATE", "UNSUPPORTED"})
_CONSISTENCY = frozenset({"INCONSISTENT_CATEGORY", "DIRTY_CATEGORY", "OUTLIERS"})
_UNINFORMATIVE = frozenset({"CONSTANT", "EMPTY"})


def _share_clean(columns: list[ColumnProfile], alerts: list[Alert], kinds: frozenset[str]) -> tuple[float, list[str]]:
    flagged = sorted({c for a in alerts if a.type in kinds for c in a.columns})
    if not columns:
        return 100.0, flagged
    return 100.0 * (1 - len(flagged) / len(columns)), flagged


def quality_score(*, dataset: DatasetStats, columns: list[ColumnProfile], alerts: list[Alert]) -> QualityScore:
    """Score the dataset's quality from 0 (unusable) to 100 (no issue found).

    Parameters
    ----------
    dataset
        Table-level statistics.
    columns
        Column profiles.
    alerts
        The alerts found.

    Returns
    -------
    QualityScore
        The weighted mean of five components (weights in :data:`QUALITY_WEIGHTS`):
        completeness (share of cells present), uniqueness (share of rows that are not exact
        duplicates, near duplicates counting half), validity, consistency and informativeness
        (share of columns without an alert of that kind).
    """
    completeness = 100.0 * (1 - dataset.cells_missing_fraction)
    near = dataset.near_duplicate_rows / dataset.rows if dataset.rows else 0.0
    uniqueness = 100.0 * max(0.0, 1 - dataset.duplicate_fraction - 0.5 * near)
    validity, invalid = _share_clean(columns, alerts, _VALIDITY)
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
                         detail=f"columns with invalid or disguised values: {', '.join(invalid) or 'none'}"),
        QualityComponent(name="consistency", score=consistency, weight=QUALITY_WEIGHTS["consistency"],
                         detail=f"columns with inconsistent categories or outliers: {', '.join(inconsistent) or 'none'}"),
        QualityComponent(name="informativeness", score=informativeness, weight=QUALITY_WEIGHTS["informativeness"],
                         detail=f"constant or empty columns: {', '.join(useless) or 'none'}"),
    ]
    score = sum(p.score * p.weight for p in parts) / sum(p.weight for p in parts)
    return QualityScore(score=round(min(100.0, max(0.0, score)), 2), components=parts)
