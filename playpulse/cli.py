"""The `playpulse` command line. Each command is a thin shell over a package function."""

from __future__ import annotations

import logging
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import click

from playpulse.config import Settings, load_settings

__all__ = ["main"]


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )
    # Client libraries log every request at INFO: keep the console for what playpulse says.
    for noisy in ("httpx", "httpcore", "great_expectations", "py4j"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _day_start_ms(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
@click.pass_context
def cli(ctx: click.Context, verbose: bool) -> None:
    """playpulse: video-player telemetry in, QoE, alerts, readouts and fill plans out."""
    _setup_logging(verbose)
    try:
        ctx.obj = load_settings()
    except ValueError as exc:
        raise click.ClickException(f"invalid configuration: {exc}") from exc


# -- the local stack ---------------------------------------------------------------------------
@cli.command()
@click.option("--no-workers", is_flag=True, help="Only the broker and the registry, no lander.")
@click.pass_obj
def up(settings: Settings, no_workers: bool) -> None:
    """Start the embedded stack in the foreground; Ctrl-C (or `playpulse down`) stops all of it."""
    from playpulse.stack import WORKERS, LocalStack, StackError

    stack = LocalStack(settings, workers=() if no_workers else WORKERS)
    try:
        stack.start()
        click.echo(f"kafka     {settings.kafka.bootstrap_servers}")
        click.echo(f"registry  {settings.registry.url}")
        if "collector" in stack.workers:
            collector = f"http://{settings.collector.host}:{settings.collector.port}"
            click.echo(f"collector {collector} (API key in {settings.data_dir / 'secrets' / 'demo.key'})")
        if "web" in stack.workers:
            click.echo(f"dashboard {stack.dashboard_url}")
        if "alerts" in stack.workers:
            click.echo(f"alerts    http://{settings.alerts.web_host}:{settings.alerts.web_port}/")
        click.echo(f"lake      {settings.lake_dir.resolve()}")
        click.echo(f"logs      {stack.log_dir.resolve()}")
        click.echo("playpulse is up; Ctrl-C or `playpulse down` stops it")
        stack.wait()
    except StackError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        stack.stop()
    click.echo("playpulse is down")


@cli.command()
@click.option("--timeout", default=120.0, show_default=True, help="Seconds to wait for Kafka.")
@click.pass_obj
def init(settings: Settings, timeout: float) -> None:
    """Create missing topics, register the event schema, create the warehouse tables; then exit.

    For deployments whose Kafka, registry and warehouse run elsewhere (docker-compose.yml's `init`);
    idempotent. `playpulse up` does the same for the embedded stack.
    """
    from playpulse.broker import ensure_topics, wait_for_broker
    from playpulse.resources import open_configured_warehouse
    from schemas.registry import RegistryClient, event_serde
    from warehouse import WarehouseError

    try:
        wait_for_broker(settings.kafka, timeout_s=timeout)
    except TimeoutError as exc:
        raise click.ClickException(str(exc)) from exc
    created = ensure_topics(settings.kafka)
    click.echo(f"topics    {', '.join(created) if created else 'all present'}")
    with RegistryClient(settings.registry.url) as client:
        event_serde(client)
    click.echo(f"registry  PlaybackEvent registered at {settings.registry.url}")
    try:
        with open_configured_warehouse(settings):
            pass
    except WarehouseError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"warehouse {settings.warehouse.backend}: tables ready")


@cli.command()
@click.pass_obj
def down(settings: Settings) -> None:
    """Stop the stack started by `playpulse up` (found through data_dir/run/stack.json)."""
    from playpulse.stack import stop_running_stack

    click.echo("stopped" if stop_running_stack(settings) else "no running stack found")


@cli.group()
def registry() -> None:
    """The embedded schema registry."""


@registry.command("serve")
@click.option("--host", default="127.0.0.1")
@click.option("--port", default=18081, type=int)
@click.pass_obj
def registry_serve(settings: Settings, host: str, port: int) -> None:
    """Serve the Confluent-compatible registry API (state in data_dir/registry.sqlite)."""
    import uvicorn

    from schemas.registry_server import RegistryStore, create_app

    store = RegistryStore(settings.data_dir / "registry.sqlite")
    uvicorn.run(create_app(store), host=host, port=port, log_level="warning")


@cli.command()
@click.pass_obj
def land(settings: Settings) -> None:
    """Run the lander: playback.events → deduplicated, pseudonymized Parquet lake."""
    from streaming.lander import run_lander

    stats = run_lander(settings)
    click.echo(stats.line())


@cli.command()
@click.pass_obj
def stream(settings: Settings) -> None:
    """Run the live QoE job: playback.events → per-minute QoE in qoe.minute and the warehouse."""
    from streaming.qoe_job import run_stream

    click.echo(str(run_stream(settings)))


@cli.group(invoke_without_command=True)
@click.pass_context
def alerts(ctx: click.Context) -> None:
    """Run the alerts app (qoe.minute → rules and anomaly detectors → qoe.alerts, warehouse, notifiers).

    `playpulse alerts` runs the faust app (also started by `playpulse up`); its web view is at
    alerts.web_host:alerts.web_port. `playpulse alerts list` shows open and recent alerts.
    """
    if ctx.invoked_subcommand is not None:
        return
    from alerts.app import run_alerts
    from alerts.rules import RulesError

    try:
        run_alerts(ctx.obj)
    except RulesError as exc:
        raise click.ClickException(str(exc)) from exc


@alerts.command("list")
@click.option("--limit", default=50, show_default=True, help="Most alerts to show.")
@click.pass_obj
def alerts_list(settings: Settings, limit: int) -> None:
    """Open alerts (pending, firing) and the most recent others, from the warehouse alerts table."""
    from alerts.listing import render_alerts
    from alerts.store import AlertStore
    from playpulse.resources import open_configured_warehouse
    from warehouse import WarehouseError

    store = AlertStore(lambda: open_configured_warehouse(settings, attach_lake=False), retry_s=10)
    try:
        rows = store.recent_rows(limit)
    except WarehouseError as exc:
        raise click.ClickException(str(exc)) from exc
    render_alerts(rows)


@alerts.command("check-rules")
@click.argument("path", type=click.Path(path_type=Path), required=False)
@click.pass_obj
def alerts_check_rules(settings: Settings, path: Path | None) -> None:
    """Validate a rules file (default: alerts.rules_file, else the shipped rules) and list its rules."""
    from alerts.rules import RulesError, load_rules

    try:
        rules = load_rules(path or settings.alerts.rules_file)
    except RulesError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"{rules.source}: version {rules.version}, {len(rules.rules)} rules")
    for rule in rules.rules:
        click.echo(f"  {rule.name:28} {rule.kind:9} {rule.metric:22} {rule.severity}")


