"""Daily demand forecasts per series (title × region) over pandas/NumPy, with their backtest.

Pure: no I/O, no Spark. `batch.demand` runs `forecast_group` once per series in a grouped pandas
UDF; everything shared between series (weekly profiles, launch priors) is computed once from
small aggregates and handed in as a `ForecastContext`.

Model, per series of daily watch hours `y` (history through `run_date`, forecasts for the
`horizon_days` after it):

- **Weekly seasonality** is pooled per region: `weekly_profile` takes the region's daily totals,
  decomposes them multiplicatively with period 7 (statsmodels `seasonal_decompose`) and returns
  one factor per weekday, mean 1. Series are deseasonalized (`z = y / profile[weekday]`), modelled,
  and re-seasonalized. One title's few plays a day cannot estimate its own weekly shape; the
  region's millions can, and members watch every title on the same evenings.
- **Launches** (`model = "launch_prior"`): a title released fewer than `launch_days` days before
  the run (or due inside the horizon) is forecast from a launch-curve prior: the mean
  deseasonalized curve, by day since release, of the past launches in the same region (same kind,
  movie or episode, when at least `prior_min_launches` exist; otherwise all kinds). The days it has
  already been out scale that curve (shrunk towards 1 with weight `launch_shrinkage / days`), and
  the interval is the spread (10th–90th percentile) of past launches around the curve. A title due
  tomorrow thus gets the volume a typical launch has, before anyone has watched it; a title out
  for weeks keeps the launch curve's decay at its own level. `launch_days` is four weeks: a
  launch's decay lasts that long, and ETS on the decaying series tracked it worse (offload of the
  fill plan 1.1 points lower with one week, on a simulated world of another seed than the
  benchmark's).
- **Established series with volume** (`model = "ets"`): statsmodels' ETS(A,Ad,N) — additive error,
  damped additive trend — on the deseasonalized series. A damped trend is an exponential approach
  to a new level (the forecast moves by φ + φ² + … + φʰ trend steps), the shape of a launch
  decaying to its catalogue level. When that path would cross zero (a steep decay towards nothing)
  the same model is fitted to log(1 + z) and back-transformed (`model = "ets_log"`): in logs the
  trend is a decay by a shrinking factor per day, which never goes below zero.
  The model is fitted once on the backtest's training span and re-run with those parameters over the
  full history; its analytical prediction interval gives `lower`/`upper`.
- **Sparse series** (mean below `ets_min_mean_hours` a day) (`model = "ses"`): simple exponential
  smoothing (pandas' EWMA, α = `ses_alpha`) of the deseasonalized series, the ETS(A,N,N) point
  forecast, with its interval σ·√(1 + (h−1)α²) from the one-step errors. Fitting ETS to series of a
  few zeros and ones costs time and buys nothing.
- Forecasts and bounds are clipped at 0.

**Backtest** (every series with at least `backtest_days + 7` days): the same model type is fitted on
all but the last `backtest_days` days and forecasts them (a launch: its curve scaled by the days
before them; the curve itself comes from all launches up to the run); `mase` = its mean absolute
error ÷ the in-sample mean absolute error of the weekly seasonal naive (yₜ − yₜ₋₇) on the training
span (below 1 beats seasonal naive; None when that scale is 0), `smape` = 100/h Σ 2|f−a|/(|f|+|a|)
in percent 0–200 (a day with f = a = 0 counts 0). The seasonal naive's own errors on the same days
are kept too, so a run can report MAE(model) ÷ MAE(seasonal naive) pooled over all series.
"""

from __future__ import annotations

import datetime as dt
import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import pandas as pd
from scipy.signal import lfilter
from scipy.stats import norm

__all__ = [
    "FORECAST_COLUMNS",
    "BacktestResult",
    "ForecastConfig",
    "ForecastContext",
    "LaunchPrior",
    "SeriesForecast",
    "forecast_group",
    "forecast_series",
    "launch_priors",
    "mase",
    "smape",
    "weekly_profile",
]

