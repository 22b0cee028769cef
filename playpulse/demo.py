"""`playpulse demo`: the whole embedded path in one command, ending with what an analyst would see.

1. start the local stack (broker, registry, lander);
2. backfill `history_days` of simulated history straight into the lake;
3. stream the last `live_minutes` of "today" through Kafka and wait until the lander has landed
   every event (counted in the lake files, never from consumer lag);
4. query the warehouse: events per day and type, and today's QoE by device from raw events;
5. stop everything it started, also on Ctrl-C.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pyarrow.parquet as pq
from rich.console import Console
from rich.table import Table

from ingest.simulation_runs import backfill_lake, simulation_config, stream_to_kafka
from playpulse.config import Settings
from playpulse.resources import open_configured_warehouse
from playpulse.stack import LocalStack
from warehouse import lake

__all__ = ["run_demo"]

_DAY_MS = 86_400_000

QOE_BY_DEVICE = """
SELECT device_type,
       count(*) FILTER (WHERE event_type = 'PLAY_REQUEST')                       AS attempts,
       round(quantile_cont(startup_ms, 0.5) FILTER (WHERE event_type = 'PLAY_START'))  AS vst_p50_ms,
       round(quantile_cont(startup_ms, 0.95) FILTER (WHERE event_type = 'PLAY_START')) AS vst_p95_ms,
       round(100 * sum(rebuffer_ms) / (sum(played_ms) + sum(rebuffer_ms)), 3)    AS rebuffer_pct,
       round(100 * count(*) FILTER (WHERE end_reason = 'START_FAILURE')
             / count(*) FILTER (WHERE event_type = 'PLAY_REQUEST'), 2)           AS vsf_pct,
       round(100 * count(*) FILTER (WHERE end_reason = 'EXIT_BEFORE_START')
             / count(*) FILTER (WHERE event_type = 'PLAY_REQUEST'), 2)           AS ebvs_pct
FROM events
WHERE event_date = $day
GROUP BY device_type
ORDER BY attempts DESC
"""

EVENTS_PER_DAY = """
SELECT event_date, count(*) AS events, count(DISTINCT session_id) AS sessions,
       count(DISTINCT user_id) AS users
FROM events GROUP BY event_date ORDER BY event_date
"""


def _landed_rows(settings: Settings) -> int:
    return sum(pq.read_metadata(f).num_rows for f in lake.list_files(settings.lake_dir, prefix="p"))


def _print_table(console: Console, title: str, result) -> None:  # noqa: ANN001 - a pyarrow.Table
    table = Table(title=title)
    for name in result.column_names:
        table.add_column(name, justify="right")
    for row in result.to_pylist():
        table.add_row(*("" if v is None else str(v) for v in row.values()))
    console.print(table)


def run_demo(settings: Settings, *, users: int, history_days: int, live_minutes: int) -> None:
    console = Console()
    started = time.monotonic()
    now = datetime.now(UTC)
    today = datetime(now.year, now.month, now.day, tzinfo=UTC)
    today_ms = int(today.timestamp() * 1000)
    live_end_ms = int(now.timestamp() * 1000)
    live_start_ms = max(today_ms, live_end_ms - live_minutes * 60_000)

    console.rule("[bold]playpulse demo")
    with LocalStack(settings) as stack:
        console.print(f"stack up: kafka {settings.kafka.bootstrap_servers}, registry {settings.registry.url}")

        history = simulation_config(
            seed=7, users=users, start_ms=today_ms - history_days * _DAY_MS, days=float(history_days)
        )
        stats = backfill_lake(settings, history)
        console.print(f"history: {stats.summary()}")

        live = simulation_config(
            seed=8, users=users, start_ms=live_start_ms, days=(live_end_ms - live_start_ms) / _DAY_MS
        )
        before = _landed_rows(settings)
        stats = stream_to_kafka(settings, live)
        console.print(f"live: {stats.summary()}")

        with console.status("waiting for the lander to land every live event") as status:
            deadline = time.monotonic() + 300
            while (landed := _landed_rows(settings) - before) < stats.events:
                stack.check()
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the lander landed {landed:,} of {stats.events:,} events in 300 s")
                status.update(f"landed {landed:,} of {stats.events:,} live events")
                time.sleep(0.5)
        console.print(f"lander: all {stats.events:,} live events are in the lake")

        with open_configured_warehouse(settings) as wh:
            _print_table(console, "events in the warehouse, per day", wh.query(EVENTS_PER_DAY))
            _print_table(
                console,
                f"QoE by device, {today:%Y-%m-%d} (from raw events)",
                wh.query(QOE_BY_DEVICE, {"day": today.date()}),
            )
    console.rule(f"done in {timedelta(seconds=round(time.monotonic() - started))}")
    console.print(
        f"lake {settings.lake_dir.resolve()}\nwarehouse {settings.duckdb_file.resolve()}\n"
        'try: playpulse sql "SELECT event_type, count(*) FROM events GROUP BY 1"'
    )
