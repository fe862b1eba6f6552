"""Unsupervised patterns: associations, k-means clusters and IsolationForest anomalies."""

from __future__ import annotations

import math
import warnings
from itertools import combinations

import numpy as np
import polars as pl
from scipy import stats
from shared_contracts.analysis import Anomaly, AnomalyReport, Association, ClusteringReport, ClusterProfile
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.ensemble import IsolationForest
from sklearn.metrics import silhouette_score
from threadpoolctl import threadpool_limits

from .columns import ColumnRoles, as_cases

__all__ = ["find_anomalies", "find_associations", "find_clusters"]

_MAX_NUMERIC = 30
_MAX_CATEGORICAL = 12
_SAME_ORDER = 0.9999
"""|Spearman| from which two columns rank every row alike: one is a monotone function of the other."""


def find_associations(frame: pl.DataFrame, roles: ColumnRoles, *, limit: int = 20) -> list[Association]:
    """Strongest pairwise relations: Spearman, Cramér's V and the correlation ratio.

    Each carries its p-value, Benjamini-Hochberg adjusted over every pair tested. A relation that
    holds by construction is left out: where one column determines the other (each value of one,
    among the values seen more than once, goes with a single value of the other), as ``hour``
    follows from ``sched_dep_time`` or an origin from its manufacturer, and where two numbers rank
    every row alike (|Spearman| >= 0.9999: a unit conversion, a rescaling). A frequency table's rows
    count as many cases as its weight says.
    """
    frame = as_cases(frame, roles)
    found: list[Association] = []
    numeric = roles.numeric[:_MAX_NUMERIC]
    if len(numeric) >= 2:
        matrix = frame.select([pl.col(name).cast(pl.Float64).fill_nan(None) for name in numeric])
        ranked = matrix.select([pl.col(name).rank() for name in numeric])
        complete = ranked.null_count().row(0)
        dense = None
        if not any(complete) and ranked.height >= 8:
            with np.errstate(invalid="ignore", divide="ignore"):
                dense = np.corrcoef(ranked.to_numpy(), rowvar=False)
        for (i, a), (j, b) in combinations(enumerate(numeric), 2):
            if dense is not None:
                rho, n = dense[i, j], ranked.height
            else:
                pair = ranked.select(a, b).drop_nulls()
                if pair.height < 8:
                    continue
                # ranks over the complete pairs only, as Spearman defines them
                pair = pair.select(pl.col(a).rank(), pl.col(b).rank())
                rho, n = pair.select(pl.corr(a, b)).item(), pair.height
            if rho is None or not math.isfinite(rho) or abs(rho) >= _SAME_ORDER:
                # the same order on every row: one is a monotone function of the other (a unit
                # conversion, a rescaling), the same information twice
                continue
            found.append(Association(chart_id=f"association:{a}:{b}", a=a, b=b, method="spearman",
                                     value=float(rho), p_value=_rho_p_value(rho, n)))
    categorical = roles.categorical[:_MAX_CATEGORICAL]
    for a, b in combinations(categorical, 2):
        tested = _cramers_v(frame, a, b)
        if tested is not None:
            found.append(Association(chart_id=f"association:{a}:{b}", a=a, b=b, method="cramers_v",
                                     value=tested[0], p_value=tested[1]))
    for cat in categorical:
        for num in numeric[:15]:
            tested = _correlation_ratio(frame, cat, num)
            if tested is not None:
                found.append(Association(chart_id=f"association:{cat}:{num}", a=cat, b=num,
                                         method="correlation_ratio", value=tested[0], p_value=tested[1]))
    if found:
        adjusted = stats.false_discovery_control([1.0 if item.p_value is None else item.p_value for item in found],
                                                 method="bh")
        for item, p_adj in zip(found, adjusted, strict=True):
            item.p_adjusted = float(p_adj)
    found.sort(key=lambda item: -abs(item.value))
    kept: list[Association] = []
    for item in found:
        if len(kept) >= limit:
            break
        if abs(item.value) >= 0.1 and determined_pair(frame, item.a, item.b) is None:
            kept.append(item)
    return kept


