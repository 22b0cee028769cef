"""Event-time tumbling windows of one source partition: assignment, lateness, closing, checkpoints.

Rules (DESIGN.md, "Streaming correctness"), per Kafka partition, in offset order:
- A row belongs to the window `[floor(ts / W) * W, + W)` of its event time `ts`.
- The watermark before a row is (max event time of the earlier rows) − `lateness_ms`. A row whose
  window ended at or before that watermark is *late*: it adds to no metric; it is counted in
  `late_events` of the window of the partition's newest event (always open), under its own slice.
- After each batch, every open window that ended at or before the watermark closes (is final).

Exactly-once effect without transactions: `checkpoint(next_offset)` says where a restarted worker
resumes — the first offset of the oldest-opened open window, with the max event time seen before
it and the watermark below which every window is already final. Replaying from a checkpoint
decides lateness exactly as the first run did and skips rows of windows that were already final,
so it re-emits precisely the rows the first run emitted after the checkpoint: no row is lost,
none is counted twice (tests/streaming/test_windows.py checks this on random disorder).
Watermarks are per partition, so the result does not depend on how partitions interleave.

Idle partitions: a partition that receives nothing keeps its watermark, so its last windows would
wait for its next event. `advance(at_offset, max_ts)` raises the partition's max event time to
`max_ts` for every row from `at_offset` on (the job does it for a partition idle for a bounded
time, up to the event-time frontier of the others). It is a decision taken by the wall clock, so
to keep replays exact it is recorded: every advance at or after the resume offset travels in the
checkpoint (`Checkpoint.advances`), and a resumed partition applies it when it reaches that
offset — a replay decides lateness exactly as the first run did. The job saves the checkpoint
holding an advance before it emits any row the advance closes, so no row depends on an advance
that a restart would not know about.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["WINDOW_MS", "Assigned", "Checkpoint", "PartitionWindows"]

WINDOW_MS = 60_000
_NEVER = np.iinfo(np.int64).min // 4  # "no event seen yet", far below any real watermark


@dataclass(frozen=True)
class Checkpoint:
    """Where and with what event-time state a worker resumes a partition."""

    offset: int
    max_ts_before: int | None
    closed_through: int | None
    #: (offset, max_ts) watermark advances at or after `offset`, in offset order.
    advances: tuple[tuple[int, int], ...] = ()


@dataclass(frozen=True)
class Assigned:
    """Per row of a batch: its target window, whether it is late, whether it counts at all."""

    window_start: np.ndarray  # int64 ms: the row's window, or for a late row the window it is counted in
    late: np.ndarray  # bool
    keep: np.ndarray  # bool: False for rows of windows that were already final (replay after a restart)


@dataclass
class _Open:
    first_offset: int
    max_ts_before: int


@dataclass
class PartitionWindows:
    partition: int
    lateness_ms: int = 30_000
    window_ms: int = WINDOW_MS
    max_ts: int = _NEVER
    closed_through: int = _NEVER
    open: dict[int, _Open] = field(default_factory=dict)
    advances: list[tuple[int, int]] = field(default_factory=list)

    @classmethod
    def resume(
        cls, partition: int, checkpoint: Checkpoint | None, lateness_ms: int = 30_000
    ) -> PartitionWindows:
        windows = cls(partition, lateness_ms)
        if checkpoint is not None:
            if checkpoint.max_ts_before is not None:
                windows.max_ts = checkpoint.max_ts_before
            if checkpoint.closed_through is not None:
                windows.closed_through = checkpoint.closed_through
            for at, max_ts in checkpoint.advances:
                if at <= checkpoint.offset:  # applies to every row replayed
                    windows.max_ts = max(windows.max_ts, max_ts)
                else:
                    windows.advances.append((at, max_ts))
        return windows

    def advance(self, at_offset: int, max_ts: int) -> bool:
        """Count the max event time as at least `max_ts` for rows from `at_offset` on (the next
        offset of the partition); False when it is not higher than the max already seen. Windows
        the new watermark passes close at the next `close()`."""
        if max_ts <= self.max_ts:
            return False
        self.max_ts = max_ts
        if self.advances and self.advances[-1][0] == at_offset:
            # Still idle at the same offset: no row lies between the two, so the higher one is exact.
            self.advances[-1] = (at_offset, max_ts)
        else:
            self.advances.append((at_offset, max_ts))
        return True

    @property
    def watermark(self) -> int:
        return self.max_ts - self.lateness_ms

    def assign(self, ts: np.ndarray, offsets: np.ndarray) -> Assigned:
        """Place the rows of one batch of this partition (in offset order) into windows."""
        ts = np.asarray(ts, np.int64)
        offsets = np.asarray(offsets, np.int64)
        if ts.size == 0:
            empty = np.empty(0, np.int64)
            return Assigned(empty, empty.astype(bool), empty.astype(bool))
        width = self.window_ms
        running = np.maximum(np.maximum.accumulate(ts), self.max_ts)
        before = np.concatenate(([self.max_ts], running[:-1]))  # max event time before each row
        if self.advances and self.advances[0][0] <= offsets[-1]:
            # Recorded advances (a replay reaching them): from its offset on, a row sees its max_ts.
            floor = np.full(ts.size, _NEVER, np.int64)
            for at, max_ts in self.advances:
                floor = np.where(offsets >= at, np.maximum(floor, max_ts), floor)
            before = np.maximum(before, floor)
            running = np.maximum(running, floor)
        own_window = ts // width * width
        late = own_window + width <= before - self.lateness_ms
        window_start = np.where(late, before // width * width, own_window)
        keep = window_start + width > self.closed_through
        # Remember, for each window opened by this batch, its first offset and the max before it. A
        # late row opens the newest window too when no row did (after an idle advance).
        opening = keep
        if opening.any():
            starts, first_rows = np.unique(window_start[opening], return_index=True)
            rows = np.flatnonzero(opening)[first_rows]
            for start, row in zip(starts.tolist(), rows.tolist(), strict=True):
                if start not in self.open:
                    self.open[start] = _Open(int(offsets[row]), int(before[row]))
        self.max_ts = int(running[-1])
        return Assigned(window_start, late, keep)

    def close(self) -> list[int]:
        """Starts of the open windows the watermark has passed, oldest first; they are final now."""
        watermark = self.watermark
        closing = sorted(start for start in self.open if start + self.window_ms <= watermark)
        for start in closing:
            del self.open[start]
        self.closed_through = max(self.closed_through, watermark)
        return closing

    def open_windows(self) -> list[int]:
        return sorted(self.open)

    def checkpoint(self, next_offset: int) -> Checkpoint:
        """Resume point after every row before `next_offset` was processed and closed windows emitted."""
        if self.open:
            oldest = min(self.open.values(), key=lambda w: w.first_offset)
            offset, max_before = oldest.first_offset, oldest.max_ts_before
        else:
            offset, max_before = next_offset, self.max_ts
        # Advances before the resume offset are in max_before already (offsets only move forward).
        self.advances = [a for a in self.advances if a[0] > offset]
        return Checkpoint(
            offset,
            None if max_before == _NEVER else max_before,
            None if self.closed_through == _NEVER else self.closed_through,
            tuple(self.advances),
        )
