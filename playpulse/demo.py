"""`playpulse demo`: the whole product on the embedded stack, in one command and a few minutes.

1. **Stack**: broker, registry, lander, QoE job, collector, alerts app and the web dashboard.
2. **History**: `history_days` of simulated traffic go straight into the Parquet lake, and the
   simulated world's catalogue (titles, release calendar, appliances) is published beside it.
3. **Live**: the last `live_minutes` up to now are replayed at full speed through the HTTP
   collector, with an injected rebuffering incident on the busiest OCA. Live traffic is denser than
   history (`live_users` members playing often), so every slice has the volume alerting needs.
   Sessions still playing at "now" are cut there: their later events have not happened yet.
4. **Watch**: wait until the lander has landed every live event (counted in the lake files, never
   from consumer lag), the QoE job has counted every live attempt, and the alert on that OCA has
   fired, then resolved — or is reported still firing when the replayed minutes after the incident
   never turn clear enough, which the random traffic of a small appliance sometimes does.
5. **Nightly**: the stream workers stop (DuckDB admits one writing process), then the nightly Spark
   run: `sessions` for every history day (the forecast's demand history), then every nightly job
   for yesterday — sessions, engagement, A/B readouts, demand forecast and fill plan — each staged,
   validated with Great Expectations and only then published.
6. **Reports**: an HTML readout per A/B test and the fill-plan report; a summary; the dashboard URL.

Everything it started stops when it ends or is interrupted. With `serve=True` the dashboard stays up
(alone) after the summary until Ctrl-C, so the results can be looked at.
"""

from __future__ import annotations

import datetime as dt
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from rich.console import Console
from rich.progress import MofNCompleteColumn, Progress, TaskID
from rich.table import Table

from ingest.collector.client import CollectorClient, demo_key_path, stream_simulation
from ingest.simulation_runs import RunStats, backfill_lake, simulation_config
from ingest.simulator import Incident, Simulator, World
from playpulse.config import Settings
from playpulse.resources import open_configured_warehouse
from playpulse.stack import LocalStack
from warehouse import Warehouse, WarehouseError, lake

__all__ = ["DemoPlan", "DemoResult", "run_demo"]

_MINUTE_MS = 60_000
_DAY_MS = 86_400_000
STREAM_WORKERS = ("lander", "qoe", "collector", "alerts")
_TABLES = (
    "qoe_minute", "alerts", "sessions", "engagement_daily", "engagement_summary", "ab_readout",
    "demand_forecast", "oca_fill_plan",
)  # fmt: skip


@dataclass(frozen=True)
class DemoPlan:
    """What the demo simulates. The defaults took 3 min 36 s on the idle 2-core machine."""

    users: int = 1_000
    history_days: int = 14
    live_minutes: int = 70
    live_users: int = 10_000
    live_sessions_per_user_per_day: float = 40.0
    #: The incident: minutes after the start of the live range, and how long it lasts.
    incident_at_minute: int = 40
    incident_minutes: int = 12
    incident_magnitude: float = 8.0
    seed: int = 7

    def __post_init__(self) -> None:
        if self.history_days < 8:
            raise ValueError(
                f"history_days must be >= 8 (the readouts' pre-period is 7 days), got {self.history_days}"
            )
        if (
            self.incident_at_minute < 20
            or self.incident_at_minute + self.incident_minutes + 10 > self.live_minutes
        ):
            raise ValueError(
                "the incident needs 20 live minutes before it (baselines) and 10 after it (to resolve): "
                f"live_minutes={self.live_minutes}, incident at minute {self.incident_at_minute} "
                f"for {self.incident_minutes}"
            )


@dataclass
class DemoResult:
    """What the demo did, for its summary and for tests."""

    dashboard_url: str
    history_events: int = 0
    live_events: int = 0
    incident: Incident | None = None
    alert: dict[str, Any] | None = None
    nightly_date: dt.date | None = None
    reports: list[Path] | None = None
    seconds: float = 0.0


def _landed_rows(settings: Settings) -> int:
    return sum(pq.read_metadata(f).num_rows for f in lake.list_files(settings.lake_dir, prefix="p"))