# -- data --------------------------------------------------------------------------------------
@cli.command()
@click.option("--to", "target", type=click.Choice(["kafka", "lake"]), default="kafka", show_default=True)
@click.option("--seed", default=7, show_default=True)
@click.option("--users", default=5_000, show_default=True)
@click.option("--start", "start_day", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="First simulated day (UTC). Default: today for kafka, DAYS before today for lake.")
@click.option("--days", default=1.0, show_default=True, help="Simulated days (fractions allowed).")
@click.option("--rate", default=0.0, show_default=True, help="Events/s into Kafka; 0 = as fast as possible.")
@click.option("--ground-truth", type=click.Path(path_type=Path), default=None,
              help="Write incidents and experiments (the truth) as JSON here.")
@click.option("--via", type=click.Choice(["kafka", "http"]), default="kafka", show_default=True,
              help="With --to kafka: produce directly, or POST batches to the collector "
                   "(then sessions start by default in the DAYS before now - 12 h, so they end before now).")
@click.option("--collector-url", default=None, help="With --via http. Default: from collector settings.")
@click.option("--api-key", default=None,
              help="With --via http. Default: $PLAYPULSE_API_KEY, else data_dir/secrets/demo.key.")
@click.pass_obj
def simulate(
    settings: Settings,
    target: str,
    seed: int,
    users: int,
    start_day: datetime | None,
    days: float,
    rate: float,
    ground_truth: Path | None,
    via: str = "kafka",
    collector_url: str | None = None,
    api_key: str | None = None,
) -> None:
    """Simulate players: live into Kafka (directly or through the collector), or history into the lake."""
    if via == "http":
        if target != "kafka":
            raise click.UsageError("--via http sends live events through the collector: use --to kafka")
        from ingest.collector.admin import simulate_via_http

        start_ms = _day_start_ms(start_day.date()) if start_day else None
        try:
            stats = simulate_via_http(settings, seed=seed, users=users, days=days, start_ms=start_ms,
                                      rate=rate or None, ground_truth=ground_truth, url=collector_url,
                                      api_key=api_key)
        except (OSError, RuntimeError) as exc:
            raise click.ClickException(str(exc)) from exc
        click.echo(stats.summary())
        return
    from ingest.simulation_runs import backfill_lake, simulation_config, stream_to_kafka

    today = datetime.now(UTC).date()
    first = start_day.date() if start_day else (today - timedelta(days=int(days)) if target == "lake" else today)
    config = simulation_config(seed=seed, users=users, start_ms=_day_start_ms(first), days=days)
    if target == "lake":
        stats = backfill_lake(settings, config, ground_truth=ground_truth)
        # The simulated world's titles, release calendar and appliances, for forecasts and fill plans.
        from batch import catalogue
        from ingest.simulator import World

        world = catalogue.Catalogue.from_world(World(config))
        catalogue.publish(catalogue.catalogue_dir(settings.data_dir), world)
    else:
        stats = stream_to_kafka(settings, config, rate=rate or None, ground_truth=ground_truth)
    click.echo(stats.summary())