#: Columns of the frame `forecast_group` returns (one row per target day).
FORECAST_COLUMNS: tuple[str, ...] = (
    "title_id",
    "region",
    "target_date",
    "forecast_hours",
    "lower_hours",
    "upper_hours",
    "model",
    "backtest_mase",
    "backtest_smape",
    "backtest_abs_error",
    "backtest_snaive_abs_error",
    "backtest_actual_hours",
    "backtest_days",
)
_FLAT = np.ones(7)


@dataclass(frozen=True)
class ForecastConfig:
    """Knobs of the forecaster, validated on construction."""

    horizon_days: int = 14
    history_days: int = 56
    backtest_days: int = 7
    interval: float = 0.8
    launch_days: int = 28
    ets_min_mean_hours: float = 1.0
    ses_alpha: float = 0.1
    prior_min_launches: int = 3
    launch_shrinkage: float = 0.5

    def __post_init__(self) -> None:
        if not 1 <= self.horizon_days <= 60:
            raise ValueError(f"horizon_days must be in [1, 60], got {self.horizon_days}")
        if self.history_days < 1:
            raise ValueError(f"history_days must be >= 1, got {self.history_days}")
        if not 1 <= self.backtest_days <= 28:
            raise ValueError(f"backtest_days must be in [1, 28], got {self.backtest_days}")
        if not 0 < self.interval < 1:
            raise ValueError(f"interval must be a coverage in (0, 1), e.g. 0.8; got {self.interval}")
        if not 0 < self.ses_alpha <= 1:
            raise ValueError(f"ses_alpha must be in (0, 1], got {self.ses_alpha}")
        if self.launch_days < 1 or self.prior_min_launches < 1 or self.launch_shrinkage < 0:
            raise ValueError("launch_days and prior_min_launches must be >= 1, launch_shrinkage >= 0")

    @property
    def prior_length(self) -> int:
        """Days since release a launch prior covers: the launch window plus the horizon."""
        return self.launch_days + self.horizon_days


@dataclass(frozen=True)
class LaunchPrior:
    """Mean deseasonalized watch hours by day since release over past launches, with their spread.

    `low`/`high` multiply the curve to give the interval: the (1 ∓ interval)/2 quantiles of the
    past launches' own scale against the curve.
    """

    curve: np.ndarray
    low: float
    high: float
    launches: int

    def value(self, day: int) -> float:
        """Deseasonalized hours on `day` since release (0 = release day); the last value beyond."""
        if day < 0:
            return 0.0
        return float(self.curve[min(day, len(self.curve) - 1)])


@dataclass(frozen=True)
class ForecastContext:
    """What every series needs from the others: profiles by region, priors, releases, dates."""

    run_date: dt.date
    history_start: dt.date
    profiles: Mapping[str, np.ndarray] = field(default_factory=dict)
    priors: Mapping[tuple[str, str | None], LaunchPrior] = field(default_factory=dict)
    releases: Mapping[str, tuple[dt.date, str]] = field(default_factory=dict)
    config: ForecastConfig = field(default_factory=ForecastConfig)

    def profile(self, region: str) -> np.ndarray:
        return self.profiles.get(region, _FLAT)

    def prior(self, region: str, kind: str | None) -> LaunchPrior | None:
        return self.priors.get((region, kind)) or self.priors.get((region, None))


@dataclass(frozen=True)
class BacktestResult:
    """Errors of the model and of seasonal naive on the held-out days of one series."""

    mase: float | None
    smape: float
    abs_error: float
    snaive_abs_error: float
    actual: float
    days: int


@dataclass(frozen=True)
class SeriesForecast:
    """Forecast of one series: target dates, mean and interval (hours), model, backtest."""

    dates: list[dt.date]
    mean: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    model: str
    backtest: BacktestResult | None


# ----------------------------------------------------------------------------- accuracy


