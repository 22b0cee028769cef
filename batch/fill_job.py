"""The `oca_fill_plan` nightly job: tonight's fill plan of every edge appliance, in Spark.

For run date D (the plan is filled the night after D and serves D+1):

1. the forecast for D+1 comes from this run's `demand_forecast` output (or the published one);
2. the appliances' recent traffic — bytes and watch hours per appliance × title over the last
   `share_days` days of `sessions`, and all viewing per region × title — is aggregated in Spark;
3. `batch.appliance_demand` turns the regional forecast into predicted bytes per appliance × title;
4. what each appliance holds now is the previous night's plan (hold + fill rows of D−1). An
   appliance without a plan the night before is being commissioned: it starts empty and gets its
   initial load (budget = its disk, as appliances are loaded before they enter service); the fill
   window's budget binds from its second night (`FillOptions.initial_load=False` applies the
   budget on the first night too);
5. every title out by D+1 is a candidate on every appliance (those without predicted demand there
   only for spare disk, ordered by their watch hours in all regions);
6. each appliance is planned by `batch.fill_plan.plan_fill` in a grouped pandas UDF
   (`groupBy(oca_id).applyInPandas`), with its disk and fill budget from the catalogue; releases due
   on D+1 are pre-positioned. Each task checks its plan against the appliance's limits and fails the
   run if one is exceeded (a bug, never bad data).

Without a published catalogue (`batch.catalogue`) there are no appliances to plan: the job writes
no rows and its facts say why.

`FillOptions.disk_scale` multiplies every appliance's disk and fill rate (1 in production; the
benchmark uses less so the simulated catalogue does not fit everywhere).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np
import pandas as pd
from pyspark.sql import functions as F
from pyspark.sql import types as T

from batch import catalogue as catalogue_mod
from batch.appliance_demand import NEW_RELEASE_DAYS, appliance_demand
from batch.demand import recent_rows
from batch.fill_plan import plan_fill
from batch.jobs import Job, JobContext, JobOutput, day_start_ms
from warehouse.quality import oca_fill_plan as fill_quality
from warehouse.tables import DEMAND_FORECAST, OCA_FILL_PLAN, SESSIONS

__all__ = [
    "OCA_FILL_PLAN_JOB",
    "FillOptions",
    "build_fill_plan",
    "fill_job",
    "plan_appliances",
    "plan_candidates",
    "release_dates",
]

_MS_PER_HOUR = 3_600_000.0
#: What the job reads of `sessions`.
_TRAFFIC_COLUMNS = ("title_id", "region", "oca_id", "playing_ms", "avg_bitrate_kbps")
_PLAN_SCHEMA = T.StructType(
    [
        T.StructField("oca_id", T.StringType()),
        T.StructField("title_id", T.StringType()),
        T.StructField("region", T.StringType()),
        T.StructField("action", T.StringType()),
        T.StructField("size_bytes", T.LongType()),
        T.StructField("predicted_demand_bytes", T.DoubleType()),
        T.StructField("value_per_gb", T.DoubleType()),
        T.StructField("reason", T.StringType()),
        T.StructField("predicted_offload_bytes", T.DoubleType()),
    ]
)


_OUTPUT_SCHEMA = T.StructType([T.StructField("run_date", T.DateType()), *_PLAN_SCHEMA.fields])


@dataclass(frozen=True)
class FillOptions:
    """Knobs of the fill job."""

    disk_scale: float = 1.0
    share_days: int = 7
    #: Pseudo-hours shrinking each appliance's share of a title towards its share of the title's
    #: class (`batch.appliance_demand`). Routing is by member and network, not by title, so a tail
    #: title's few recent sessions say little about which appliance serves it next: strong shrinkage.
    share_pseudo_hours: float = 40.0
    initial_load: bool = True
    time_limit_s: float = 2.0

    def __post_init__(self) -> None:
        if self.share_days < 1:
            raise ValueError(f"share_days must be >= 1, got {self.share_days}")
        if self.share_pseudo_hours < 0:
            raise ValueError(f"share_pseudo_hours must be >= 0, got {self.share_pseudo_hours}")


def release_dates(catalogue: catalogue_mod.Catalogue) -> dict[str, dt.date]:
    """Release date (UTC) of every title of the catalogue."""
    days = pd.to_datetime(catalogue.titles["release_ms"], unit="ms", utc=True).dt.date
    return dict(zip(catalogue.titles["title_id"].astype(str), days, strict=True))


def plan_appliances(candidates: pd.DataFrame, due: dict[str, str], time_limit_s: float = 2.0) -> pd.DataFrame:
    """Plan rows for the appliances in `candidates` (one group or many).

    `candidates`: oca_id, region, title_id, size_bytes, demand_bytes, held, prepositioned,
    capacity_bytes, fill_budget_bytes (the last two constant per appliance).
    """
    out = []
    for oca_id, group in candidates.groupby("oca_id", sort=True):
        capacity = int(group["capacity_bytes"].iloc[0])
        budget = int(group["fill_budget_bytes"].iloc[0])
        held = group.loc[group["held"], "title_id"].tolist()
        titles = group[group["size_bytes"] > 0]
        plan = plan_fill(
            titles[["title_id", "size_bytes", "demand_bytes", "prepositioned", "fallback"]],
            held,
            capacity,
            budget,
            release_dates=due,
            time_limit_s=time_limit_s,
        )
        if plan.stored_bytes > capacity or plan.fill_bytes > budget:
            raise RuntimeError(
                f"fill plan of {oca_id} stores {plan.stored_bytes:,} B (disk {capacity:,}) and fills "
                f"{plan.fill_bytes:,} B (budget {budget:,}): the planner broke a limit"
            )
        rows = plan.rows.assign(oca_id=str(oca_id), region=str(group["region"].iloc[0]))
        out.append(rows)
    if not out:
        return pd.DataFrame({f.name: pd.Series(dtype=object) for f in _PLAN_SCHEMA.fields})
    return pd.concat(out, ignore_index=True)[[f.name for f in _PLAN_SCHEMA.fields]]


def _planner(due: dict[str, str], time_limit_s: float) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def plan(frame: pd.DataFrame) -> pd.DataFrame:
        return plan_appliances(frame, due, time_limit_s)

    return plan


def build_fill_plan(ctx: JobContext, options: FillOptions | None = None) -> JobOutput:
    """Plan rows of `oca_fill_plan` for the run date (see the module docstring)."""
    options = options or FillOptions()
    day = ctx.run_date
    target = day + dt.timedelta(days=1)
    spark = ctx.spark
    try:
        catalogue = catalogue_mod.load(catalogue_mod.catalogue_dir(ctx.settings.data_dir))
    except FileNotFoundError as exc:
        # No appliances to plan for: an empty plan, and the run summary says why.
        return JobOutput(
            spark.createDataFrame([], _OUTPUT_SCHEMA), {"appliances": 0, "catalogue": f"missing: {exc}"}
        )
    if options.disk_scale != 1:
        catalogue = catalogue.scaled(options.disk_scale)

    try:
        forecasts = ctx.output("demand_forecast")
    except LookupError:
        forecasts = ctx.published(DEMAND_FORECAST, day, day)
    forecast = (
        forecasts.filter(F.col("target_date") == F.lit(target))
        .select("title_id", "region", "forecast_hours")
        .toPandas()
    )
    sessions = recent_rows(
        ctx, SESSIONS, "sessions", day - dt.timedelta(days=options.share_days - 1), _TRAFFIC_COLUMNS
    )
    played = sessions.filter(F.col("playing_ms") > 0)
    traffic = (
        played.filter(F.col("oca_id").isNotNull())
        .groupBy("oca_id", "title_id")
        .agg(
            (F.sum("playing_ms") / F.lit(_MS_PER_HOUR)).alias("hours"),
            F.sum(F.col("playing_ms") * F.coalesce(F.col("avg_bitrate_kbps"), F.lit(0.0)) / F.lit(8.0)).alias(
                "bytes"
            ),
        )
        .toPandas()
    )
    regional = (
        played.groupBy("title_id", "region")
        .agg((F.sum("playing_ms") / F.lit(_MS_PER_HOUR)).alias("hours"))
        .toPandas()
    )
    previous = day - dt.timedelta(days=1)
    before = (
        ctx.published(OCA_FILL_PLAN, previous, previous).select("oca_id", "title_id", "action").toPandas()
    )
    held = before[before["action"].isin(["hold", "fill"])]
    commissioning = (
        set() if not options.initial_load else set(catalogue.appliances["oca_id"]) - set(before["oca_id"])
    )

    releases = release_dates(catalogue)
    recent = {t: d for t, d in releases.items() if day - dt.timedelta(days=NEW_RELEASE_DAYS) <= d <= target}
    demand = appliance_demand(
        forecast, traffic, regional, catalogue.appliances, recent, target, options.share_pseudo_hours
    )
    due = {t: d.isoformat() for t, d in recent.items() if d == target}
    popularity = regional.groupby("title_id")["hours"].sum()
    released_by = day_start_ms(target + dt.timedelta(days=1))
    candidates = plan_candidates(demand, held, catalogue, due, commissioning, popularity, released_by)
    appliances = _appliances_with_rows(candidates)
    if candidates.empty:
        rows = spark.createDataFrame([], _PLAN_SCHEMA)
    else:
        frame = spark.createDataFrame(candidates)
        rows = frame.groupBy("oca_id").applyInPandas(_planner(due, options.time_limit_s), schema=_PLAN_SCHEMA)
    rows = rows.select(F.lit(day).cast("date").alias("run_date"), *[f.name for f in _PLAN_SCHEMA.fields])
    facts = {
        "appliances": appliances,
        "forecast_titles": int(forecast["title_id"].nunique()) if len(forecast) else 0,
        "releases_due": len(due),
        "initial_loads": len(commissioning & set(candidates["oca_id"])),
    }
    return JobOutput(rows, facts)


def plan_candidates(
    demand: pd.DataFrame,
    held: pd.DataFrame,
    catalogue: catalogue_mod.Catalogue,
    due: dict[str, str],
    commissioning: set[str],
    popularity: pd.Series,
    released_by_ms: int,
) -> pd.DataFrame:
    """Every appliance × every title out by the served day (and everything held), with its inputs."""
    apps = catalogue.appliances.set_index("oca_id")
    titles = catalogue.titles[catalogue.titles["release_ms"] < released_by_ms][["title_id", "size_bytes"]]
    grid = apps.reset_index()[["oca_id"]].merge(titles[["title_id"]], how="cross")
    wanted = grid.merge(
        demand[["oca_id", "title_id", "demand_bytes"]], on=["oca_id", "title_id"], how="outer"
    )
    kept = held[held["oca_id"].isin(apps.index)][["oca_id", "title_id"]].assign(held=True)
    frame = wanted.merge(kept, on=["oca_id", "title_id"], how="outer")
    frame["held"] = frame["held"].fillna(False).astype(bool)
    frame["demand_bytes"] = frame["demand_bytes"].fillna(0.0).astype(np.float64)
    sizes = catalogue.titles.set_index("title_id")["size_bytes"]
    frame["size_bytes"] = frame["title_id"].map(sizes).fillna(0).astype(np.int64)
    frame["fallback"] = frame["title_id"].map(popularity).fillna(0.0).astype(np.float64)
    frame["prepositioned"] = frame["title_id"].isin(list(due))
    frame["region"] = frame["oca_id"].map(apps["region"]).astype(str)
    frame["capacity_bytes"] = frame["oca_id"].map(apps["capacity_bytes"]).astype(np.int64)
    frame["fill_budget_bytes"] = frame["oca_id"].map(apps["fill_budget_bytes"]).astype(np.int64)
    first = frame["oca_id"].isin(list(commissioning))
    frame.loc[first, "fill_budget_bytes"] = frame.loc[first, "capacity_bytes"]
    frame["oca_id"] = frame["oca_id"].astype(str)
    frame["title_id"] = frame["title_id"].astype(str)
    return frame.reset_index(drop=True)


def _appliances_with_rows(candidates: pd.DataFrame) -> int:
    """Appliances whose plan has rows: something held, something in demand, or room for a spare title."""
    if candidates.empty:
        return 0
    sized = candidates["size_bytes"] > 0
    room = sized & (
        candidates["size_bytes"] <= candidates[["capacity_bytes", "fill_budget_bytes"]].min(axis=1)
    )
    active = candidates["held"] | (sized & (candidates["demand_bytes"] > 0)) | room
    return int(candidates.loc[active, "oca_id"].nunique())


def fill_job(options: FillOptions | None = None) -> Job:
    """The oca_fill_plan job with these options."""
    return Job(
        "oca_fill_plan", OCA_FILL_PLAN, partial(build_fill_plan, options=options), fill_quality.expectations
    )


OCA_FILL_PLAN_JOB = fill_job()
