"""Per-session views of an event table, for the simulator's tests (vectorized, no Python per row)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from schemas.events import END_REASONS, EVENT_TYPES

__all__ = ["SessionView", "session_view"]


@dataclass
class SessionView:
    """Events sorted by (session_id, seq) as NumPy columns; `first`/`last` are each session's rows."""

    session: np.ndarray  # session code per row
    first: np.ndarray
    last: np.ndarray
    etype: np.ndarray  # index into EVENT_TYPES
    end_reason: np.ndarray  # index into END_REASONS, -1 for null
    seq: np.ndarray
    ts: np.ndarray
    received: np.ndarray
    columns: dict[str, np.ndarray]  # nullable numeric columns, NaN for null
    table: pa.Table

    @property
    def sessions(self) -> int:
        return len(self.first)

    def per_session_sum(self, values: np.ndarray) -> np.ndarray:
        return np.add.reduceat(values, self.first) if len(values) else values

    def count(self, event_type: str) -> np.ndarray:
        return self.per_session_sum((self.etype == EVENT_TYPES.index(event_type)).astype(np.int64))


def _codes(array: pa.ChunkedArray, names: tuple[str, ...]) -> np.ndarray:
    lookup = pa.array(names)
    index = pc.index_in(array, value_set=lookup)
    return pc.fill_null(index, -1).to_numpy().astype(np.int64)


def session_view(table: pa.Table) -> SessionView:
    order = pc.sort_indices(table, [("session_id", "ascending"), ("seq", "ascending")])
    t = table.take(order)
    sid = pc.dictionary_encode(t["session_id"]).combine_chunks().indices.to_numpy()
    change = np.ones(len(sid), dtype=bool)
    change[1:] = (
        t["session_id"].to_numpy(zero_copy_only=False)[1:]
        != t["session_id"].to_numpy(zero_copy_only=False)[:-1]
    )
    first = np.flatnonzero(change)
    last = np.append(first[1:] - 1, len(sid) - 1)
    numeric = {}
    for name in (
        "startup_ms",
        "rebuffer_ms",
        "bitrate_kbps",
        "position_ms",
        "buffer_length_ms",
        "throughput_kbps",
        "content_duration_ms",
        "played_ms",
    ):
        numeric[name] = pc.cast(t[name], pa.float64()).to_numpy(zero_copy_only=False)
    return SessionView(
        session=np.cumsum(change) - 1 if len(sid) else sid,
        first=first,
        last=last,
        etype=_codes(t["event_type"], EVENT_TYPES),
        end_reason=_codes(t["end_reason"], END_REASONS),
        seq=t["seq"].to_numpy(),
        ts=t["event_ts_ms"].to_numpy(),
        received=t["received_ts_ms"].to_numpy(),
        columns=numeric,
        table=t,
    )
