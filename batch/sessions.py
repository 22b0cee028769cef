"""The `sessions` job: one row per playback session, from the lake's raw events, in Spark.

A session belongs to the UTC date of its first event (its PLAY_REQUEST). To build date D the job
reads the events of D plus the first `SPILL_HOURS` hours of D+1 (sessions that start late on D
and play past midnight; no session outlives that), leaves out sessions with an event in the last
`SPILL_HOURS` hours of D-1 (they started before D: only their ids are read), drops redelivered
copies of an event (the first received copy counts, as in the warehouse `events` view), groups
by `session_id`, and keeps the sessions whose first event is on D.

Per session, with the metric definitions of DESIGN.md, exactly as the streaming QoE job counts
them (`streaming/qoe.py`): attempt = a PLAY_REQUEST, start = a PLAY_START (VST = its
startup_ms), playing time = Σ played_ms, rebuffer time and count = Σ rebuffer_ms and count of
REBUFFER_END, average bitrate = Σ bitrate_kbps × played_ms ÷ Σ played_ms, EBVS / start failure /
playback failure = the PLAY_END's end_reason EXIT_BEFORE_START / START_FAILURE /
PLAYBACK_FAILURE, completion = played ≥ 90% of content_duration_ms. The slice columns and the
experiments map are the first event's.

A run date's events may still be arriving (late events land in their own hour): a later re-run of
the date rebuilds it from everything that has landed by then.

Facts for the suite: `raw_sessions` (distinct session ids among D's events that were first seen on
D) and `raw_requests` (of those, sessions with a PLAY_REQUEST on D).
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from batch.jobs import Job, JobContext, JobOutput, day_start_ms
from warehouse.quality import sessions as sessions_quality
from warehouse.tables import SESSIONS

__all__ = ["SESSIONS_JOB", "SPILL_HOURS", "build_sessions", "sessionize"]

#: Hours of D+1 read for sessions of D still playing at midnight (sessions last at most 8 h).
SPILL_HOURS = 9
_DIMENSIONS = (
    "user_id",
    "title_id",
    "region",
    "country",
    "device_type",
    "device_os",
    "app_version",
    "isp",
    "cdn",
    "oca_id",
    "experiments",
)


def _is(kind: str) -> Column:
    return F.col("event_type") == F.lit(kind)


def _count_if(condition: Column) -> Column:
    return F.sum(F.when(condition, 1).otherwise(0)).cast("long")


def deduplicated(events: DataFrame) -> DataFrame:
    """`events` with one row per event_id: the first received copy (ties broken by nothing else).

    The window is partitioned by session_id (every copy of an event carries its session), so the
    later group-by session reuses this shuffle instead of shuffling all events again.
    """
    order = Window.partitionBy("session_id").orderBy("event_id", "received_ts_ms")
    previous = F.lag("event_id").over(order)
    return (
        events.withColumn("_dup", previous == F.col("event_id"))
        .filter(F.col("_dup").isNull() | ~F.col("_dup"))
        .drop("_dup")
    )


def sessionize(events: DataFrame, day: dt.date) -> DataFrame:
    """Rows of `sessions` for the sessions whose first event is on `day`, from deduplicated events."""
    played = F.coalesce(F.col("played_ms"), F.lit(0)).cast("long")
    first = F.struct("event_ts_ms", "seq")
    end_reason = F.max(F.when(_is("PLAY_END"), F.col("end_reason")))
    grouped = events.groupBy("session_id").agg(
        F.min("event_ts_ms").alias("_first_ms"),
        F.max("event_ts_ms").alias("_last_ms"),
        F.min_by(F.struct(*_DIMENSIONS), first).alias("_dims"),
        (_count_if(_is("PLAY_REQUEST")) > 0).alias("attempted"),
        (_count_if(_is("PLAY_START")) > 0).alias("started"),
        F.min_by(F.col("startup_ms"), F.when(_is("PLAY_START"), first)).alias("vst_ms"),
        F.sum(played).alias("playing_ms"),
        F.sum(F.when(_is("REBUFFER_END"), F.coalesce(F.col("rebuffer_ms"), F.lit(0))).otherwise(0))
        .cast("long")
        .alias("rebuffer_ms"),
        _count_if(_is("REBUFFER_END")).alias("rebuffer_count"),
        F.sum(F.coalesce(F.col("bitrate_kbps"), F.lit(0)).cast("long") * played).alias("_bitrate_ms"),
        _count_if(_is("ERROR")).alias("error_count"),
        F.min_by(F.col("error_code"), F.when(_is("ERROR") & F.col("fatal"), first)).alias("fatal_error_code"),
        end_reason.alias("end_reason"),
        F.max("content_duration_ms").alias("content_duration_ms"),
    )
    start = F.to_date(F.timestamp_millis(F.col("_first_ms")))
    return grouped.filter(start == F.lit(day)).select(
        start.alias("session_date"),
        "session_id",
        *[F.col(f"_dims.{name}").alias(name) for name in _DIMENSIONS if name != "experiments"],
        F.timestamp_millis(F.col("_first_ms")).alias("started_at"),
        F.timestamp_millis(F.col("_last_ms")).alias("ended_at"),
        "attempted",
        "started",
        F.when(F.col("started"), F.col("vst_ms")).alias("vst_ms"),
        "playing_ms",
        "rebuffer_ms",
        "rebuffer_count",
        F.when(F.col("playing_ms") > 0, F.col("_bitrate_ms") / F.col("playing_ms")).alias("avg_bitrate_kbps"),
        "error_count",
        "fatal_error_code",
        (F.coalesce(F.col("end_reason"), F.lit("")) == "EXIT_BEFORE_START").alias("ebvs"),
        (F.coalesce(F.col("end_reason"), F.lit("")) == "START_FAILURE").alias("start_failure"),
        (F.coalesce(F.col("end_reason"), F.lit("")) == "PLAYBACK_FAILURE").alias("playback_failure"),
        "end_reason",
        "content_duration_ms",
        F.coalesce(F.col("playing_ms") >= F.lit(0.9) * F.col("content_duration_ms"), F.lit(False)).alias(
            "completed"
        ),
        F.col("_dims.experiments").alias("experiments"),
    )


def build_sessions(ctx: JobContext) -> JobOutput:
    """The sessions of `ctx.run_date`, with raw-event counts for the suite."""
    day = ctx.run_date
    prev, nxt = day - dt.timedelta(days=1), day + dt.timedelta(days=1)
    start_ms, end_ms = day_start_ms(day), day_start_ms(nxt)
    spill = SPILL_HOURS * 3_600_000
    # Sessions already playing before midnight belong to the previous date: only their ids are read.
    earlier = (
        ctx.events(prev)
        .filter(F.col("event_ts_ms") >= F.lit(start_ms - spill))
        .select("session_id")
        .distinct()
    )
    window = ctx.events(day, nxt).filter(F.col("event_ts_ms") < F.lit(end_ms + spill))
    window = window.join(earlier, "session_id", "left_anti")
    rows = sessionize(deduplicated(window), day)
    # The suite's reference counts come straight from the raw events (three columns, no sessionizing).
    first_seen = (
        window.select("session_id", "event_type", "event_ts_ms")
        .groupBy("session_id")
        .agg(
            F.min("event_ts_ms").alias("first_ms"),
            F.max(F.when(_is("PLAY_REQUEST") & (F.col("event_ts_ms") < end_ms), 1)).alias("requested"),
        )
        .filter((F.col("first_ms") >= start_ms) & (F.col("first_ms") < end_ms))
    )
    counts = first_seen.agg(F.count("*").alias("raw_sessions"), F.count("requested").alias("raw_requests"))
    facts = counts.first().asDict()
    return JobOutput(rows, facts={k: int(v or 0) for k, v in facts.items()})


SESSIONS_JOB = Job("sessions", SESSIONS, build_sessions, sessions_quality.expectations)
