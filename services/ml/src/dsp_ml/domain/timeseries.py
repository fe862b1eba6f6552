"""Time columns: frequency, trend, seasonality, change points, and statistical forecasts."""

from __future__ import annotations

import math
import re
import warnings
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
import polars as pl
from scipy import stats
from shared_contracts.analysis import ForecastModelScore, ForecastPoint, ForecastReport, TimePattern

__all__ = [
    "RegularSeries",
    "as_datetimes",
    "forecast_series",
    "largest_series",
    "numeric_time_kind",
    "period_column",
    "regular_series",
    "series_key",
    "text_time_kind",
    "time_pattern",
    "time_values",
]

NumericTime = Literal["decimal_year", "year", "yyyymmdd"]
TextTime = Literal["year_month", "year_quarter", "year_week"]

_MIN_PERIODS = 24
_MAX_POINTS = 600
_MIN_HISTORY = 200
_MAX_MODEL_SEASON = 24
_MIN_TIME_VALUES = 8
_YEARS = (1000.0, 2200.0)
# periods per year of an R ``ts`` export: annual, half-yearly, quarterly, monthly, weekly, daily
_PERIODS_PER_YEAR = (1, 2, 4, 12, 52, 365)
_TIME_NAME = re.compile(r"(^|[^a-z])(time|date|year|years|yr|yyyy|period|ds)([^a-z]|$)", re.IGNORECASE)
# a column of months or quarters beside a column of years: the periods in a year
_PERIODS_IN_YEAR = {"month": 12, "mon": 12, "mo": 12, "quarter": 4, "qtr": 4, "q": 4}
# periods as R's tsibble writes them (fpp3 data sets): "1939 Jan", "1998 Q1", "1991 W06"
_TEXT_TIME: dict[TextTime, str] = {
    "year_month": r"^\d{4} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)$",
    "year_quarter": r"^\d{4} Q[1-4]$",
    "year_week": r"^\d{4} W\d{2}$",
}

# median spacing in days -> (polars interval, pandas frequency, season length, horizon)
_FREQUENCIES = [
    (1 / 1440, "1m", "min", 60, 60),
    (1 / 24, "1h", "h", 24, 24),
    (1, "1d", "D", 7, 14),
    (7, "1w", "W-MON", 52, 13),
    (30.4, "1mo", "MS", 12, 12),
    (91.3, "1q", "QS", 4, 8),
    (365.25, "1y", "YS", 1, 5),
]


@dataclass
class RegularSeries:
    """One measure on a regular time grid."""

    time_column: str
    value_column: str
    timestamps: pd.DatetimeIndex
    values: np.ndarray
    frequency: str
    season_length: int
    horizon: int
    aggregated: bool
    series_key: str | None = None
    """In long-format data, the column whose value names this series (``series_value``)."""
    series_value: str | None = None

    @property
    def label(self) -> str:
        """The chart id suffix: the measure, and the series it belongs to in long-format data."""
        return self.value_column if self.series_key is None else f"{self.value_column}:{self.series_key}={self.series_value}"


