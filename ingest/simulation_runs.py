"""Running the player simulator into its two outputs: live into Kafka, and history into the lake.

- `stream_to_kafka`: every simulated event through the producer (Avro, key = user_id), in event
  time order, at a target rate or as fast as the broker takes them.
- `backfill_lake`: weeks of history straight into the Parquet lake, pseudonymized like the
  lander does, one file per hour touched, named `sim-s{seed}-{start_ms}-{end_ms}.parquet`. A
  run removes the files of an earlier run with the same seed and range first, so re-running a
  backfill is idempotent; other files (other runs, the lander's) are never touched. Sessions
  requested inside the range are emitted whole, so a run writes a few hours past its end.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from ingest.producer import EventProducer
from ingest.simulator import SimulationConfig, Simulator
from playpulse.config import Settings
from playpulse.resources import pseudonymizer
from schemas.registry import RegistryClient, event_serde
from warehouse import lake

__all__ = ["RunStats", "backfill_lake", "simulation_config", "stream_to_kafka"]

_HOUR_MS = 3_600_000


@dataclass
class RunStats:
    target: str
    events: int = 0
    by_type: Counter[str] = field(default_factory=Counter)
    files: int = 0
    seconds: float = 0.0

    def add(self, batch: pa.RecordBatch | pa.Table) -> None:
        self.events += batch.num_rows
        counts = pc.value_counts(batch["event_type"])
        for item in counts.to_pylist():
            self.by_type[item["values"]] += item["counts"]

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0

    def summary(self) -> str:
        types = ", ".join(f"{name} {count:,}" for name, count in sorted(self.by_type.items()))
        extra = f" in {self.files} files" if self.files else ""
        return f"{self.events:,} events → {self.target}{extra} in {self.seconds:.1f} s ({self.rate:,.0f}/s): {types}"


def simulation_config(**overrides: Any) -> SimulationConfig:
    return SimulationConfig(**overrides)


def _progress(description: str, total_ms: int, show: bool) -> Progress:
    return Progress(
        TextColumn(f"[bold]{description}"),
        BarColumn(),
        TextColumn("{task.fields[events]:>12,} events"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        disable=not show,
    )


def _range(config: SimulationConfig) -> tuple[int, int]:
    return config.start_ms, config.end_ms


def stream_to_kafka(
    settings: Settings,
    config: SimulationConfig,
    *,
    rate: float | None = None,
    ground_truth: Path | None = None,
    progress: bool = True,
    producer: EventProducer | None = None,
) -> RunStats:
    """Produce the simulated events to `playback.events`; waits until the broker has them all."""
    simulator = Simulator(config)
    if ground_truth is not None:
        simulator.write_ground_truth(ground_truth)
    own_producer = producer is None
    if producer is None:
        with RegistryClient(settings.registry.url) as registry:
            producer = EventProducer(settings.kafka, event_serde(registry))
        producer.check_broker()
    stats = RunStats("kafka playback.events")
    start_ms, end_ms = _range(config)
    started = time.monotonic()
    with _progress("simulate → kafka", end_ms - start_ms, progress) as bar:
        task = bar.add_task("", total=end_ms - start_ms, events=0)
        for batch in simulator.event_batches():
            if rate:
                # Pace whole batches: sleep until this batch is due at the target rate.
                due = started + (stats.events + batch.num_rows) / rate
                time.sleep(max(0.0, due - time.monotonic()))
            producer.send_batch(batch)
            stats.add(batch)
            last = batch["event_ts_ms"][-1].as_py()
            bar.update(task, completed=last - start_ms, events=stats.events)
        if own_producer:
            producer.flush()
        bar.update(task, completed=end_ms - start_ms)
    stats.seconds = time.monotonic() - started
    return stats


def backfill_lake(
    settings: Settings,
    config: SimulationConfig,
    *,
    ground_truth: Path | None = None,
    progress: bool = True,
) -> RunStats:
    """Write the simulated history into the lake, replacing earlier backfills of the same hours."""
    simulator = Simulator(config)
    if ground_truth is not None:
        simulator.write_ground_truth(ground_truth)
    pseudonymize = pseudonymizer(settings)
    stats = RunStats(f"lake {settings.lake_dir}")
    start_ms, end_ms = _range(config)
    stem = f"sim-s{config.seed}-{start_ms}-{end_ms}"
    for old in lake.list_files(settings.lake_dir, prefix=stem):
        old.unlink()
    pending: list[pa.Table] = []
    written_until = start_ms // _HOUR_MS * _HOUR_MS
    started = time.monotonic()

    def write(table: pa.Table) -> None:
        table = pseudonymize.apply(table)
        stats.files += len(lake.write_events(settings.lake_dir, table, stem))

    with _progress("simulate → lake", end_ms - start_ms, progress) as bar:
        task = bar.add_task("", total=end_ms - start_ms, events=0)
        for batch in simulator.event_batches():
            stats.add(batch)
            pending.append(pa.Table.from_batches([batch]))
            # The stream is time-ordered: every hour before the one of its last event is complete.
            last_ts = batch["event_ts_ms"][-1].as_py()
            boundary = last_ts // _HOUR_MS * _HOUR_MS
            if boundary > written_until:
                table = pa.concat_tables(pending)
                complete = pc.less(table["event_ts_ms"], boundary)
                write(table.filter(complete))
                pending = [table.filter(pc.invert(complete))]
                written_until = boundary
            bar.update(task, completed=min(last_ts, end_ms) - start_ms, events=stats.events)
        if pending:
            write(pa.concat_tables(pending))
        bar.update(task, completed=end_ms - start_ms)
    stats.seconds = time.monotonic() - started
    return stats
