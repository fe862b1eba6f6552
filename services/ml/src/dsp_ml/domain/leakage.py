"""Features that leak the target: computable from it, or known only after it.

A strong driver is not a leak. A feature is flagged only when the way it relates to the target
says it was made from the target:

- a near-identity or a deterministic function of the target (alone it predicts the target all
  but perfectly, or its ranks are the target's);
- a band around the target: a numeric feature on the target's scale that sits on one side of it
  in (almost) every row, such as ``Min.Price <= Price <= Max.Price``;
- a single feature whose score stands far above what all the other features reach together.

Diamonds' ``carat``, ``x``, ``y`` and ``z`` (Spearman 0.96 with price) pass: each predicts price well,
but the other features together do as well, and none bounds price.
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import polars as pl
from shared_contracts.analysis import LeakageFinding
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from .columns import ColumnRoles

__all__ = ["find_leaky_features"]

_SAMPLE = 5000
_DETERMINISTIC = 0.995
"""Single-feature score (R² or balanced accuracy) of a deterministic function of the target."""
_IDENTITY_RHO = 0.995
"""|Spearman| of a near-identity (the target up to a monotone transform)."""
_BAND_SHARE = 0.99
_BAND_SHARE_NAMED = 0.95
_BAND_RHO = 0.9
_BAND_SCALE = (0.5, 2.0)
_DOMINANT = 0.95
_DOMINANT_ERROR_RATIO = 0.5
"""A dominant feature's error is at most this share of the error of all the other features together."""
_BOUND_WORDS = re.compile(r"(^|[^a-z])(min|max|minimum|maximum|low|high|lower|upper|lo|hi|floor|ceiling|cap)"
                          r"([^a-z]|$)")


def find_leaky_features(frame: pl.DataFrame, roles: ColumnRoles, *, target: str, task_type: str,
                        drop: bool, random_state: int = 0) -> list[LeakageFinding]:
    """Flag the features that leak ``target``, each with the evidence that makes it a leak.

    Every feature is scored alone with a shallow tree under 3-fold cross-validation (categories
    ordered by their typical target within each training fold); the scores, Spearman correlations
    and per-row comparisons with the target decide, as the module docstring says. ``drop`` records
    whether the analysis leaves the flagged features out.

    Examples
    --------
    >>> import polars as pl
    >>> from dsp_ml.domain.columns import ColumnRoles
    >>> price = [float(p) for p in range(10, 110)]
    >>> frame = pl.DataFrame({"price": price, "min_price": [p * 0.9 for p in price],
    ...                       "size": [(p * 7) % 13 for p in range(100)]})
    >>> roles = ColumnRoles(numeric=["min_price", "size"], categorical=[], datetime=[], derived=[], ignored={})
    >>> [f.kind for f in find_leaky_features(frame, roles, target="price", task_type="regression", drop=True)]
    ['near_identity']
    """
    data = frame.filter(pl.col(target).is_not_null())
    if data.height > _SAMPLE:
        data = data.sample(_SAMPLE, seed=random_state)
    classification = task_type in ("binary", "multiclass")
    if classification:
        labels = data[target].cast(pl.String).to_numpy()
        _, y, counts = np.unique(labels, return_inverse=True, return_counts=True)
        if counts.min() < 3:
            return []
        folds = list(StratifiedKFold(n_splits=3, shuffle=True, random_state=random_state).split(y, y))
        metric = "balanced_accuracy"
    else:
        y = data[target].cast(pl.Float64).to_numpy()
        if data.height < 10 or not np.isfinite(y).all() or np.std(y) == 0:
            return []
        folds = list(KFold(n_splits=3, shuffle=True, random_state=random_state).split(y))
        metric = "r2"
    features = [name for name in roles.model_features if name != target and name in data.columns]
    encoded = {name: _encode_folds(data[name], y, folds) for name in features}
    single = {name: _cv_score([encoded[name]], y, folds, classification=classification, random_state=random_state)
              for name in features}
    found: dict[str, LeakageFinding] = {}

    def flag(name: str, kind: str, evidence: str, measures: dict[str, float], others: float | None = None) -> None:
        action = "left out of the model" if drop else "kept because leaky features were allowed"
        found[name] = LeakageFinding(feature=name, metric=metric, score=single[name], dropped=drop, kind=kind,
                                     others_score=others, measures=measures,
                                     evidence=f"{evidence}; it is {action}.")

    rows = f"3-fold cross-validation on {data.height:,} rows"
    for name in features:
        rho = _spearman(data[name], y) if not classification and _is_numeric(data[name]) else None
        if rho is not None and abs(rho) >= _IDENTITY_RHO:
            flag(name, "near_identity", f"{name} ranks the rows as {target} does (Spearman {rho:.3f}): it is "
                 f"{target} up to a monotone transform", {"spearman": rho, metric: single[name]})
        elif single[name] >= _DETERMINISTIC:
            flag(name, "deterministic_function", f"{name} alone predicts {target} with {_label(metric)} "
                 f"{single[name]:.3f} ({rows}): {target} is all but a function of it",
                 {metric: single[name]} | ({"spearman": rho} if rho is not None else {}))
    if not classification:
        for name in features:
            if name in found or not _is_numeric(data[name]):
                continue
            band = _band(data[name], y, name=name, target=target)
            if band is not None:
                evidence, measures = band
                flag(name, "band_around_target", evidence, measures | {metric: single[name]})
    for name in features:
        if name in found or single[name] < _DOMINANT:
            continue
        others = [encoded[other] for other in features if other != name and other not in found]
        others_score = (_cv_score(others, y, folds, classification=classification, random_state=random_state,
                                  boosted=True) if others else 0.0)
        if 1.0 - single[name] <= _DOMINANT_ERROR_RATIO * (1.0 - others_score):
            flag(name, "dominates_other_features",
                 f"{name} alone predicts {target} with {_label(metric)} {single[name]:.3f}, while all the other "
                 f"features together reach {others_score:.3f} ({rows}): one column that knows the answer",
                 {metric: single[name], f"others_{metric}": others_score}, others=others_score)
    return sorted(found.values(), key=lambda finding: (-finding.score, finding.feature))


