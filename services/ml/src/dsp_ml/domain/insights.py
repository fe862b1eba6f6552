"""Ranked plain-language statements, each tied to its evidence and chart. Deterministic templates only."""

from __future__ import annotations

from shared_contracts.analysis import AnalysisResult, Insight, PartialDependence

__all__ = ["build_insights"]

_TEST_NAMES = {"welch_t": "Welch t-test", "anova": "ANOVA", "mann_whitney": "Mann-Whitney U",
               "kruskal": "Kruskal-Wallis", "chi_square": "chi-square", "spearman": "Spearman"}


def _p(value: float) -> str:
    return "p < 0.001" if value < 0.001 else f"p = {value:.3f}"


def _n(value: float) -> str:
    return f"{value:,.4g}"


def build_insights(result: AnalysisResult, *, limit: int = 15) -> list[Insight]:
    """Turn the findings of an analysis into ranked statements."""
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
    shown = 0
    for association in result.associations:
        value = association.value
        if abs(value) < 0.3 or shown >= 4 or {association.a, association.b} & mentioned:
            continue
        mentioned |= {association.a, association.b}
        shown += 1
        if association.method in ("spearman", "pearson"):
            verb = "rises" if value > 0 else "falls"
            statement = f"{association.b} {verb} with {association.a} ({association.method.title()} {value:.2f})."
        elif association.method == "cramers_v":
            statement = f"{association.a} and {association.b} are associated (Cramér's V {value:.2f})."
        else:
            statement = f"{association.b} differs across {association.a} groups (correlation ratio {value:.2f})."
        add(20 + 45 * abs(value) - 3 * shown, "association", statement, {association.method: value}, association.chart_id)
    for test in [test for test in result.feature_tests if test.significant][:3]:
        name = _TEST_NAMES.get(test.test, test.test)
        relation = "is related to" if test.test in ("spearman", "chi_square") else "differs across"
        add(40 + min(abs(test.effect_size), 2) * 5, "test",
            f"{test.feature} {relation} {target} ({name}, {test.effect_size_name.replace('_', ' ')} "
            f"{test.effect_size:.2f}, adjusted {_p(test.p_adjusted)}).",
            {"effect_size": test.effect_size, "p_adjusted": test.p_adjusted}, test.chart_id)
    if result.clustering is not None and result.clustering.silhouette >= 0.25:
        clustering = result.clustering
        largest = max(clustering.profiles, key=lambda profile: profile.size)
        detail = f"; the largest ({largest.share:.0%}) has {largest.distinguishing[0]}" if largest.distinguishing else ""
        add(10 + 40 * clustering.silhouette, "cluster",
            f"The rows form {clustering.k} groups (silhouette {clustering.silhouette:.2f}){detail}.",
            {"k": float(clustering.k), "silhouette": clustering.silhouette}, clustering.chart_id)
    if result.anomalies is not None and result.anomalies.top:
        top = result.anomalies.top[0]
        add(30, "anomaly", f"Row {top.row_index} is the most unusual: {top.reasons[0]}.",
            {"anomaly_score": top.score, "flagged_rows": float(result.anomalies.flagged)}, result.anomalies.chart_id)
    for fit in result.distributions:
        if abs(fit.skewness) >= 2:
            side = "right" if fit.skewness > 0 else "left"
            add(15, "distribution", f"{fit.column} is strongly {side}-skewed (skewness {fit.skewness:.1f}); "
                f"a {fit.best} distribution fits it best.", {"skewness": fit.skewness, "ks_statistic": fit.ks_statistic},
                fit.chart_id)
    found.sort(key=lambda item: (-item[0], item[2]))
    return [
        Insight(rank=rank, kind=kind, statement=statement, evidence=evidence, chart_id=chart_id, score=round(score, 3))
        for rank, (score, kind, statement, evidence, chart_id) in enumerate(found[:limit], start=1)
    ]


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
