"""`playpulse demo`: the whole embedded path in one command, ending with what an analyst would see.

1. start the local stack (broker, registry, lander);
2. backfill `history_days` of simulated history straight into the lake;
3. stream the last `live_minutes` of "today" through Kafka and wait until the lander has landed
   every event (counted in the lake files, never from consumer lag);
4. wait until the QoE job has counted every live attempt in `qoe_minute`;
5. stop everything it started (also on Ctrl-C), then query the warehouse: events per day, today's
   QoE by device exactly from raw events, and the same live from `qoe_minute`'s merged sketches.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.parquet as pq
from rich.console import Console
from rich.table import Table

from ingest.simulation_runs import backfill_lake, simulation_config, stream_to_kafka
from playpulse.config import Settings
from playpulse.resources import open_configured_warehouse
from playpulse.stack import LocalStack
from streaming.qoe_query import qoe_over
from warehouse import WarehouseError, lake

__all__ = ["run_demo"]

_DAY_MS = 86_400_000

QOE_BY_DEVICE = """
SELECT device_type,
       count(*) FILTER (WHERE event_type = 'PLAY_REQUEST')                       AS attempts,
       round(quantile_disc(startup_ms, 0.5) FILTER (WHERE event_type = 'PLAY_START'))  AS vst_p50_ms,
       round(quantile_disc(startup_ms, 0.95) FILTER (WHERE event_type = 'PLAY_START')) AS vst_p95_ms,
       round(100 * sum(rebuffer_ms) / (sum(played_ms) + sum(rebuffer_ms)), 3)    AS rebuffer_pct,
       round(100 * count(*) FILTER (WHERE end_reason = 'START_FAILURE')
             / count(*) FILTER (WHERE event_type = 'PLAY_REQUEST'), 2)           AS vsf_pct,
       round(100 * count(*) FILTER (WHERE end_reason = 'EXIT_BEFORE_START')
             / count(*) FILTER (WHERE event_type = 'PLAY_REQUEST'), 2)           AS ebvs_pct
FROM events
WHERE event_date = $day AND event_ts_ms >= $since
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


def _streamed_attempts(settings: Settings, since_ms: int) -> int:
    """Attempts of the live range in qoe_minute, or 0 while the QoE job holds the DuckDB file."""
    try:
        with open_configured_warehouse(settings, attach_lake=False, create=False) as wh:
            found = wh.query(
                "SELECT coalesce(sum(attempts), 0) AS n FROM qoe_minute "
                "WHERE slice = 'all' AND window_start >= $t",
                {"t": datetime.fromtimestamp(since_ms // 60_000 * 60, UTC)},
            )
        return int(found["n"][0].as_py())
    except WarehouseError:
        return 0


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
        live_attempts = stats.by_type["PLAY_REQUEST"]
        with console.status("waiting for the QoE job to count every live attempt") as status:
            deadline = time.monotonic() + 120
            while (counted := _streamed_attempts(settings, live_start_ms)) < live_attempts:
                stack.check()
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"the QoE job counted {counted:,} of {live_attempts:,} attempts in 120 s"
                    )
                status.update(f"qoe_minute holds {counted:,} of {live_attempts:,} live attempts")
                time.sleep(1)
        console.print(f"qoe: all {live_attempts:,} live attempts are in qoe_minute")

    # Queried once the stack is down: DuckDB admits one writing process, and the QoE job was it.
    # Sessions requested in the live range play on past "now", so both views run to its end.
    # Percentiles agree within the sketch's 1% where a device has enough starts; on a handful the
    # rank definitions (quantile_disc vs DDSketch's lower rank) pick neighbouring values.
    start = datetime.fromtimestamp(live_start_ms / 1000, UTC).replace(second=0, microsecond=0)
    with open_configured_warehouse(settings) as wh:
        _print_table(console, "events in the warehouse, per day", wh.query(EVENTS_PER_DAY))
        _print_table(
            console,
            f"QoE by device since {start:%H:%M} UTC (exact, from raw events)",
            wh.query(QOE_BY_DEVICE, {"day": today.date(), "since": int(start.timestamp() * 1000)}),
        )
        rows = []
        for device in ("TV", "MOBILE", "WEB", "TABLET", "CONSOLE"):
            summary = qoe_over(wh, start, start + timedelta(days=1), device_type=device)
            p50, p95 = summary.vst_ms[0.5], summary.vst_ms[0.95]
            rows.append(
                {
                    "device_type": device,
                    "attempts": summary.attempts,
                    "vst_p50_ms": None if p50 is None else round(p50),
                    "vst_p95_ms": None if p95 is None else round(p95),
                    "rebuffer_pct": None
                    if summary.rebuffer_ratio is None
                    else round(100 * summary.rebuffer_ratio, 3),
                }
            )
        _print_table(console, "the same, live from qoe_minute (merged sketches)", pa.Table.from_pylist(rows))
    console.rule(f"done in {timedelta(seconds=round(time.monotonic() - started))}")
    console.print(
        f"lake {settings.lake_dir.resolve()}\nwarehouse {settings.duckdb_file.resolve()}\n"
        'try: playpulse sql "SELECT event_type, count(*) FROM events GROUP BY 1"'
    )