def determined_pair(frame: pl.DataFrame, a: str, b: str, *, agreement: float = 0.99) -> str | None:
    """How one of ``a`` and ``b`` determines the other, or None: a relation that holds by construction.

    ``x`` determines ``y`` when, among the values of ``x`` seen at least twice (on at least 30% of
    the rows, with at least 20 rows beyond the first of each value), ``agreement`` of the rows share
    their value's single value of ``y``. With too few repeats the test cannot tell, and says None.
    """
    pairs = frame.select(pl.col(a), pl.col(b)).drop_nulls()
    if pairs.height < 20:
        return None
    for x, y in ((a, b), (b, a)):
        if pairs[y].n_unique() < 2:
            continue
        groups = (pairs.group_by(x).agg(pl.len().alias("rows"), pl.col(y).n_unique().alias("values"))
                  .filter(pl.col("rows") >= 2))
        repeated = int(groups["rows"].sum()) if groups.height else 0
        if groups.height < 2 or repeated - groups.height < 20 or repeated < 0.3 * pairs.height:
            continue
        single = int(groups.filter(pl.col("values") == 1)["rows"].sum())
        if single >= agreement * repeated:
            return f"each value of {x} goes with one value of {y} ({single:,} of {repeated:,} rows)"
    return None


def _rho_p_value(rho: float, n: int) -> float:
    if abs(rho) >= 1 or n < 4:
        return 0.0
    t = rho * math.sqrt((n - 2) / (1 - rho * rho))
    return float(2 * stats.t.sf(abs(t), n - 2))


def _cramers_v(frame: pl.DataFrame, a: str, b: str) -> tuple[float, float] | None:
    pairs = frame.select(pl.col(a).cast(pl.String), pl.col(b).cast(pl.String)).drop_nulls()
    if pairs.height < 8:
        return None
    table = pairs.group_by(a, b).len().pivot(on=b, index=a, values="len").fill_null(0)
    counts = table.drop(a).to_numpy().astype(float)
    if min(counts.shape) < 2:
        return None
    chi2, p_value = stats.chi2_contingency(counts, correction=False)[:2]
    return float(math.sqrt(chi2 / (counts.sum() * (min(counts.shape) - 1)))), float(p_value)


def _correlation_ratio(frame: pl.DataFrame, cat: str, num: str) -> tuple[float, float] | None:
    """The correlation ratio eta (the square root of the share of variance the groups explain) and the F-test p."""
    pairs = frame.select(pl.col(cat).cast(pl.String), pl.col(num).cast(pl.Float64).fill_nan(None)).drop_nulls()
    if pairs.height < 8:
        return None
    grand = pairs[num].mean()
    total = float(((pairs[num] - grand) ** 2).sum())
    if total <= 0:
        return None
    groups = pairs.group_by(cat).agg(pl.len().alias("n"), pl.col(num).mean().alias("m"))
    between = float((groups["n"] * (groups["m"] - grand) ** 2).sum())
    k, n = groups.height, pairs.height
    within = total - between
    if k < 2 or n <= k:
        return None
    p_value = 0.0 if within <= 0 else float(stats.f.sf((between / (k - 1)) / (within / (n - k)), k - 1, n - k))
    return float(math.sqrt(min(1.0, between / total))), p_value


def _numeric_matrix(frame: pl.DataFrame, columns: list[str]) -> np.ndarray:
    data = frame.select([
        pl.when(pl.col(name).cast(pl.Float64).is_finite()).then(pl.col(name).cast(pl.Float64)).alias(name)
        for name in columns
    ])
    data = data.with_columns([pl.col(name).fill_null(pl.col(name).median()) for name in columns])
    return data.fill_null(0.0).to_numpy()


