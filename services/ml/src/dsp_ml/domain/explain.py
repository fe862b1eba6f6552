"""Permutation importance, SHAP values of the best tree model, and partial dependence."""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from shared_contracts.analysis import FeatureImportance, LeaderboardEntry, PartialDependence, RowExplanation

from .automl import quiet_autogluon

__all__ = ["EnsembleExplainer", "ShapChoice", "TreeExplainer", "explainer_for", "partial_dependence", "permutation_importance", "shap_choice",
           "shap_output_of", "tree_explainer"]

# tree models whose SHAP values map back to the user's columns (XGBoost's through its one-hot names)
_TREE_PREFIXES = ("LightGBM", "CatBoost", "XGBoost")


def permutation_importance(predictor: Any, holdout: pd.DataFrame, *, time_limit_s: float) -> list[FeatureImportance]:
    """Drop in the holdout score of the best model when each feature is shuffled.

    At least one shuffle of every feature is scored whatever the time limit, so the rows scored
    shrink with it (200 rows a second, 200 to 1,000 rows).
    """
    rows = int(min(1000, max(200, 200 * time_limit_s)))
    with quiet_autogluon():
        table = predictor.feature_importance(
            holdout, subsample_size=min(len(holdout), rows), num_shuffle_sets=3,
            time_limit=max(time_limit_s, 1.0), silent=True,
        )
    out = []
    for feature, row in table.iterrows():
        p_value = row.get("p_value")
        out.append(FeatureImportance(feature=str(feature), importance=float(row["importance"]),
                                     std=float(row["stddev"]) if np.isfinite(row["stddev"]) else 0.0,
                                     p_value=float(p_value) if p_value is not None and np.isfinite(p_value) else None))
    return sorted(out, key=lambda item: -item.importance)