def _read(settings: Settings, action: Callable[[Warehouse], Any], default: Any) -> Any:
    """`action` on a short-lived read of the warehouse, or `default` while a worker holds the file."""
    try:
        with open_configured_warehouse(settings, attach_lake=False, create=False) as wh:
            return action(wh)
    except WarehouseError:
        return default


def _wait(
    stack: LocalStack,
    console: Console,
    what: str,
    timeout_s: float,
    probe: Callable[[], Any],
    *,
    required: bool = True,
) -> Any:
    """Poll `probe` until it returns something true; it returns (value, status line). After
    `timeout_s`: an error, or None when not `required`."""
    deadline = time.monotonic() + timeout_s
    with console.status(what) as status:
        while True:
            stack.check()
            value, line = probe()
            if value:
                return value
            if time.monotonic() > deadline:
                if not required:
                    return None
                raise RuntimeError(f"{what}: not done after {timeout_s:.0f} s ({line})")
            status.update(f"{what}: {line}")
            time.sleep(1)


def _live_traffic(plan: DemoPlan, start_ms: int, end_ms: int) -> tuple[pa.Table, Incident]:
    base = simulation_config(
        seed=plan.seed + 1, users=plan.live_users, start_ms=start_ms, end_ms=end_ms,
        sessions_per_user_per_day=plan.live_sessions_per_user_per_day, heartbeat_interval_s=600,
        late_fraction=0.0, experiments=(),
    )  # fmt: skip
    shares = World(base).slice_shares("oca_id")
    oca = max(shares, key=shares.get)
    at = start_ms + plan.incident_at_minute * _MINUTE_MS
    incident = Incident(
        kind="rebuffer", dimension="oca_id", value=oca, start_ms=at,
        end_ms=at + plan.incident_minutes * _MINUTE_MS, magnitude=plan.incident_magnitude,
        incident_id="demo-incident",
    )  # fmt: skip
    table = Simulator(replace(base, incidents=(incident,))).table()
    # Sessions play on past the end of the range; what lies after "now" has not happened yet.
    return table.filter(pc.less(table["event_ts_ms"], end_ms)), incident


def _send_live(settings: Settings, table: pa.Table) -> RunStats:
    """POST the live events to the collector in time order, with a progress bar."""
    url = f"http://{settings.collector.host}:{settings.collector.port}"
    stats = RunStats(f"collector {url} → playback.events")
    started = time.monotonic()

    def batches(progress: Progress, task: TaskID) -> Iterator[pa.RecordBatch]:
        for batch in table.to_batches(max_chunksize=5_000):
            yield batch
            progress.advance(task, batch.num_rows)

    with (
        CollectorClient(url, demo_key_path(settings).read_text().strip()) as client,
        Progress(*Progress.get_default_columns(), MofNCompleteColumn()) as progress,
    ):
        task = progress.add_task("[bold]live → collector", total=table.num_rows)
        items = settings.collector.max_batch_items
        _, accepted, rejected = stream_simulation(client, batches(progress, task), batch_items=items)
    stats.add(table)
    stats.seconds = time.monotonic() - started
    if rejected or accepted != table.num_rows:
        raise RuntimeError(
            f"the collector accepted {accepted:,} and rejected {rejected:,} of {table.num_rows:,} live "
            "events (rejects are in playback.events.dlq with their reasons)"
        )
    return stats


def _alert_on(
    settings: Settings, incident: Incident, states: tuple[str, ...] = ("resolved",)
) -> tuple[dict[str, Any] | None, str]:
    """The newest alert on the incident's slice in one of `states` (None yet), and a status line."""
    target = f"{incident.dimension}={incident.value}"

    def rows(wh: Warehouse) -> list[dict[str, Any]]:
        return wh.query(
            "SELECT * FROM alerts WHERE slice = $s ORDER BY started_at", {"s": target}
        ).to_pylist()

    found = _read(settings, rows, [])
    matching = [r for r in found if r["state"] in states]
    if matching:
        return matching[-1], matching[-1]["state"]
    return None, (f"{found[-1]['state']} on {target}" if found else f"no alert on {target} yet")


