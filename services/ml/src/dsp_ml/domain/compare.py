"""Whether the relation of the features to the target moved between dataset A and dataset B.

A fast model (LightGBM, trained directly: a fixed modest number of rounds, early-stopped on a
validation part of A's training rows) is trained on A and scored on a holdout of A it never saw,
and on B. When the relation held, B's score falls within the noise of A's holdout score (a
bootstrap 95% interval); when it moved, B's score falls below it. A drop counts when B's score is
below that interval, A's score is above B's own interval (B's rows are a sample too), and the drop
is larger than ``thresholds.target_drop`` of A's score: the intervals guard against noise on small
samples, the relative drop against trivial losses on large ones.

The metric is ROC AUC for a binary target, accuracy for a multiclass one and R² for a numeric
one: all three higher-is-better, and read as they are by a person.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
import polars as pl
from shared_contracts.cancel import CancelToken
from shared_contracts.compare import CompareFinding, Comparison, Severity, ShiftThresholds, TargetShift

from .automl import fit_threads, quiet_autogluon
from .columns import infer_roles
from .errors import AnalysisError
from .task import MIN_ROWS, detect_task

__all__ = ["BOOTSTRAP_RESAMPLES", "HOLDOUT_SHARE", "MAX_ROUNDS", "MAX_ROWS", "MIN_SCORED", "target_shift",
           "with_target_shift"]

HOLDOUT_SHARE = 0.25
"""Share of A's rows held out of training, to score the model on rows it never saw."""

VALIDATION_SHARE = 0.15
"""Share of A's training rows the boosting is early-stopped on."""

MAX_ROUNDS = 300
"""Boosting rounds at most (early stopping after 20 rounds without gain usually ends sooner)."""

MAX_ROWS = 200_000
"""Rows of A (and of B) used at most; a larger side is sampled, seeded."""

MIN_SCORED = 20
"""Rows of B the model needs to score before ``moved`` can be true."""

BOOTSTRAP_RESAMPLES = 200
"""Resamples of A's holdout (and of B's rows) for the 95% intervals of their scores."""

BOOTSTRAP_ROWS_B = 20_000
"""Rows of B its score's interval is bootstrapped on at most."""

_METRIC_NAMES = {"roc_auc": "ROC AUC", "accuracy": "accuracy", "r2": "R²"}


def _sample(frame: pl.DataFrame, rows: int, seed: int) -> pl.DataFrame:
    if frame.height <= rows:
        return frame
    return frame[pl.Series(np.sort(np.random.default_rng(seed).choice(frame.height, rows, replace=False)))]


def _encode(frame: pl.DataFrame, features: Sequence[str], categories: dict[str, list[str]],
            temporal: set[str]) -> pd.DataFrame:
    """Features as LightGBM takes them: numbers as float, levels as pandas ``category`` over A's levels,
    dates and datetimes as seconds since 1970 (a column B lacks is all missing)."""
    columns: dict[str, object] = {}
    for name in features:
        if name not in frame.columns:
            columns[name] = np.full(frame.height, np.nan)
            continue
        series = frame.get_column(name)
        if name in categories:
            values = series.cast(pl.String).to_numpy()
            columns[name] = pd.Categorical(values, categories=categories[name])
        elif name in temporal:
            if series.dtype == pl.Date:
                numbers = series.cast(pl.Int64).cast(pl.Float64) * 86_400.0
            else:
                numbers = series.dt.epoch("us").cast(pl.Float64) / 1e6
            columns[name] = numbers.fill_null(np.nan).to_numpy()
        else:
            columns[name] = series.cast(pl.Float64, strict=False).fill_null(np.nan).to_numpy()
    return pd.DataFrame(columns, index=pd.RangeIndex(frame.height))


def _score(metric: str, y: np.ndarray, output: np.ndarray) -> float:
    """The metric of predictions ``output`` (P(positive), class probabilities or values) against codes ``y``."""
    from sklearn import metrics as skm

    if metric == "roc_auc":
        return float(skm.roc_auc_score(y, output))
    if metric == "accuracy":
        return float(np.mean(np.argmax(output, axis=1) == y))
    residual = float(np.sum((y - output) ** 2))
    total = float(np.sum((y - y.mean()) ** 2))
    if total == 0:
        return 1.0 if residual == 0 else 0.0  # sklearn's convention for a constant target
    return 1.0 - residual / total


