"""AutoML trains and is scored on ETL's train/holdout split, so target encoding never sees the holdout."""

from __future__ import annotations

from pathlib import Path

import palmerpenguins
import polars as pl
import pytest
from dsp_ml.domain import AnalysisError, analyze
from dsp_ml.domain.analyze import automl_rows, read_split
from etl_core import run_etl
from etl_core.quick_profile import quick_profile
from shared_contracts.etl import EtlConfig

ROW_ID = "__dsp_row_id"


@pytest.fixture(scope="module")
def encoded(tmp_path_factory):
    """Penguins (plus repeated rows) through an ETL that target-encodes ``island`` for ``sex``."""
    base = tmp_path_factory.mktemp("encoded")
    frame = pl.read_csv(Path(palmerpenguins.__file__).parent / "data" / "penguins.csv", null_values=["NA"])
    frame = pl.concat([frame, frame.slice(10, 5)])
    frame.write_parquet(base / "data.parquet")
    config = EtlConfig.model_validate({"columns": {"island": {"encode": "target"}},
                                       "split": {"holdout_fraction": 0.3}})
    result = run_etl(base / "data.parquet", quick_profile(frame), out_dir=base / "out", target="sex", config=config)
    return frame, result


def _encoder(result) -> dict:
    step = next(s for s in result.pipeline.steps if s.step.kind == "encode" and s.step.params["method"] == "target")
    [encoding] = step.state["columns"]["island"]["encodings"]
    return encoding


def test_automl_holdout_is_the_split_holdout_the_encoder_never_saw(encoded):
    source, result = encoded
    cleaned = pl.read_parquet(result.paths["parquet"])
    split = pl.read_parquet(result.paths["split"])
    is_train = read_split(result.paths["split"], rows=cleaned.height)
    frame = cleaned.with_row_index(ROW_ID)

    rows = automl_rows(frame, target="sex", task_type="binary", cap=10_000, random_state=0, is_train=is_train)

    assert rows.holdout is not None
    holdout_sources = set(split["source_row"].gather(rows.holdout[ROW_ID]).to_list())
    train_sources = set(split["source_row"].gather(rows.training[ROW_ID]).to_list())
    assert holdout_sources == set(split.filter(~pl.col("is_train"))["source_row"].to_list())
    assert train_sources == set(split.filter("is_train")["source_row"].to_list())
    assert rows.training.height + rows.holdout.height == cleaned.height
    # The encoder's statistics are those of the training rows alone: the holdout never reached it.
    train = source[sorted(train_sources)]
    encoding = _encoder(result)
    prior = (train["sex"] == "male").mean()
    assert encoding["prior"] == pytest.approx(prior)
    stats = train.group_by("island").agg((pl.col("sex") == "male").sum().alias("s"), pl.len().alias("n"))
    for island, s, n in stats.iter_rows():
        assert encoding["mapping"][island] == pytest.approx((s + 10 * prior) / (n + 10))
    everything = source.unique(maintain_order=True).filter(pl.col("sex").is_not_null())
    assert (everything["sex"] == "male").mean() != pytest.approx(prior)


def test_the_time_budget_samples_the_training_rows_only(encoded):
    _, result = encoded
    cleaned = pl.read_parquet(result.paths["parquet"]).with_row_index(ROW_ID)
    is_train = read_split(result.paths["split"], rows=cleaned.height)
    rows = automl_rows(cleaned, target="sex", task_type="binary", cap=100, random_state=0, is_train=is_train,
                       max_holdout_rows=40)
    assert rows.stratified and rows.offered == int(is_train.sum())
    assert 95 <= rows.training.height <= 105
    assert rows.holdout is not None and rows.holdout.height == 40
    assert is_train.gather(rows.training[ROW_ID]).all()
    assert not is_train.gather(rows.holdout[ROW_ID]).any()


def test_without_a_split_or_holdout_rows_automl_draws_its_own_holdout(encoded):
    _, result = encoded
    cleaned = pl.read_parquet(result.paths["parquet"]).with_row_index(ROW_ID)
    for is_train in (None, pl.Series([True] * cleaned.height)):
        rows = automl_rows(cleaned, target="sex", task_type="binary", cap=10_000, random_state=0, is_train=is_train)
        assert rows.holdout is None and rows.training.height == cleaned.height


def test_a_split_of_other_data_is_refused(encoded):
    _, result = encoded
    cleaned = pl.read_parquet(result.paths["parquet"])
    split = pl.read_parquet(result.paths["split"])
    with pytest.raises(AnalysisError) as caught:
        read_split(split.head(-1), rows=cleaned.height)
    assert caught.value.code == "split_mismatch"
    with pytest.raises(AnalysisError):
        read_split(split.with_columns(pl.col("is_train").cast(pl.Int8)), rows=cleaned.height)
    with pytest.raises(AnalysisError) as caught:
        analyze(result.paths["parquet"], target="sex", time_budget_s=5, split=split.head(10))
    assert caught.value.code == "split_mismatch"


@pytest.mark.slow
def test_analysis_scores_the_model_on_the_split_holdout(encoded, monkeypatch):
    from dsp_ml.domain import automl

    _, result = encoded
    runs = []
    train_automl = automl.train_automl

    def recording(*args, **kwargs):
        runs.append(train_automl(*args, **kwargs))
        return runs[-1]

    monkeypatch.setattr(automl, "train_automl", recording)
    analysis = analyze(result.paths["parquet"], target="sex", time_budget_s=10, split=result.paths["split"])

    cleaned = pl.read_parquet(result.paths["parquet"])
    split = pl.read_parquet(result.paths["split"])
    [run] = runs
    holdout = cleaned.filter(~split["is_train"])
    assert analysis.automl.holdout_rows == holdout.height
    assert analysis.automl.train_rows == int(split["is_train"].sum())
    assert analysis.model.config["holdout"] == "etl_split"
    scored = pl.from_pandas(run.holdout.reset_index(drop=True))
    assert scored.equals(holdout.select(scored.columns))
    assert "island" in analysis.model.features