def numeric_time_kind(column: pl.Series) -> NumericTime | None:
    """How a numeric column encodes time, if it does; None for an ordinary measure.

    - ``yyyymmdd``: integers such as 20240131 that all read as calendar dates (statsmodels' co2);
    - ``decimal_year``: years with a regular fractional step of 1/12, 1/4, 1/2, 1/52 or 1/365, the
      ``time`` column of an R ``ts`` export (1949.0, 1949.0833...), named like a time or sorted;
    - ``year``: whole years (1871, 1872...) in a column named like a time (``time``, ``year``...),
      with about as many rows in each year (a series or a panel, not a house's year built).

    Years must lie between 1000 and 2200.

    Examples
    --------
    >>> numeric_time_kind(pl.Series("time", [1949 + k / 12 for k in range(24)]))
    'decimal_year'
    >>> numeric_time_kind(pl.Series("date", [20240101 + k for k in range(10)]))
    'yyyymmdd'
    >>> numeric_time_kind(pl.Series("price", [1949.5, 1951.25, 1950.0, 1953.75] * 3)) is None
    True
    """
    if not column.dtype.is_numeric() or column.dtype == pl.Boolean:
        return None
    low, high = column.min(), column.max()
    if not isinstance(low, int | float) or not isinstance(high, int | float):
        return None
    if not (_YEARS[0] <= low and high <= _YEARS[1]) and not (low >= 1e7 and high < 3e7):
        return None  # the common case, decided without sorting the column
    values = column.drop_nulls().cast(pl.Float64)
    values = values.filter(values.is_finite())
    distinct = values.unique().sort()
    if distinct.len() < _MIN_TIME_VALUES:
        return None
    low, high = float(distinct[0]), float(distinct[-1])
    integral = bool((distinct % 1 == 0).all())
    if integral and low >= 1e7 and high < 3e7:
        dates = distinct.cast(pl.Int64).cast(pl.String).str.strptime(pl.Datetime("us"), "%Y%m%d", strict=False)
        if dates.null_count() == 0 and dates.dt.year().is_between(*_YEARS).all():
            return "yyyymmdd"
        return None
    if low < _YEARS[0] or high > _YEARS[1]:
        return None
    named = bool(_TIME_NAME.search(column.name))
    if integral:
        return "year" if named and _regular_steps(distinct, _median_step(distinct)) and _balanced(values) else None
    per_year = _periods_per_year(distinct)
    if per_year is None or per_year == 1:
        return None
    sorted_rows = bool((values.diff().drop_nulls() >= 0).all())
    return "decimal_year" if named or sorted_rows else None


def text_time_kind(column: pl.Series) -> TextTime | None:
    """How a text column writes periods, if it does: tsibble's ``1939 Jan``, ``1998 Q1`` or ``1991 W06``.

    Examples
    --------
    >>> text_time_kind(pl.Series("Quarter", ["1998 Q1", "1998 Q2"]))
    'year_quarter'
    >>> text_time_kind(pl.Series("city", ["1998 Paris"])) is None
    True
    """
    if column.dtype not in (pl.String, pl.Categorical):
        return None
    sample = column.drop_nulls().head(500).cast(pl.String)
    if sample.len() == 0:
        return None
    for kind, pattern in _TEXT_TIME.items():
        if sample.str.contains(pattern).all():
            return kind
    return None


def _balanced(values: pl.Series) -> bool:
    """Each year holds about as many rows as the others: one series (one row a year) or a panel.

    A year that describes the rows instead (a house's year built, a plane's year of manufacture)
    holds many rows in some years and few in others, and is no time axis.
    """
    counts = values.rename("value").value_counts()["count"].cast(pl.Float64)
    median = counts.median()
    if not isinstance(median, float):
        return False
    share = counts.is_between(0.75 * median, 1.25 * median).cast(pl.Float64).mean()
    return isinstance(share, float) and share >= 0.8


def _median_step(distinct: pl.Series) -> float:
    step = distinct.diff().drop_nulls().median()
    return float(step) if isinstance(step, int | float) else 0.0


def _regular_steps(distinct: pl.Series, step: float) -> bool:
    """Every gap between distinct values is a whole number of steps (gaps in the series allowed)."""
    if step <= 0:
        return False
    ratios = (distinct.diff().drop_nulls() / step).to_numpy()
    return bool(np.all(np.abs(ratios - np.round(ratios)) < 0.05))


def _periods_per_year(distinct: pl.Series) -> int | None:
    step = _median_step(distinct)
    if step <= 0:
        return None
    per_year = min(_PERIODS_PER_YEAR, key=lambda periods: abs(math.log(periods * step)))
    if abs(per_year * step - 1) > 0.02 or not _regular_steps(distinct, 1 / per_year):
        return None
    return per_year