def _band(column: pl.Series, y: np.ndarray, *, name: str, target: str) -> tuple[str, dict[str, float]] | None:
    """A bound set around the target: on its scale, on one side of it in (almost) every row."""
    x = column.cast(pl.Float64).to_numpy()
    known = np.isfinite(x)
    if known.sum() < 10:
        return None
    x, t = x[known], y[known]
    rho = _spearman(pl.Series(x), t)
    if rho is None or rho < _BAND_RHO:
        return None
    below, above = float(np.mean(x <= t)), float(np.mean(x >= t))
    equal = float(np.mean(x == t))
    typical = np.median(t)
    if typical == 0 or not _BAND_SCALE[0] <= np.median(x) / typical <= _BAND_SCALE[1]:
        return None
    named = bool(_BOUND_WORDS.search(name.lower())) and _stem(target) in _stem(name)
    share, side = (below, "<=") if below >= above else (above, ">=")
    if share - equal < 0.5 or share < (_BAND_SHARE_NAMED if named else _BAND_SHARE):
        return None
    nonzero = t != 0
    ratio = float(np.median(x[nonzero] / t[nonzero]))
    evidence = (f"{name} {side} {target} in {share:.1%} of {x.size:,} rows, on the same scale (typical ratio "
                f"{ratio:.2f}) and rising with it (Spearman {rho:.3f}): a bound set around {target}, known only "
                f"once {target} is")
    if named:
        evidence += f"; its name says it is {'a lower' if side == '<=' else 'an upper'} bound of {target}"
    return evidence, {"share_on_one_side": share, "spearman": rho, "typical_ratio": ratio, "named_bound": float(named)}


def _stem(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _label(metric: str) -> str:
    return "R²" if metric == "r2" else metric.replace("_", " ")


def _is_numeric(column: pl.Series) -> bool:
    return column.dtype.is_numeric() and column.dtype != pl.Boolean


def _spearman(column: pl.Series, y: np.ndarray) -> float | None:
    from scipy.stats import spearmanr

    x = column.cast(pl.Float64).to_numpy()
    known = np.isfinite(x) & np.isfinite(y)
    if known.sum() < 10 or np.ptp(x[known]) == 0:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rho = spearmanr(x[known], y[known]).statistic
    return float(rho) if np.isfinite(rho) else None


def _encode_folds(column: pl.Series, y: np.ndarray, folds: list) -> list[np.ndarray]:
    """The column as one number per row, per fold: categories ranked by their typical target in the fold's
    training rows, so that categories sharing a target sit side by side and a shallow tree can separate
    them whatever their number; unseen categories rank in the middle."""
    if _is_numeric(column):
        values = column.cast(pl.Float64)
        values = pl.select(pl.when(values.is_finite()).then(values)).to_series()
        filled = values.fill_null(values.median() if values.null_count() < values.len() else 0.0).to_numpy()
        return [filled for _ in folds]
    codes = np.asarray(column.cast(pl.String).fill_null("(missing)").to_list(), dtype=object)
    out = []
    for train, _ in folds:
        by_category: dict[str, list] = {}
        for code, label in zip(codes[train], y[train], strict=True):
            by_category.setdefault(code, []).append(label)
        typical = {code: _typical(np.asarray(labels)) for code, labels in by_category.items()}
        ranks = {code: float(rank) for rank, code in enumerate(sorted(typical, key=lambda code: typical[code]))}
        middle = (len(ranks) - 1) / 2
        out.append(np.array([ranks.get(code, middle) for code in codes], dtype=float))
    return out


def _cv_score(columns: list[list[np.ndarray]], y: np.ndarray, folds: list, *, classification: bool,
              random_state: int, boosted: bool = False) -> float:
    """Mean cross-validated R² or balanced accuracy of a shallow tree (or gradient boosting) on ``columns``."""
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    scores = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for position, (train, test) in enumerate(folds):
            x = np.column_stack([column[position] for column in columns])
            if boosted:
                model = (HistGradientBoostingClassifier if classification else HistGradientBoostingRegressor)(
                    max_iter=100, early_stopping=False, random_state=random_state)
            else:
                model = (DecisionTreeClassifier if classification else DecisionTreeRegressor)(
                    max_depth=6, min_samples_leaf=5, random_state=random_state)
            predicted = model.fit(x[train], y[train]).predict(x[test])
            scores.append(_balanced_accuracy(y[test], predicted) if classification else _r2(y[test], predicted))
    return float(np.mean(scores))


def _typical(labels: np.ndarray) -> float:
    return float(np.bincount(labels).argmax()) if labels.dtype.kind in "iu" else float(np.mean(labels))


def _balanced_accuracy(actual: np.ndarray, predicted: np.ndarray) -> float:
    recalls = [np.mean(predicted[actual == label] == label) for label in np.unique(actual)]
    return float(np.mean(recalls))


def _r2(actual: np.ndarray, predicted: np.ndarray) -> float:
    total = float(np.sum((actual - actual.mean()) ** 2))
    return 1.0 - float(np.sum((actual - predicted) ** 2)) / total if total > 0 else 0.0
