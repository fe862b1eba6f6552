"""Descriptive statistics by group, target-versus-feature tests, and distribution fits."""

from __future__ import annotations

import math
import warnings

import numpy as np
import polars as pl
from scipy import stats
from shared_contracts.analysis import DistributionFit, FeatureTest, GroupStatistics

from .columns import ColumnRoles, as_cases
from .patterns import determined_pair

__all__ = ["ALPHA", "EFFECT_THRESHOLDS", "FIT_SAMPLE", "GROUP_EFFECT_MIN", "describe_by_group", "fit_distributions",
           "test_features_against_target"]

_MAX_GROUPS = 12
_MAX_MEASURES = 8
_MAX_GROUPINGS = 8
_MAX_TESTED_MEASURES = 30
FIT_SAMPLE = 5000
"""Values a distribution is fitted and KS-tested on: a random sample past it."""
ALPHA = 0.05
"""Level of every test: a BH-adjusted p below it is significant; a KS p at or above it does not reject a fit."""
GROUP_EFFECT_MIN = 0.06
"""Smallest share of a measure's variation (epsilon-squared) a grouping must explain to be compared: a medium
effect in Cohen's terms."""
EFFECT_THRESHOLDS = {"cohen_d": 0.2, "rank_biserial": 0.1, "eta_squared": GROUP_EFFECT_MIN,
                     "epsilon_squared": GROUP_EFFECT_MIN, "cramers_v": 0.1, "spearman_rho": 0.1}
"""Smallest effect of a feature on the target that counts as meaningful: Cohen's "small" for a difference
of two groups, a contingency table or a correlation; for several groups, the share of variance every group
comparison must explain (``GROUP_EFFECT_MIN``)."""


def describe_by_group(
    frame: pl.DataFrame, roles: ColumnRoles, *, group_column: str | None, limit: int = _MAX_MEASURES
) -> list[GroupStatistics]:
    """Count, mean, std, median, min and max of numeric columns within the groups that explain them.

    A measure is compared across a grouping only where the grouping explains a share of its
    variation: a Kruskal-Wallis epsilon-squared of at least ``GROUP_EFFECT_MIN`` and a
    Benjamini-Hochberg adjusted p below ``ALPHA``, over every grouping and measure tested. Without
    ``group_column``, the categorical columns of 2 to 12 groups (the first 8) are tried against the
    first 30 measures; the strongest come first.
    A frequency table's rows count as many cases as its weight says.
    """
    frame = as_cases(frame, roles)
    if group_column is None:
        groupings = [name for name in roles.categorical if 2 <= frame[name].n_unique() <= _MAX_GROUPS][:_MAX_GROUPINGS]
    else:
        groupings = [group_column]
    tested = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for group in groupings:
            for measure in roles.numeric[:_MAX_TESTED_MEASURES]:
                if measure != group:
                    found = _group_difference(frame, group, measure)
                    if found is not None:
                        tested.append((group, measure, *found))
    if not tested:
        return []
    adjusted = stats.false_discovery_control([item[3] for item in tested], method="bh")
    passing = [(item, float(p_adj)) for item, p_adj in zip(tested, adjusted, strict=True)
               if p_adj < ALPHA and item[2] >= GROUP_EFFECT_MIN]
    passing.sort(key=lambda entry: (-entry[0][2], entry[0][0], entry[0][1]))
    out = []
    for (group, measure, effect, p_value), p_adj in passing[:limit]:
        out.append(GroupStatistics(
            chart_id=f"group:{group}:{measure}", group_column=group, measure=measure,
            rows=_group_rows(frame, group, measure), test="kruskal", p_value=p_value, p_adjusted=p_adj,
            effect_size=effect, effect_size_name="epsilon_squared", effect_threshold=GROUP_EFFECT_MIN,
            weight=roles.weight))
    return out


def _group_difference(frame: pl.DataFrame, group: str, measure: str) -> tuple[float, float] | None:
    """Kruskal-Wallis epsilon-squared and p-value of ``measure`` across the groups of ``group``."""
    pairs = frame.select(pl.col(group).cast(pl.String).fill_null("(missing)"),
                         pl.col(measure).cast(pl.Float64).fill_nan(None)).drop_nulls()
    groups = [part[measure].to_numpy() for part in pairs.partition_by(group) if part.height >= 3]
    n = sum(len(g) for g in groups)
    if len(groups) < 2 or n <= len(groups) or np.unique(np.concatenate(groups)).size < 2:
        return None
    statistic, p_value = stats.kruskal(*groups)
    if not (math.isfinite(statistic) and math.isfinite(p_value)):
        return None
    return max(0.0, (statistic - len(groups) + 1) / (n - len(groups))), float(p_value)


