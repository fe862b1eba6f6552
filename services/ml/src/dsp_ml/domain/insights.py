"""Ranked plain-language statements, each tied to its evidence and chart. Deterministic templates only."""

from __future__ import annotations

from shared_contracts.analysis import AnalysisResult, DistributionFit, Insight, PartialDependence

from .statistics import ALPHA, FIT_SAMPLE, GROUP_EFFECT_MIN

__all__ = ["build_insights"]

_MIN_ASSOCIATION = 0.3
"""Smallest |correlation|, Cramér's V or correlation ratio an association insight states."""
_EFFECT_LABELS = {"cohen_d": "Cohen's d", "rank_biserial": "rank-biserial r", "eta_squared": "eta²",
                  "epsilon_squared": "epsilon²", "cramers_v": "Cramér's V", "spearman_rho": "Spearman rho"}
_DISTRIBUTION_NAMES = {"norm": "normal", "lognorm": "log-normal", "expon": "exponential", "gamma": "gamma"}

_TEST_NAMES = {"welch_t": "Welch t-test", "anova": "ANOVA", "mann_whitney": "Mann-Whitney U",
               "kruskal": "Kruskal-Wallis", "chi_square": "chi-square", "spearman": "Spearman"}


def _p(value: float) -> str:
    return "p < 0.001" if value < 0.001 else f"p = {value:.3f}"


def _n(value: float) -> str:
    return f"{value:,.4g}"


