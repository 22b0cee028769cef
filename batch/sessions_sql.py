"""The `sessions` job's sessionization as one DuckDB SQL query over the same lake Parquet files.

It produces exactly the rows and values of `batch.sessions` (the tests compare the two row for
row) and exists for two reasons: the benchmark measures what Spark costs on one machine against
it, and it documents the session rules in plain SQL. Same window as the Spark job: events of D
and the first `SPILL_HOURS` hours of D+1, minus sessions with events in the last `SPILL_HOURS`
hours of D-1, first received copy of each event_id, sessions whose first event is on D.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import duckdb
import pyarrow as pa

from batch.jobs import day_start_ms
from batch.sessions import SPILL_HOURS
from warehouse.lake import EVENTS_DIR
from warehouse.tables import SESSIONS

__all__ = ["sessionize_duckdb", "sessions_sql"]

_HOUR_MS = 3_600_000


def sessions_sql(files: list[str]) -> str:
    """The query; `$day`, `$day_ms`, `$next_ms`, `$spill_ms` are its parameters."""
    listing = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
    first = "(event_ts_ms, seq)"
    return f"""
WITH raw AS (
  SELECT * FROM read_parquet([{listing}], union_by_name = true)
),
earlier AS (
  SELECT DISTINCT session_id FROM raw WHERE event_ts_ms < $day_ms AND event_ts_ms >= $day_ms - $spill_ms
),
events AS (
  SELECT * FROM raw
  WHERE event_ts_ms >= $day_ms AND event_ts_ms < $next_ms + $spill_ms
    AND session_id NOT IN (SELECT session_id FROM earlier)
  QUALIFY row_number() OVER (PARTITION BY session_id, event_id ORDER BY received_ts_ms) = 1
),
grouped AS (
  SELECT
    session_id,
    min(event_ts_ms) AS first_ms,
    max(event_ts_ms) AS last_ms,
    arg_min({{'user_id': user_id, 'title_id': title_id, 'region': region, 'country': country,
             'device_type': device_type, 'device_os': device_os, 'app_version': app_version, 'isp': isp,
             'cdn': cdn, 'oca_id': oca_id, 'experiments': experiments}}, {first}) AS dims,
    bool_or(event_type = 'PLAY_REQUEST') AS attempted,
    bool_or(event_type = 'PLAY_START') AS started,
    arg_min(startup_ms, CASE WHEN event_type = 'PLAY_START' THEN {first} END) AS vst_ms,
    sum(coalesce(played_ms, 0))::BIGINT AS playing_ms,
    sum(CASE WHEN event_type = 'REBUFFER_END' THEN coalesce(rebuffer_ms, 0) ELSE 0 END)::BIGINT
      AS rebuffer_ms,
    count(*) FILTER (WHERE event_type = 'REBUFFER_END') AS rebuffer_count,
    sum(coalesce(bitrate_kbps, 0)::BIGINT * coalesce(played_ms, 0)) AS bitrate_ms,
    count(*) FILTER (WHERE event_type = 'ERROR') AS error_count,
    arg_min(error_code, CASE WHEN event_type = 'ERROR' AND fatal THEN {first} END) AS fatal_error_code,
    max(CASE WHEN event_type = 'PLAY_END' THEN end_reason END) AS end_reason,
    max(content_duration_ms) AS content_duration_ms
  FROM events
  GROUP BY session_id
)
SELECT
  $day::DATE AS session_date,
  session_id,
  dims.user_id, dims.title_id, dims.region, dims.country, dims.device_type, dims.device_os,
  dims.app_version, dims.isp, dims.cdn, dims.oca_id,
  make_timestamp(first_ms * 1000) AS started_at,
  make_timestamp(last_ms * 1000) AS ended_at,
  attempted,
  started,
  CASE WHEN started THEN vst_ms END AS vst_ms,
  playing_ms,
  rebuffer_ms,
  rebuffer_count,
  CASE WHEN playing_ms > 0 THEN bitrate_ms / playing_ms END AS avg_bitrate_kbps,
  error_count,
  fatal_error_code,
  coalesce(end_reason, '') = 'EXIT_BEFORE_START' AS ebvs,
  coalesce(end_reason, '') = 'START_FAILURE' AS start_failure,
  coalesce(end_reason, '') = 'PLAYBACK_FAILURE' AS playback_failure,
  end_reason,
  content_duration_ms,
  coalesce(playing_ms >= 0.9 * content_duration_ms, false) AS completed,
  dims.experiments AS experiments
FROM grouped
WHERE first_ms >= $day_ms AND first_ms < $next_ms
"""


def sessionize_duckdb(
    lake_dir: str | os.PathLike[str], day: dt.date, con: duckdb.DuckDBPyConnection | None = None
) -> pa.Table:
    """The sessions of `day` computed by DuckDB from the lake, conformed to the `sessions` table."""
    events = Path(lake_dir) / EVENTS_DIR
    files = [
        str(f)
        for d in (day - dt.timedelta(days=1), day, day + dt.timedelta(days=1))
        for f in sorted((events / f"event_date={d.isoformat()}").glob("hour=*/*.parquet"))
    ]
    if not files:
        return SESSIONS.arrow_schema.empty_table()
    own = con is None
    con = con or duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        params = {
            "day": day,
            "day_ms": day_start_ms(day),
            "next_ms": day_start_ms(day + dt.timedelta(days=1)),
            "spill_ms": SPILL_HOURS * _HOUR_MS,
        }
        table = con.sql(sessions_sql(files), params=params).to_arrow_table()
    finally:
        if own:
            con.close()
    return SESSIONS.conform(table)