def _watch_alert(
    settings: Settings, console: Console, stack: LocalStack, incident: Incident, resolve_wait_s: float = 90
) -> dict[str, Any]:
    """Wait for the alert on the incident's slice to fire (an error if it never does), then for
    it to resolve. It resolves once enough windows after the incident are clear again; whether the
    replayed minutes after the incident hold that many is up to the simulated traffic (stalls of a
    small appliance stay noisy for a while), so an alert still firing when the last replayed
    window has been judged is reported as such, not as a failure."""
    fired = ("firing", "resolved")
    alert = _wait(stack, console, "alert", 240, lambda: _alert_on(settings, incident, fired))
    if alert["state"] == "resolved":
        return alert
    # The app judges the last windows within its grace (20 s) of the replay's end.
    resolved = partial(_alert_on, settings, incident)  # only a resolved alert ends the wait
    found = _wait(stack, console, "alert resolving", resolve_wait_s, resolved, required=False)
    return found or _alert_on(settings, incident, fired)[0]


def _print_table(console: Console, title: str, result: pa.Table) -> None:
    table = Table(title=title)
    for name in result.column_names:
        table.add_column(name, justify="right")
    for row in result.to_pylist():
        table.add_row(*("" if v is None else str(v) for v in row.values()))
    console.print(table)


def _nightly(settings: Settings, plan: DemoPlan, console: Console, yesterday: dt.date) -> None:
    from batch.jobs import job_named
    from batch.runner import run_range

    first = yesterday - dt.timedelta(days=plan.history_days - 1)
    before = yesterday - dt.timedelta(days=1)
    with open_configured_warehouse(settings) as wh:
        console.print(f"nightly: sessions for {first} … {before} (the forecast's demand history)")
        run_range(settings, first, before, wh, jobs=job_named(["sessions"]), console=console)
        console.print(f"nightly: every job for {yesterday}")
        run_range(
            settings, yesterday, yesterday, wh, console=console, on_report=lambda r: console.print(r.table())
        )


def _reports(settings: Settings, console: Console, day: dt.date) -> list[Path]:
    """The HTML readout of every A/B test of `day` (its first table printed), then the fill plan's."""
    from batch import fill_report, readout_report

    written: list[Path] = []
    directory = settings.data_dir / settings.batch.readout_dir  # an absolute readout_dir wins
    with open_configured_warehouse(settings, attach_lake=False) as wh:
        tests = wh.query("SELECT DISTINCT test_id FROM ab_readout WHERE run_date = $d ORDER BY 1", {"d": day})
        for test_id in tests["test_id"].to_pylist():
            rows = readout_report.load_readout(wh, test_id, day)
            console.print(readout_report.console_tables(rows)[0])
            written.append(readout_report.write_report(rows, directory, settings.batch.confidence))
    written.append(fill_report.write_report(settings, day, console=console))
    return written


def _history(settings: Settings, plan: DemoPlan, console: Console, today_ms: int) -> int:
    history = simulation_config(
        seed=plan.seed, users=plan.users, start_ms=today_ms - plan.history_days * _DAY_MS,
        days=float(plan.history_days),
    )  # fmt: skip
    stats = backfill_lake(settings, history)
    console.print(f"history: {stats.summary()}")
    from batch import catalogue

    world = catalogue.Catalogue.from_world(World(history))
    catalogue.publish(catalogue.catalogue_dir(settings.data_dir), world)
    return stats.events


def _live(
    settings: Settings, plan: DemoPlan, console: Console, stack: LocalStack, now_ms: int
) -> tuple[RunStats, Incident]:
    """Replay the live range through the collector; wait until it is landed and counted."""
    live_start_ms = now_ms - plan.live_minutes * _MINUTE_MS
    table, incident = _live_traffic(plan, live_start_ms, now_ms)
    console.print(
        f"live: {table.num_rows:,} events of the last {plan.live_minutes} min through the collector; "
        f"incident: rebuffering ×{incident.magnitude:g} on {incident.value} "
        f"{_hhmm(incident.start_ms)}–{_hhmm(incident.end_ms)} UTC"
    )
    before = _landed_rows(settings)
    stats = _send_live(settings, table)
    console.print(f"live: {stats.summary()}")

    def landed() -> tuple[bool, str]:
        n = _landed_rows(settings) - before
        return n >= stats.events, f"{n:,} of {stats.events:,} live events landed"

    _wait(stack, console, "lander", 300, landed)
    attempts = stats.by_type["PLAY_REQUEST"]
    since = dt.datetime.fromtimestamp(live_start_ms / 1000, dt.UTC)

    def in_qoe_minute(wh: Warehouse) -> int:
        found = wh.query(
            "SELECT coalesce(sum(attempts), 0) AS n FROM qoe_minute "
            "WHERE slice = 'all' AND window_start >= $t",
            {"t": since},
        )
        return int(found["n"][0].as_py())

    def counted() -> tuple[bool, str]:
        n = _read(settings, in_qoe_minute, 0)
        return n >= attempts, f"{n:,} of {attempts:,} live attempts in qoe_minute"

    _wait(stack, console, "QoE job", 180, counted)
    console.print(f"qoe: all {attempts:,} live attempts are in qoe_minute")
    return stats, incident