def as_datetimes(column: pl.Series) -> pl.Series:
    """The column as datetimes: dates pass through, text is parsed, numeric time is converted.

    Decimal years land on the first day of their month (monthly, quarterly, half-yearly and
    annual series), or on the day of the year their fraction points to (weekly and daily).
    Numbers that hold no time (see :func:`numeric_time_kind`) give no datetime (all null).

    Examples
    --------
    >>> as_datetimes(pl.Series("time", [1949 + k / 12 for k in range(12)]))[1]
    datetime.datetime(1949, 2, 1, 0, 0)
    """
    if column.dtype.is_temporal():
        return column.cast(pl.Datetime("us"))
    if column.dtype in (pl.String, pl.Categorical):
        text, text_kind = column.cast(pl.String), text_time_kind(column)
        if text_kind == "year_month":
            return (text + " 01").str.to_datetime("%Y %b %d", strict=False, time_unit="us")
        if text_kind == "year_week":
            return (text + " 1").str.to_datetime("%G W%V %u", strict=False, time_unit="us")
        if text_kind == "year_quarter":
            years, quarters = text.str.slice(0, 4).cast(pl.Int32), text.str.slice(6, 1).cast(pl.Int32)
            return pl.DataFrame({"y": years, "q": quarters}).select(
                pl.datetime("y", (pl.col("q") - 1) * 3 + 1, 1).cast(pl.Datetime("us")).alias(column.name)).to_series()
        return text.str.to_datetime(strict=False, time_unit="us")
    kind = numeric_time_kind(column)
    if kind == "yyyymmdd":
        return column.cast(pl.Int64).cast(pl.String).str.strptime(pl.Datetime("us"), "%Y%m%d", strict=False)
    values = column.cast(pl.Float64)
    if kind == "year":
        return pl.select(pl.datetime(values.round().cast(pl.Int32), 1, 1)).to_series().alias(column.name)
    if kind == "decimal_year":
        per_year = _periods_per_year(values.drop_nulls().unique().sort()) or 1
        period = (pl.col("t") * per_year).round().cast(pl.Int64)
        year, within = period // per_year, period % per_year
        if 12 % per_year == 0:
            stamp = pl.datetime(year, within * (12 // per_year) + 1, 1)
        else:
            stamp = pl.datetime(year, 1, 1) + pl.duration(days=(within * 365.25 / per_year).round().cast(pl.Int64))
        return pl.DataFrame({"t": values}).select(stamp.cast(pl.Datetime("us")).alias(column.name)).to_series()
    return pl.Series(column.name, [None] * column.len(), dtype=pl.Datetime("us"))


def period_column(frame: pl.DataFrame, time_column: str) -> str | None:
    """The column of months or quarters (1-12 or 1-4) that completes a column of whole years, if any."""
    column = frame[time_column]
    if not column.dtype.is_numeric() or numeric_time_kind(column) != "year":
        return None
    for name, dtype in frame.schema.items():
        periods = _PERIODS_IN_YEAR.get(name.lower())
        if periods is None or not dtype.is_numeric() or dtype == pl.Boolean:
            continue
        part = frame[name].cast(pl.Float64)
        if bool(((part % 1 == 0) & part.is_between(1, periods)).all()):
            return name
    return None


def time_values(frame: pl.DataFrame, time_column: str) -> pl.Series:
    """The time column as datetimes; a column of years takes its month or quarter from :func:`period_column`.

    statsmodels' macrodata, for one, has ``year`` and ``quarter`` columns and no date.

    Examples
    --------
    >>> frame = pl.DataFrame({"year": [1959 + k // 4 for k in range(40)], "quarter": [1, 2, 3, 4] * 10})
    >>> str(time_values(frame, "year")[5].date())
    '1960-04-01'
    """
    period = period_column(frame, time_column)
    if period is None:
        return as_datetimes(frame[time_column])
    months = 12 // _PERIODS_IN_YEAR[period.lower()]
    return pl.DataFrame({"y": frame[time_column].cast(pl.Float64).round(), "p": frame[period].cast(pl.Float64)}).select(
        pl.datetime(pl.col("y").cast(pl.Int32), ((pl.col("p") - 1) * months + 1).cast(pl.Int32), 1)
        .cast(pl.Datetime("us")).alias(time_column)).to_series()


def series_key(frame: pl.DataFrame, time_column: str, candidates: list[str]) -> str | None:
    """The column that splits long-format data into series, one row per (time, key); None for one series.

    Long format repeats each timestamp once per series (sugar prices of Global, US and Europe
    in one ``value`` column, told apart by ``category``). Among ``candidates`` the key is the one
    with the fewest values that makes (time, key) nearly unique while its largest series is long
    enough to forecast and covers at least half of the timestamps. Data where timestamps are
    already unique, and events (several rows per time and key, or each key seen at a few of many
    times, as an aircraft's tail number in a flights table), have no key.
    """
    stamps = frame[time_column].drop_nulls()
    distinct = stamps.n_unique()
    if stamps.len() == 0 or distinct >= 0.95 * stamps.len():
        return None
    # a key tells apart every row of its busiest timestamp, so it has at least that many values
    busiest = stamps.rename("value").value_counts()["count"].max()
    best: tuple[int, str] | None = None
    for name in candidates:
        if name == time_column or name not in frame.columns or frame.schema[name] == pl.Boolean \
                or frame.schema[name].is_float():
            continue
        if not isinstance(busiest, int) or frame[name].n_unique() < 0.95 * busiest:
            continue
        pairs = frame.select(time_column, name).drop_nulls()
        levels = pairs[name].n_unique()
        if levels < 2 or pairs.height < 0.95 * stamps.len():
            continue
        if pairs.n_unique() < 0.95 * pairs.height:
            continue
        largest = pairs.group_by(name).len()["len"].max()
        if not isinstance(largest, int) or largest < max(_MIN_PERIODS, 0.5 * distinct):
            continue
        if best is None or levels < best[0]:
            best = (levels, name)
    return best[1] if best else None


def largest_series(frame: pl.DataFrame, key: str, measure: str, time_column: str, *,
                   limit: int) -> list[tuple[str, pl.DataFrame]]:
    """The ``limit`` series of long-format data with the most observed values of ``measure``, largest first.

    Each comes as (its key value as text, its rows); ties go by name.
    """
    observed = frame.filter(pl.col(measure).is_not_null() & pl.col(time_column).is_not_null()
                            & pl.col(key).is_not_null())
    sizes = observed.group_by(key).len().with_columns(pl.col(key).cast(pl.String).alias("__name"))
    top = sizes.sort(["len", "__name"], descending=[True, False]).head(limit)
    return [(str(name), observed.filter(pl.col(key) == value))
            for value, name in zip(top[key].to_list(), top["__name"].to_list(), strict=True)]


def regular_series(frame: pl.DataFrame, time_column: str, value_column: str, *,
                   series: tuple[str, str] | None = None) -> RegularSeries | None:
    """Put ``value_column`` on a regular grid over ``time_column``; None if it is too short or irregular.

    The time column may hold datetimes, numeric time (decimal years, whole years, YYYYMMDD
    integers: see :func:`numeric_time_kind`) or tsibble periods (:func:`text_time_kind`), and a
    column of years takes months or quarters from the column beside it (:func:`time_values`).
    ``series`` names the (key column, value) of the series ``frame`` holds, in long-format data.
    """
    data = (
        pl.DataFrame([time_values(frame, time_column), frame[value_column].cast(pl.Float64)])
        .drop_nulls()
        .filter(pl.col(value_column).is_finite())
        .sort(time_column)
    )
    if data.height < _MIN_PERIODS:
        return None
    stamps = data[time_column].unique().sort()
    spacing_seconds = stamps.diff().drop_nulls().dt.total_seconds().median()
    if not isinstance(spacing_seconds, int | float) or spacing_seconds <= 0:
        return None
    spacing_days = spacing_seconds / 86400
    start = _FREQUENCIES.index(min(_FREQUENCIES, key=lambda item: abs(math.log(spacing_days / item[0]))))
    aggregated = stamps.len() < data.height
    # events at irregular times leave gaps on a fine grid: move to coarser grids until few are left
    for _, interval, freq, season, horizon in _FREQUENCIES[start:]:  # noqa: B007 - the last one is used
        grid = _on_grid(data, time_column, value_column, interval)
        missing = grid[value_column].null_count()
        if grid.height < _MIN_PERIODS:
            return None
        if missing <= 0.2 * grid.height:
            break
    else:
        return None
    grid = grid.with_columns(pl.col(value_column).interpolate().forward_fill().backward_fill())
    # seasonal ARIMA grows costly with length; sixteen cycles of recent history are plenty to forecast one
    keep = min(_MAX_POINTS, max(_MIN_HISTORY, 16 * season))
    if grid.height > keep:
        grid = grid.tail(keep)
    timestamps = pd.DatetimeIndex(grid[time_column].to_pandas())
    if season > 1 and grid.height < 2 * season + horizon:
        season = 1
    key, key_value = series if series is not None else (None, None)
    return RegularSeries(time_column, value_column, timestamps, grid[value_column].to_numpy().astype(float),
                         freq, season, horizon, aggregated or missing > 0, series_key=key, series_value=key_value)


def _on_grid(data: pl.DataFrame, time_column: str, value_column: str, interval: str) -> pl.DataFrame:
    grid = (data.with_columns(_truncate_expr(time_column, interval)).group_by(time_column)
            .agg(pl.col(value_column).mean()).sort(time_column))
    step = "3mo" if interval == "1q" else interval
    full = grid.select(pl.datetime_range(pl.col(time_column).min(), pl.col(time_column).max(),
                                         interval=step).alias(time_column))
    return full.with_columns(pl.col(time_column).cast(pl.Datetime("us"))).join(grid, on=time_column, how="left")


def _truncate_expr(time_column: str, interval: str) -> pl.Expr:
    if interval == "1q":
        return pl.col(time_column).dt.truncate("3mo")
    return pl.col(time_column).dt.truncate(interval)


def time_pattern(series: RegularSeries) -> TimePattern:
    """Trend (least squares over the period index), seasonal strength and level change points."""
    values = series.values
    index = np.arange(len(values), dtype=float)
    fit = stats.linregress(index, values)
    scale = np.std(values) or 1.0
    relative = fit.slope * len(values) / scale
    direction: Literal["rising", "falling", "flat"] = (
        "flat" if fit.pvalue >= 0.05 or abs(relative) < 0.5 else ("rising" if fit.slope > 0 else "falling")
    )
    strength = _seasonal_strength(values, series.season_length)
    change_points = [str(series.timestamps[i].date() if series.frequency not in ("h", "min") else series.timestamps[i])
                     for i in _change_points(values)]
    return TimePattern(
        chart_id=f"timeseries:{series.label}", time_column=series.time_column,
        value_column=series.value_column, frequency=series.frequency,
        trend_slope_per_period=float(fit.slope), trend_direction=direction, trend_p_value=float(fit.pvalue),
        season_length=series.season_length if series.season_length > 1 else None,
        seasonal_strength=strength, change_points=change_points,
        series_key=series.series_key, series_value=series.series_value,
    )


def _seasonal_strength(values: np.ndarray, season: int) -> float:
    """Hyndman's strength of seasonality: 1 - Var(remainder) / Var(seasonal + remainder)."""
    if season <= 1 or len(values) < 2 * season:
        return 0.0
    trend = pd.Series(values).rolling(season, center=True, min_periods=season).mean()
    if season % 2 == 0:
        trend = trend.rolling(2, center=True).mean()
    detrended = values - trend.to_numpy()
    positions = np.arange(len(values)) % season
    seasonal_means = np.array([np.nanmean(detrended[positions == p]) for p in range(season)])
    seasonal = seasonal_means[positions]
    remainder = detrended - seasonal
    mask = np.isfinite(remainder)
    if mask.sum() < season:
        return 0.0
    total = np.var(detrended[mask])
    if total <= 0:
        return 0.0
    return float(max(0.0, 1 - np.var(remainder[mask]) / total))


def _change_points(values: np.ndarray, *, max_points: int = 3, min_size: int = 6) -> list[int]:
    """Binary segmentation on the mean, keeping splits that cut squared error by a BIC-like penalty."""
    n = len(values)
    sigma2 = np.var(np.diff(values)) / 2 or np.var(values) or 1.0
    penalty = 3 * math.log(n) * sigma2 * 4
    segments = [(0, n)]
    found: list[int] = []
    while len(found) < max_points:
        best = None
        for start, end in segments:
            split, gain = _best_split(values[start:end], min_size)
            if split is not None and gain > penalty and (best is None or gain > best[0]):
                best = (gain, start, end, start + split)
        if best is None:
            break
        _, start, end, cut = best
        found.append(cut)
        segments.remove((start, end))
        segments += [(start, cut), (cut, end)]
    return sorted(found)


def _best_split(segment: np.ndarray, min_size: int) -> tuple[int | None, float]:
    n = len(segment)
    if n < 2 * min_size:
        return None, 0.0
    cumsum = np.cumsum(segment)
    total = cumsum[-1]
    k = np.arange(min_size, n - min_size + 1)
    left = cumsum[k - 1]
    gain = left**2 / k + (total - left) ** 2 / (n - k) - total**2 / n
    best = int(np.argmax(gain))
    return int(k[best]), float(gain[best])


def forecast_series(series: RegularSeries, *, n_windows: int = 3) -> ForecastReport | None:
    """Backtest AutoETS, AutoARIMA, AutoTheta and seasonal naive by rolling origin; forecast with the best.

    MASE is scaled by the in-sample seasonal naive error of each training window.
    """
    from statsforecast import StatsForecast
    from statsforecast.models import AutoARIMA, AutoETS, AutoTheta, Naive, SeasonalNaive

    season, horizon = series.season_length, series.horizon
    n = len(series.values)
    while n_windows > 1 and n - n_windows * horizon < max(2 * season + 2, 16):
        n_windows -= 1
    if n - n_windows * horizon < max(season + 2, 12):
        horizon = max(1, (n - max(season + 2, 12)) // n_windows)
    if horizon < 1:
        return None
    baseline = SeasonalNaive(season_length=season) if season > 1 else Naive()
    baseline_name = "SeasonalNaive" if season > 1 else "Naive"
    # seasonal ARIMA and ETS are impractical for long cycles (weekly data, m = 52): there they
    # model the trend, and Theta's classical decomposition carries the season. The ARIMA search
    # is approximate and capped, as the full stepwise search costs seconds of CPU per window.
    short = season if season <= _MAX_MODEL_SEASON else 1
    models = [AutoETS(season_length=short), AutoARIMA(season_length=short, approximation=True, nmodels=20),
              AutoTheta(season_length=season),
              baseline]
    frame = pd.DataFrame({"unique_id": "series", "ds": series.timestamps, "y": series.values})
    engine = StatsForecast(models=models, freq=series.frequency, n_jobs=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        backtest = _as_pandas(
            engine.cross_validation(df=frame, h=horizon, n_windows=n_windows, step_size=horizon)
        )
    names = ["AutoETS", "AutoARIMA", "AutoTheta", baseline_name]
    scores = []
    for name in names:
        mases, smapes = [], []
        for cutoff, window in backtest.groupby("cutoff"):
            train = series.values[series.timestamps <= cutoff]
            actual, predicted = window["y"].to_numpy(), window[name].to_numpy()
            scale = _naive_scale(train, season)
            mases.append(np.mean(np.abs(actual - predicted)) / scale)
            denominator = np.abs(actual) + np.abs(predicted)
            ratio = np.where(denominator > 0, 2 * np.abs(actual - predicted) / np.where(denominator > 0, denominator, 1), 0)
            smapes.append(100 * np.mean(ratio))
        if np.all(np.isfinite(mases)):
            scores.append(ForecastModelScore(model=name, mase=float(np.mean(mases)), smape=float(np.mean(smapes))))
    if not scores:
        return None
    best = min(scores, key=lambda score: score.mase).model
    best_model = models[names.index(best)]
    final = StatsForecast(models=[best_model], freq=series.frequency, n_jobs=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        future = _as_pandas(final.forecast(df=frame, h=series.horizon, level=[80, 95]))
    points = [
        ForecastPoint(timestamp=str(row["ds"]), mean=float(row[best]),
                      lo_80=float(row[f"{best}-lo-80"]), hi_80=float(row[f"{best}-hi-80"]),
                      lo_95=float(row[f"{best}-lo-95"]), hi_95=float(row[f"{best}-hi-95"]))
        for _, row in future.iterrows()
    ]
    # the whole fitted window (at most _MAX_POINTS periods), so that the chart shows the peaks the models saw
    history = [(str(stamp), float(value)) for stamp, value in zip(series.timestamps, series.values, strict=True)]
    return ForecastReport(
        chart_id=f"forecast:{series.label}", time_column=series.time_column,
        value_column=series.value_column, frequency=series.frequency, season_length=season,
        horizon=series.horizon, backtest_windows=n_windows, scores=scores, best_model=best,
        baseline_model=baseline_name, points=points, history=history,
        series_key=series.series_key, series_value=series.series_value,
    )


def _naive_scale(train: np.ndarray, season: int) -> float:
    lag = season if len(train) > season else 1
    diffs = np.abs(train[lag:] - train[:-lag])
    scale = float(np.mean(diffs)) if len(diffs) else 0.0
    return scale if scale > 0 else 1.0


def _as_pandas(frame: object) -> pd.DataFrame:
    """statsforecast answers in the frame type it is given, which here is always pandas."""
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"statsforecast returned {type(frame).__name__}, expected a pandas DataFrame")
    return frame