def find_clusters(frame: pl.DataFrame, roles: ColumnRoles, *, random_state: int = 0,
                  k_range: range = range(2, 9)) -> ClusteringReport | None:
    """K-means on standardised numeric features, with k chosen by silhouette."""
    features = roles.numeric[:20]
    if len(features) < 2 or frame.height < 30:
        return None
    raw = _numeric_matrix(frame, features)
    mean, std = raw.mean(axis=0), raw.std(axis=0)
    std[std == 0] = 1.0
    scaled = (raw - mean) / std
    rng = np.random.default_rng(random_state)
    fit_rows = rng.choice(len(scaled), min(len(scaled), 5000), replace=False)
    score_rows = fit_rows[:2000]
    scores: dict[int, float] = {}
    models = {}
    # OpenMP pools spin-wait; on a small shared machine one thread is far faster
    with warnings.catch_warnings(), threadpool_limits(limits=1):
        warnings.simplefilter("ignore")
        for k in k_range:
            if k >= len(score_rows):
                break
            model = KMeans(n_clusters=k, n_init=2, max_iter=100, random_state=random_state).fit(scaled[fit_rows])
            labels = model.predict(scaled[score_rows])
            if len(set(labels)) < 2:
                continue
            scores[k] = float(silhouette_score(scaled[score_rows], labels))
            models[k] = model
    if not scores:
        return None
    best_k = max(scores, key=lambda k: scores[k])
    labels = models[best_k].predict(scaled)
    profiles = []
    for cluster in range(best_k):
        members = labels == cluster
        if not members.any():
            continue
        cluster_means = raw[members].mean(axis=0)
        z = (cluster_means - mean) / std
        notes = [
            f"{features[i]} {'higher' if z[i] > 0 else 'lower'} than average ({z[i]:+.1f} sd)"
            for i in np.argsort(-np.abs(z))[:3]
            if abs(z[i]) >= 0.3
        ]
        profiles.append(ClusterProfile(
            cluster=cluster, size=int(members.sum()), share=float(members.mean()),
            means={name: float(value) for name, value in zip(features, cluster_means, strict=True)},
            distinguishing=notes,
        ))
    shown = score_rows[:2000]
    projection = PCA(n_components=2, random_state=random_state).fit_transform(scaled[shown])
    return ClusteringReport(
        k=best_k, silhouette=scores[best_k], silhouette_by_k={str(k): v for k, v in scores.items()},
        features=features, profiles=profiles,
        projection=[[round(float(x), 4), round(float(y), 4)] for x, y in projection],
        projection_labels=[int(label) for label in labels[shown]],
    )


def find_anomalies(frame: pl.DataFrame, roles: ColumnRoles, *, row_ids: np.ndarray | None = None,
                   top: int = 10, contamination: float = 0.01, random_state: int = 0) -> AnomalyReport | None:
    """IsolationForest on numeric features; explain the top rows by robust z-scores."""
    features = roles.numeric[:30]
    if not features or frame.height < 50:
        return None
    raw = _numeric_matrix(frame, features)
    forest = IsolationForest(n_estimators=100, contamination=contamination, random_state=random_state, n_jobs=1)
    forest.fit(raw)
    scores = -forest.score_samples(raw)
    flagged = int((forest.predict(raw) == -1).sum())
    median = np.median(raw, axis=0)
    mad = 1.4826 * np.median(np.abs(raw - median), axis=0)
    spread = np.where(mad > 0, mad, raw.std(axis=0))
    spread[spread == 0] = 1.0
    ids = row_ids if row_ids is not None else np.arange(len(raw))
    anomalies = []
    for row in np.argsort(-scores)[:top]:
        z = (raw[row] - median) / spread
        reasons = [
            f"{features[i]} = {_fmt(raw[row, i])} is {abs(z[i]):.1f} robust sd "
            f"{'above' if z[i] > 0 else 'below'} the median {_fmt(median[i])}"
            for i in np.argsort(-np.abs(z))[:3]
            if abs(z[i]) >= 2
        ] or ["an unusual combination of values, none extreme on its own"]
        values = {name: _plain(frame[name][int(row)]) for name in frame.columns[:20]}
        anomalies.append(Anomaly(row_index=int(ids[row]), score=float(scores[row]), reasons=reasons, values=values))
    return AnomalyReport(contamination=contamination, flagged=flagged, rows_scored=len(raw),
                         features=features, top=anomalies)


def _fmt(value: float) -> str:
    return f"{value:,.4g}"


def _plain(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, int | float | str | bool) or value is None:
        return value
    return str(value)
