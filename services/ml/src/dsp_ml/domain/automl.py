"""AutoGluon training under a time budget, holdout evaluation and leaderboard."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import logging
import os
import shutil
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from shared_contracts.analysis import AutoMLBudget, AutoMLReport, ConfusionMatrix, LeaderboardEntry
from shared_contracts.cancel import Cancelled, CancelToken, never_cancelled

__all__ = ["EXCLUDED_MODELS", "AutoMLRun", "cancel_callback", "classification_metrics", "ensemble_weights", "keep_models", "model_family",
           "quiet_autogluon", "regression_metrics", "train_automl"]

EXCLUDED_MODELS = ["NN_TORCH", "FASTAI", "TABPFNV2", "TABM", "MITRA", "REALMLP", "TABICL"]


@dataclass
class AutoMLRun:
    """A fitted predictor with its train/holdout split and report."""

    predictor: Any
    train: pd.DataFrame
    holdout: pd.DataFrame
    report: AutoMLReport
    positive_class: Any = None


@contextlib.contextmanager
def quiet_autogluon():
    """Silence AutoGluon's loggers, stdout chatter and warnings while inside the block."""
    loggers = [logging.getLogger(name) for name in ("autogluon", "autogluon.core", "autogluon.tabular",
                                                     "autogluon.common", "lightgbm", "catboost", "xgboost")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


# (AutoGluon's metric name, the name reported, whether higher is better)
_EVAL_METRICS = {
    "binary": ("log_loss", "log_loss", False),
    "multiclass": ("log_loss", "log_loss", False),
    "regression": ("root_mean_squared_error", "rmse", False),
}
_FAMILIES = (("WeightedEnsemble", "Ensemble"), ("LightGBM", "LightGBM"), ("CatBoost", "CatBoost"),
             ("XGBoost", "XGBoost"), ("RandomForest", "Random forest"), ("ExtraTrees", "Extra trees"),
             ("LinearModel", "Linear"), ("KNeighbors", "Nearest neighbours"))
_BASELINE_SHARE = 0.45
_MIN_EXTRA_S = 3.0
_SCORING_SHARE = 0.15
"""Share of the AutoML time kept for scoring every model on the holdout."""
_FOREST_ROWS = 10_000
_FOREST_MIN_S = 12.0


def fit_threads() -> int:
    """Threads a model may use: the cores not already busy, at least one.

    OpenMP workers spin while they wait for each other; on a shared machine where every core is
    taken, a two-thread LightGBM fit runs ten times slower than a one-thread fit.
    """
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        busy = os.getloadavg()[0]
    except OSError:
        busy = 0.0
    return max(1, min(cores, int(cores - busy + 0.5)))


def model_family(name: str) -> str:
    """The family of an AutoGluon model name (``LightGBMXT`` -> ``LightGBM``)."""
    return next((family for prefix, family in _FAMILIES if name.startswith(prefix)), name)


def cancel_callback(token: CancelToken) -> Any:
    """An AutoGluon callback that ends the fit before its next model once ``token`` is cancelled
    (:class:`dsp_ml.domain.cancel_callback.CancelCallback`; imported here, with AutoGluon)."""
    from .cancel_callback import CancelCallback

    return CancelCallback(token)


def _baseline_hyperparameters() -> dict[str, Any]:
    # LightGBM's own defaults (learning rate 0.1), early-stopped on the validation rows: a second or
    # two on mid-size data, where AutoGluon's slower 0.05 takes twice the rounds for the same score
    return {"GBM": [{"learning_rate": 0.1, "ag_args": {"priority": 100}}]}


def _extra_hyperparameters(time_limit_s: float, task_type: str, rows: int) -> dict[str, Any]:
    """Fast model families for the rest of the budget, each capped so that one cannot take it all.

    Boosted models and the linear model stop when their time is up. A regression forest cannot
    (AutoGluon grows all its trees at once), so forests come only when the time allows, with 50 to
    100 trees on bootstrap samples of at most 10,000 rows: full forests of mid-size data take longer
    to fit, save and score than the whole budget.
    """
    def capped(share: float, priority: int, *, floor: float = 1.0, **params: Any) -> dict[str, Any]:
        return {**params, "ag_args": {"priority": priority, **params.pop("ag_args", {})},
                "ag_args_fit": {"max_time_limit": max(floor, share * time_limit_s)}}

    regression = task_type == "regression"
    hyperparameters: dict[str, Any] = {
        "LR": [capped(0.1, 90, floor=3.0)],
        "CAT": [capped(0.4, 80, learning_rate=0.1)],
    }
    if importlib.util.find_spec("xgboost") is not None:
        hyperparameters["XGB"] = [capped(0.3, 85)]
    if time_limit_s >= _FOREST_MIN_S:
        forest: dict[str, Any] = {"n_estimators": 100 if time_limit_s >= 2 * _FOREST_MIN_S else 50,
                                  "min_samples_leaf": 3, "bootstrap": True,
                                  "max_samples": min(1.0, _FOREST_ROWS / max(rows, 1)),
                                  "criterion": "squared_error" if regression else "gini"}
        if regression:
            forest["max_features"] = 0.6
        hyperparameters["RF"] = [capped(0.2, 70, **forest)]
        hyperparameters["XT"] = [capped(0.2, 60, **forest)]
    # last, in whatever time is left: two more LightGBM variants for the ensemble to draw on
    hyperparameters["GBM"] = [
        capped(0.25, 40, extra_trees=True, ag_args={"name_suffix": "XT"}),
        capped(0.3, 30, learning_rate=0.05, num_leaves=128, feature_fraction=0.9, min_data_in_leaf=3,
               ag_args={"name_suffix": "Large"}),
    ]
    return hyperparameters


def train_automl(frame: pd.DataFrame, *, target: str, task_type: str, features: list[str], time_limit_s: float,
                 path: Path, random_state: int = 0, holdout_fraction: float = 0.2,
                 max_holdout_rows: int = 20_000, is_holdout: np.ndarray | pd.Series | None = None,
                 sample_weight: np.ndarray | pd.Series | None = None, cancel: CancelToken | None = None) -> AutoMLRun:
    """Fit a fast baseline, then more model families in the rest of the budget; rank all on one holdout.

    The baseline (a LightGBM with LightGBM's defaults, early-stopped) is fitted first, so that a good
    model exists however loaded the machine is. The remaining time goes to a few fast families
    (linear, XGBoost, CatBoost, compact random and extra-trees forests when the time allows, two more
    LightGBM variants in what is left), each capped to a share of it, then one weighted
    ensemble over all of them. No bagging or stacking: at these budgets they would leave one model
    half-fitted. Models run on the cores not already busy (:func:`fit_threads`).

    Every model is scored on the same holdout: the rows flagged by ``is_holdout`` (one flag per row
    of ``frame``, for instance the rows ETL kept out of its fit) or, without it, one random
    (stratified) holdout drawn with ``random_state``. The leaderboard is ordered by that score and
    its first row is the best model, the one ``predict`` uses and the report's metrics describe.
    Classifiers are fitted and early-stopped on log loss, a proper scoring rule, so that their
    probabilities are calibrated rather than merely well ranked.

    ``sample_weight`` (one weight per row of ``frame``, such as a frequency table's counts) weights
    the fit and the holdout metrics.

    ``cancel`` (the job's token) stops the run: a model in the middle of its fit is interrupted (the
    fits run inside ``cancel.interruptible()``), no further model starts (an AutoGluon callback), and
    ``Cancelled`` is raised once the fit has returned, after ``path`` is removed.
    """
    token = cancel or never_cancelled()
    try:
        with token.interruptible():
            return _train_automl(frame, target=target, task_type=task_type, features=features,
                                 time_limit_s=time_limit_s, path=path, random_state=random_state,
                                 holdout_fraction=holdout_fraction, max_holdout_rows=max_holdout_rows,
                                 is_holdout=is_holdout, sample_weight=sample_weight, token=token)
    except BaseException as exc:
        if token.cancelled:  # whatever the interruption broke, the job is cancelled: leave no half-fitted model
            shutil.rmtree(path, ignore_errors=True)
            if isinstance(exc, Cancelled):
                raise
            raise Cancelled("automl", token.reason) from exc
        raise


def _train_automl(frame: pd.DataFrame, *, target: str, task_type: str, features: list[str], time_limit_s: float,
                  path: Path, random_state: int, holdout_fraction: float, max_holdout_rows: int,
                  is_holdout: np.ndarray | pd.Series | None, sample_weight: np.ndarray | pd.Series | None,
                  token: CancelToken) -> AutoMLRun:
    from autogluon.tabular import TabularPredictor
    from sklearn.model_selection import train_test_split

    classification = task_type in ("binary", "multiclass")
    data = frame[[*features, target]].copy()
    weight_column = None
    if sample_weight is not None:
        weights = np.asarray(sample_weight, dtype=float)
        if weights.shape != (len(frame),):
            raise ValueError(f"sample_weight has {weights.size} weights for {len(frame)} rows")
        weight_column = "__dsp_weight"
        data[weight_column] = weights
    known = data[target].notna().to_numpy()
    if weight_column is not None:
        known &= data[weight_column].to_numpy() > 0
    if is_holdout is not None:
        flags = np.asarray(is_holdout, dtype=bool)
        if flags.shape != (len(frame),):
            raise ValueError(f"is_holdout has {flags.size} flags for {len(frame)} rows")
        train, holdout = data[known & ~flags], data[known & flags]
        holdout_source: Literal["etl_split", "random"] = "etl_split"
    else:
        data = data[known]
        holdout_size = min(max(int(len(data) * holdout_fraction), 1), max_holdout_rows)
        stratify = None
        if classification:
            counts = data[target].value_counts()
            if counts.min() >= 2 and holdout_size >= len(counts):
                stratify = data[target]
        train, holdout = train_test_split(data, test_size=holdout_size, random_state=random_state,
                                          stratify=stratify)
        holdout_source = "random"
    ag_metric, metric, higher_is_better = _EVAL_METRICS[task_type]
    started = time.perf_counter()
    deadline = started + max(time_limit_s, 5.0)
    with quiet_autogluon():
        predictor = TabularPredictor(label=target, problem_type=task_type, eval_metric=ag_metric,
                                     path=str(path), verbosity=0, sample_weight=weight_column,
                                     weight_evaluation=weight_column is not None,
                                     learner_kwargs={"random_state": random_state})
        threads = fit_threads()
        token.check("automl baseline")
        predictor.fit(train, time_limit=max(5.0, _BASELINE_SHARE * time_limit_s),
                      hyperparameters=_baseline_hyperparameters(), fit_weighted_ensemble=False,
                      num_bag_folds=0, num_stack_levels=0, ag_args_fit={"num_gpus": 0}, num_gpus=0, num_cpus=threads,
                      calibrate=False, raise_on_no_models_fitted=True, callbacks=[cancel_callback(token)])
        token.check("automl baseline")
        baseline_time = time.perf_counter() - started
        # scoring every model on the holdout takes a moment too; keep it inside the budget
        extra = deadline - time.perf_counter() - max(2.0, _SCORING_SHARE * time_limit_s)
        if extra >= _MIN_EXTRA_S:
            # fit_extra takes no callbacks: the interruption stops each model it starts
            predictor.fit_extra(_extra_hyperparameters(extra, task_type, len(train)), time_limit=extra,
                                ag_args_fit={"num_gpus": 0}, num_gpus=0, num_cpus=fit_threads(),
                                fit_weighted_ensemble=False)
            token.check("automl families")
            # one weighted ensemble over every model, the baseline included
            if len(predictor.model_names()) > 1:
                predictor.fit_weighted_ensemble(name_suffix="", num_cpus=fit_threads(),
                                                time_limit=max(1.0, deadline - time.perf_counter()))
        token.check("automl ensemble")
        info = predictor.leaderboard(silent=True)
        scored = holdout.drop(columns=[weight_column]) if weight_column is not None else holdout
        # every model's holdout output at once: an ensemble reuses its members' outputs
        outputs = (predictor.predict_proba_multi(scored, as_multiclass=True) if classification
                   else predictor.predict_multi(scored))
    token.check("automl scoring")
    holdout_weights = holdout[weight_column].to_numpy() if weight_column is not None else None
    board = info[info["model"].isin(list(outputs))].copy()
    board["score_test"] = [_holdout_score(holdout[target], outputs[name], task_type=task_type,
                                          sample_weight=holdout_weights) for name in board["model"]]
    board = _drop_copies(predictor, board)
    board = board.assign(_val=board["score_val"].fillna(-np.inf), _fit=board["fit_time"].fillna(np.inf))
    board = board.sort_values(["score_test", "_val", "_fit"], ascending=[False, False, True], kind="stable")
    best = str(board.iloc[0]["model"])
    with quiet_autogluon():
        predictor.set_model_best(best, save_trainer=True)
        if classification:
            proba = outputs[best]
            predicted = predictor.predict_from_proba(proba)
        else:
            predicted = outputs[best]
    fit_time = time.perf_counter() - started
    leaderboard = []
    for rank, (_, row) in enumerate(board.iterrows(), start=1):
        internal = _num(row.get("score_test"))
        leaderboard.append(LeaderboardEntry(
            model=str(row["model"]), score_holdout=internal, score_val=_num(row.get("score_val")),
            fit_time_s=_num(row.get("fit_time")), predict_time_s=_num(row.get("pred_time_val")),
            is_best=rank == 1, rank=rank, metric=metric, higher_is_better=higher_is_better,
            score=None if internal is None else (internal if higher_is_better else -internal),
            family=model_family(str(row["model"])),
        ))
    positive = predictor.positive_class if task_type == "binary" else None
    if classification:
        shares = (train.groupby(target, observed=True)[weight_column].sum() if weight_column is not None
                  else train[target].value_counts())
        metrics, matrix = classification_metrics(holdout[target], predicted, proba, positive_class=positive,
                                                 sample_weight=holdout_weights, class_shares=shares / shares.sum())
    else:
        metrics, matrix = regression_metrics(holdout[target], predicted, sample_weight=holdout_weights), None
    families = sorted({entry.family for entry in leaderboard if entry.family and entry.family != "Ensemble"})
    report = AutoMLReport(
        eval_metric=metric, best_model=best, time_budget_s=float(time_limit_s), fit_time_s=fit_time,
        train_rows=len(train), holdout_rows=len(holdout), features=list(features), metrics=metrics,
        confusion_matrix=matrix, leaderboard=leaderboard, holdout_source=holdout_source, families=families,
        budget=AutoMLBudget(total_s=float(time_limit_s), automl_s=float(time_limit_s),
                            baseline_s=round(baseline_time, 3), automl_spent_s=round(fit_time, 3)),
    )
    return AutoMLRun(predictor=predictor, train=train.drop(columns=[weight_column]) if weight_column else train,
                     holdout=scored, report=report, positive_class=positive)


def _holdout_score(actual: pd.Series, output: pd.Series | pd.DataFrame, *, task_type: str,
                   sample_weight: np.ndarray | None) -> float:
    """A model's holdout score, higher is better: minus the RMSE or minus the log loss."""
    from sklearn import metrics as skm

    if task_type == "regression":
        y, p = actual.to_numpy(dtype=float), np.asarray(output, dtype=float)
        return -float(np.sqrt(skm.mean_squared_error(y, p, sample_weight=sample_weight)))
    labels = list(output.columns)
    values = actual.to_numpy()
    known = np.isin(values, labels)
    if not known.any():
        return -np.inf
    probabilities = np.clip(output.to_numpy(dtype=float), 1e-15, 1 - 1e-15)
    probabilities = probabilities / probabilities.sum(axis=1, keepdims=True)
    weights = None if sample_weight is None else sample_weight[known]
    return -float(skm.log_loss(values[known], probabilities[known], labels=labels, sample_weight=weights))


def _drop_copies(predictor: Any, board: pd.DataFrame) -> pd.DataFrame:
    """Leave out weighted ensembles that put all their weight on one model: they are that model again."""
    keep = []
    for name in board["model"]:
        weights: dict[str, float] = {}
        if str(name).startswith("WeightedEnsemble"):
            with contextlib.suppress(Exception):
                weights = ensemble_weights(predictor, str(name))
        keep.append(not weights or sum(1 for weight in weights.values() if weight > 0) > 1)
    return board[np.asarray(keep, dtype=bool)]


def ensemble_weights(predictor: Any, name: str) -> dict[str, float]:
    """The weight of each base model of a weighted ensemble (empty for any other model)."""
    member = predictor._trainer.load_model(name)
    if not hasattr(member, "_get_model_weights"):
        return {}
    return {str(model): float(weight) for model, weight in member._get_model_weights().items()}


def keep_models(predictor: Any, names: list[str | None]) -> None:
    """Delete every model but ``names`` (and what they depend on) from the predictor and its folder."""
    with quiet_autogluon():
        predictor.delete_models(models_to_keep=[name for name in dict.fromkeys(names) if name],
                                delete_from_disk=True, dry_run=False)
        predictor.set_model_best(next(name for name in names if name), save_trainer=True)


def _num(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if np.isfinite(number) else None


def classification_metrics(actual: pd.Series, predicted: pd.Series, proba: pd.DataFrame, *,
                           positive_class: Any = None, sample_weight: pd.Series | np.ndarray | None = None,
                           class_shares: pd.Series | None = None) -> tuple[dict[str, float], ConfusionMatrix]:
    """ROC AUC, F1, accuracy, log loss and the confusion matrix (weighted by ``sample_weight`` if given).

    ``log_loss_prior`` is the log loss of always answering ``class_shares`` (the training rows' class
    shares; the holdout's own when not given): the score a model without features reaches.
    """
    from sklearn import metrics as skm

    w = None if sample_weight is None else np.asarray(sample_weight, dtype=float)
    labels = list(proba.columns)
    actual_values = actual.to_numpy()
    metrics: dict[str, float] = {"accuracy": float(skm.accuracy_score(actual_values, predicted, sample_weight=w))}
    probabilities = np.clip(proba.to_numpy(dtype=float), 1e-15, 1 - 1e-15)
    probabilities = probabilities / probabilities.sum(axis=1, keepdims=True)
    present = set(actual_values)
    if positive_class is not None:
        metrics["f1"] = float(skm.f1_score(actual_values, predicted, pos_label=positive_class, sample_weight=w))
        if len(present) == 2:
            metrics["roc_auc"] = float(skm.roc_auc_score(actual_values == positive_class,
                                                         proba[positive_class].to_numpy(dtype=float),
                                                         sample_weight=w))
    else:
        metrics["f1_macro"] = float(skm.f1_score(actual_values, predicted, average="macro", sample_weight=w))
        if present == set(labels) and len(labels) > 2:
            metrics["roc_auc_ovr"] = float(skm.roc_auc_score(actual_values, probabilities, multi_class="ovr",
                                                             labels=labels, sample_weight=w))
    # AutoGluon drops classes too rare to learn; probability scores can only cover the classes it kept
    known = np.isin(actual_values, labels)
    if known.any():
        metrics["log_loss"] = float(skm.log_loss(actual_values[known], probabilities[known], labels=labels,
                                                 sample_weight=None if w is None else w[known]))
        if class_shares is not None:
            shares = np.array([float(class_shares.get(label, 0.0)) for label in labels])
        else:
            shares = np.array([np.average(actual_values[known] == label, weights=None if w is None else w[known])
                               for label in labels])
        prior = np.clip(shares, 1e-15, 1.0)
        metrics["log_loss_prior"] = float(skm.log_loss(actual_values[known], np.tile(prior / prior.sum(),
                                                                                     (int(known.sum()), 1)),
                                                       labels=labels, sample_weight=None if w is None else w[known]))
    metrics["balanced_accuracy"] = float(skm.balanced_accuracy_score(actual_values, predicted, sample_weight=w))
    shown = labels + sorted(present - set(labels), key=str)
    matrix = skm.confusion_matrix(actual_values, predicted, labels=shown)
    return metrics, ConfusionMatrix(labels=[str(label) for label in shown], matrix=matrix.tolist())


def regression_metrics(actual: pd.Series, predicted: pd.Series, *,
                       sample_weight: pd.Series | np.ndarray | None = None) -> dict[str, float]:
    """R², RMSE and MAE (weighted by ``sample_weight`` if given)."""
    from sklearn import metrics as skm

    w = None if sample_weight is None else np.asarray(sample_weight, dtype=float)
    y, p = actual.to_numpy(dtype=float), predicted.to_numpy(dtype=float)
    return {"r2": float(skm.r2_score(y, p, sample_weight=w)),
            "rmse": float(np.sqrt(skm.mean_squared_error(y, p, sample_weight=w))),
            "mae": float(skm.mean_absolute_error(y, p, sample_weight=w))}
