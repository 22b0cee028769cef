"""The lander: consumes `playback.events` and archives every event once in the Parquet lake.

Guarantees, also across a SIGKILL at any instant:
- No loss: offsets are committed only after the files holding the events are durable
  (written, fsynced, renamed), so a crash replays at most what was not yet committed.
- No duplicates: events are deduplicated on `event_id` within each Kafka partition and event
  hour. A user's events share a partition (key = user_id), so a replayed batch, a beacon the
  client sent twice or a producer retry all meet the ids already landed. The ids of a
  (partition, hour) are loaded from that partition's lake files the first time the hour is
  touched, and kept for the most recent `dedup_hours` hours touched per partition.
- Pseudonymized: user ids are replaced by their keyed hash before anything is written.
- Bad input is data: a message that does not decode goes to `playback.events.dlq` with the
  reason in its headers, and is counted; it never stops the lander.

It runs on the batch runtime (`streaming.runtime`), like the QoE job. Messages are kept raw per
partition and decoded at flush, a partition's batch at once, by the
columnar codec (`AvroSerde.decode_batch`); dead letters are sent in that flush, before the commit.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from confluent_kafka import Message

from ingest.dead_letter import DeadLetters
from playpulse.config import Settings
from playpulse.resources import pseudonymizer
from schemas.events import EVENT_SCHEMA
from schemas.registry import RegistryClient, event_serde
from schemas.serde import AvroSerde
from schemas.topics import EVENTS
from streaming.runtime import Runtime
from warehouse import lake

__all__ = ["Lander", "LanderStats", "run_lander"]

log = logging.getLogger("playpulse.lander")
_HOUR_MS = 3_600_000


@dataclass
class LanderStats:
    consumed: int = 0
    landed: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    files: int = 0
    flushes: int = 0
    started: float = field(default_factory=time.monotonic)

    def line(self) -> str:
        rate = self.consumed / max(time.monotonic() - self.started, 1e-9)
        return (
            f"consumed={self.consumed} landed={self.landed} duplicates={self.duplicates} "
            f"dead_lettered={self.dead_lettered} files={self.files} rate={rate:,.0f}/s"
        )


class _PartitionBuffer:
    """Raw messages of one Kafka partition waiting for the next flush (decoded there, at once)."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.first_offset: int | None = None
        self.next_offset: int | None = None

    def add(self, message: Message, offset: int) -> None:
        if self.first_offset is None:
            self.first_offset = offset
        self.messages.append(message)
        self.next_offset = offset + 1


