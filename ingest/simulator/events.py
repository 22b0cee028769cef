"""Expansion: a chunk's sessions, playback plans and heartbeats become the events a player emits.

Guarantees for every session of `expand(...)` (sorted by session, then seq):

- `seq` is 0, 1, 2, ... in time order; ties at one millisecond follow the player's order
  (PLAY_REQUEST, PLAY_START, HEARTBEAT, BITRATE_CHANGE, REBUFFER_START, REBUFFER_END, SEEK/ERROR,
  fatal ERROR, PLAY_END). It starts with PLAY_REQUEST and ends with exactly one PLAY_END.
- Sequences: REQUEST → ERROR(fatal) → END(START_FAILURE); REQUEST → END(EXIT_BEFORE_START);
  REQUEST → START → {HEARTBEAT, BITRATE_CHANGE, REBUFFER_START/END pairs, SEEK, ERROR} →
  [ERROR(fatal) →] END(COMPLETED | USER_EXIT | PLAYBACK_FAILURE).
- `played_ms` is set on every event after PLAY_START except BITRATE_CHANGE and equals the wall time
  since the previous event minus the part of it spent stalled, so it sums per session to the play
  time; with the start-up time and the rebuffer_ms it sums to the session's wall time exactly.
- `position_ms` is the playhead (after the seek, on a SEEK); `bitrate_kbps` the rendition playing,
  set on every event after the first frame (the HEARTBEAT before a switch reports the old one).
"""

from __future__ import annotations

import numpy as np

from schemas.events import END_REASONS, EVENT_TYPES

from .abr import Heartbeats
from .columns import Columns
from .playback import END_PLAYBACK_FAILURE, Playback
from .sessions import OUTCOME_EBVS, OUTCOME_START_FAILURE, Sessions

__all__ = ["EVENT_COLUMNS", "expand"]

_T = {name: np.int8(i) for i, name in enumerate(EVENT_TYPES)}
_EBVS = np.int8(END_REASONS.index("EXIT_BEFORE_START"))
_START_FAILURE = np.int8(END_REASONS.index("START_FAILURE"))

#: Numeric event columns and their null value / dtype (session attributes live in the session frame).
EVENT_COLUMNS: dict[str, tuple[int, type]] = {
    "startup": (-1, np.int64),
    "rebuffer": (-1, np.int64),
    "bitrate": (-1, np.int32),
    "anchor": (-1, np.int64),  # known playhead: on PLAY_REQUEST (start position) and SEEK (target)
    "buffer": (-1, np.int64),
    "throughput": (-1, np.int32),
    "duration": (-1, np.int64),
    "end_reason": (-1, np.int8),
    "error_code": (-1, np.int16),
    "fatal": (0, np.bool_),
    "stall": (0, np.int8),  # +1 on REBUFFER_START, -1 on REBUFFER_END
}
_SHIFT = np.int64(1) << 32


def _part(sess: np.ndarray, ts: np.ndarray, etype: str, prio: int, **values: np.ndarray | int) -> Columns:
    n = len(sess)
    data = {"sess": sess.astype(np.int64), "ts": ts.astype(np.int64), "etype": np.full(n, _T[etype])}
    data["prio"] = np.full(n, prio, dtype=np.int64)
    for name, (null, dtype) in EVENT_COLUMNS.items():
        value = values.get(name, null)
        data[name] = (
            np.broadcast_to(np.asarray(value, dtype=dtype), (n,))
            if np.ndim(value) == 0
            else value.astype(dtype)
        )
    return Columns(data)


def _forward_fill(is_anchor: np.ndarray) -> np.ndarray:
    """Index of the last anchor at or before each row (every session starts with one)."""
    return np.maximum.accumulate(np.where(is_anchor, np.arange(len(is_anchor)), 0))


