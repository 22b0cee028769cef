"""Nightly batch benchmark: the full nightly run over a day of raw events, against DuckDB SQL.

One simulated day (default ~10M raw events; `PLAYPULSE_BENCH_SCALE` scales the members) is
backfilled into a fresh lake. Then, in the same run and on the same Parquet files:

- the nightly run of the sessions → engagement → A/B readout jobs (Spark, staging, Great
  Expectations, publishing to a DuckDB warehouse), with each job's seconds (the demand forecast
  and fill plan jobs, which need the catalogue and weeks of history, are timed by `bench-forecast`);
- the same sessionization as one DuckDB SQL query (`batch.sessions_sql`), twice (cold, warm),
  whose rows must equal the published `sessions` rows.

Figures: events, sessions, Spark start-up seconds, nightly seconds and events/s, per-job
seconds, DuckDB seconds, and the ratios Spark sessions job ÷ DuckDB and nightly run ÷ DuckDB
(what Spark costs on one machine).
"""

from __future__ import annotations

import datetime as dt
import tempfile
import time
from pathlib import Path

import duckdb
import pyarrow.compute as pc

from batch.jobs import job_named
from batch.runner import run_date
from batch.sessions_sql import sessionize_duckdb
from batch.spark import spark_session, stop_spark
from bench.common import scaled, timed, write_results
from ingest.simulation_runs import backfill_lake
from ingest.simulator import SimulationConfig
from playpulse.config import load_settings
from playpulse.resources import open_configured_warehouse

#: Members whose simulated day makes ~10M raw events (about 55 events per member-day here).
DEFAULT_MEMBERS = 182_000
START_MS = 1_736_121_600_000  # Monday 2025-01-06 00:00 UTC
DAY = dt.date(2025, 1, 6)
#: The jobs of the sessions → engagement → readout chain (the forecast jobs have `bench-forecast`).
ENGAGEMENT_JOBS = ("sessions", "engagement_daily", "engagement_summary", "ab_readout")


def main() -> None:
    members = scaled(DEFAULT_MEMBERS)
    with tempfile.TemporaryDirectory(prefix="playpulse-bench-batch-") as tmp:
        settings = load_settings(data_dir=Path(tmp), pseudonym_key="bench-batch-key-0123456789")
        config = SimulationConfig(seed=42, users=members, start_ms=START_MS, days=1)
        print(f"simulating one day of {members:,} members into the lake …", flush=True)
        backfill = backfill_lake(settings, config, progress=True)
        print(backfill.summary(), flush=True)
        lake_events = duckdb.sql(
            "SELECT count(*) FROM read_parquet($glob)",
            params={"glob": f"{settings.lake_dir}/events/*/*/*.parquet"},
        ).fetchall()[0][0]

        with timed() as startup:
            spark_session(settings)
        with open_configured_warehouse(settings) as wh, timed() as nightly:
            report = run_date(settings, DAY, wh, jobs=job_named(ENGAGEMENT_JOBS))
        with open_configured_warehouse(settings, attach_lake=False) as wh:
            published = wh.query("SELECT * FROM sessions WHERE session_date = $d", {"d": DAY})
        stop_spark()

        with timed() as cold:
            sql_rows = sessionize_duckdb(settings.lake_dir, DAY)
        with timed() as warm:
            sessionize_duckdb(settings.lake_dir, DAY)
        duckdb_s = min(cold["s"], warm["s"])
        same = (
            published.num_rows == sql_rows.num_rows
            and pc.all(
                pc.equal(
                    published.sort_by("session_id")["playing_ms"],
                    sql_rows.sort_by("session_id")["playing_ms"],
                )
            ).as_py()
        )

    jobs = {f"job_{r.job}_s": round(r.seconds, 2) for r in report.jobs}
    rows = {f"rows_{r.table}": r.rows for r in report.jobs}
    sessions_s = next(r.seconds for r in report.jobs if r.job == "sessions")
    write_results(
        "batch",
        {
            "members": members,
            "raw_events": lake_events,
            "simulated_events": backfill.events,
            "sessions": sql_rows.num_rows,
            "spark_startup_s": round(startup["s"], 2),
            "nightly_run_s": round(nightly["s"], 2),
            "nightly_events_per_s": round(lake_events / nightly["s"]),
            **jobs,
            **rows,
            "duckdb_sessionization_cold_s": round(cold["s"], 2),
            "duckdb_sessionization_warm_s": round(warm["s"], 2),
            "ratio_spark_sessions_job_vs_duckdb": round(sessions_s / duckdb_s, 2),
            "ratio_nightly_run_vs_duckdb_sessionization": round(nightly["s"] / duckdb_s, 2),
            "duckdb_rows_equal_spark_rows": bool(same),
            "lake_files": backfill.files,
            "bench_wall_s": round(time.perf_counter() - _STARTED, 1),
        },
    )


_STARTED = time.perf_counter()

if __name__ == "__main__":
    main()
