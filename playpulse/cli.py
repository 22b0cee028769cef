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
    for noisy in ("httpx", "httpcore"):
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


# -- the demo ----------------------------------------------------------------------------------
@cli.command()
@click.option("--users", default=2_000, show_default=True)
@click.option("--history-days", default=7, show_default=True)
@click.option("--live-minutes", default=30, show_default=True)
@click.pass_obj
def demo(settings: Settings, users: int, history_days: int, live_minutes: int) -> None:
    """Start the stack, backfill history, stream live, land it, and query the warehouse."""
    from playpulse.demo import run_demo

    run_demo(settings, users=users, history_days=history_days, live_minutes=live_minutes)


def main() -> None:
    cli(prog_name="playpulse")


if __name__ == "__main__":
    main()