@cli.command()
@click.argument("query")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json", "parquet"]), default="table")
@click.option("--output", type=click.Path(path_type=Path), default=None, help="File to write (parquet needs it).")
@click.pass_obj
def sql(settings: Settings, query: str, fmt: str, output: Path | None) -> None:
    """Run SQL on the warehouse (DuckDB or ClickHouse, per configuration) and print the result."""
    from playpulse.resources import open_configured_warehouse
    from warehouse import WarehouseError
    from warehouse.output import render

    if fmt == "parquet" and output is None:
        raise click.UsageError("--format parquet needs --output FILE")
    try:
        with open_configured_warehouse(settings) as wh:
            result = wh.query(query)
    except WarehouseError as exc:
        raise click.ClickException(str(exc)) from exc
    if output is not None:
        with open(output, "wb") as handle:
            render(result, fmt, handle)
        click.echo(f"{result.num_rows} rows → {output}")
    else:
        render(result, fmt, sys.stdout)


@cli.command()
@click.pass_obj
def dictionary(settings: Settings) -> None:
    """Print the data dictionary of every warehouse table (Markdown)."""
    from warehouse.dictionary import render_dictionary

    click.echo(render_dictionary())


@cli.group()
def schema() -> None:
    """Avro schemas: compatibility and registration."""


@schema.command("check")
def schema_check() -> None:
    """Check that the current PlaybackEvent schema is BACKWARD compatible with every published version."""
    from schemas.history import check_history

    problems = check_history()
    if problems:
        raise click.ClickException("incompatible schema change:\n  " + "\n  ".join(problems))
    click.echo("PlaybackEvent is BACKWARD compatible with every published version")


# -- the collector -----------------------------------------------------------------------------
@cli.command()
@click.option("--host", default=None, help="Default: collector.host.")
@click.option("--port", default=None, type=int, help="Default: collector.port.")
@click.pass_obj
def collect(settings: Settings, host: str | None, port: int | None) -> None:
    """Run the HTTP beacon collector (also started by `playpulse up`)."""
    from ingest.collector.server import run_collector

    run_collector(settings, host, port)


@cli.group()
def keys() -> None:
    """API keys of player applications for the collector (stored only as salted hashes)."""


