"""Features that alone predict the target almost perfectly."""

from __future__ import annotations

import warnings

import numpy as np
import polars as pl
from shared_contracts.analysis import LeakageFinding
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from .columns import ColumnRoles

__all__ = ["find_leaky_features"]

_SAMPLE = 5000
_CLASSIFICATION_THRESHOLD = 0.98
_REGRESSION_THRESHOLD = 0.98


def find_leaky_features(frame: pl.DataFrame, roles: ColumnRoles, *, target: str, task_type: str,
                        drop: bool, random_state: int = 0) -> list[LeakageFinding]:
    """Score every feature alone with a shallow tree under 3-fold cross-validation.

    A feature reaching a balanced accuracy (classification) or R² (regression) of 0.98
    on its own is flagged; ``drop`` records whether the analysis leaves it out.
    """
    data = frame.filter(pl.col(target).is_not_null())
    if data.height > _SAMPLE:
        data = data.sample(_SAMPLE, seed=random_state)
    classification = task_type in ("binary", "multiclass")
    if classification:
        y = data[target].cast(pl.String).to_numpy()
        _, y, counts = np.unique(y, return_inverse=True, return_counts=True)
        if counts.min() < 3:
            return []
        folds = list(StratifiedKFold(n_splits=3, shuffle=True, random_state=random_state).split(y, y))
        metric, threshold = "balanced_accuracy", _CLASSIFICATION_THRESHOLD
    else:
        y = data[target].cast(pl.Float64).to_numpy()
        folds = list(KFold(n_splits=3, shuffle=True, random_state=random_state).split(y))
        metric, threshold = "r2", _REGRESSION_THRESHOLD
    findings = []
    for feature in roles.model_features:
        if feature == target:
            continue
        x = _encode(data[feature], y)
        scores = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for train, test in folds:
                model = (DecisionTreeClassifier if classification else DecisionTreeRegressor)(
                    max_depth=6, min_samples_leaf=5, random_state=random_state)
                predicted = model.fit(x[train], y[train]).predict(x[test])
                scores.append(_balanced_accuracy(y[test], predicted) if classification else _r2(y[test], predicted))
        score = float(np.mean(scores))
        if score >= threshold:
            action = "left out of the model" if drop else "kept because leaky features were allowed"
            findings.append(LeakageFinding(
                feature=feature, metric=metric, score=score, dropped=drop,
                evidence=(f"{feature} alone predicts {target} with {metric.replace('_', ' ')} {score:.3f} "
                          f"(3-fold cross-validation on {data.height:,} rows); it is {action}."),
            ))
    return sorted(findings, key=lambda finding: -finding.score)


def _encode(column: pl.Series, y: np.ndarray) -> np.ndarray:
    if column.dtype.is_numeric() and column.dtype != pl.Boolean:
        values = column.cast(pl.Float64)
        values = pl.select(pl.when(values.is_finite()).then(values)).to_series()
        return values.fill_null(values.median() if values.null_count() < values.len() else 0.0).to_numpy().reshape(-1, 1)
    codes = column.cast(pl.String).fill_null("(missing)").to_list()
    # order categories by their typical target so that categories sharing a target sit side by side,
    # and a shallow tree can separate them whatever their number
    by_category: dict[str, list] = {}
    for code, label in zip(codes, y, strict=True):
        by_category.setdefault(code, []).append(label)
    typical = {code: _typical(np.asarray(labels)) for code, labels in by_category.items()}
    mapping = {code: rank for rank, code in enumerate(sorted(typical, key=lambda code: typical[code]))}
    return np.array([mapping[code] for code in codes], dtype=float).reshape(-1, 1)


def _typical(labels: np.ndarray) -> float:
    return float(np.bincount(labels).argmax()) if labels.dtype.kind in "iu" else float(np.mean(labels))


def _balanced_accuracy(actual: np.ndarray, predicted: np.ndarray) -> float:
    recalls = [np.mean(predicted[actual == label] == label) for label in np.unique(actual)]
    return float(np.mean(recalls))


def _r2(actual: np.ndarray, predicted: np.ndarray) -> float:
    total = float(np.sum((actual - actual.mean()) ** 2))
    return 1.0 - float(np.sum((actual - predicted) ** 2)) / total if total > 0 else 0.0
