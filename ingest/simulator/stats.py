"""`SimulationStats`: counts of what the simulator has emitted, kept as it emits.

Every count is taken from the very batches handed to the caller, when they are handed over, so
for a fully consumed run they equal what a lake or warehouse that stored those batches must hold.
Stats are mergeable (`a + b`), so per-range runs add up to the whole.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from schemas.events import END_REASONS, EVENT_TYPES

__all__ = ["SimulationStats"]


def _zeros(names: tuple[str, ...]) -> dict[str, int]:
    return dict.fromkeys(names, 0)


@dataclass
class SimulationStats:
    """Events, batches, sessions (= attempts = PLAY_REQUESTs), starts, end reasons and late events."""

    events: int = 0
    batches: int = 0
    events_by_type: dict[str, int] = field(default_factory=lambda: _zeros(EVENT_TYPES))
    end_reasons: dict[str, int] = field(default_factory=lambda: _zeros(END_REASONS))
    late_events: int = 0
    sessions_lost_to_srm: int = 0
    first_event_ts_ms: int | None = None
    last_event_ts_ms: int | None = None

    @property
    def sessions(self) -> int:
        """Sessions emitted so far (each has exactly one PLAY_REQUEST)."""
        return self.events_by_type["PLAY_REQUEST"]

    @property
    def attempts(self) -> int:
        return self.events_by_type["PLAY_REQUEST"]

    @property
    def starts(self) -> int:
        return self.events_by_type["PLAY_START"]

    def count(self, etype: np.ndarray, end_reason: np.ndarray, ts: np.ndarray, late: int) -> None:
        """Add one emitted batch, from its numeric codes (indexes of EVENT_TYPES / END_REASONS)."""
        self.batches += 1
        self.events += len(etype)
        for name, k in zip(EVENT_TYPES, np.bincount(etype, minlength=len(EVENT_TYPES)).tolist(), strict=True):
            self.events_by_type[name] += k
        ended = end_reason[end_reason >= 0]
        for name, k in zip(END_REASONS, np.bincount(ended, minlength=len(END_REASONS)).tolist(), strict=True):
            self.end_reasons[name] += k
        self.late_events += late
        if len(ts):
            lo, hi = int(ts[0]), int(ts[-1])
            self.first_event_ts_ms = lo if self.first_event_ts_ms is None else min(self.first_event_ts_ms, lo)
            self.last_event_ts_ms = hi if self.last_event_ts_ms is None else max(self.last_event_ts_ms, hi)

    def __add__(self, other: SimulationStats) -> SimulationStats:
        firsts = [t for t in (self.first_event_ts_ms, other.first_event_ts_ms) if t is not None]
        lasts = [t for t in (self.last_event_ts_ms, other.last_event_ts_ms) if t is not None]
        return SimulationStats(
            events=self.events + other.events,
            batches=self.batches + other.batches,
            events_by_type={k: v + other.events_by_type[k] for k, v in self.events_by_type.items()},
            end_reasons={k: v + other.end_reasons[k] for k, v in self.end_reasons.items()},
            late_events=self.late_events + other.late_events,
            sessions_lost_to_srm=self.sessions_lost_to_srm + other.sessions_lost_to_srm,
            first_event_ts_ms=min(firsts) if firsts else None,
            last_event_ts_ms=max(lasts) if lasts else None,
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "events": self.events,
            "batches": self.batches,
            "sessions": self.sessions,
            "attempts": self.attempts,
            "starts": self.starts,
            "events_by_type": dict(self.events_by_type),
            "end_reasons": dict(self.end_reasons),
            "late_events": self.late_events,
            "sessions_lost_to_srm": self.sessions_lost_to_srm,
            "first_event_ts_ms": self.first_event_ts_ms,
            "last_event_ts_ms": self.last_event_ts_ms,
        }
