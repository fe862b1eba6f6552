"""Data drift between a model's training data and the rows it is asked to predict, and the A/B
comparison of two model versions on one holdout."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from scipy import stats

__all__ = [
    "FeatureDrift",
    "ModelComparison",
    "compare_models",
    "drift_summary",
    "feature_drift",
    "population_stability_index",
    "write_reference_sample",
]

_EPS = 1e-6


@dataclass(frozen=True)
class FeatureDrift:
    feature: str
    psi: float
    ks_statistic: float | None
    ks_p_value: float | None
    kind: str

    @property
    def level(self) -> str:
        """The usual reading of PSI: below 0.1 stable, up to 0.25 moderate, above that a shift."""
        return "stable" if self.psi < 0.1 else "moderate" if self.psi < 0.25 else "shifted"


def population_stability_index(expected: np.ndarray, actual: np.ndarray) -> float:
    """PSI of two share vectors over the same bins: sum((a - e) * ln(a / e))."""
    e = np.clip(np.asarray(expected, dtype=float), _EPS, None)
    a = np.clip(np.asarray(actual, dtype=float), _EPS, None)
    e, a = e / e.sum(), a / a.sum()
    return float(np.sum((a - e) * np.log(a / e)))


def _numeric_drift(reference: np.ndarray, current: np.ndarray, bins: int) -> tuple[float, float, float]:
    edges = np.unique(np.quantile(reference, np.linspace(0, 1, bins + 1)))
    if edges.size < 2:
        edges = np.array([reference.min() - 0.5, reference.max() + 0.5])
    edges[0], edges[-1] = -np.inf, np.inf
    expected = np.histogram(reference, edges)[0]
    actual = np.histogram(current, edges)[0]
    ks = stats.ks_2samp(reference, current)
    return population_stability_index(expected, actual), float(ks.statistic), float(ks.pvalue)


def feature_drift(reference: pl.DataFrame, current: pl.DataFrame, *, features: list[str] | None = None,
                  bins: int = 10) -> list[FeatureDrift]:
    """PSI for every shared feature, plus the two-sample Kolmogorov-Smirnov test for numeric ones.

    Missing values count as their own category, so a feature that starts arriving empty drifts too.
    """
    names = [f for f in (features or reference.columns) if f in current.columns]
    out: list[FeatureDrift] = []
    for name in names:
        ref, cur = reference.get_column(name), current.get_column(name)
        if ref.dtype.is_numeric() and cur.dtype.is_numeric():
            ref_values = ref.drop_nulls().cast(pl.Float64).to_numpy()
            cur_values = cur.drop_nulls().cast(pl.Float64).to_numpy()
            ref_values = ref_values[np.isfinite(ref_values)]
            cur_values = cur_values[np.isfinite(cur_values)]
            if ref_values.size == 0 or cur_values.size == 0:
                continue
            psi, ks_stat, ks_p = _numeric_drift(ref_values, cur_values, bins)
            out.append(FeatureDrift(name, psi, ks_stat, ks_p, "numeric"))
        else:
            ref_counts = ref.cast(pl.String).fill_null("<missing>").rename("value").value_counts()
            cur_counts = cur.cast(pl.String).fill_null("<missing>").rename("value").value_counts()
            joined = ref_counts.join(cur_counts, on=ref_counts.columns[0], how="full", coalesce=True).fill_null(0)
            psi = population_stability_index(joined.get_column("count").to_numpy(),
                                             joined.get_column("count_right").to_numpy())
            out.append(FeatureDrift(name, psi, None, None, "categorical"))
    return sorted(out, key=lambda d: -d.psi)


@dataclass(frozen=True)
class ModelComparison:
    metric: str
    score_a: float
    score_b: float
    winner: str
    difference: float
    p_value: float | None


def compare_models(predict_a: Callable[[pl.DataFrame], np.ndarray], predict_b: Callable[[pl.DataFrame], np.ndarray],
                   holdout: pl.DataFrame, target: str, *, task: str, n_boot: int = 500,
                   seed: int = 0) -> ModelComparison:
    """Score two model versions on the same holdout rows (accuracy or RMSE) with a paired bootstrap."""
    truth = holdout.get_column(target).to_numpy()
    features = holdout.drop(target)
    pred_a, pred_b = np.asarray(predict_a(features)), np.asarray(predict_b(features))
    if task == "regression":
        loss_a = (pred_a.astype(float) - truth.astype(float)) ** 2
        loss_b = (pred_b.astype(float) - truth.astype(float)) ** 2
        score: Callable[[np.ndarray], float] = lambda loss: float(np.sqrt(loss.mean()))  # noqa: E731
        metric, better = "rmse", -1.0
    else:
        loss_a = (pred_a.astype(str) != truth.astype(str)).astype(float)
        loss_b = (pred_b.astype(str) != truth.astype(str)).astype(float)
        score = lambda loss: float(1.0 - loss.mean())  # noqa: E731
        metric, better = "accuracy", 1.0
    score_a, score_b = score(loss_a), score(loss_b)
    rng = np.random.default_rng(seed)
    n = len(truth)
    wins_b = 0
    for _ in range(n_boot):
        idx = rng.integers(0, n, n)
        if better * (score(loss_b[idx]) - score(loss_a[idx])) > 0:
            wins_b += 1
    p_value = 1.0 - max(wins_b, n_boot - wins_b) / n_boot
    winner = "b" if better * (score_b - score_a) > 0 else "a" if score_b != score_a else "tie"
    return ModelComparison(metric=metric, score_a=score_a, score_b=score_b, winner=winner,
                           difference=score_b - score_a, p_value=2 * p_value if winner != "tie" else 1.0)


def write_reference_sample(data: Path, out: Path, *, features: list[str], rows: int = 5000, seed: int = 0) -> Path:
    """Keep a uniform sample of the training features: the reference drift is measured against."""
    frame = pl.scan_parquet(data).select([f for f in features if f in pl.read_parquet_schema(data)]).collect()
    if frame.height > rows:
        frame = frame.sample(rows, seed=seed)
    frame.write_parquet(out)
    return out


def drift_summary(drifts: list[FeatureDrift]) -> list[dict[str, Any]]:
    return [{"feature": d.feature, "psi": d.psi, "ks_statistic": d.ks_statistic, "ks_p_value": d.ks_p_value,
             "kind": d.kind, "level": d.level} for d in drifts]