@keys.command("create")
@click.argument("name")
@click.option("--rate", type=float, default=None, help="Events/s for this key [collector.rate_per_key].")
@click.option("--burst", type=int, default=None, help="Burst for this key. Default: collector.burst_per_key.")
@click.option("--require-signature", is_flag=True, help="Refuse requests without a valid body signature.")
@click.pass_obj
def keys_create(
    settings: Settings, name: str, rate: float | None, burst: int | None, require_signature: bool
) -> None:
    """Create an API key for application NAME; the key is shown once, here."""
    from ingest.collector.admin import create_key

    key, secret, signing = create_key(settings, name, rate_per_s=rate, burst=burst,
                                      require_signature=require_signature)
    click.echo(f"key id          {key.key_id}")
    click.echo(f"api key         {secret}")
    click.echo(f"signing secret  {signing}")
    click.echo("store both now: playpulse keeps only a salted hash of the key")


@keys.command("list")
@click.pass_obj
def keys_list(settings: Settings) -> None:
    """List API keys (ids, applications, status, limits; never the keys)."""
    from ingest.collector.admin import list_keys

    click.echo(list_keys(settings))


@keys.command("revoke")
@click.argument("id_or_name")
@click.pass_obj
def keys_revoke(settings: Settings, id_or_name: str) -> None:
    """Revoke the key with this id, or every active key of this application; takes effect within a second."""
    from ingest.collector.admin import revoke_keys

    revoked = revoke_keys(settings, id_or_name)
    if not revoked:
        raise click.ClickException(f"no active key has the id or application name {id_or_name!r}")
    for key in revoked:
        click.echo(f"revoked {key.key_id} ({key.name})")


# -- dashboards --------------------------------------------------------------------------------
@cli.group()
def dashboards() -> None:
    """Grafana dashboards as code, and the local web dashboard."""


@dashboards.command("build")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Folder to write. Default: dashboards/provisioning (committed, mounted by compose).")
@click.option("--clickhouse-host", default="clickhouse", show_default=True, help="As Grafana reaches it.")
@click.option("--clickhouse-port", default=9000, show_default=True, type=int)
@click.option("--clickhouse-protocol", type=click.Choice(["native", "http"]), default="native",
              show_default=True)
@click.option("--clickhouse-user", default="playpulse", show_default=True)
@click.option("--clickhouse-database", default="playpulse", show_default=True)
def dashboards_build(out: Path | None, clickhouse_host: str, clickhouse_port: int, clickhouse_protocol: str,
                     clickhouse_user: str, clickhouse_database: str) -> None:
    """Write Grafana provisioning: the ClickHouse data source, the provider and every dashboard's JSON."""
    from dashboards.build import DEFAULT_OUT, build
    from dashboards.provisioning import ClickHouseConnection

    connection = ClickHouseConnection(host=clickhouse_host, port=clickhouse_port,
                                      protocol=clickhouse_protocol, username=clickhouse_user,
                                      database=clickhouse_database)
    for path in build(out or DEFAULT_OUT, connection):
        click.echo(str(path))


@dashboards.command("publish")
@click.option("--url", default=None, help="Grafana's base URL. Default: dashboard.grafana_url.")
@click.option("--token", default=None,
              help="Service-account token (Editor). Default: dashboard.grafana_token.")
@click.option("--clickhouse-host", default="clickhouse", show_default=True,
              help="For the data source, when Grafana does not have it yet.")
@click.option("--clickhouse-port", default=9000, show_default=True, type=int)
@click.option("--clickhouse-user", default="playpulse", show_default=True)
@click.option("--clickhouse-password", default=None, help="Stored in the data source's secure fields.")
@click.pass_obj
def dashboards_publish(settings: Settings, url: str | None, token: str | None, clickhouse_host: str,
                       clickhouse_port: int, clickhouse_user: str, clickhouse_password: str | None) -> None:
    """Push the data source (if missing), the `playpulse` folder and every dashboard to a Grafana."""
    from dashboards.provisioning import ClickHouseConnection
    from dashboards.publish import PublishError, publish

    url = url or settings.dashboard.grafana_url
    if token is None and settings.dashboard.grafana_token is not None:
        token = settings.dashboard.grafana_token.get_secret_value()
    if not url:
        raise click.UsageError("give --url (or set dashboard.grafana_url / PLAYPULSE_DASHBOARD__GRAFANA_URL)")
    connection = ClickHouseConnection(host=clickhouse_host, port=clickhouse_port, username=clickhouse_user)
    try:
        saved = publish(url, token or "", connection=connection, clickhouse_password=clickhouse_password)
    except PublishError as exc:
        raise click.ClickException(str(exc)) from exc
    for item in saved:
        click.echo(f"{item.title:<20} version {item.version:<4} {url.rstrip('/')}{item.url}")


