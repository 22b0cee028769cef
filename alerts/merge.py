"""Collecting qoe.minute records into closed windows, ready to be merged and judged (no I/O).

The QoE job writes, per window × slice × source partition, provisional rows while the window is
open and a final row when that partition's watermark passes it (README, "Live QoE"). A source
partition closes its windows in order; every row of one emission carries the same `emitted_at`,
and one producer keeps the order of what it writes to each qoe.minute partition. The rows of one
source partition are spread over every qoe.minute partition (the key hashes window and slice
too), which the app reads at different speeds, and one emission may hold many windows in any
order. So `WindowMerger` reasons per emission:

- F(W, p): the earliest emission of source partition p seen with final rows of window W or later
  — p's final rows of W (if p had traffic in W) were written in that emission or before it;
- W is complete in qoe.minute partition k for p once k delivered a row of p from a later emission
  than F(W, p) — everything p wrote to k before it is in;
- W is ready when it is complete in every qoe.minute partition for every source partition, except
  partitions silent for `grace_s` while others delivered rows, or all of them when nothing arrived
  for `grace_s` of wall time (a quiet partition never closes W and must not hold it back). A
  partition still sending rows — a backlog replay, a lagging consumer — is waited for, however far
  ahead the others are, so the merged window is complete.

A source partition (of playback.events: `expected_sources`) not heard from at all yet holds windows
back until the others are `idle_windows` ahead in event time: it may simply have no traffic.
The merger keeps the latest row per key; a final row is never replaced by a provisional one.
Only final rows are judged. Rows of windows already judged (a replay after a restart, a very
late partition) are counted in `late_rows` and otherwise ignored, so no window is judged twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from streaming.windows import WINDOW_MS

__all__ = ["WindowMerger"]


@dataclass
class WindowMerger:
    grace_s: float = 20.0
    #: Source partitions of playback.events (0 … n-1) the QoE job reads; an unseen one is waited for.
    expected_sources: int = 0
    idle_windows: int = 5
    judged_through: int | None = None
    late_rows: int = 0
    late_examples: list[str] = field(default_factory=list)
    rows: dict[int, dict[str, dict[str, Any]]] = field(default_factory=dict)
    #: qoe.minute partition → source partition → newest emission (emitted_at ms) delivered through it.
    emitted_through: dict[int, dict[int, int]] = field(default_factory=dict)
    #: source partition → window → earliest emission holding final rows of that window.
    closed_by: dict[int, dict[int, int]] = field(default_factory=dict)
    last_seen_at: dict[int, float] = field(default_factory=dict)
    source_seen_at: dict[int, float] = field(default_factory=dict)

    def add(self, key: str, record: dict[str, Any], now: float, topic_partition: int = 0) -> None:
        window = int(record["window_start"])
        source = int(record.get("source_partition", 0))
        emitted = int(record.get("emitted_at") or 0)
        self.last_seen_at[topic_partition] = now
        self.source_seen_at[source] = now
        latest = self.emitted_through.setdefault(topic_partition, {})
        latest[source] = max(latest.get(source, emitted), emitted)
        if self.judged_through is not None and window <= self.judged_through:
            self.late_rows += 1
            if len(self.late_examples) < 5:
                self.late_examples.append(
                    f"window {window} source {source} via {topic_partition} "
                    f"provisional {bool(record.get('provisional'))} emitted {emitted} "
                    f"judged through {self.judged_through}"
                )
            return
        rows = self.rows.setdefault(window, {})
        if record.get("provisional"):
            previous = rows.get(key)
            if previous is None or previous.get("provisional"):
                rows[key] = record
            return
        rows[key] = record
        closing = self.closed_by.setdefault(source, {})
        closing[window] = min(closing.get(window, emitted), emitted)

    def _closed_by(self, source: int, window: int) -> int | None:
        """F(window, source): the earliest emission with final rows of `window` or later."""
        emissions = [e for w, e in self.closed_by.get(source, {}).items() if w >= window]
        return min(emissions) if emissions else None

    def ready(self, now: float) -> list[int]:
        """Windows that may be judged now, oldest first."""
        out: list[int] = []
        if not self.last_seen_at:
            return out
        # Silence is judged against the newest arrival, not the wall clock, so a consumer that was
        # busy (or a backlog being replayed) never makes every partition look silent; only when
        # nothing at all arrived for `grace_s` is the whole topic quiet.
        newest = max(self.last_seen_at.values())
        reference = newest if now - newest < self.grace_s else now
        live_sources = [p for p, seen in self.source_seen_at.items() if reference - seen < self.grace_s]
        live_partitions = [k for k, seen in self.last_seen_at.items() if reference - seen < self.grace_s]
        unseen = [p for p in range(self.expected_sources) if p not in self.source_seen_at]
        quiet = reference == now
        newest_window = max((w for closing in self.closed_by.values() for w in closing), default=None)
        for window in sorted(self.rows):
            # A source partition not heard from yet holds the window back until the others are
            # `idle_windows` ahead in event time (it has no traffic) or the topic went quiet.
            if (
                unseen
                and not quiet
                and (newest_window is None or newest_window < window + self.idle_windows * WINDOW_MS)
            ):
                break
            complete = True
            for source in live_sources:
                closed = self._closed_by(source, window)
                if closed is None or any(
                    self.emitted_through.get(k, {}).get(source, -1) <= closed for k in live_partitions
                ):
                    complete = False
                    break
            if not complete:
                break
            out.append(window)
        return out

    def pop(self, window: int) -> list[dict[str, Any]]:
        """The final rows of `window`; it counts as judged from now on (older windows too)."""
        rows = self.rows.pop(window, {})
        for older in [w for w in self.rows if w < window]:
            self.late_rows += len(self.rows.pop(older))
        for closing in self.closed_by.values():
            # Keep the newest judged window's emission: F of later windows may still need it.
            for w in [w for w in closing if w < window]:
                del closing[w]
        self.judged_through = window if self.judged_through is None else max(self.judged_through, window)
        return [r for r in rows.values() if not r.get("provisional")]