def _bootstrap(metric: str, y: np.ndarray, output: np.ndarray, *, seed: int) -> tuple[float, float]:
    """Percentile 95% interval of the metric over resamples of the rows."""
    rng = np.random.default_rng(seed)
    scores = []
    for _ in range(BOOTSTRAP_RESAMPLES):
        pick = rng.integers(0, y.size, y.size)
        if metric == "roc_auc" and np.unique(y[pick]).size < 2:
            continue
        scores.append(_score(metric, y[pick], output[pick]))
    low, high = np.percentile(scores, [2.5, 97.5])
    return float(low), float(high)


def target_shift(a: pl.DataFrame, b: pl.DataFrame, *, target: str, features: list[str] | None = None,
                 seed: int = 0, cancel: CancelToken | None = None,
                 thresholds: ShiftThresholds | None = None) -> TargetShift:
    """Train a model on A, score it on A's holdout and on B: did the features' relation to ``target`` move?

    Parameters
    ----------
    a, b
        The typed data of the reference (A) and of the dataset compared with it (B).
    target
        The column to predict; both sides need it.
    features
        Columns the model may use; by default those the analysis would use
        (:func:`~dsp_ml.domain.columns.infer_roles` on A: no identifiers, text or constants),
        dates and datetimes as seconds since 1970.
    seed
        Seeds the splits, the model and the bootstrap.
    cancel
        Checked between the steps; the fit runs interruptible.
    thresholds
        ``target_drop`` is the relative loss of score that is a finding; the defaults when not given.

    Returns
    -------
    TargetShift
        The metric on A's holdout and on B, the bootstrap 95% interval of A's, and ``moved``.

    Raises
    ------
    AnalysisError
        When the target is missing from a side, A has too few rows, the task is not a
        classification or a regression, or no feature is usable.
    shared_contracts.cancel.Cancelled
        When ``cancel`` is cancelled.
    """
    import lightgbm as lgb

    thresholds = thresholds or ShiftThresholds()

    def check(step: str) -> None:
        if cancel is not None:
            cancel.check(step)

    for side, frame in (("A", a), ("B", b)):
        if target not in frame.columns:
            raise AnalysisError("target_not_found", f"the target {target!r} is not a column of {side}")
    a = _sample(a.filter(a.get_column(target).is_not_null()), MAX_ROWS, seed)
    b = _sample(b.filter(b.get_column(target).is_not_null()), MAX_ROWS, seed + 1)
    if a.height < MIN_ROWS:
        raise AnalysisError("too_few_rows", f"A has {a.height} rows with a known {target!r}; at least {MIN_ROWS} "
                                            "are needed to train a model")
    if b.height == 0:
        raise AnalysisError("too_few_rows", f"B has no row with a known {target!r} to score the model on")
    roles = infer_roles(a)
    info = detect_task(a, roles, target)
    task = info.task_type
    if task not in ("binary", "multiclass", "regression"):
        raise AnalysisError("unsupported_target", f"{target!r} is neither a class nor a number to predict ({task})")
    chosen = [f for f in (features if features is not None else roles.model_features)
              if f != target and f in a.columns and f != roles.weight]
    if not chosen:
        raise AnalysisError("no_usable_columns", f"no column of A is usable to predict {target!r}")
    temporal = {f for f in chosen if a.schema[f] == pl.Date or isinstance(a.schema[f], pl.Datetime)}
    categorical = [f for f in chosen if f not in temporal and not (a.schema[f].is_numeric())]
    categories = {f: sorted(a.get_column(f).drop_nulls().cast(pl.String).unique().to_list()) for f in categorical}
    check("target shift: prepare")

    labels: list[str] = []
    if task == "regression":
        y_a = a.get_column(target).cast(pl.Float64).to_numpy()
        y_b = b.get_column(target).cast(pl.Float64, strict=False).to_numpy()
        keep_b = np.isfinite(y_b)
        b, y_b = b.filter(pl.Series(keep_b)), y_b[keep_b]
        if b.height == 0:
            raise AnalysisError("too_few_rows", f"B has no numeric {target!r} to score the model on")
        metric = "r2"
    else:
        labels = sorted(a.get_column(target).cast(pl.String).unique().to_list())
        code = {label: i for i, label in enumerate(labels)}
        y_a = np.array([code[v] for v in a.get_column(target).cast(pl.String).to_list()])
        # a class A never had is one the model cannot predict: code -1, always wrong
        y_b = np.array([code.get(v, -1) for v in b.get_column(target).cast(pl.String).to_list()])
        metric = "roc_auc" if task == "binary" else "accuracy"

    rng = np.random.default_rng(seed)
    order = rng.permutation(a.height)
    n_holdout = max(1, int(round(HOLDOUT_SHARE * a.height)))
    holdout, train = np.sort(order[:n_holdout]), order[n_holdout:]
    n_valid = max(1, int(round(VALIDATION_SHARE * train.size)))
    valid, fit = np.sort(train[:n_valid]), np.sort(train[n_valid:])
    x_a = _encode(a, chosen, categories, temporal)
    x_b = _encode(b, chosen, categories, temporal)
    # leaves of 20 rows, fewer on small tables (a few hundred rows), so that the trees can split at all
    params: dict[str, object] = {"learning_rate": 0.1, "num_leaves": 31, "verbose": -1,
                                 "min_data_in_leaf": max(3, min(20, fit.size // 10)),
                                 "seed": seed, "num_threads": fit_threads(), "deterministic": True,
                                 "force_col_wise": True}
    if task == "binary":
        params["objective"] = "binary"
    elif task == "multiclass":
        params |= {"objective": "multiclass", "num_class": len(labels)}
    else:
        params["objective"] = "regression"
    train_set = lgb.Dataset(x_a.iloc[fit], label=y_a[fit], categorical_feature=categorical or "auto",
                            free_raw_data=False)
    valid_set = lgb.Dataset(x_a.iloc[valid], label=y_a[valid], reference=train_set)
    check("target shift: fit")
    with quiet_autogluon():
        if cancel is not None:
            with cancel.interruptible():
                booster = lgb.train(params, train_set, num_boost_round=MAX_ROUNDS, valid_sets=[valid_set],
                                    callbacks=[lgb.early_stopping(20, verbose=False)])
        else:
            booster = lgb.train(params, train_set, num_boost_round=MAX_ROUNDS, valid_sets=[valid_set],
                                callbacks=[lgb.early_stopping(20, verbose=False)])
    check("target shift: score")
    out_a = np.asarray(booster.predict(x_a.iloc[holdout], num_iteration=booster.best_iteration))
    out_b = np.asarray(booster.predict(x_b, num_iteration=booster.best_iteration))
    y_hold = y_a[holdout]
    note = None
    if metric == "roc_auc" and (np.unique(y_hold).size < 2 or np.unique(y_b[y_b >= 0]).size < 2):
        # ROC AUC needs both classes on both sides; accuracy does not
        metric, note = "accuracy", "ROC AUC needs both classes on each side; one side has one, so accuracy is used"
    if metric == "accuracy" and out_a.ndim == 1:
        out_a, out_b = np.column_stack([1 - out_a, out_a]), np.column_stack([1 - out_b, out_b])
    y_b_score = (y_b == 1).astype(int) if metric == "roc_auc" else y_b
    score_a = _score(metric, y_hold, out_a)
    score_b = _score(metric, y_b_score, out_b)
    low, high = _bootstrap(metric, y_hold, out_a, seed=seed)
    # B's own noise: its score's interval, on at most BOOTSTRAP_ROWS_B of its rows (wider than B's, so cautious)
    pick_b = np.arange(y_b_score.size)
    if pick_b.size > BOOTSTRAP_ROWS_B:
        pick_b = np.sort(np.random.default_rng(seed + 2).choice(pick_b.size, BOOTSTRAP_ROWS_B, replace=False))
    both_classes = metric != "roc_auc" or np.unique(y_b_score[pick_b]).size == 2
    low_b, high_b = (_bootstrap(metric, y_b_score[pick_b], out_b[pick_b], seed=seed + 3) if both_classes
                     else (score_b, score_b))
    change = score_b - score_a
    relative = change / abs(score_a) if score_a else None
    # worse than A's noise allows, A's score beyond B's noise, and by more than the threshold
    moved = score_b < low and high_b < score_a and relative is not None and -relative > thresholds.target_drop
    if y_b.size < MIN_SCORED:
        moved = False
        few = f"only {y_b.size} rows of B to score: too few to tell whether the relation moved"
        note = f"{note}; {few}" if note else few
    if task != "regression" and y_b.size and (y_b < 0).any():  # -1 codes a class A never had
        unseen = f"{int((y_b < 0).sum())} rows of B hold classes A never had (counted as wrong)"
        note = f"{note}; {unseen}" if note else unseen
    return TargetShift(
        target=target, task=task, model="LightGBM", metric=metric, higher_is_better=True,
        score_a=score_a, score_b=score_b, change=change, relative_change=relative,
        interval_a=(low, high), interval_b=(low_b, high_b), moved=bool(moved), rows_train=int(fit.size + valid.size),
        rows_holdout_a=int(holdout.size), rows_scored_b=int(b.height), features=chosen, note=note,
    )


def _score_text(shift: TargetShift, value: float) -> str:
    return f"{value:.2f}" if math.isfinite(value) else "n/a"


def with_target_shift(comparison: Comparison, shift: TargetShift,
                      thresholds: ShiftThresholds | None = None) -> Comparison:
    """The comparison with the target part added, its finding among the others, all re-ranked 1..n.

    A moved relation is a finding of kind ``target``, scored on the comparison's PSI-like scale as
    the relative drop times ``psi_small / target_drop`` (a drop just at the threshold scores
    ``psi_small``). A relation that held adds no finding; ``comparison.target`` still records it.

    Parameters
    ----------
    comparison
        The comparison of the datasets (from the profile stage).
    shift
        The model's scores on A's holdout and on B (:func:`target_shift`).
    thresholds
        The comparison's own thresholds when not given.

    Returns
    -------
    Comparison
        A copy with ``target`` set and the findings re-ranked.
    """
    thresholds = thresholds or comparison.thresholds
    findings = [f for f in comparison.findings if f.kind != "target"]
    if shift.moved:
        drop = -(shift.relative_change or 0.0)
        score = drop * thresholds.psi_small / thresholds.target_drop
        severity: Severity = ("large" if score >= thresholds.psi_large else
                    "moderate" if score >= (thresholds.psi_small + thresholds.psi_large) / 2 else "small")
        name = _METRIC_NAMES.get(shift.metric, shift.metric)
        verb = "explains" if shift.task == "regression" else "predicts"
        low, high = shift.interval_a or (shift.score_a, shift.score_a)
        findings.append(CompareFinding(
            rank=1, kind="target", column=shift.target, severity=severity, score=score,
            title=f"A model trained on A {verb} {shift.target} less well on B: {name} "
                  f"{_score_text(shift, shift.score_a)} -> {_score_text(shift, shift.score_b)}",
            detail=f"{shift.model} trained on {shift.rows_train:,} rows of A scores {shift.score_a:.3f} on "
                   f"{shift.rows_holdout_a:,} held-out rows of A (95% interval {low:.3f}-{high:.3f}) and "
                   f"{shift.score_b:.3f} on {shift.rows_scored_b:,} rows of B: the relation of the features to "
                   f"{shift.target} is not the same in B.",
            evidence={"metric": shift.metric, "score_a": shift.score_a, "score_b": shift.score_b,
                      "interval_low": low, "interval_high": high, "relative_change": shift.relative_change},
            chart_id="compare:target",
        ))
    ordered = sorted(findings, key=lambda f: -f.score)
    ranked = [f.model_copy(update={"rank": i}) for i, f in enumerate(ordered, start=1)]
    return comparison.model_copy(update={"target": shift, "findings": ranked})