@dashboards.command("check")
@click.pass_obj
def dashboards_check(settings: Settings) -> None:
    """Run every Grafana query on the configured ClickHouse warehouse; fail if any breaks."""
    from dashboards.check import check_queries
    from playpulse.resources import open_configured_warehouse
    from warehouse import WarehouseError

    if settings.warehouse.backend != "clickhouse":
        raise click.UsageError("Grafana's panels query ClickHouse: set warehouse.backend=clickhouse")
    try:
        with open_configured_warehouse(settings, attach_lake=False) as wh:
            checks = check_queries(wh)
    except WarehouseError as exc:
        raise click.ClickException(str(exc)) from exc
    for check in checks:
        status = f"{check.rows:>6} rows" if check.ok else f"FAILED: {check.problem}"
        click.echo(f"{check.dashboard:<16} {check.item:<40} {status}")
    failed = [c for c in checks if not c.ok]
    if failed:
        raise click.ClickException(f"{len(failed)} of {len(checks)} dashboard queries failed")
    click.echo(f"all {len(checks)} dashboard queries run")


@dashboards.command("serve")
@click.option("--host", default=None, help="Default: dashboard.host.")
@click.option("--port", default=None, type=int, help="Default: dashboard.port.")
@click.pass_obj
def dashboards_serve(settings: Settings, host: str | None, port: int | None) -> None:
    """Serve the local web dashboard over the configured warehouse (also started by `playpulse up`)."""
    from dashboards.web.app import serve

    address = f"{host or settings.dashboard.host}:{port or settings.dashboard.port}"
    click.echo(f"dashboard http://{address}/", err=True)
    serve(settings, host, port)


# -- nightly batch ---------------------------------------------------------------------------
@cli.group()
def batch() -> None:
    """The nightly Spark jobs: sessions, engagement, A/B readouts (staged, validated, then published)."""


@batch.command("run")
@click.option("--date", "day", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="The UTC date to run (default: yesterday).")
@click.option("--from", "first", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="Backfill from this date…")
@click.option("--to", "last", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="…to this date (inclusive).")
@click.option("--jobs", "only", default=None, help="Comma-separated job names (default: every nightly job).")
@click.pass_obj
def batch_run(
    settings: Settings, day: datetime | None, first: datetime | None, last: datetime | None, only: str | None
) -> None:
    """Run the nightly jobs for one date or a range; re-running a date replaces exactly its rows."""
    from rich.console import Console

    from batch.jobs import job_named, nightly_jobs
    from batch.runner import BatchRunError, run_range
    from playpulse.resources import open_configured_warehouse
    from warehouse import WarehouseError

    if day is not None and (first is not None or last is not None):
        raise click.UsageError("give --date, or --from and --to, not both")
    if (first is None) != (last is None):
        raise click.UsageError("--from and --to go together")
    if first is not None and last is not None and last < first:
        raise click.UsageError(f"--to ({last.date()}) is before --from ({first.date()})")
    if day is None and first is None:
        start = end = datetime.now(UTC).date() - timedelta(days=1)
    elif day is not None:
        start = end = day.date()
    else:
        assert first is not None and last is not None
        start, end = first.date(), last.date()
    try:
        jobs = job_named([n.strip() for n in only.split(",")]) if only else nightly_jobs()
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    console = Console()
    try:
        with open_configured_warehouse(settings) as wh:
            run_range(settings, start, end, wh, jobs=jobs, console=console,
                      on_report=lambda report: console.print(report.table()))
    except BatchRunError as exc:
        console.print(exc.report.table())
        raise click.ClickException(str(exc)) from exc
    except WarehouseError as exc:
        raise click.ClickException(str(exc)) from exc


