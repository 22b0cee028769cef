"""`Simulator`: a live player population as a time-ordered stream of Arrow event batches.

Guarantees of `Simulator(config).event_batches(start_ms, end_ms, batch_rows)`:

- Every session *requested* in [start_ms, end_ms) is emitted completely, from PLAY_REQUEST to
  PLAY_END; its last events may lie after end_ms (sessions run to their natural end).
- Batches are in exactly `schemas.events.EVENT_SCHEMA`, `batch_rows` rows each except the last,
  and the stream is globally ordered by (event_ts_ms, session, seq): generation runs chunk by
  chunk, and events of sessions still playing at a chunk's end are carried over until every
  event before that end is known. Memory is bounded by the events of the sessions in flight.
- The stream is a pure function of the config (not of the range): any range that starts and ends
  on chunk boundaries yields exactly the events the full range yields in that span of requests.
- `stats` counts what has been handed over, as it is handed over; `ground_truth()` says what was
  injected. Nothing here does I/O except `write_ground_truth(path)`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from schemas.events import EVENT_SCHEMA

from .batches import EventEncoder
from .chunks import SESSION_COLUMNS, Chunk, generate_chunk
from .columns import Columns
from .config import SimulationConfig
from .delivery import LATE_THRESHOLD_MS
from .ground_truth import ground_truth
from .model import Model
from .stats import SimulationStats
from .world import World

__all__ = ["Simulator"]


class Simulator:
    """Generates the events of `config`; `world` is the population it simulates."""

    def __init__(self, config: SimulationConfig) -> None:
        self.config = config
        self.world = World(config)
        self._model = Model(config, self.world)
        self._encoder = EventEncoder(self.world, self._model.allocations)
        self.stats = SimulationStats()

    def event_batches(
        self, start_ms: int | None = None, end_ms: int | None = None, batch_rows: int = 65_536
    ) -> Iterator[pa.RecordBatch]:
        """Batches of every session requested in [start_ms, end_ms) (default: the config's range).

        `self.stats` is replaced by the new run's counts, which grow as batches are yielded.
        """
        start = self.config.start_ms if start_ms is None else int(start_ms)
        end = self.config.end_ms if end_ms is None else int(end_ms)
        if end <= start:
            raise ValueError(f"end_ms ({end}) must be after start_ms ({start})")
        if batch_rows < 1:
            raise ValueError(f"batch_rows must be >= 1, got {batch_rows}")
        self.stats = SimulationStats()
        return self._stream(start, end, batch_rows, self.stats)

    def table(self, start_ms: int | None = None, end_ms: int | None = None) -> pa.Table:
        """All events of the range as one table (convenient for small ranges and tests)."""
        return pa.Table.from_batches(list(self.event_batches(start_ms, end_ms)), schema=EVENT_SCHEMA)

    def ground_truth(self) -> dict[str, Any]:
        """What was injected (incidents, experiments, SRM) and the config, JSON-serializable."""
        return ground_truth(self.config, self.world, self._model)

    def write_ground_truth(self, path: str | PathLike[str]) -> Path:
        """Write `ground_truth()` as indented JSON to `path` and return the path."""
        target = Path(path)
        target.write_text(json.dumps(self.ground_truth(), indent=2, sort_keys=True) + "\n")
        return target

    # ------------------------------------------------------------------ stream

    def _stream(
        self, start: int, end: int, batch_rows: int, stats: SimulationStats
    ) -> Iterator[pa.RecordBatch]:
        chunk_ms = self.config.chunk_ms
        pending: list[Chunk] = []
        ready: list[Columns] = []
        ready_rows = 0
        first, last = start // chunk_ms, -(-end // chunk_ms)
        for index in range(first, last + 1):
            if index < last:
                chunk = generate_chunk(self._model, index, start, end)
                stats.sessions_lost_to_srm += chunk.lost_to_srm
                pending.append(chunk)
                # Sessions of later chunks start at or after this boundary: everything before it is final.
                released = _release(pending, (index + 1) * chunk_ms)
            else:
                released = _release(pending, None)
            if released is not None:
                ready.append(released)
                ready_rows += released.rows
            while ready_rows >= batch_rows or (index == last and ready_rows):
                frame = Columns.concat(ready)
                take = min(batch_rows, frame.rows)
                yield self._emit(frame.slice(0, take), stats)
                rest = frame.slice(take, frame.rows)
                ready, ready_rows = ([rest] if rest.rows else []), rest.rows

    def _emit(self, frame: Columns, stats: SimulationStats) -> pa.RecordBatch:
        batch = self._encoder.encode(frame)
        late = int(np.count_nonzero(frame["recv"] - frame["ts"] >= LATE_THRESHOLD_MS))
        stats.count(frame["etype"], frame["end_reason"], frame["ts"], late)
        return batch


def _release(pending: list[Chunk], boundary: int | None) -> Columns | None:
    """Remove from `pending` the events before `boundary` (all when None), in stream order."""
    parts = []
    for chunk in pending:
        events = chunk.events
        if not events.rows:
            continue
        if boundary is None:
            out, keep = events, None
        else:
            early = events["ts"] < boundary
            if not early.any():
                continue
            out, keep = events.filter(early), events.filter(~early)
        sess = out["sess"]
        gathered = {name: chunk.sessions[name][sess] for name in SESSION_COLUMNS}
        parts.append(out.with_columns(**gathered))
        chunk.events = keep if keep is not None else events.slice(0, 0)
    pending[:] = [c for c in pending if c.events.rows]
    if not parts:
        return None
    # Parts are in (session key, seq) order already; a stable sort by time keeps that among ties.
    frame = Columns.concat(parts)
    return frame.take(np.argsort(frame["ts"], kind="stable"))