def mase(actual: np.ndarray, forecast: np.ndarray, train: np.ndarray, season: int = 7) -> float | None:
    """Mean absolute scaled error: MAE ÷ in-sample MAE of the seasonal naive on `train`."""
    train = np.asarray(train, dtype=np.float64)
    if len(train) <= season:
        return None
    scale = float(np.mean(np.abs(train[season:] - train[:-season])))
    if scale == 0:
        return None
    return float(np.mean(np.abs(np.asarray(actual) - np.asarray(forecast)))) / scale


def smape(actual: np.ndarray, forecast: np.ndarray) -> float:
    """Symmetric MAPE in percent (0–200); a day with forecast = actual = 0 counts 0."""
    a = np.asarray(actual, dtype=np.float64)
    f = np.asarray(forecast, dtype=np.float64)
    denom = np.abs(a) + np.abs(f)
    terms = np.divide(2 * np.abs(f - a), denom, out=np.zeros_like(denom), where=denom > 0)
    return float(100 * terms.mean())


# ----------------------------------------------------------------------------- shared parts


def weekly_profile(daily_totals: pd.Series) -> np.ndarray:
    """Weekday factors (Monday first, mean 1) of a region's daily totals (index: dates).

    Multiplicative decomposition with period 7; flat (all 1) with fewer than two full weeks or
    any day without demand.
    """
    from statsmodels.tsa.seasonal import seasonal_decompose

    series = daily_totals.sort_index().astype(np.float64)
    if len(series) < 14 or (series <= 0).any():
        return _FLAT.copy()
    index = pd.DatetimeIndex(pd.to_datetime(series.index))
    full = pd.Series(series.to_numpy(), index=index).asfreq("D")
    if full.isna().any():
        return _FLAT.copy()
    seasonal = seasonal_decompose(full, model="multiplicative", period=7).seasonal
    factors = seasonal.groupby(seasonal.index.day_of_week).mean().reindex(range(7)).to_numpy()
    return factors / factors.mean()


def launch_priors(
    history: pd.DataFrame,
    releases: Mapping[str, tuple[dt.date, str]],
    profiles: Mapping[str, np.ndarray],
    run_date: dt.date,
    history_start: dt.date,
    config: ForecastConfig | None = None,
) -> dict[tuple[str, str | None], LaunchPrior]:
    """Launch-curve priors per (region, kind) and (region, None) from launches seen in `history`.

    `history` has title_id, region, date, hours (days without plays may be absent). A launch counts
    when its release day lies inside [history_start, run_date]; its curve is its deseasonalized
    hours on each day since release up to run_date.
    """
    config = config or ForecastConfig()
    length = config.prior_length
    curves: dict[tuple[str, str | None], list[np.ndarray]] = {}
    launched = {t: (day, kind) for t, (day, kind) in releases.items() if history_start <= day <= run_date}
    if not launched or history.empty:
        return {}
    sub = history[history["title_id"].isin(list(launched))]
    regions = sorted(set(history["region"]))
    by_key = {key: g for key, g in sub.groupby(["title_id", "region"], sort=False)}
    for title, (day, kind) in launched.items():
        observed = min((run_date - day).days + 1, length)
        dates = [day + dt.timedelta(days=k) for k in range(observed)]
        weekdays = np.array([d.weekday() for d in dates])
        for region in regions:
            y = np.zeros(observed)
            group = by_key.get((title, region))
            if group is not None:
                offsets = (pd.to_datetime(group["date"]) - pd.Timestamp(day)).dt.days.to_numpy()
                keep = (offsets >= 0) & (offsets < observed)
                np.add.at(y, offsets[keep], group["hours"].to_numpy(dtype=np.float64)[keep])
            z = y / profiles.get(region, _FLAT)[weekdays]
            curves.setdefault((region, kind), []).append(z)
            curves.setdefault((region, None), []).append(z)
    priors = {}
    for key, members in curves.items():
        if key[1] is not None and len(members) < config.prior_min_launches:
            continue
        priors[key] = _prior_from(members, length, config.interval)
    return priors


