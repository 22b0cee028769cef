"""The forecaster on synthetic series with known weekly seasonality, launches and decay."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from batch.forecast import (
    FORECAST_COLUMNS,
    ForecastConfig,
    ForecastContext,
    forecast_group,
    forecast_series,
    launch_priors,
    mase,
    smape,
    weekly_profile,
)

START = dt.date(2025, 1, 6)  # a Monday
RUN = START + dt.timedelta(days=41)  # six weeks of history
WEEK = np.array([0.85, 0.85, 0.9, 0.95, 1.1, 1.2, 1.15])
WEEK = WEEK / WEEK.mean()


def _days(first: dt.date, last: dt.date) -> list[dt.date]:
    return [first + dt.timedelta(days=k) for k in range((last - first).days + 1)]


def _season(days: list[dt.date]) -> np.ndarray:
    return WEEK[[d.weekday() for d in days]]


def _context(**kwargs) -> ForecastContext:
    return ForecastContext(run_date=RUN, history_start=START, profiles={"r": WEEK}, **kwargs)


def test_accuracy_measures_pinned() -> None:
    train = np.array([1, 2, 3, 4, 5, 6, 7, 2, 2, 3, 4, 5, 6, 8], dtype=float)  # seasonal diffs: 1,0,0,0,0,0,1
    assert mase([10, 10], [9, 12], train) == pytest.approx(1.5 / (2 / 7))
    assert mase([1], [1], np.ones(14)) is None  # no seasonal-naive error to scale by
    assert smape([100, 0, 50], [110, 0, 0]) == pytest.approx(100 / 3 * (20 / 210 + 0 + 2))


def test_weekly_profile_recovers_the_weekday_factors() -> None:
    days = _days(START, RUN)
    rng = np.random.default_rng(3)
    totals = pd.Series(1000 * _season(days) * rng.normal(1, 0.01, len(days)), index=days)
    profile = weekly_profile(totals)
    np.testing.assert_allclose(profile, WEEK, rtol=0.02)
    assert profile.mean() == pytest.approx(1.0)
    assert (weekly_profile(totals.iloc[:10]) == 1).all()  # under two weeks: flat


def test_stable_seasonal_series_is_forecast_by_ets_and_beats_seasonal_naive() -> None:
    days = _days(START, RUN)
    rng = np.random.default_rng(5)
    hours = 40 * _season(days) * rng.normal(1, 0.08, len(days))
    result = forecast_series(np.array(days), hours, "r", _context())
    assert result.model == "ets"
    assert result.dates == _days(RUN + dt.timedelta(days=1), RUN + dt.timedelta(days=14))
    truth = 40 * _season(result.dates)
    np.testing.assert_allclose(result.mean, truth, rtol=0.1)
    assert (result.lower <= result.mean).all() and (result.mean <= result.upper).all()
    assert np.mean((result.lower <= truth) & (truth <= result.upper)) >= 0.8
    assert result.backtest is not None and result.backtest.mase is not None
    assert result.backtest.mase < 1
    assert result.backtest.abs_error < result.backtest.snaive_abs_error


def test_decaying_launch_follows_the_decay() -> None:
    release = RUN - dt.timedelta(days=20)
    days = _days(release, RUN)
    k = np.arange(len(days))
    level = 10 + 90 * np.exp(-k / 6)
    rng = np.random.default_rng(8)
    hours = level * _season(days) * rng.normal(1, 0.03, len(days))
    result = forecast_series(np.array(days), hours, "r", _context(), (release, "movie"))
    assert result.model == "ets"
    ahead = np.arange(21, 35)
    truth = (10 + 90 * np.exp(-ahead / 6)) * _season(result.dates)
    naive_last = level[-1] * _season(result.dates)
    assert np.abs(result.mean - truth).mean() < np.abs(naive_last - truth).mean()
    np.testing.assert_allclose(result.mean, truth, rtol=0.3)


def _launch_history(amplitudes: list[float], kinds: list[str]) -> tuple[pd.DataFrame, dict]:
    rows = []
    releases = {}
    for i, (amp, kind) in enumerate(zip(amplitudes, kinds, strict=True)):
        release = START + dt.timedelta(days=3 + 4 * i)
        releases[f"t{i}"] = (release, kind)
        for d in _days(release, RUN):
            k = (d - release).days
            rows.append(("t" + str(i), "r", d, amp * (1 + 5 * np.exp(-k / 5)) * WEEK[d.weekday()]))
    frame = pd.DataFrame(rows, columns=["title_id", "region", "date", "hours"])
    return frame, releases


def test_launch_prior_is_the_mean_curve_of_past_launches_and_cold_starts_a_release() -> None:
    amps = [8.0, 10.0, 12.0, 10.0, 9.0, 11.0]
    history, releases = _launch_history(amps, ["movie"] * 6)
    config = ForecastConfig()
    priors = launch_priors(history, releases, {"r": WEEK}, RUN, START, config)
    prior = priors[("r", "movie")]
    assert prior.launches == 6
    shape = 1 + 5 * np.exp(-np.arange(config.prior_length) / 5)
    # Day d of the curve: the mean of the launches out for more than d days (launch i has been out
    # 39 − 4i days), every launch on the first 19; beyond the oldest launch, its last level held.
    out_for = np.array([(RUN - (START + dt.timedelta(days=3 + 4 * i))).days + 1 for i in range(6)])
    last = out_for.max() - 1
    expected = np.array(
        [np.mean(np.array(amps)[out_for > min(d, last)]) * shape[min(d, last)] for d in range(len(shape))]
    )
    np.testing.assert_allclose(prior.curve[:19], 10.0 * shape[:19], rtol=0.01)
    np.testing.assert_allclose(prior.curve, expected, rtol=0.01)
    assert prior.low < 1 < prior.high

    # A title due tomorrow: no history, forecast from the prior, zero before its release day.
    tomorrow = RUN + dt.timedelta(days=1)
    releases["new"] = (tomorrow, "movie")
    context = _context(priors=priors, releases=releases)
    result = forecast_series(np.array([], dtype=object), np.array([]), "r", context, releases["new"])
    assert result.model == "launch_prior"
    assert result.mean[0] == pytest.approx(60.0 * WEEK[tomorrow.weekday()], rel=0.01)
    assert result.mean[0] > result.mean[7]  # decays
    assert result.lower[0] < result.mean[0] < result.upper[0]

    # A release two days old that is doing twice as well as the average launch is scaled up.
    release = RUN - dt.timedelta(days=1)
    days = _days(release, RUN)
    hours = 20.0 * (1 + 5 * np.exp(-np.arange(2) / 5)) * _season(days)
    hot = forecast_series(np.array(days), hours, "r", context, (release, "movie"))
    assert hot.model == "launch_prior"
    truth = 20.0 * (1 + 5 * np.exp(-np.arange(2, 16) / 5)) * _season(hot.dates)
    prior_only = 10.0 * (1 + 5 * np.exp(-np.arange(2, 16) / 5)) * _season(hot.dates)
    assert np.abs(hot.mean - truth).sum() < np.abs(prior_only - truth).sum()
    assert hot.mean[0] > prior_only[0] * 1.5


def test_a_launch_weeks_old_follows_the_launch_curve_at_its_own_level() -> None:
    history, releases = _launch_history([8.0, 10.0, 12.0, 10.0, 9.0, 11.0], ["movie"] * 6)
    config = ForecastConfig(launch_days=28)
    priors = launch_priors(history, releases, {"r": WEEK}, RUN, START, config)
    release = RUN - dt.timedelta(days=19)  # 20 days out, 2.5 times the average launch
    days = _days(release, RUN)
    rng = np.random.default_rng(2)
    hours = (
        25.0 * (1 + 5 * np.exp(-np.arange(len(days)) / 5)) * _season(days) * rng.normal(1, 0.05, len(days))
    )
    context = _context(priors=priors, releases=releases, config=config)
    result = forecast_series(np.array(days), hours, "r", context, (release, "movie"))
    assert result.model == "launch_prior"
    truth = 25.0 * (1 + 5 * np.exp(-np.arange(20, 34) / 5)) * _season(result.dates)
    np.testing.assert_allclose(result.mean, truth, rtol=0.15)
    # Backtested like every other series: the last week forecast from the weeks before it.
    assert result.backtest is not None and result.backtest.mase is not None
    assert result.backtest.mase < 1
    assert result.backtest.abs_error < result.backtest.snaive_abs_error


def test_sparse_series_use_smoothing_and_stay_non_negative() -> None:
    days = _days(START, RUN)
    rng = np.random.default_rng(1)
    hours = rng.poisson(0.3, len(days)).astype(float)
    result = forecast_series(np.array(days), hours, "r", _context())
    assert result.model == "ses"
    assert (result.lower >= 0).all() and (result.mean >= 0).all()
    level = result.mean / _season(result.dates)
    np.testing.assert_allclose(level, level[0])  # flat level, re-seasonalized
    assert level[0] == pytest.approx(hours.mean(), abs=0.2)
    assert result.backtest is not None


def test_forecast_group_returns_rows_per_series_and_day() -> None:
    days = _days(START, RUN)
    frame = pd.DataFrame(
        {
            "title_id": ["a"] * len(days) + ["b"] * 3,
            "region": ["r"] * (len(days) + 3),
            "date": days + days[-3:],
            "hours": np.r_[np.full(len(days), 5.0), [1.0, 0.0, 2.0]],
        }
    )
    out = forecast_group(frame, _context())
    assert list(out.columns) == list(FORECAST_COLUMNS)
    assert len(out) == 2 * 14
    assert set(out["title_id"]) == {"a", "b"}
    assert out["forecast_hours"].ge(0).all()