def run_demo(settings: Settings, plan: DemoPlan | None = None, *, serve: bool = False) -> DemoResult:
    plan = plan or DemoPlan()
    console = Console()
    started = time.monotonic()
    now_ms = int(time.time() * 1000) // _MINUTE_MS * _MINUTE_MS
    today = dt.datetime.fromtimestamp(now_ms / 1000, dt.UTC).date()
    today_ms = int(dt.datetime(today.year, today.month, today.day, tzinfo=dt.UTC).timestamp() * 1000)
    yesterday = today - dt.timedelta(days=1)

    console.rule("[bold]playpulse demo")
    with LocalStack(settings) as stack:
        result = DemoResult(dashboard_url=stack.dashboard_url)
        console.print(f"stack up; dashboard {stack.dashboard_url}")
        result.history_events = _history(settings, plan, console, today_ms)
        live, incident = _live(settings, plan, console, stack, now_ms)
        result.live_events, result.incident = live.events, incident
        alert = _watch_alert(settings, console, stack, incident)
        result.alert = alert
        ended = (
            f"resolved {_hhmm(alert['ended_at'])}"
            if alert["state"] == "resolved"
            else "still firing at the end of the replay (the minutes after the incident were not clear yet)"
        )
        console.print(
            f"alert: {alert['rule']} on {alert['slice']} fired {_hhmm(alert['fired_at'])}, {ended} "
            f"(incident {_hhmm(incident.start_ms)}–{_hhmm(incident.end_ms)})"
        )

        for name in STREAM_WORKERS:
            stack.stop_worker(name)
        _nightly(settings, plan, console, yesterday)
        result.nightly_date = yesterday
        result.reports = _reports(settings, console, yesterday)
        result.seconds = time.monotonic() - started
        _summary(settings, console, result)
        if serve:
            console.print(f"dashboard {result.dashboard_url} — serving until Ctrl-C")
            _serve_until_interrupted(stack)
        else:
            console.print(f"dashboard {result.dashboard_url} — `playpulse dashboards serve` shows it again")
    return result


def _summary(settings: Settings, console: Console, result: DemoResult) -> None:
    console.rule(f"done in {dt.timedelta(seconds=round(result.seconds))}")
    with open_configured_warehouse(settings, attach_lake=False) as wh:
        counts = " UNION ALL ".join(f"SELECT '{t}' AS table_name, count(*) AS rows FROM {t}" for t in _TABLES)
        _print_table(console, "warehouse tables", wh.query(counts))
    for path in result.reports or []:
        console.print(f"report    {path.resolve()}")
    console.print(f"lake      {settings.lake_dir.resolve()}\nwarehouse {settings.duckdb_file.resolve()}")


def _serve_until_interrupted(stack: LocalStack) -> None:
    stop = False

    def request_stop(*_: object) -> None:
        nonlocal stop
        stop = True

    previous = signal.signal(signal.SIGTERM, request_stop), signal.signal(signal.SIGINT, request_stop)
    try:
        while not stop:
            stack.check()
            time.sleep(0.5)
    finally:
        signal.signal(signal.SIGTERM, previous[0])
        signal.signal(signal.SIGINT, previous[1])


def _hhmm(value: int | dt.datetime | None) -> str:
    if value is None:
        return "?"
    if isinstance(value, int):
        value = dt.datetime.fromtimestamp(value / 1000, dt.UTC)
    return f"{value:%H:%M}"