def expand(sessions: Sessions, playback: Playback, heartbeats: Heartbeats) -> Columns:
    """Events of the chunk, sorted by (session, seq), with `sess` indexing `sessions` and no ids yet."""
    s, p, h = sessions, playback, heartbeats
    n = len(s)
    ps = p.session
    p0 = np.zeros(n, dtype=np.int64)
    p0[ps] = p.start_position_ms
    sf = np.flatnonzero(s.outcome == OUTCOME_START_FAILURE)
    ebvs = np.flatnonzero(s.outcome == OUTCOME_EBVS)
    failed = np.flatnonzero(p.end_reason == END_PLAYBACK_FAILURE)
    switch = np.flatnonzero(h.next_bitrate_kbps != h.bitrate_kbps)
    hb_sess = ps[h.owner]
    stall_sess = ps[p.stall_owner]
    parts = [
        _part(np.arange(n), s.request_ms, "PLAY_REQUEST", 0, duration=s.duration_ms, anchor=p0),
        _part(sf, s.request_ms[sf] + s.end_after_ms[sf], "ERROR", 7, error_code=s.error_code[sf], fatal=1),
        _part(sf, s.request_ms[sf] + s.end_after_ms[sf], "PLAY_END", 9, end_reason=_START_FAILURE),
        _part(ebvs, s.request_ms[ebvs] + s.end_after_ms[ebvs], "PLAY_END", 9, end_reason=_EBVS),
        _part(
            ps,
            p.start_ms,
            "PLAY_START",
            1,
            startup=s.startup_ms[ps],
            bitrate=h.start_bitrate_kbps,
            duration=s.duration_ms[ps],
            buffer=h.start_buffer_ms,
            throughput=h.start_throughput_kbps,
        ),
        _part(
            hb_sess,
            h.ts_ms,
            "HEARTBEAT",
            2,
            bitrate=h.bitrate_kbps,
            buffer=h.buffer_ms,
            throughput=h.throughput_kbps,
        ),
        _part(hb_sess[switch], h.ts_ms[switch], "BITRATE_CHANGE", 3, bitrate=h.next_bitrate_kbps[switch]),
        _part(stall_sess, p.stall_start_ms, "REBUFFER_START", 4, buffer=0, stall=1),
        _part(stall_sess, p.stall_start_ms + p.stall_ms, "REBUFFER_END", 5, rebuffer=p.stall_ms, stall=-1),
        _part(ps[p.seek_owner], p.seek_ms, "SEEK", 6, anchor=p.seek_position_ms),
        _part(ps[p.error_owner], p.error_ms, "ERROR", 6, error_code=p.error_code),
        _part(ps[failed], p.end_ms[failed], "ERROR", 7, error_code=p.fail_code[failed], fatal=1),
        _part(ps, p.end_ms, "PLAY_END", 9, end_reason=p.end_reason),
    ]
    ev = Columns.concat(parts)
    sess, ts = ev["sess"], ev["ts"]
    key = sess * _SHIFT + ((ts - s.request_ms[sess]) << 4) + ev["prio"]
    ev = ev.take(np.argsort(key, kind="stable"))
    sess, ts, etype = ev["sess"], ev["ts"], ev["etype"]
    rows = np.arange(ev.rows)
    first = np.searchsorted(sess, sess, side="left")
    seq = (rows - first).astype(np.int32)

    # Played time since the previous event, zero while stalled (the state after the previous event).
    in_stall = np.cumsum(ev["stall"], dtype=np.int64) - ev["stall"]
    gap = np.diff(ts, prepend=ts[:1])
    start_row = np.full(n, np.iinfo(np.int64).max)
    is_start = etype == _T["PLAY_START"]
    start_row[sess[is_start]] = rows[is_start]
    after_start = rows > start_row[sess]
    has_played = after_start & (etype != _T["BITRATE_CHANGE"])
    played = np.where(has_played, gap * (in_stall == 0), -1)
    cum = np.cumsum(np.maximum(played, 0))
    played_so_far = cum - (cum[first] - np.maximum(played[first], 0))

    # Playhead from the last anchor (request or seek) plus the play since then.
    a = _forward_fill(ev["anchor"] >= 0)
    position = np.clip(ev["anchor"][a] + played_so_far - played_so_far[a], 0, s.duration_ms[sess])
    # Rendition: the last PLAY_START / HEARTBEAT / BITRATE_CHANGE value (PLAY_REQUEST resets to null).
    b = _forward_fill((ev["bitrate"] >= 0) | (etype == _T["PLAY_REQUEST"]))
    bitrate = ev["bitrate"][b]
    return Columns(
        {
            "sess": sess,
            "ts": ts,
            "seq": seq,
            "etype": etype,
            "startup": ev["startup"],
            "rebuffer": ev["rebuffer"],
            "bitrate": bitrate,
            "position": position,
            "buffer": ev["buffer"],
            "throughput": ev["throughput"],
            "duration": ev["duration"],
            "played": played,
            "end_reason": ev["end_reason"],
            "error_code": ev["error_code"],
            "fatal": ev["fatal"],
        }
    )