@batch.command("schedule")
@click.pass_obj
def batch_schedule(settings: Settings) -> None:
    """Run the nightly jobs every night at batch.nightly_at (local time), catching up missed days."""
    from rich.console import Console

    from batch.schedule import run_schedule
    from playpulse.resources import open_configured_warehouse

    console = Console()
    zone = settings.batch.timezone or "local time"
    click.echo(f"nightly at {settings.batch.nightly_at} {zone}; Ctrl-C stops")
    try:
        run_schedule(settings, lambda: open_configured_warehouse(settings),
                     on_report=lambda report: console.print(report.table()))
    except KeyboardInterrupt:
        click.echo("scheduler stopped")


@cli.command()
@click.argument("test_id")
@click.option("--date", "day", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="The readout of this run date (default: the latest).")
@click.option("--output", type=click.Path(path_type=Path), default=None,
              help="HTML file to write (default: data_dir/readouts/TEST-DATE.html).")
@click.pass_obj
def readout(settings: Settings, test_id: str, day: datetime | None, output: Path | None) -> None:
    """Print an A/B test's readout and write its HTML report with plots."""
    from rich.console import Console

    from batch.readout_report import console_tables, html_report, load_readout
    from playpulse.resources import open_configured_warehouse
    from warehouse import WarehouseError

    try:
        with open_configured_warehouse(settings, attach_lake=False) as wh:
            rows = load_readout(wh, test_id, day.date() if day else None)
    except (LookupError, WarehouseError) as exc:
        raise click.ClickException(str(exc)) from exc
    console = Console()
    for table in console_tables(rows):
        console.print(table)
    if output is None:
        directory = settings.batch.readout_dir
        directory = directory if directory.is_absolute() else settings.data_dir / directory
        output = directory / f"{test_id}-{rows[0]['run_date']}.html"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(html_report(rows, settings.batch.confidence), encoding="utf-8")
    click.echo(f"report → {output}")


@cli.command("fill-plan")
@click.option("--date", "day", type=click.DateTime(["%Y-%m-%d"]), required=True,
              help="Run date of the plan (it serves the day after).")
@click.option("--output", type=click.Path(path_type=Path), default=None,
              help="HTML file to write (default: data_dir/reports/fill-plan-DATE.html).")
@click.pass_obj
def fill_plan(settings: Settings, day: datetime, output: Path | None) -> None:
    """Print a night's OCA fill plan, scored against LRU and an oracle when the next day's sessions are
    in, and write its HTML report with plots."""
    from batch.fill_report import write_report
    from warehouse import WarehouseError

    try:
        path = write_report(settings, day.date(), output=output)
    except (LookupError, FileNotFoundError, WarehouseError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"report → {path}")


# -- the demo ----------------------------------------------------------------------------------
@cli.command()
@click.option("--users", default=1_000, show_default=True, help="Members in the simulated history.")
@click.option("--history-days", default=14, show_default=True, help="Days of history put in the lake.")
@click.option("--live-minutes", default=70, show_default=True, help="Minutes up to now, through the collector.")
@click.option("--live-users", default=10_000, show_default=True, help="Members active in the live replay.")
@click.option("--serve/--no-serve", default=None,
              help="Keep the dashboard up after the summary until Ctrl-C. Default: when on a terminal.")
@click.pass_obj
def demo(settings: Settings, users: int, history_days: int, live_minutes: int, live_users: int,
         serve: bool | None) -> None:
    """Start the stack, backfill history, stream today live with an incident, alert, run the nightly
    jobs, write readouts and the fill plan, and end with a summary and the dashboard URL."""
    import sys

    from playpulse.demo import DemoPlan, run_demo

    try:
        plan = DemoPlan(
            users=users, history_days=history_days, live_minutes=live_minutes, live_users=live_users
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    run_demo(settings, plan, serve=sys.stdout.isatty() if serve is None else serve)


def main() -> None:
    cli(prog_name="playpulse")


if __name__ == "__main__":
    main()
