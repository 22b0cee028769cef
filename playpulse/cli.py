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
@click.option("--idle-exit", type=float, default=None, help="Exit after this many seconds without input.")
@click.pass_obj
def land(settings: Settings, idle_exit: float | None) -> None:
    """Run the lander: playback.events → deduplicated, pseudonymized Parquet lake."""
    from streaming.lander import run_lander

    stats = run_lander(settings, idle_exit_s=idle_exit)
    click.echo(stats.line())


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
) -> None:
    """Simulate players: live into Kafka, or history straight into the lake."""
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
    from warehouse.dictionary import markdown

    click.echo(markdown())


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
