"""The engagement jobs: `engagement_daily` (per member × title × region × device) and
`engagement_summary` (DAU, title performance and rolling retention), from this run's sessions.

Representation (documented in the data dictionary):

- `engagement_daily` keeps the member grain, so any engagement question is a GROUP BY over it:
  watch time = Σ sessions.playing_ms, sessions = count of sessions, completions = sessions with
  `completed` (≥ 90% of the title played).
- `engagement_summary` holds what does not add up from member rows without DISTINCT or history, as
  grouping-set rows (a '*' dimension means "all", the `qoe_minute` convention): per date and slice
  (all, region, device_type, region × device_type, title_id — the last is title performance) the
  distinct members (DAU of the slice), sessions, watch time, completions and completion rate, and
  a **rolling 7-day retention**: of the members active in the slice on date − 7 (the cohort), the
  share active again anywhere on one of the 7 days after, up to the run date. The cohort's
  activity comes from published `engagement_daily` partitions; the retention is NULL when date − 7
  was never published (a backfill builds it once the dates before exist).
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from batch.jobs import Job, JobContext, JobOutput
from warehouse.quality import engagement_daily as daily_quality
from warehouse.quality import engagement_summary as summary_quality
from warehouse.tables import ALL_SLICE, ENGAGEMENT_DAILY, ENGAGEMENT_SUMMARY

__all__ = [
    "ENGAGEMENT_JOB",
    "ENGAGEMENT_SUMMARY_JOB",
    "RETENTION_DAYS",
    "SLICES",
    "build_engagement_daily",
    "build_engagement_summary",
]

RETENTION_DAYS = 7
#: The grouping sets of engagement_summary, by slice name.
SLICES: dict[str, tuple[str, ...]] = {
    "all": (),
    "region": ("region",),
    "device_type": ("device_type",),
    "region,device_type": ("region", "device_type"),
    "title_id": ("title_id",),
}
_DIMS = ("title_id", "region", "device_type")
_MEMBER_KEY = ("user_id", *_DIMS)
_MEASURES = ("members", "sessions", "watch_time_ms", "completions")


def build_engagement_daily(ctx: JobContext) -> JobOutput:
    """Per member, title, region and device: watch time, sessions and completions of the run date."""
    sessions = ctx.output("sessions")
    rows = sessions.groupBy("session_date", *_MEMBER_KEY).agg(
        F.sum("playing_ms").alias("watch_time_ms"),
        F.count("*").alias("sessions"),
        F.sum(F.col("completed").cast("long")).alias("completions"),
    )
    return JobOutput(rows.withColumnRenamed("session_date", "date"))


#: grouping_id() over (title_id, region, device_type) → slice name (a set bit = not grouped by it).
_GROUPING_IDS = {
    0b111: "all",
    0b101: "region",
    0b110: "device_type",
    0b100: "region,device_type",
    0b011: "title_id",
}


def _grouping_sets(frame: DataFrame, measures: list[Column]) -> DataFrame:
    """`measures` over every slice of SLICES in one aggregation; '*' where a slice is not grouped."""
    sets = [[F.col(d) for d in dims] for dims in SLICES.values()]
    grouped = frame.groupingSets(sets, *[F.col(d) for d in _DIMS]).agg(
        F.grouping_id(*[F.col(d) for d in _DIMS]).alias("_gid"), *measures
    )
    slice_name = F.element_at(
        F.create_map(*[x for gid, name in _GROUPING_IDS.items() for x in (F.lit(gid), F.lit(name))]),
        F.col("_gid").cast("int"),
    )
    # The dimensions are NOT NULL in engagement_daily, so NULL here means "not grouped by it".
    dims = [F.coalesce(F.col(d), F.lit(ALL_SLICE)).alias(d) for d in _DIMS]
    values = [c for c in grouped.columns if c not in ("_gid", *_DIMS)]
    return grouped.select(slice_name.alias("slice"), *dims, *values)


def build_engagement_summary(ctx: JobContext) -> JobOutput:
    """Grouping-set totals of the run date's engagement with the rolling 7-day retention."""
    day = ctx.run_date
    today = ctx.output("engagement_daily")
    cohort_day = day - dt.timedelta(days=RETENTION_DAYS)
    last = day - dt.timedelta(days=1)
    history = ctx.published(ENGAGEMENT_DAILY, cohort_day, last, ["date", *_MEMBER_KEY])
    cohort = history.filter(F.col("date") == F.lit(cohort_day)).select(*_MEMBER_KEY)
    returned = (
        history.filter(F.col("date") > F.lit(cohort_day))
        .select("user_id")
        .unionByName(today.select("user_id"))
        .distinct()
        .withColumn("_returned", F.lit(True))
    )
    totals = _grouping_sets(
        today,
        [
            F.countDistinct("user_id").alias("members"),
            F.sum("sessions").alias("sessions"),
            F.sum("watch_time_ms").alias("watch_time_ms"),
            F.sum("completions").alias("completions"),
        ],
    )
    retention = _grouping_sets(
        cohort.join(returned, "user_id", "left"),
        [
            F.countDistinct("user_id").alias("retention_cohort_7d"),
            F.countDistinct(F.when(F.col("_returned"), F.col("user_id"))).alias("retained_7d"),
        ],
    )
    rows = totals.join(retention, ["slice", *_DIMS], "full_outer")
    zero = F.lit(0).cast("long")
    # Without any published row of the cohort date the retention is unknown (NULL), not 0.
    cohort_known = retention.filter(F.col("slice") == "all").count() > 0
    cohort_value = (
        F.coalesce(F.col("retention_cohort_7d"), zero) if cohort_known else F.lit(None).cast("long")
    )
    retained_value = F.coalesce(F.col("retained_7d"), zero) if cohort_known else F.lit(None).cast("long")
    rows = rows.select(
        F.lit(day).alias("date"),
        "slice",
        *_DIMS,
        *[F.coalesce(F.col(c), zero).alias(c) for c in _MEASURES],
        cohort_value.alias("retention_cohort_7d"),
        retained_value.alias("retained_7d"),
    )
    rows = rows.withColumn(
        "completion_rate", F.when(F.col("sessions") > 0, F.col("completions") / F.col("sessions"))
    ).withColumn(
        "retention_7d",
        F.when(F.col("retention_cohort_7d") > 0, F.col("retained_7d") / F.col("retention_cohort_7d")),
    )
    facts = (
        today.agg(
            F.countDistinct("user_id").alias("dau"),
            F.sum("sessions").alias("sessions"),
            F.sum("watch_time_ms").alias("watch_time_ms"),
        )
        .first()
        .asDict()
    )
    return JobOutput(rows, facts={k: int(v or 0) for k, v in facts.items()})


def _daily_facts(ctx: JobContext) -> JobOutput:
    output = build_engagement_daily(ctx)
    sessions = (
        ctx.output("sessions")
        .agg(F.count("*").alias("sessions"), F.sum("playing_ms").alias("watch_time_ms"))
        .first()
        .asDict()
    )
    return JobOutput(output.data, facts={k: int(v or 0) for k, v in sessions.items()})


ENGAGEMENT_JOB = Job("engagement_daily", ENGAGEMENT_DAILY, _daily_facts, daily_quality.expectations)
ENGAGEMENT_SUMMARY_JOB = Job(
    "engagement_summary", ENGAGEMENT_SUMMARY, build_engagement_summary, summary_quality.expectations
)