class Lander:
    """The lander as a `streaming.runtime.Job`: one member of the lander consumer group."""

    name = "lander"

    def __init__(self, settings: Settings, serde: AvroSerde, *, dedup_hours: int = 6) -> None:
        self.settings = settings
        self.serde = serde
        self.lake_dir = settings.lake_dir
        self.stats = LanderStats()
        self.dedup_hours = dedup_hours
        self.pseudonymizer = pseudonymizer(settings)
        self._buffers: dict[int, _PartitionBuffer] = {}
        self._seen: dict[int, OrderedDict[int, set[str]]] = {}
        self._last_flush = time.monotonic()
        self.dead_letters = DeadLetters(settings.kafka)

    # -- runtime callbacks ---------------------------------------------------------------------
    def assigned(self, partitions: list[int]) -> dict[int, int | None]:
        for partition in partitions:
            self._seen[partition] = OrderedDict()
            lake.remove_temporary(self.lake_dir, prefix=f"p{partition:02d}-")
        return {}  # resume from the group's committed offsets: they only move after durable files

    def process(self, messages: list[Message]) -> None:
        for message in messages:
            self._buffers.setdefault(message.partition(), _PartitionBuffer()).add(message, message.offset())
        self.stats.consumed += len(messages)

    def tick(self, now: float) -> dict[int, int]:
        buffered = sum(len(b.messages) for b in self._buffers.values())
        if buffered >= self.settings.lander_flush_events or (
            buffered and now - self._last_flush >= self.settings.lander_flush_s
        ):
            self._last_flush = now
            return self.flush()
        return {}

    def revoked(self, partitions: list[int]) -> dict[int, int]:
        commits = self.flush(only=set(partitions))
        for partition in partitions:
            self._buffers.pop(partition, None)
            self._seen.pop(partition, None)
        return commits

    def close(self) -> dict[int, int]:
        commits = self.flush()
        self.dead_letters.flush()
        log.info("lander stopped: %s", self.stats.line())
        return commits

    # -- writing -------------------------------------------------------------------------------
    def _seen_ids(self, partition: int, hour: int) -> set[str]:
        """Event ids already in the lake for (partition, hour), loaded from its files once."""
        hours = self._seen.setdefault(partition, OrderedDict())
        if hour not in hours:
            files = lake.list_files(self.lake_dir, prefix=f"p{partition:02d}-", hour_index=hour)
            hours[hour] = lake.read_event_ids(files)
            while len(hours) > self.dedup_hours:
                hours.popitem(last=False)
        hours.move_to_end(hour)
        return hours[hour]

    def flush(self, only: set[int] | None = None) -> dict[int, int]:
        """Write buffered events to the lake, durably; returns the offsets that are now safe to commit."""
        commits: dict[int, int] = {}
        for partition, buffer in list(self._buffers.items()):
            if (only is not None and partition not in only) or buffer.next_offset is None:
                continue
            if buffer.messages:
                self._write(partition, buffer)
            commits[partition] = buffer.next_offset
            self._buffers[partition] = _PartitionBuffer()
        self.dead_letters.flush()
        if commits:
            self.stats.flushes += 1
        return commits

    def _write(self, partition: int, buffer: _PartitionBuffer) -> None:
        decoded = self.serde.decode_batch([message.value() for message in buffer.messages])
        for row, error in zip(decoded.bad_rows.tolist(), decoded.errors, strict=True):
            self.dead_letters.send(buffer.messages[row], reason="undecodable", detail=error)
        self.stats.dead_lettered += len(decoded.errors)
        table = decoded.table
        for hour, rows in lake.iter_hour_groups(table):
            seen = self._seen_ids(partition, hour)
            ids = rows["event_id"]
            # Drop ids already landed, then repeats inside this batch (the first one wins).
            if seen:
                rows = rows.filter(
                    pc.invert(pc.is_in(rows["event_id"], value_set=pa.array(list(seen), pa.string())))
                )
            unique_idx = _first_occurrences(rows["event_id"])
            self.stats.duplicates += len(ids) - len(unique_idx)
            if len(unique_idx) == 0:
                continue
            rows = self.pseudonymizer.apply(rows.take(unique_idx)).cast(EVENT_SCHEMA)
            stem = f"p{partition:02d}-o{buffer.first_offset:012d}-{time.time_ns():x}"
            lake.write_atomic(rows, lake.hour_dir(self.lake_dir, hour) / f"{stem}.parquet")
            seen.update(rows["event_id"].to_pylist())
            self.stats.landed += rows.num_rows
            self.stats.files += 1


def _first_occurrences(ids: pa.ChunkedArray) -> pa.Array:
    """Row numbers of the first occurrence of each distinct id, in row order."""
    if len(ids) == 0:
        return pa.array([], pa.int64())
    numbered = pa.table({"id": ids, "row": pa.array(np.arange(len(ids)))})
    first = numbered.group_by("id", use_threads=False).aggregate([("row", "min")])["row_min"]
    return pa.array(np.sort(first.to_numpy()))


def run_lander(settings: Settings, until: Callable[[], bool] | None = None) -> LanderStats:
    """Entry point of `playpulse land`: one lander on the batch runtime until SIGTERM/SIGINT."""
    with RegistryClient(settings.registry.url) as registry:  # open while running: older writer ids
        lander = Lander(settings, event_serde(registry))
        runtime = Runtime(settings.kafka, settings.lander_group, EVENTS.name, lander, tick_s=0.2)
        runtime.install_signal_handlers()
        runtime.run(until=until)
    return lander.stats
