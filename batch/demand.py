"""The `demand_forecast` nightly job: daily watch hours per title × region → forecasts in Spark.

For run date D the job reads `history_days` (56) days of `sessions` up to and including D (published
days, plus D from this run's staged output), sums playing time (watch time, as engagement_daily
counts it) to hours per title × region × session date in Spark, and forecasts each series for D+1 …
D+14 with `batch.forecast` inside a grouped pandas UDF (`groupBy(title_id).applyInPandas`: one call
per title, with its series in every region), so the work spreads over the executors with the number
of titles. What every series shares is computed first from small aggregates on the driver and
shipped with the UDF: the weekly profile of each region (from the region's daily totals) and the
launch-curve priors (from the titles launched inside the history, per the catalogue's release
calendar). Titles due for release inside the horizon get a series of their own in every region with
no history, which the launch prior forecasts (cold start).

Without a published catalogue (`batch.catalogue`) the job still forecasts every series, with no
launch priors and no releases ahead, and says so in its facts (`catalogue`).

Facts for the suite: `series` (title × region series forecast) and `horizon_days`, so the row
count is checked to be exactly series × horizon.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from functools import partial

import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from batch import catalogue as catalogue_mod
from batch.forecast import ForecastConfig, ForecastContext, forecast_group, launch_priors, weekly_profile
from batch.jobs import Job, JobContext, JobOutput, day_start_ms
from warehouse.quality import demand_forecast as demand_quality
from warehouse.tables import DEMAND_FORECAST, SESSIONS, Table

__all__ = ["DEMAND_FORECAST_JOB", "build_demand_forecast", "daily_demand", "demand_job", "recent_rows"]

_MS_PER_HOUR = 3_600_000.0
#: What `daily_demand` reads of `sessions`.
_DEMAND_COLUMNS = ("session_date", "title_id", "region", "playing_ms")
_SERIES_SCHEMA = T.StructType(
    [
        T.StructField("title_id", T.StringType()),
        T.StructField("region", T.StringType()),
        T.StructField("date", T.DateType()),
        T.StructField("hours", T.DoubleType()),
    ]
)
_UDF_SCHEMA = T.StructType(
    [
        T.StructField("title_id", T.StringType()),
        T.StructField("region", T.StringType()),
        T.StructField("target_date", T.DateType()),
        T.StructField("forecast_hours", T.DoubleType()),
        T.StructField("lower_hours", T.DoubleType()),
        T.StructField("upper_hours", T.DoubleType()),
        T.StructField("model", T.StringType()),
        T.StructField("backtest_mase", T.DoubleType()),
        T.StructField("backtest_smape", T.DoubleType()),
        T.StructField("backtest_abs_error", T.DoubleType()),
        T.StructField("backtest_snaive_abs_error", T.DoubleType()),
        T.StructField("backtest_actual_hours", T.DoubleType()),
        T.StructField("backtest_days", T.LongType()),
    ]
)


def recent_rows(
    ctx: JobContext, table: Table, job_name: str, first: dt.date, columns: Sequence[str] | None = None
) -> DataFrame:
    """Rows of `table` for [first, run date]: published days, and the run date from this run's output.

    When the job that builds `table` is not part of this run, the run date is read as published too.
    `columns` limits what is read (published rows cross from the warehouse to Spark as Arrow, so
    weeks of sessions cost what their columns weigh); all columns when None.
    """
    day = ctx.run_date
    try:
        today = ctx.output(job_name)
        if columns is not None:
            today = today.select(*columns)
    except LookupError:
        today = ctx.published(table, day, day, columns)
    if first >= day:
        return today
    return ctx.published(table, first, day - dt.timedelta(days=1), columns).unionByName(today)


def daily_demand(sessions: DataFrame) -> DataFrame:
    """Watch hours per title_id × region × date (the sessions' session_date)."""
    return sessions.groupBy("title_id", "region", F.col("session_date").alias("date")).agg(
        (F.sum("playing_ms") / F.lit(_MS_PER_HOUR)).alias("hours")
    )


def build_demand_forecast(ctx: JobContext, config: ForecastConfig | None = None) -> JobOutput:
    """Forecast rows of `demand_forecast` for the run date (see the module docstring)."""
    config = config or ForecastConfig()
    day = ctx.run_date
    first = day - dt.timedelta(days=config.history_days - 1)
    spark = ctx.spark
    daily = daily_demand(recent_rows(ctx, SESSIONS, "sessions", first, _DEMAND_COLUMNS)).cache()

    totals = daily.groupBy("region", "date").agg(F.sum("hours").alias("hours")).toPandas()
    profiles = {
        str(region): weekly_profile(group.set_index("date")["hours"])
        for region, group in totals.groupby("region")
    }
    try:
        catalogue = catalogue_mod.load(catalogue_mod.catalogue_dir(ctx.settings.data_dir))
    except FileNotFoundError:
        catalogue = None  # no release calendar: no launch priors and no cold starts (see facts)
    releases = (
        _releases(catalogue, first, day + dt.timedelta(days=config.horizon_days))
        if catalogue is not None
        else {}
    )
    launched = [t for t, (d, _) in releases.items() if d <= day]
    launch_rows = (
        daily.filter(F.col("title_id").isin(launched)).toPandas()
        if launched
        else pd.DataFrame({"title_id": [], "region": [], "date": [], "hours": []})
    )
    priors = launch_priors(launch_rows, releases, profiles, day, first, config)
    context = ForecastContext(day, first, profiles, priors, releases, config)

    regions = sorted(profiles)
    upcoming = [(t, r) for t, (d, _) in releases.items() if d > day for r in regions]
    series = daily.select("title_id", "region").distinct().count() + len(upcoming)
    if upcoming:
        skeleton = spark.createDataFrame([(t, r, None, None) for t, r in upcoming], schema=_SERIES_SCHEMA)
        daily = daily.unionByName(skeleton)
    # One UDF call per title (its series in every region): a call per series costs more in Spark's
    # per-group overhead than the forecast itself for the thousands of sparse series.
    forecasts = daily.groupBy("title_id").applyInPandas(_forecaster(context), schema=_UDF_SCHEMA)
    per_day = F.col("backtest_days").cast("double")
    rows = forecasts.select(
        F.lit(day).cast("date").alias("run_date"),
        "title_id",
        "region",
        "target_date",
        "forecast_hours",
        "lower_hours",
        "upper_hours",
        "model",
        "backtest_mase",
        "backtest_smape",
        F.when(per_day > 0, F.col("backtest_abs_error") / per_day).alias("backtest_mae_hours"),
        F.when(per_day > 0, F.col("backtest_snaive_abs_error") / per_day).alias("backtest_snaive_mae_hours"),
    )
    facts = {
        "series": int(series),
        "horizon_days": config.horizon_days,
        "launch_priors": sum(1 for key in priors if key[1] is None),
        "releases_ahead": len({t for t, _ in upcoming}),
    }
    if catalogue is None:
        facts["catalogue"] = "missing: no release calendar (publish one, e.g. playpulse simulate --to lake)"
    return JobOutput(rows, facts)


def _forecaster(context: ForecastContext) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def forecast(frame: pd.DataFrame) -> pd.DataFrame:
        return forecast_group(frame, context)

    return forecast


def _releases(
    catalogue: catalogue_mod.Catalogue, first: dt.date, last: dt.date
) -> dict[str, tuple[dt.date, str]]:
    start_ms = day_start_ms(first)
    end_ms = day_start_ms(last + dt.timedelta(days=1))
    titles = catalogue.releases_between(start_ms, end_ms)
    days = pd.to_datetime(titles["release_ms"], unit="ms", utc=True).dt.date
    return {str(t): (d, str(k)) for t, d, k in zip(titles["title_id"], days, titles["kind"], strict=True)}


def demand_job(config: ForecastConfig | None = None) -> Job:
    """The demand_forecast job with these forecaster settings."""
    return Job(
        "demand_forecast",
        DEMAND_FORECAST,
        partial(build_demand_forecast, config=config),
        demand_quality.expectations,
    )


DEMAND_FORECAST_JOB = demand_job()
