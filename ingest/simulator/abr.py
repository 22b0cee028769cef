"""Heartbeats and adaptive bitrate: what the player reports every heartbeat interval while it plays.

Heartbeats fire every `heartbeat_ms` of wall time after the first frame and strictly before the
end. At each one the player has measured a throughput (an AR(1) process in log space around the
session's typical throughput), its buffer has moved by interval × (throughput / bitrate − 1)
seconds (capped by the device's buffer target, and near zero right after a stall), and the ABR
rule of DESIGN.md's Appendix decides the next rendition: one rung down when the buffer is under
10 s, one rung up when it is over 30 s and the throughput is 50% above the current bitrate, never
above the device's cap. The switch, if any, takes effect after the heartbeat (the heartbeat reports
the old bitrate; the BITRATE_CHANGE that follows at the same instant, the new one).

The first frame starts at the highest rung under 60% of a first throughput estimate, at most
2800 kbps. The loop runs once per heartbeat index, vectorized over every session still playing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .catalog import LADDER_KBPS
from .playback import Playback
from .sessions import Sessions
from .world import World

__all__ = ["Heartbeats", "run_abr"]

_LADDER = np.array(LADDER_KBPS, dtype=np.float64)
_START_RUNG_MAX = 3
_RHO = 0.8
_INNOVATION = 0.18  # stationary log-σ of 0.3
_LOW_S, _HIGH_S, _HEADROOM = 10.0, 30.0, 1.5
_REFILL = 1.5  # seconds of buffer gained per second after a stall
_KEY = np.int64(1) << 32


@dataclass
class Heartbeats:
    """Heartbeats of a chunk's started sessions, sorted by (owner, time); plus the first-frame state."""

    owner: np.ndarray  # index into Playback
    ts_ms: np.ndarray
    bitrate_kbps: np.ndarray  # rendition played up to this heartbeat
    next_bitrate_kbps: np.ndarray  # rendition after it (differs → BITRATE_CHANGE)
    buffer_ms: np.ndarray
    throughput_kbps: np.ndarray
    start_bitrate_kbps: np.ndarray  # per started session, at PLAY_START
    start_buffer_ms: np.ndarray
    start_throughput_kbps: np.ndarray


def _buffer_caps(playback: Playback, owner: np.ndarray, rel: np.ndarray, heartbeat_ms: int) -> np.ndarray:
    """Highest buffer (s) each heartbeat can report given the stalls: 0 inside one, refilling after."""
    s_owner = playback.stall_owner
    if not len(s_owner):
        return np.full(len(owner), np.inf)
    s_rel = playback.stall_start_ms - playback.start_ms[s_owner]
    j = np.searchsorted(s_owner * _KEY + s_rel, owner * _KEY + rel, side="left") - 1
    jj = np.maximum(j, 0)
    valid = (j >= 0) & (s_owner[jj] == owner)
    since_end = rel - (s_rel[jj] + playback.stall_ms[jj])
    cap = np.where(
        since_end < 0, 0.0, np.where(since_end < heartbeat_ms, since_end * _REFILL / 1000.0, np.inf)
    )
    return np.where(valid, cap, np.inf)


def run_abr(
    playback: Playback, sessions: Sessions, world: World, heartbeat_ms: int, rng: np.random.Generator
) -> Heartbeats:
    """Heartbeat times and the player state reported at each."""
    m = len(playback)
    wall = playback.end_ms - playback.start_ms
    n_hb = np.maximum((wall - 1) // heartbeat_ms, 0)
    total = int(n_hb.sum())
    owner = np.repeat(np.arange(m, dtype=np.int64), n_hb)
    offset = np.concatenate([[0], np.cumsum(n_hb)[:-1]]).astype(np.int64)
    k = np.arange(total, dtype=np.int64) - offset[owner] + 1
    rel = k * heartbeat_ms
    caps = _buffer_caps(playback, owner, rel, heartbeat_ms)
    noise = rng.standard_normal(total)

    cap_rung = sessions.bitrate_cap[playback.session].astype(np.int64)
    log_typical = np.log(playback.throughput_kbps)
    log_x = log_typical + 0.3 * rng.standard_normal(m)
    first_rung = np.searchsorted(_LADDER, 0.6 * np.exp(log_x), side="right") - 1
    first_rung = np.clip(first_rung, 0, np.minimum(cap_rung, _START_RUNG_MAX))
    first_buffer = rng.uniform(4.0, 8.0, m)
    buffer_max = world.device_buffer_max_s[sessions.device_type[playback.session]]

    # Sessions by number of heartbeats, longest first: the ones still playing at step k are a prefix.
    order = np.argsort(-n_hb, kind="stable")
    remaining = n_hb[order]
    rung, buf = first_rung[order].copy(), first_buffer[order].copy()
    lx, lt = log_x[order].copy(), log_typical[order]
    cap_o, bmax_o, offset_o = cap_rung[order], buffer_max[order], offset[order]
    active = np.searchsorted(-remaining, -np.arange(int(remaining.max()) if m else 0), side="left")
    out_rung = np.empty(total, dtype=np.int64)
    out_next = np.empty(total, dtype=np.int64)
    out_buf = np.empty(total)
    out_x = np.empty(total)
    interval_s = heartbeat_ms / 1000.0
    for step, a in enumerate(active.tolist()):
        pos = offset_o[:a] + step
        lxa, lta = lx[:a], lt[:a]
        lxa -= lta
        lxa *= _RHO
        lxa += lta
        lxa += _INNOVATION * noise[pos]
        x = np.exp(lxa)
        r = rung[:a]
        bitrate = _LADDER[r]
        b = buf[:a]
        b += interval_s * (x / bitrate - 1.0)
        np.maximum(b, 0.0, out=b)
        np.minimum(b, bmax_o[:a], out=b)
        np.minimum(b, caps[pos], out=b)
        out_rung[pos], out_buf[pos], out_x[pos] = r, b, x
        up = (b > _HIGH_S) & (x > _HEADROOM * bitrate) & (r < cap_o[:a])
        r += up
        r -= (b < _LOW_S) & (r > 0)
        out_next[pos] = r

    ladder = np.array(LADDER_KBPS, dtype=np.int32)
    return Heartbeats(
        owner=owner,
        ts_ms=playback.start_ms[owner] + rel,
        bitrate_kbps=ladder[out_rung],
        next_bitrate_kbps=ladder[out_next],
        buffer_ms=np.round(out_buf * 1000.0).astype(np.int64),
        throughput_kbps=np.round(out_x).astype(np.int32),
        start_bitrate_kbps=ladder[first_rung],
        start_buffer_ms=np.round(first_buffer * 1000.0).astype(np.int64),
        start_throughput_kbps=np.round(np.exp(log_x)).astype(np.int32),
    )