def _prior_from(curves: list[np.ndarray], length: int, interval: float) -> LaunchPrior:
    sums = np.zeros(length)
    counts = np.zeros(length)
    for z in curves:
        sums[: len(z)] += z
        counts[: len(z)] += 1
    seen = counts > 0
    curve = np.zeros(length)
    curve[seen] = sums[seen] / counts[seen]
    last = np.flatnonzero(seen).max()
    curve[last + 1 :] = curve[last]  # no launch observed that long: hold the last level
    scales = []
    for z in curves:
        base = curve[: len(z)].sum()
        if base > 0:
            scales.append(z.sum() / base)
    tail = (1 - interval) / 2
    low, high = np.quantile(scales, [tail, 1 - tail]) if scales else (0.0, 2.0)
    return LaunchPrior(curve, float(min(low, 1.0)), float(max(high, 1.0)), len(curves))


# ----------------------------------------------------------------------------- one series


def forecast_series(
    dates: np.ndarray,
    hours: np.ndarray,
    region: str,
    context: ForecastContext,
    release: tuple[dt.date, str] | None = None,
) -> SeriesForecast:
    """Forecast one series from its daily hours (`dates` any days ≤ run_date; absent days are 0)."""
    config = context.config
    run_date = context.run_date
    start = context.history_start
    if release is not None and release[0] > start:
        start = release[0]
    n = (run_date - start).days + 1
    y = np.zeros(max(n, 0))
    if n > 0 and len(dates):
        offsets = (_as_days(dates) - np.datetime64(start, "D")).astype(np.int64)
        keep = (offsets >= 0) & (offsets < n)
        np.add.at(y, offsets[keep], np.asarray(hours, dtype=np.float64)[keep])
    profile = context.profile(region)
    targets = [run_date + dt.timedelta(days=h) for h in range(1, config.horizon_days + 1)]
    target_season = profile[[d.weekday() for d in targets]]
    history_season = profile[(start.weekday() + np.arange(len(y))) % 7]
    z = y / history_season if len(y) else y

    prior = context.prior(region, release[1]) if release is not None else None
    if release is not None and prior is not None and (run_date - release[0]).days + 1 < config.launch_days:
        mean, lower, upper = _launch(z, release[0], targets, run_date, prior, config)
        backtest = None
        b = config.backtest_days
        if len(y) >= b + 7:
            cut = run_date - dt.timedelta(days=b)
            held_out = [cut + dt.timedelta(days=h) for h in range(1, b + 1)]
            bt_mean, _, _ = _launch(z[:-b], release[0], held_out, cut, prior, config)
            backtest = _backtest(y, np.maximum(bt_mean * history_season[-b:], 0.0), b)
        mean, lower, upper = (v * target_season for v in (mean, lower, upper))
        return SeriesForecast(targets, mean, lower, upper, "launch_prior", backtest)

    model = "ets" if len(y) >= config.backtest_days + 14 and y.mean() >= config.ets_min_mean_hours else "ses"
    backtest = None
    params = None
    if len(y) >= config.backtest_days + 7:
        b = config.backtest_days
        fitted_model, bt_mean, params = _fit_forecast(model, z[:-b], b, config, None)
        model = fitted_model
        backtest = _backtest(y, np.maximum(bt_mean * history_season[-b:], 0.0), b)
    if len(y) == 0:
        zeros = np.zeros(len(targets))
        return SeriesForecast(targets, zeros, zeros, zeros, "ses", None)
    model, mean, lower, upper = _fit_forecast_interval(model, z, len(targets), config, params)
    return SeriesForecast(
        targets,
        np.maximum(mean * target_season, 0.0),
        np.maximum(lower * target_season, 0.0),
        np.maximum(upper * target_season, 0.0),
        model,
        backtest,
    )