def build_insights(result: AnalysisResult, *, limit: int = 15) -> list[Insight]:
    """Turn the findings of an analysis into ranked statements.

    Only findings that pass a stated bar become statements, and each carries the numbers that made
    it pass in ``evidence``: an association of at least 0.3 with a Benjamini-Hochberg adjusted
    p below 0.05 (relations that hold by construction never reach here, see
    ``patterns.find_associations``); a feature test significant with at least a small effect; a
    group comparison whose grouping explains at least 6% of the measure's variation (epsilon²);
    a distribution named only when the KS test does not reject it.
    """
    found: list[tuple[float, str, str, dict[str, float], str]] = []

    def add(score: float, kind: str, statement: str, evidence: dict[str, float], chart_id: str) -> None:
        found.append((score, kind, statement, evidence, chart_id))

    target = result.task.target
    for finding in result.leakage:
        add(100, "leakage", finding.evidence, {finding.metric: finding.score}, "leakage")
    if result.automl is not None:
        automl = result.automl
        headline = next((key for key in ("roc_auc", "accuracy", "r2") if key in automl.metrics), None)
        if headline is not None:
            add(90, "model", f"The best model ({automl.best_model}) predicts {target} with {headline.replace('_', ' ')} "
                f"{automl.metrics[headline]:.3f} on {automl.holdout_rows:,} held-out rows.",
                {headline: automl.metrics[headline], "holdout_rows": float(automl.holdout_rows)}, automl.chart_id)
    if result.explanations is not None:
        ranked = [item for item in result.explanations.permutation_importance if item.importance > 0][:3]
        for position, item in enumerate(ranked):
            lead = "the strongest driver" if position == 0 else f"driver number {position + 1}"
            add(80 - position, "driver",
                f"{item.feature} is {lead} of {target} (permutation importance {item.importance:.3g}).",
                {"permutation_importance": item.importance}, result.explanations.chart_id)
        for curve in result.explanations.partial_dependence:
            dependence = _dependence_statement(curve, rmse=(result.automl.metrics.get("rmse")
                                                           if result.automl else None))
            if dependence is not None:
                text, effect_evidence = dependence
                add(70, "effect", text, effect_evidence, curve.chart_id)
    counts = result.task.class_counts
    if len(counts) >= 2:
        total = sum(counts.values())
        rarest = min(counts, key=lambda label: (counts[label], label))
        share = counts[rarest] / total
        if share < 0.2:
            add(65, "balance", f"{target} is imbalanced: {rarest!s} is only {share:.1%} of rows "
                f"({counts[rarest]:,} of {total:,}); accuracy alone overstates the model.",
                {"minority_share": share, "minority_rows": float(counts[rarest])}, "target")
    for forecast in result.forecasts:
        best = next(score for score in forecast.scores if score.model == forecast.best_model)
        baseline = next((score for score in forecast.scores if score.model == forecast.baseline_model), None)
        last = forecast.points[-1] if forecast.points else None
        statement = f"{forecast.value_column} is forecast with {forecast.best_model} (backtest MASE {best.mase:.2f}"
        evidence = {"mase": best.mase, "smape": best.smape}
        if baseline is not None and baseline.model != best.model:
            statement += f" vs {baseline.mase:.2f} for {baseline.model.lower().replace('seasonalnaive', 'seasonal naive')}"
            evidence["baseline_mase"] = baseline.mase
        statement += ")"
        if last is not None:
            statement += (f"; it reaches {_n(last.mean)} by {last.timestamp[:10]} "
                          f"(80% interval {_n(last.lo_80)} to {_n(last.hi_80)})")
            evidence["forecast"] = last.mean
        add(75, "forecast", statement + ".", evidence, forecast.chart_id)
    for pattern in result.time_patterns:
        parts = []
        evidence = {"trend_slope_per_period": pattern.trend_slope_per_period, "trend_p_value": pattern.trend_p_value}
        if pattern.trend_direction != "flat":
            parts.append(f"{pattern.value_column} is {pattern.trend_direction} over {pattern.time_column} "
                         f"({_n(pattern.trend_slope_per_period)} per period, {_p(pattern.trend_p_value)})")
        if pattern.season_length and pattern.seasonal_strength >= 0.4:
            parts.append(f"a seasonal cycle of {pattern.season_length} periods (strength {pattern.seasonal_strength:.2f})")
            evidence["seasonal_strength"] = pattern.seasonal_strength
        if pattern.change_points:
            parts.append(f"its level shifts around {', '.join(pattern.change_points[:3])}")
        if parts:
            statement = "; ".join(parts)
            if not statement.startswith(pattern.value_column):
                statement = f"{pattern.value_column} shows " + statement
            add(60, "time", statement + ".", evidence, pattern.chart_id)
    mentioned: set[str] = set()
    stated: set[frozenset[str]] = set()
    shown = 0
    for association in result.associations:
        value = association.value
        if abs(value) < _MIN_ASSOCIATION or shown >= 4 or {association.a, association.b} & mentioned:
            continue
        if association.p_adjusted is not None and association.p_adjusted >= ALPHA:
            continue
        mentioned |= {association.a, association.b}
        stated.add(frozenset((association.a, association.b)))
        shown += 1
        evidence = {association.method: value, "min_strength": _MIN_ASSOCIATION}
        detail = ""
        if association.p_adjusted is not None:
            evidence |= {"p_adjusted": association.p_adjusted, "alpha": ALPHA}
            detail = f", adjusted {_p(association.p_adjusted)}"
        if association.method in ("spearman", "pearson"):
            verb = "rises" if value > 0 else "falls"
            statement = f"{association.b} {verb} with {association.a} ({association.method.title()} {value:.2f}{detail})."
        elif association.method == "cramers_v":
            statement = f"{association.a} and {association.b} are associated (Cramér's V {value:.2f}{detail})."
        else:
            statement = (f"{association.b} differs across {association.a} groups (correlation ratio {value:.2f}, "
                         f"eta² {value * value:.2f}{detail}).")
            evidence["eta_squared"] = value * value
        add(20 + 45 * abs(value) - 3 * shown, "association", statement, evidence, association.chart_id)
    shown_tests = 0
    for test in result.feature_tests:
        passed = test.meaningful if test.meaningful is not None else test.significant
        if not passed or shown_tests >= 5:
            continue
        shown_tests += 1
        name = _TEST_NAMES.get(test.test, test.test)
        relation = "is related to" if test.test in ("spearman", "chi_square") else "differs across"
        label = _EFFECT_LABELS.get(test.effect_size_name, test.effect_size_name.replace("_", " "))
        bar = f", size >= {test.effect_threshold:g}" if test.effect_threshold is not None else ""
        weighted = f", rows weighted by {test.weight}" if test.weight else ""
        evidence = {"effect_size": test.effect_size, "p_adjusted": test.p_adjusted, "alpha": ALPHA}
        if test.effect_threshold is not None:
            evidence["effect_threshold"] = test.effect_threshold
        add(40 + min(abs(test.effect_size), 2) * 5, "test",
            f"{test.feature} {relation} {target} ({name}, {label} {test.effect_size:.2f}{bar}, "
            f"adjusted {_p(test.p_adjusted)}{weighted}).", evidence, test.chart_id)
    shown_groups = 0
    for group in result.descriptive:
        if group.effect_size is None or group.p_adjusted is None or group.group_column == target:
            continue
        if group.effect_size < (group.effect_threshold or GROUP_EFFECT_MIN) or group.p_adjusted >= ALPHA \
                or frozenset((group.group_column, group.measure)) in stated:
            continue
        if shown_groups >= 3:
            break
        shown_groups += 1
        means = [row for row in group.rows if isinstance(row.get("median"), int | float)]
        spread = ""
        if len(means) >= 2:
            high = max(means, key=lambda row: row["median"])
            low = min(means, key=lambda row: row["median"])
            spread = f": median {_n(high['median'])} for {high['group']} against {_n(low['median'])} for {low['group']}"
        threshold = group.effect_threshold or GROUP_EFFECT_MIN
        add(35 + 30 * min(group.effect_size, 1.0), "group",
            f"{group.measure} differs across {group.group_column} groups{spread} (Kruskal-Wallis, epsilon² "
            f"{group.effect_size:.2f} >= {threshold:g}, adjusted {_p(group.p_adjusted)}).",
            {"epsilon_squared": group.effect_size, "effect_threshold": threshold, "p_adjusted": group.p_adjusted,
             "alpha": ALPHA}, group.chart_id)
    if result.clustering is not None and result.clustering.silhouette >= 0.25:
        clustering = result.clustering
        largest = max(clustering.profiles, key=lambda profile: profile.size)
        detail = f"; the largest ({largest.share:.0%}) has {largest.distinguishing[0]}" if largest.distinguishing else ""
        add(10 + 40 * clustering.silhouette, "cluster",
            f"The rows form {clustering.k} groups (silhouette {clustering.silhouette:.2f}){detail}.",
            {"k": float(clustering.k), "silhouette": clustering.silhouette}, clustering.chart_id)
    if result.anomalies is not None and result.anomalies.top:
        top = result.anomalies.top[0]
        add(30, "anomaly", f"Row {top.row_index + 1:,} (counted from 1, as in the file) is the most unusual: {top.reasons[0]}.",
            {"anomaly_score": top.score, "flagged_rows": float(result.anomalies.flagged)}, result.anomalies.chart_id)
    for fit in result.distributions:
        if abs(fit.skewness) >= 2:
            side = "right" if fit.skewness > 0 else "left"
            evidence = {"skewness": fit.skewness, "ks_statistic": fit.ks_statistic, "ks_p_value": fit.ks_p_value,
                        "alpha": fit.alpha if fit.alpha is not None else ALPHA}
            if fit.sample_size is not None:
                evidence["sample_size"] = float(fit.sample_size)
            add(15, "distribution", f"{fit.column} is strongly {side}-skewed (skewness {fit.skewness:.1f}); "
                f"{_fit_phrase(fit)}.", evidence, fit.chart_id)
    found.sort(key=lambda item: (-item[0], item[2]))
    return [
        Insight(rank=rank, kind=kind, statement=statement, evidence=evidence, chart_id=chart_id, score=round(score, 3))
        for rank, (score, kind, statement, evidence, chart_id) in enumerate(found[:limit], start=1)
    ]


