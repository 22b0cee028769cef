"""The live QoE job (`playpulse stream`): playback.events → qoe.minute topic and warehouse table.

Per batch: decode, place each partition's events into event-time windows (`streaming.windows`),
fold them into the aggregator (`streaming.qoe`), and close the windows the watermark passed.
About every second (`tick`): write the final rows of closed windows and, every
`provisional_every_s`, provisional rows of open windows — to the compacted topic `qoe.minute`
(key = window|slice|dimensions|partition, JSON value) and upserted into `qoe_minute` — then save
each partition's checkpoint in `stream_checkpoints`, and only then let the runtime commit.

Exactly-once effect: every output row is keyed by (window, slice, source partition), so writing
it again changes nothing; a restarted worker resumes each partition from its checkpoint, which
replays exactly the rows emitted after it (see `streaming.windows`). The embedded broker cannot
store commit metadata, so checkpoints live in the warehouse, which every worker shares.
"""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
from confluent_kafka import Message

from ingest.dead_letter import DeadLetters
from ingest.producer import EventProducer
from playpulse.config import Settings
from schemas.serde import AvroSerde
from schemas.topics import EVENTS, QOE_MINUTE
from streaming.qoe import DEFAULT_SLICES, QoeAggregator
from streaming.windows import Assigned, Checkpoint, PartitionWindows
from warehouse import Warehouse, WarehouseError
from warehouse.tables import QOE_DIMENSIONS, STREAM_CHECKPOINTS
from warehouse.tables import QOE_MINUTE as QOE_MINUTE_TABLE

__all__ = ["QoeJob", "QoeOutput", "topic_records"]

log = logging.getLogger("playpulse.qoe")
JOB = "qoe"


def topic_records(rows: pa.Table) -> tuple[list[str], list[bytes]]:
    """Keys (`window_ms|slice|dimensions…|partition`) and JSON values of qoe_minute rows.

    Times are milliseconds since the epoch, the sketch is base64 of its protobuf bytes, and a
    metric that has no value (e.g. VST of a row without starts) is null.
    """
    window_ms = pc.cast(pc.cast(rows["window_start"], pa.timestamp("ms")), pa.int64())
    parts = [
        pc.cast(window_ms, pa.string()),
        rows["slice"],
        *(rows[d] for d in QOE_DIMENSIONS),
        pc.cast(rows["source_partition"], pa.string()),
    ]
    keys = pc.binary_join_element_wise(*parts, "|").to_pylist()
    plain = rows.set_column(rows.schema.get_field_index("window_start"), "window_start", window_ms)
    emitted = pc.cast(pc.cast(rows["emitted_at"], pa.timestamp("ms")), pa.int64())
    plain = plain.set_column(plain.schema.get_field_index("emitted_at"), "emitted_at", emitted)
    sketches = [None if b is None else base64.b64encode(b).decode() for b in rows["vst_sketch"].to_pylist()]
    plain = plain.set_column(
        plain.schema.get_field_index("vst_sketch"), "vst_sketch", pa.array(sketches, pa.string())
    )
    return keys, [orjson.dumps(record) for record in plain.to_pylist()]


