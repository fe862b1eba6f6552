"""AutoGluon training under a time budget, holdout evaluation and leaderboard."""

from __future__ import annotations

import contextlib
import io
import logging
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from shared_contracts.analysis import AutoMLReport, ConfusionMatrix, LeaderboardEntry

__all__ = ["EXCLUDED_MODELS", "AutoMLRun", "classification_metrics", "quiet_autogluon", "regression_metrics", "train_automl"]

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


def train_automl(frame: pd.DataFrame, *, target: str, task_type: str, features: list[str], time_limit_s: float,
                 path: Path, random_state: int = 0, holdout_fraction: float = 0.2,
                 max_holdout_rows: int = 20_000, is_holdout: np.ndarray | pd.Series | None = None) -> AutoMLRun:
    """Fit a TabularPredictor on a train split and score every model on the holdout split.

    ``is_holdout`` (one flag per row of ``frame``) fixes the holdout, for instance to the rows an
    earlier stage kept out of its fit; without it a random (stratified) holdout is drawn.
    """
    from autogluon.tabular import TabularPredictor
    from sklearn.model_selection import train_test_split

    classification = task_type in ("binary", "multiclass")
    if is_holdout is not None:
        flags = np.asarray(is_holdout, dtype=bool)
        if flags.shape != (len(frame),):
            raise ValueError(f"is_holdout has {flags.size} flags for {len(frame)} rows")
        data = frame[[*features, target]]
        known = data[target].notna().to_numpy()
        train, holdout = data[known & ~flags], data[known & flags]
    else:
        data = frame[[*features, target]].dropna(subset=[target]).reset_index(drop=True)
        holdout_size = min(max(int(len(data) * holdout_fraction), 1), max_holdout_rows)
        stratify = None
        if classification:
            counts = data[target].value_counts()
            if counts.min() >= 2 and holdout_size >= len(counts):
                stratify = data[target]
        train, holdout = train_test_split(data, test_size=holdout_size, random_state=random_state,
                                          stratify=stratify)
    eval_metric = {"binary": "roc_auc", "multiclass": "accuracy", "regression": "root_mean_squared_error"}[task_type]
    started = time.perf_counter()
    with quiet_autogluon():
        predictor = TabularPredictor(label=target, problem_type=task_type, eval_metric=eval_metric,
                                     path=str(path), verbosity=0)
        predictor.fit(train, time_limit=max(time_limit_s, 5.0), presets="medium_quality",
                      excluded_model_types=EXCLUDED_MODELS, ag_args_fit={"num_gpus": 0},
                      num_gpus=0)
        fit_time = time.perf_counter() - started
        board = predictor.leaderboard(holdout, silent=True)
    best = predictor.model_best
    leaderboard = [
        LeaderboardEntry(model=str(row["model"]), score_holdout=_num(row.get("score_test")),
                         score_val=_num(row.get("score_val")), fit_time_s=_num(row.get("fit_time")),
                         predict_time_s=_num(row.get("pred_time_test")), is_best=row["model"] == best)
        for _, row in board.iterrows()
    ]
    with quiet_autogluon():
        if classification:
            proba = predictor.predict_proba(holdout, model=best)
            predicted = predictor.predict(holdout, model=best)
        else:
            predicted = predictor.predict(holdout, model=best)
    positive = predictor.positive_class if task_type == "binary" else None
    if classification:
        metrics, matrix = classification_metrics(holdout[target], predicted, proba, positive_class=positive)
    else:
        metrics, matrix = regression_metrics(holdout[target], predicted), None
    report = AutoMLReport(
        eval_metric=eval_metric, best_model=best, time_budget_s=float(time_limit_s), fit_time_s=fit_time,
        train_rows=len(train), holdout_rows=len(holdout), features=list(features), metrics=metrics,
        confusion_matrix=matrix, leaderboard=leaderboard,
    )
    return AutoMLRun(predictor=predictor, train=train, holdout=holdout, report=report, positive_class=positive)


def _num(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if np.isfinite(number) else None


def classification_metrics(actual: pd.Series, predicted: pd.Series, proba: pd.DataFrame, *,
                           positive_class: Any = None) -> tuple[dict[str, float], ConfusionMatrix]:
    """ROC AUC, F1, accuracy, log loss and the confusion matrix."""
    from sklearn import metrics as skm

    labels = list(proba.columns)
    actual_values = actual.to_numpy()
    metrics: dict[str, float] = {"accuracy": float(skm.accuracy_score(actual_values, predicted))}
    probabilities = np.clip(proba.to_numpy(dtype=float), 1e-15, 1 - 1e-15)
    probabilities = probabilities / probabilities.sum(axis=1, keepdims=True)
    present = set(actual_values)
    if positive_class is not None:
        metrics["f1"] = float(skm.f1_score(actual_values, predicted, pos_label=positive_class))
        if len(present) == 2:
            metrics["roc_auc"] = float(skm.roc_auc_score(actual_values == positive_class,
                                                         proba[positive_class].to_numpy(dtype=float)))
    else:
        metrics["f1_macro"] = float(skm.f1_score(actual_values, predicted, average="macro"))
        if present == set(labels) and len(labels) > 2:
            metrics["roc_auc_ovr"] = float(skm.roc_auc_score(actual_values, probabilities, multi_class="ovr",
                                                             labels=labels))
    # AutoGluon drops classes too rare to learn; probability scores can only cover the classes it kept
    known = np.isin(actual_values, labels)
    if known.any():
        metrics["log_loss"] = float(skm.log_loss(actual_values[known], probabilities[known], labels=labels))
    metrics["balanced_accuracy"] = float(skm.balanced_accuracy_score(actual_values, predicted))
    shown = labels + sorted(present - set(labels), key=str)
    matrix = skm.confusion_matrix(actual_values, predicted, labels=shown)
    return metrics, ConfusionMatrix(labels=[str(label) for label in shown], matrix=matrix.tolist())


def regression_metrics(actual: pd.Series, predicted: pd.Series) -> dict[str, float]:
    """R², RMSE and MAE."""
    from sklearn import metrics as skm

    y, p = actual.to_numpy(dtype=float), predicted.to_numpy(dtype=float)
    return {"r2": float(skm.r2_score(y, p)), "rmse": float(np.sqrt(skm.mean_squared_error(y, p))),
            "mae": float(skm.mean_absolute_error(y, p))}