def _fit_phrase(fit: DistributionFit) -> str:
    """'a log-normal distribution fits it (KS p = 0.31 on 5,000 sampled values)', or that none does."""
    sampled = " sampled" if fit.sample_size is not None and fit.sample_size >= FIT_SAMPLE else ""
    on = f" on {fit.sample_size:,}{sampled} values" if fit.sample_size else ""
    name = _DISTRIBUTION_NAMES.get(fit.best, fit.best)
    if fit.accepted is False:
        tried = [_DISTRIBUTION_NAMES.get(label, label) for label in fit.candidates]
        if len(tried) <= 1:
            return f"no standard distribution fits it (a {name} one is rejected: KS {_p(fit.ks_p_value)}{on})"
        return (f"no standard distribution fits it ({', '.join(tried)} tried; the closest, {name}, is rejected: "
                f"KS {_p(fit.ks_p_value)}{on})")
    return f"a {name} distribution fits it (KS {_p(fit.ks_p_value)}{on}, not rejected at {fit.alpha or ALPHA:g})"


def _dependence_statement(curve: PartialDependence, *, rmse: float | None) -> tuple[str, dict[str, float]] | None:
    """'higher x raises y' when a numeric partial dependence curve is monotone enough."""
    if len(curve.grid) < 3 or not all(isinstance(value, int | float) for value in curve.grid):
        return None
    from scipy.stats import spearmanr

    rho = float(spearmanr(curve.grid, curve.average).statistic)
    low, high = curve.average[0], curve.average[-1]
    # a material change: 5 points of probability, or a quarter of the model's typical error
    material = 0.25 * rmse if rmse else 0.05
    if not abs(rho) >= 0.8 or abs(high - low) < material:
        return None
    quantity = curve.output or "the prediction"
    verb = "raises" if high > low else "lowers"
    text = (f"Higher {curve.feature} {verb} {quantity}: from {_n(low)} to {_n(high)} across "
            f"{_n(curve.grid[0])} to {_n(curve.grid[-1])} (partial dependence, Spearman {rho:.2f}).")
    return text, {"spearman": rho, "low": low, "high": high}