class QoeOutput:
    """Where the job's rows and checkpoints go: the qoe.minute topic and the warehouse."""

    def __init__(
        self, settings: Settings, open_warehouse: Callable[[], Warehouse], *, retry_s: float = 30.0
    ) -> None:
        self._open = open_warehouse
        self._retry_s = retry_s
        self.topic = EventProducer(settings.kafka, topic=QOE_MINUTE.name, max_buffered=200_000)
        self.rows_written = 0

    def with_warehouse(self, action: Callable[[Warehouse], object]) -> object:
        """Run `action` on a short-lived connection; DuckDB admits one writer process at a time."""
        deadline = time.monotonic() + self._retry_s
        delay = 0.05
        while True:
            try:
                with self._open() as wh:
                    return action(wh)
            except WarehouseError as exc:
                if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 1.0)

    def write(self, rows: pa.Table, checkpoints: dict[int, Checkpoint] | None = None) -> None:
        """Rows to the topic (flushed), then rows and checkpoints to the warehouse, in that order,
        through one connection: a checkpoint is never ahead of the rows it covers."""
        if rows.num_rows:
            keys, values = topic_records(rows)
            self.topic.send_many(keys, values)
            self.topic.flush()
        table = _checkpoint_table(checkpoints or {})
        if rows.num_rows == 0 and table.num_rows == 0:
            return

        def store(wh: Warehouse) -> None:
            if rows.num_rows:
                wh.upsert("qoe_minute", rows)
            if table.num_rows:
                wh.upsert("stream_checkpoints", table)

        self.with_warehouse(store)
        self.rows_written += rows.num_rows

    def load_checkpoints(self, partitions: list[int]) -> dict[int, Checkpoint]:
        def load(wh: Warehouse) -> pa.Table:
            return wh.query(
                "SELECT kafka_partition, resume_offset, max_ts_before_ms, closed_through_ms "
                "FROM stream_checkpoints WHERE job = $job AND topic = $topic",
                {"job": JOB, "topic": EVENTS.name},
            )

        found = self.with_warehouse(load)
        assert isinstance(found, pa.Table)
        return {
            r["kafka_partition"]: Checkpoint(
                r["resume_offset"], r["max_ts_before_ms"], r["closed_through_ms"]
            )
            for r in found.to_pylist()
            if r["kafka_partition"] in partitions
        }

    def save_checkpoints(self, checkpoints: dict[int, Checkpoint]) -> None:
        self.write(QOE_MINUTE_TABLE.arrow_schema.empty_table(), checkpoints)


def _checkpoint_table(checkpoints: dict[int, Checkpoint]) -> pa.Table:
    now = datetime.now(UTC)
    return pa.Table.from_pylist(
        [
            {
                "job": JOB,
                "topic": EVENTS.name,
                "kafka_partition": p,
                "resume_offset": c.offset,
                "max_ts_before_ms": c.max_ts_before,
                "closed_through_ms": c.closed_through,
                "updated_at": now,
            }
            for p, c in sorted(checkpoints.items())
        ],
        schema=STREAM_CHECKPOINTS.arrow_schema,
    )


@dataclass
class QoeStats:
    events: int = 0
    dead_lettered: int = 0
    late: int = 0
    final_rows: int = 0
    provisional_rows: int = 0