def _group_rows(frame: pl.DataFrame, group: str, measure: str) -> list[dict]:
    keyed = frame.with_columns(pl.col(group).cast(pl.String).fill_null("(missing)").alias("__group"))
    table = (
        keyed.group_by("__group")
        .agg(
            pl.len().alias("count"),
            pl.col(measure).mean().alias("mean"),
            pl.col(measure).std().alias("std"),
            pl.col(measure).median().alias("median"),
            pl.col(measure).min().cast(pl.Float64).alias("min"),
            pl.col(measure).max().cast(pl.Float64).alias("max"),
        )
        .sort("count", "__group", descending=[True, False])
        .head(_MAX_GROUPS)
        .rename({"__group": "group"})
    )
    return [{key: _clean(value) for key, value in row.items()} for row in table.iter_rows(named=True)]


def _clean(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def test_features_against_target(
    frame: pl.DataFrame, roles: ColumnRoles, *, target: str, task_type: str
) -> list[FeatureTest]:
    """Test each feature against the target, with effect sizes and Benjamini-Hochberg correction.

    A test is ``meaningful`` when significant, its effect is at least the size in
    ``EFFECT_THRESHOLDS``, and neither column determines the other (``determined``: each car model
    has one class, a relation that holds by construction). A frequency table's rows count as many cases as its weight says.
    """
    data = as_cases(frame, roles).filter(pl.col(target).is_not_null())
    classification = task_type in ("binary", "multiclass")
    raw: list[dict] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for feature in roles.features:
            if feature == target:
                continue
            try:
                if classification and feature in roles.numeric:
                    result = _numeric_vs_classes(data, feature, target)
                elif classification:
                    result = _chi_square(data, feature, target)
                elif feature in roles.numeric:
                    result = _spearman(data, feature, target)
                else:
                    result = _numeric_vs_classes(data, target, feature, label=feature)
            except (ValueError, np.linalg.LinAlgError):
                result = None
            if result is not None and math.isfinite(result["p_value"]) and math.isfinite(result["statistic"]):
                raw.append(result)
    if not raw:
        return []
    adjusted = stats.false_discovery_control([item["p_value"] for item in raw], method="bh")
    tests = []
    for item, p_adj in zip(raw, adjusted, strict=True):
        threshold = EFFECT_THRESHOLDS.get(item["effect_size_name"])
        significant = bool(p_adj < ALPHA)
        determined = determined_pair(data, item["feature"], target) if roles.weight is None else None
        meaningful = significant and determined is None and (threshold is None or abs(item["effect_size"]) >= threshold)
        tests.append(FeatureTest(chart_id=f"test:{item['feature']}", p_adjusted=float(p_adj), significant=significant,
                                 effect_threshold=threshold, meaningful=meaningful, weight=roles.weight,
                                 determined=determined, **item))
    return sorted(tests, key=lambda test: (test.p_adjusted, -abs(test.effect_size)))


def _numeric_vs_classes(data: pl.DataFrame, numeric: str, classes: str, *, label: str | None = None) -> dict | None:
    pairs = data.select(pl.col(numeric).cast(pl.Float64), pl.col(classes).cast(pl.String)).drop_nulls()
    groups = [
        part[numeric].to_numpy()
        for part in pairs.partition_by(classes)
        if part.height >= 3
    ]
    if len(groups) < 2 or pairs.height < 8:
        return None
    values = pairs[numeric].to_numpy()
    skew = abs(float(stats.skew(values))) if np.std(values) > 0 else 0.0
    parametric = skew < 1.0 and min(len(g) for g in groups) >= 30
    n = sum(len(g) for g in groups)
    if len(groups) == 2:
        a, b = groups
        if parametric:
            statistic, p_value = stats.ttest_ind(a, b, equal_var=False)
            pooled = math.sqrt(((len(a) - 1) * np.var(a, ddof=1) + (len(b) - 1) * np.var(b, ddof=1)) / (n - 2))
            effect = (np.mean(a) - np.mean(b)) / pooled if pooled > 0 else 0.0
            test, effect_name = "welch_t", "cohen_d"
        else:
            statistic, p_value = stats.mannwhitneyu(a, b, alternative="two-sided")
            effect = 1 - 2 * statistic / (len(a) * len(b))
            test, effect_name = "mann_whitney", "rank_biserial"
    elif parametric:
        statistic, p_value = stats.f_oneway(*groups)
        grand = values.mean()
        between = sum(len(g) * (g.mean() - grand) ** 2 for g in groups)
        total = ((values - grand) ** 2).sum()
        effect = between / total if total > 0 else 0.0
        test, effect_name = "anova", "eta_squared"
    else:
        statistic, p_value = stats.kruskal(*groups)
        effect = max(0.0, (statistic - len(groups) + 1) / (n - len(groups)))
        test, effect_name = "kruskal", "epsilon_squared"
    return {"feature": label or numeric, "test": test, "statistic": float(statistic), "p_value": float(p_value),
            "effect_size": float(effect), "effect_size_name": effect_name}


def _chi_square(data: pl.DataFrame, feature: str, target: str) -> dict | None:
    pairs = data.select(pl.col(feature).cast(pl.String).fill_null("(missing)"), pl.col(target).cast(pl.String))
    table = pairs.pivot(on=target, index=feature, values=target, aggregate_function="len").fill_null(0)
    counts = table.drop(feature).to_numpy().astype(float)
    if counts.shape[0] < 2 or counts.shape[1] < 2:
        return None
    statistic, p_value, _, _ = stats.chi2_contingency(counts)
    n = counts.sum()
    cramers_v = math.sqrt(statistic / (n * (min(counts.shape) - 1))) if n else 0.0
    return {"feature": feature, "test": "chi_square", "statistic": float(statistic), "p_value": float(p_value),
            "effect_size": float(cramers_v), "effect_size_name": "cramers_v"}


def _spearman(data: pl.DataFrame, feature: str, target: str) -> dict | None:
    pairs = data.select(pl.col(feature).cast(pl.Float64), pl.col(target).cast(pl.Float64)).drop_nulls()
    if pairs.height < 8 or pairs[feature].n_unique() < 2:
        return None
    rho, p_value = stats.spearmanr(pairs[feature].to_numpy(), pairs[target].to_numpy())
    return {"feature": feature, "test": "spearman", "statistic": float(rho), "p_value": float(p_value),
            "effect_size": float(rho), "effect_size_name": "spearman_rho"}


def fit_distributions(frame: pl.DataFrame, roles: ColumnRoles, *, max_columns: int = 10,
                      random_state: int = 0) -> list[DistributionFit]:
    """Fit normal, log-normal, exponential and gamma to each numeric column, on at most ``FIT_SAMPLE`` values.

    ``best`` is the candidate of lowest AIC among those a KS test does not reject (p >= ``ALPHA``),
    and ``accepted`` is True; when every candidate is rejected, ``best`` is only the closest (lowest
    AIC) and ``accepted`` is False: no standard distribution fits.
    """
    rng = np.random.default_rng(random_state)
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in roles.numeric[:max_columns]:
            values = frame[name].cast(pl.Float64).drop_nulls().drop_nans().to_numpy()
            values = values[np.isfinite(values)]
            if len(values) < 20 or np.unique(values[:2000]).size < 10:
                continue
            if len(values) > FIT_SAMPLE:
                values = rng.choice(values, FIT_SAMPLE, replace=False)
            fit = _best_fit(name, values)
            if fit is not None:
                out.append(fit)
    return out


def _best_fit(name: str, values: np.ndarray) -> DistributionFit | None:
    candidates: dict[str, tuple[float, tuple]] = {}
    positive = values.min() > 0
    non_negative = values.min() >= 0
    options: list[tuple[str, stats.rv_continuous, dict]] = [("norm", stats.norm, {})]
    if positive:
        options += [("lognorm", stats.lognorm, {"floc": 0}), ("gamma", stats.gamma, {"floc": 0})]
    if non_negative:
        options.append(("expon", stats.expon, {"floc": 0}))
    for label, dist, fixed in options:
        try:
            params = dist.fit(values, **fixed)
            loglik = float(np.sum(dist.logpdf(values, *params)))
        except (ValueError, RuntimeError, FloatingPointError):
            continue
        if not math.isfinite(loglik):
            continue
        free = len(params) - len(fixed)
        candidates[label] = (2 * free - 2 * loglik, params)
    if not candidates:
        return None
    ks_tests = {label: stats.kstest(values, getattr(stats, label).cdf, args=params)
                for label, (_, params) in candidates.items()}
    accepted = [label for label in candidates if ks_tests[label].pvalue >= ALPHA]
    best = min(accepted or list(candidates), key=lambda label: candidates[label][0])
    aic, params = candidates[best]
    dist = getattr(stats, best)
    ks = ks_tests[best]
    names = (dist.shapes.split(", ") if dist.shapes else []) + ["loc", "scale"]
    return DistributionFit(
        chart_id=f"distribution:{name}", column=name, best=best,
        params={key: float(value) for key, value in zip(names, params, strict=False)},
        ks_statistic=float(ks.statistic), ks_p_value=float(ks.pvalue), aic=float(aic),
        candidates={label: float(value[0]) for label, value in candidates.items()},
        skewness=float(stats.skew(values)), kurtosis=float(stats.kurtosis(values)),
        accepted=bool(accepted), alpha=ALPHA, sample_size=len(values),
    )