def _backtest(y: np.ndarray, forecast: np.ndarray, b: int) -> BacktestResult:
    """Errors of `forecast` for the last `b` days of `y`, and of the seasonal naive from the days before."""
    actual = y[-b:]
    train = y[:-b]
    snaive = np.array([train[len(train) - 7 + (h % 7)] for h in range(b)])
    return BacktestResult(
        mase=mase(actual, forecast, train),
        smape=smape(actual, forecast),
        abs_error=float(np.abs(actual - forecast).sum()),
        snaive_abs_error=float(np.abs(actual - snaive).sum()),
        actual=float(actual.sum()),
        days=b,
    )


def _launch(
    z: np.ndarray,
    release_day: dt.date,
    targets: list[dt.date],
    run_date: dt.date,
    prior: LaunchPrior,
    config: ForecastConfig,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    observed = max((run_date - release_day).days + 1, 0)
    obs = z[-observed:] if observed else z[:0]
    expected = np.array([prior.value(k) for k in range(observed)])
    scale, low, high = 1.0, prior.low, prior.high
    if observed and expected.sum() > 0:
        weight = config.launch_shrinkage / observed
        scale = (obs.sum() + weight * expected.sum()) / ((1 + weight) * expected.sum())
        # Evidence narrows the launch's spread around its own (scaled) curve.
        shrink = weight / (1 + weight)
        low, high = 1 - (1 - low) * shrink, 1 + (high - 1) * shrink
    days = np.array([(t - release_day).days for t in targets])
    curve = np.array([prior.value(int(d)) for d in days])
    mean = curve * scale
    return mean, mean * low, mean * high


def _fit_forecast(
    model: str, z: np.ndarray, steps: int, config: ForecastConfig, params: np.ndarray | None
) -> tuple[str, np.ndarray, np.ndarray | None]:
    """(model actually used, point forecast of the next `steps` days, fitted ETS parameters)."""
    if model in ("ets", "ets_log"):
        try:
            result = _ets(z, params)
            mean = np.asarray(result.forecast(steps), dtype=np.float64)
            if model == "ets" and (mean >= 0).all():
                return "ets", mean, np.asarray(result.params)
            # The additive trend crosses zero (a steep decay): the same model on log(1 + z).
            result = _ets(np.log1p(z), params if model == "ets_log" else None)
            mean = np.expm1(np.asarray(result.forecast(steps), dtype=np.float64))
            return "ets_log", mean, np.asarray(result.params)
        except (ValueError, np.linalg.LinAlgError, FloatingPointError):
            pass
    mean, _ = _ses(z, steps, config.ses_alpha)
    return "ses", mean, None


def _fit_forecast_interval(
    model: str, z: np.ndarray, steps: int, config: ForecastConfig, params: np.ndarray | None
) -> tuple[str, np.ndarray, np.ndarray, np.ndarray]:
    quantile = _normal_quantile(0.5 + config.interval / 2)
    if model in ("ets", "ets_log"):
        try:
            logs = model == "ets_log"
            result = _ets(np.log1p(z) if logs else z, params)
            frame = result.get_prediction(start=len(z), end=len(z) + steps - 1).summary_frame(
                alpha=1 - config.interval
            )
            back = np.expm1 if logs else np.asarray
            mean = back(frame["mean"].to_numpy(dtype=np.float64))
            lower = back(frame["pi_lower"].to_numpy(dtype=np.float64))
            upper = back(frame["pi_upper"].to_numpy(dtype=np.float64))
            if not logs and (mean < 0).any():
                return _fit_forecast_interval("ets_log", z, steps, config, None)
            if np.isfinite(mean).all() and np.isfinite(lower).all() and np.isfinite(upper).all():
                return model, mean, lower, upper
        except (ValueError, np.linalg.LinAlgError, FloatingPointError):
            pass
    mean, sigma = _ses(z, steps, config.ses_alpha)
    spread = quantile * sigma * np.sqrt(1 + np.arange(steps) * config.ses_alpha**2)
    return "ses", mean, mean - spread, mean + spread


@lru_cache(maxsize=8)
def _normal_quantile(p: float) -> float:
    return float(norm.ppf(p))


def _ets(z: np.ndarray, params: np.ndarray | None):  # noqa: ANN202 - statsmodels results object
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    index = pd.date_range("2000-01-03", periods=len(z), freq="D")
    model = ETSModel(pd.Series(z, index=index), error="add", trend="add", damped_trend=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if params is not None:
            return model.smooth(params)
        return model.fit(disp=False, maxiter=200)


def _ses(z: np.ndarray, steps: int, alpha: float) -> tuple[np.ndarray, float]:
    """SES point forecast (flat) and the standard deviation of its one-step errors.

    The smoothing recursion sₜ = α zₜ + (1 − α) sₜ₋₁, s₀ = z₀, is a first-order IIR filter
    (SciPy's `lfilter`), the same values as pandas' `ewm(alpha, adjust=False).mean()`.
    """
    if len(z) == 0:
        return np.zeros(steps), 0.0
    smoothed, _ = lfilter([alpha], [1.0, alpha - 1.0], z, zi=[(1.0 - alpha) * z[0]])
    errors = z[1:] - smoothed[:-1]
    sigma = float(np.std(errors)) if len(errors) > 1 else float(abs(z[0])) if len(z) else 0.0
    return np.full(steps, smoothed[-1] if len(smoothed) else 0.0), sigma


# ----------------------------------------------------------------------------- grouped UDF body


def forecast_group(frame: pd.DataFrame, context: ForecastContext) -> pd.DataFrame:
    """Forecast rows (`FORECAST_COLUMNS`) for every (title_id, region) in `frame`.

    `frame` has title_id, region, date, hours; it may hold one series (a grouped-UDF call) or many.
    A series whose rows are all null-hours (a release with no plays yet) forecasts from its prior.
    """
    columns: dict[str, list] = {c: [] for c in FORECAST_COLUMNS}
    if len(frame):
        frame = frame.assign(_day=_as_days(frame["date"].to_numpy()))
    for (title, region), group in frame.groupby(["title_id", "region"], sort=True):
        rows = group[group["hours"].notna()]
        release = context.releases.get(str(title))
        result = forecast_series(
            rows["_day"].to_numpy(), rows["hours"].to_numpy(dtype=np.float64), str(region), context, release
        )
        _append(columns, str(title), str(region), result)
    out = pd.DataFrame(columns, columns=list(FORECAST_COLUMNS))
    for name in FORECAST_COLUMNS[3:6] + FORECAST_COLUMNS[7:12]:
        out[name] = out[name].astype(np.float64)
    out["backtest_days"] = out["backtest_days"].astype(np.int64)
    return out


def _as_days(dates: np.ndarray) -> np.ndarray:
    """Dates (datetime.date objects, datetime64 or Timestamps) as datetime64[D]; null as NaT."""
    values = np.asarray(dates)
    if values.dtype.kind == "M":
        return values.astype("datetime64[D]")
    return np.array(
        [np.datetime64("NaT") if v is None else np.datetime64(v, "D") for v in values], "datetime64[D]"
    )


def _append(columns: dict[str, list], title: str, region: str, result: SeriesForecast) -> None:
    bt = result.backtest
    n = len(result.dates)

    def repeat(name: str, value: object) -> None:
        columns[name].extend([value] * n)

    repeat("title_id", title)
    repeat("region", region)
    columns["target_date"].extend(result.dates)
    columns["forecast_hours"].extend(result.mean.tolist())
    columns["lower_hours"].extend(np.minimum(result.lower, result.mean).tolist())
    columns["upper_hours"].extend(np.maximum(result.upper, result.mean).tolist())
    repeat("model", result.model)
    nan = math.nan
    repeat("backtest_mase", nan if bt is None or bt.mase is None else bt.mase)
    repeat("backtest_smape", nan if bt is None else bt.smape)
    repeat("backtest_abs_error", nan if bt is None else bt.abs_error)
    repeat("backtest_snaive_abs_error", nan if bt is None else bt.snaive_abs_error)
    repeat("backtest_actual_hours", nan if bt is None else bt.actual)
    repeat("backtest_days", bt.days if bt else 0)