class QoeJob:
    """The QoE job as a `streaming.runtime.Job`."""

    name = "qoe"

    def __init__(
        self,
        settings: Settings,
        serde: AvroSerde,
        output: QoeOutput,
        *,
        slices: tuple[tuple[str, ...], ...] = DEFAULT_SLICES,
        lateness_ms: int = 30_000,
        provisional_every_s: float = 5.0,
    ) -> None:
        self.serde = serde
        self.output = output
        self.lateness_ms = lateness_ms
        self.provisional_every_s = provisional_every_s
        self.aggregator = QoeAggregator(slices=slices)
        self.windows: dict[int, PartitionWindows] = {}
        self.next_offset: dict[int, int] = {}
        self.stats = QoeStats()
        self.dead_letters = DeadLetters(settings.kafka, source="qoe")
        self._final: list[pa.Table] = []
        self._saved: dict[int, Checkpoint] = {}
        self._last_provisional = 0.0

    # -- runtime callbacks ---------------------------------------------------------------------
    def assigned(self, partitions: list[int]) -> dict[int, int | None]:
        checkpoints = self.output.load_checkpoints(partitions)
        for p in partitions:
            self.windows[p] = PartitionWindows.resume(p, checkpoints.get(p), self.lateness_ms)
            self.next_offset.pop(p, None)
            self._saved.pop(p, None)
        return {p: c.offset for p, c in checkpoints.items()}

    def process(self, messages: list[Message]) -> None:
        """Decode the whole batch at once (columnar); undecodable messages go to the dead-letter topic."""
        decoded = self.serde.decode_batch([m.value() for m in messages])
        # One pass over the message objects for their coordinates; the rest is array indexing.
        partitions = np.fromiter((m.partition() for m in messages), np.int32, len(messages))
        offsets = np.fromiter((m.offset() for m in messages), np.int64, len(messages))
        if decoded.table.num_rows:
            self.fold(decoded.table, partitions[decoded.rows], offsets[decoded.rows])
        for row, error in zip(decoded.bad_rows.tolist(), decoded.errors, strict=True):
            bad = messages[row]
            self.dead_letters.send(bad, reason="undecodable", detail=error)
            self.stats.dead_lettered += 1
            self.next_offset[bad.partition()] = max(
                self.next_offset.get(bad.partition(), 0), bad.offset() + 1
            )

    def fold(self, events: pa.Table, partitions: np.ndarray, offsets: np.ndarray) -> None:
        """Fold decoded events (with their source partition and offset) into the windows."""
        ts = events["event_ts_ms"].to_numpy()
        window_start = np.empty(ts.size, np.int64)
        late = np.empty(ts.size, bool)
        keep = np.empty(ts.size, bool)
        touched = np.unique(partitions).tolist()
        for p in touched:
            rows = np.flatnonzero(partitions == p)
            windows = self.windows.setdefault(p, PartitionWindows(p, self.lateness_ms))
            assigned = windows.assign(ts[rows], offsets[rows])
            window_start[rows], late[rows], keep[rows] = assigned.window_start, assigned.late, assigned.keep
            self.next_offset[p] = int(offsets[rows[-1]]) + 1
        self.aggregator.add(events, partitions, Assigned(window_start, late, keep))
        self.stats.late += int(late.sum())
        closed = [(p, w) for p in touched for w in self.windows[p].close()]
        if closed:
            final = self.aggregator.emit(closed, provisional=False, emitted_at_ms=_now_ms(), drop=True)
            self._final.append(final)
            self.stats.final_rows += final.num_rows
        self.stats.events += len(ts)

    def tick(self, now: float, force_provisional: bool = False) -> dict[int, int]:
        rows = self._final
        self._final = []
        if force_provisional or now - self._last_provisional >= self.provisional_every_s:
            open_keys = sorted(self.aggregator.open_keys())
            if open_keys:
                provisional = self.aggregator.emit(
                    open_keys, provisional=True, emitted_at_ms=_now_ms(), drop=False
                )
                rows = [*rows, provisional]
                self.stats.provisional_rows += provisional.num_rows
            self._last_provisional = now
        checkpoints = {
            p: self.windows[p].checkpoint(self.next_offset[p]) for p in self.next_offset if p in self.windows
        }
        # A checkpoint moves only when windows open or close; rewrite only those that moved.
        changed = {p: c for p, c in checkpoints.items() if self._saved.get(p) != c}
        table = pa.concat_tables(rows) if rows else QOE_MINUTE_TABLE.arrow_schema.empty_table()
        self.output.write(table, changed)
        self._saved.update(changed)
        self.dead_letters.flush()
        return {p: c.offset for p, c in checkpoints.items()}

    def revoked(self, partitions: list[int]) -> dict[int, int]:
        offsets = self.tick(time.monotonic(), force_provisional=True)
        for p in partitions:
            windows = self.windows.pop(p, None)
            if windows is not None:  # forget the partition's open windows: its next owner rebuilds them
                self.aggregator.emit(
                    [(p, w) for w in windows.open_windows()],
                    provisional=True,
                    emitted_at_ms=_now_ms(),
                    drop=True,
                )
            self.next_offset.pop(p, None)
        return {p: o for p, o in offsets.items() if p in partitions}

    def close(self) -> dict[int, int]:
        return self.tick(time.monotonic(), force_provisional=True)


def _now_ms() -> int:
    return int(time.time() * 1000)


def run_stream(settings: Settings, until: Callable[[], bool] | None = None) -> QoeStats:
    """Entry point of `playpulse stream`: one QoE worker of the consumer group, until SIGTERM/SIGINT."""
    from playpulse.resources import open_configured_warehouse
    from schemas.registry import RegistryClient, event_serde
    from streaming.runtime import Runtime

    output = QoeOutput(settings, lambda: open_configured_warehouse(settings, attach_lake=False, create=False))
    # Create the tables once (retrying while another process holds the DuckDB file); the job then
    # opens short-lived connections.
    output.with_warehouse(lambda wh: wh.create_tables())
    with RegistryClient(settings.registry.url) as registry:  # open while running: older writer ids
        job = QoeJob(settings, event_serde(registry), output)
        runtime = Runtime(settings.kafka, settings.qoe_group, EVENTS.name, job)
        runtime.install_signal_handlers()
        runtime.run(until=until)
    log.info("qoe job: %s", job.stats)
    return job.stats