@dataclass
class TreeExplainer:
    """SHAP TreeExplainer over one tree member of an AutoGluon predictor."""

    predictor: Any
    model_name: str
    original_features: list[str]
    output: str

    def explain(self, rows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """SHAP values per row and original feature (for the predicted class), base values, feature names."""
        import shap

        member = self.predictor._trainer.load_model(self.model_name)
        with quiet_autogluon():
            transformed = self.predictor.transform_features(rows, model=self.model_name)
            internal = member.preprocess(transformed)
            explainer = shap.TreeExplainer(member.model)
            values = np.asarray(explainer.shap_values(internal, check_additivity=False))
            expected = np.atleast_1d(np.asarray(explainer.expected_value, dtype=float))
        if values.ndim == 3 and values.shape[0] != len(rows) and values.shape[1] == len(rows):
            values = np.transpose(values, (1, 2, 0))  # a list per class: (classes, rows, features)
        if hasattr(internal, "columns"):
            internal_names = list(internal.columns)
        elif getattr(member, "_ohe_generator", None) is not None:
            # XGBoost sees one-hot columns named <column>_<code>
            internal_names = list(member._ohe_generator.get_feature_names())
        else:
            internal_names = []
        if values.shape[1] != len(internal_names):
            raise ValueError(f"the inputs of {self.model_name} cannot be mapped back to the data's columns")
        if values.ndim == 3:
            # (rows, features, classes): explain the class each row is predicted as, i.e. the class
            # with the largest raw score (base value plus contributions); for two classes, the positive one
            if values.shape[2] == 2:
                chosen = np.ones(len(rows), dtype=int)
            else:
                margins = values.sum(axis=1) + (expected if len(expected) == values.shape[2] else 0.0)
                chosen = margins.argmax(axis=1)
            values = values[np.arange(len(rows)), :, chosen]
            base = expected[chosen] if len(expected) > 1 else np.repeat(expected[0], len(rows))
        else:
            base = np.repeat(expected[-1], len(rows))
        names = _original_names(list(transformed.columns), internal_names, self.original_features)
        groups = sorted(set(names), key=names.index)
        merged = np.zeros((len(rows), len(groups)))
        for column, name in enumerate(names):
            merged[:, groups.index(name)] += values[:, column]
        return merged, base, groups


@dataclass
class EnsembleExplainer:
    """SHAP values of a regression weighted ensemble: the weighted sum of its tree members' values.

    A regression ensemble predicts the weighted mean of its members' predictions, and SHAP values
    add up linearly, so the sum is exact for the ensemble itself.
    """

    predictor: Any
    model_name: str
    members: dict[str, float]
    original_features: list[str]
    output: str = "target units"

    def explain(self, rows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """SHAP values per row and original feature, base values, feature names."""
        total: dict[str, np.ndarray] = {}
        base = np.zeros(len(rows))
        for name, weight in self.members.items():
            values, member_base, names = TreeExplainer(self.predictor, name, self.original_features,
                                                       self.output).explain(rows)
            base += weight * member_base
            for column, feature in enumerate(names):
                total[feature] = total.get(feature, np.zeros(len(rows))) + weight * values[:, column]
        groups = [feature for feature in self.original_features if feature in total]
        groups += [feature for feature in total if feature not in groups]
        return np.column_stack([total[feature] for feature in groups]), base, groups


def explainer_for(predictor: Any, name: str, features: list[str]) -> TreeExplainer | EnsembleExplainer | None:
    """The SHAP explainer of model ``name``: a tree model, a regression ensemble of tree models, or None."""
    if _explainable(name):
        return TreeExplainer(predictor, name, features, shap_output_of(name, predictor.problem_type))
    if name.startswith("WeightedEnsemble") and predictor.problem_type == "regression":
        from .automl import ensemble_weights

        weights = {}
        with contextlib.suppress(Exception):
            weights = {member: weight for member, weight in ensemble_weights(predictor, name).items() if weight > 0}
        if weights and all(_explainable(member) for member in weights):
            return EnsembleExplainer(predictor, name, weights, features)
    return None


def _original_names(transformed: list[str], internal: list[str], originals: list[str]) -> list[str]:
    names = transformed if len(transformed) == len(internal) else internal
    out = []
    for name in names:
        match = max((orig for orig in originals if name == orig or name.startswith(f"{orig}.")
                     or name.startswith(f"{orig}_")), key=len, default=name)
        out.append(match)
    return out


def shap_output_of(model_name: str, problem_type: str) -> str:
    """What a tree member's SHAP values (plus its base value) add up to."""
    if model_name.startswith("CatBoost") and problem_type == "multiclass":
        return "raw class scores"
    return "log-odds" if problem_type in ("binary", "multiclass") else "target units"


def tree_explainer(predictor: Any, *, features: list[str], leaderboard_order: list[str]) -> TreeExplainer | None:
    """The best-ranked LightGBM or CatBoost member, or None if there is none."""
    for name in leaderboard_order:
        if _explainable(name):
            return TreeExplainer(predictor, name, features, shap_output_of(name, predictor.problem_type))
    return None


@dataclass
class ShapChoice:
    """The model SHAP explains, and in plain words why when it is not the best model."""

    explainer: TreeExplainer | EnsembleExplainer | None
    note: str = ""


def _explainable(name: str) -> bool:
    return name.startswith(_TREE_PREFIXES) and "_BAG_" not in name


def shap_choice(predictor: Any, leaderboard: list[LeaderboardEntry], *, features: list[str]) -> ShapChoice:
    """Explain the best model when SHAP can: a LightGBM, CatBoost or XGBoost model, or a regression
    ensemble of them. Otherwise say which model it explains and why: a classification ensemble (which
    averages probabilities, not the log-odds SHAP adds up) by its heaviest tree member, any other best
    model by the best-ranked tree model.
    """
    from .automl import ensemble_weights, model_family

    ranked = [entry.model for entry in sorted(leaderboard, key=lambda entry: entry.rank or 0)]
    if not ranked:
        return ShapChoice(None, "no model was trained")
    best = ranked[0]

    def explainer(name: str) -> TreeExplainer:
        return TreeExplainer(predictor, name, features, shap_output_of(name, predictor.problem_type))

    direct = explainer_for(predictor, best, features)
    if direct is not None:
        return ShapChoice(direct)
    family = model_family(best)
    if family == "Ensemble":
        weights = {}
        with contextlib.suppress(Exception):
            weights = ensemble_weights(predictor, best)
        members = sorted(((weight, name) for name, weight in weights.items() if weight > 0 and _explainable(name)),
                         reverse=True)
        if members:
            weight, name = members[0]
            shares = ", ".join(f"{member} {share:.0%}" for member, share in
                               sorted(weights.items(), key=lambda item: -item[1]) if share > 0)
            others = [member for member, share in weights.items() if share > 0 and not _explainable(member)]
            reason = (f"it also draws on {', '.join(others)}, which the tree explainer does not cover"
                      if others and predictor.problem_type == "regression" else
                      "it averages probabilities, while SHAP values add up in log-odds, one model at a time")
            return ShapChoice(explainer(name), (
                f"The best model, {best}, is a weighted average of {shares}. SHAP explains {name}, its "
                f"heaviest tree member ({weight:.0%} of the average), because {reason}. Permutation "
                f"importance and partial dependence describe {best} itself."))
    fallback = next((name for name in ranked if _explainable(name)), None)
    if fallback is None:
        return ShapChoice(None, f"the best model, {best}, is a {family} model and no LightGBM, CatBoost or "
                                "XGBoost model was trained in the budget for the tree explainer")
    rank = ranked.index(fallback) + 1
    kind = "a weighted average of models" if family == "Ensemble" else f"a {family} model"
    return ShapChoice(explainer(fallback), (
        f"The best model, {best}, is {kind}, which the tree explainer does not cover here. SHAP explains "
        f"{fallback}, ranked {rank} on the same holdout; permutation importance and partial dependence "
        f"describe {best} itself."))


def explain_rows(explainer: TreeExplainer | EnsembleExplainer, rows: pd.DataFrame, *, row_ids: list[int],
                 predictions: list[Any]) -> tuple[list[FeatureImportance], list[RowExplanation]]:
    """Global mean |SHAP| per feature and per-row contributions."""
    values, base, names = explainer.explain(rows)
    global_importance = np.abs(values).mean(axis=0)
    order = np.argsort(-global_importance)
    summary = [FeatureImportance(feature=names[i], importance=float(global_importance[i])) for i in order]
    explained = []
    for position, row_id in enumerate(row_ids):
        ranked = np.argsort(-np.abs(values[position]))
        explained.append(RowExplanation(
            row_index=int(row_id), prediction=_plain(predictions[position]), base_value=float(base[position]),
            contributions={names[i]: float(values[position, i]) for i in ranked},
        ))
    return summary, explained


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return value


def partial_dependence(predictor: Any, data: pd.DataFrame, *, features: list[str], deadline: float,
                       task_type: str, positive_class: Any = None, grid_size: int = 12,
                       sample_rows: int = 200, random_state: int = 0) -> list[PartialDependence]:
    """Average prediction as each feature sweeps a grid, other features as observed."""
    sample = data.sample(min(len(data), sample_rows), random_state=random_state).reset_index(drop=True)
    out = []
    for position, feature in enumerate(features):
        # the top feature is always drawn (three small predictions); the rest only within the budget
        if position > 0 and time.monotonic() > deadline:
            break
        column = sample[feature]
        if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
            quantiles = np.unique(np.nanquantile(column.to_numpy(dtype=float), np.linspace(0.02, 0.98, grid_size)))
            grid = [float(value) for value in quantiles]
        else:
            grid = list(column.value_counts().index[:grid_size])
        if len(grid) < 2:
            continue
        copies = pd.concat([sample.assign(**{feature: value}) for value in grid], ignore_index=True)
        if not pd.api.types.is_numeric_dtype(column):
            copies[feature] = copies[feature].astype(column.dtype)
        with quiet_autogluon():
            if task_type == "regression":
                predicted = predictor.predict(copies).to_numpy(dtype=float)
                output = f"predicted {predictor.label}"
            else:
                proba = predictor.predict_proba(copies)
                label = positive_class if positive_class is not None else proba.mean().idxmax()
                predicted = proba[label].to_numpy(dtype=float)
                output = f"P({predictor.label} = {label})"
        averages = predicted.reshape(len(grid), len(sample)).mean(axis=1)
        out.append(PartialDependence(chart_id=f"pdp:{feature}", feature=feature,
                                     grid=[_plain(value) for value in grid],
                                     average=[float(value) for value in averages], output=output))
    return out
