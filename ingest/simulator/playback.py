"""What happens after the first frame: how long a session plays, its seeks, stalls and errors.

All times are planned in *play* coordinates (content milliseconds played since the first frame),
then placed on the wall clock by adding the stalls that happened before them. So, per session:
wall(end) − wall(first frame) = play_ms + Σ stall durations, exactly.

- Intent: 20% resume mid-title; finishers (more likely for shorter titles) play to the end or stop
  at the credits; the others play a lognormal budget (30% "samplers" with a 3 min median, the rest
  22 min) scaled by the member's watch propensity. Seeks (0.5 per hour of play; rewinds, skips,
  intro skips) move the playhead and are resolved in order, so the position stays in
  [0, content_duration] and reaching the end means COMPLETED.
- Failures: a base playback-failure probability per start (by device) at a uniform moment, plus
  the hazard of `errors` incidents while the session plays inside their window.
- Stalls: Poisson in play time at `rebuffers_per_hour` × device × ISP × region × CDN/appliance ×
  evening load × experiment × a per-session network factor (the same factor lowers throughput),
  durations lognormal (median 2.5 s); `rebuffer` incidents add stalls and lengthen them inside
  their window. Non-fatal errors: 0.06 per hour of play.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import catalog
from .incidents import ERROR_HAZARD_MINUTES
from .model import MAX_SESSION_MS, Model
from .sessions import OUTCOME_STARTED, Sessions

__all__ = ["END_COMPLETED", "END_PLAYBACK_FAILURE", "END_USER_EXIT", "Playback", "plan_playback"]

# Indexes into schemas.events.END_REASONS.
END_COMPLETED, END_USER_EXIT, END_PLAYBACK_FAILURE = 0, 1, 4

_HOUR_MS = 3_600_000
_MINUTE_MS = 60_000
_MAX_PLAY_MS = 5 * _HOUR_MS
_SEEKS_PER_MS = 0.5 / _HOUR_MS
_SEEK_OFFSETS_MS = np.array([-10_000, -30_000, 10_000, 30_000, 85_000], dtype=np.int64)
_SEEK_SHARES = np.array([0.3, 0.1, 0.25, 0.15, 0.2])
_ERRORS_PER_MS = 0.06 / _HOUR_MS
_STALL_MEDIAN_MS = 2_500.0
_STALL_SIGMA = 0.8
_NETWORK_SIGMA = 0.6
_KEY = np.int64(1) << 32  # owner * _KEY + play time: sorts children by (owner, time)


@dataclass
class Playback:
    """Started sessions (`session` indexes `Sessions`) and their children, each sorted by (owner, time)."""

    session: np.ndarray
    start_ms: np.ndarray  # wall time of the first frame
    start_position_ms: np.ndarray
    play_ms: np.ndarray
    end_ms: np.ndarray  # wall time of PLAY_END
    end_reason: np.ndarray
    fail_code: np.ndarray  # error code of a playback failure, -1 otherwise
    throughput_kbps: np.ndarray  # the session's typical network throughput
    seek_owner: np.ndarray
    seek_ms: np.ndarray
    seek_position_ms: np.ndarray  # playhead after the seek
    stall_owner: np.ndarray
    stall_start_ms: np.ndarray
    stall_ms: np.ndarray
    error_owner: np.ndarray
    error_ms: np.ndarray
    error_code: np.ndarray

    def __len__(self) -> int:
        return len(self.session)


def _children(
    rng: np.random.Generator, counts: np.ndarray, lo: np.ndarray, hi: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Owner and a uniform integer time in [lo, hi) of owner for each of `counts` children, sorted."""
    owner = np.repeat(np.arange(len(counts), dtype=np.int64), counts)
    span = np.maximum(hi - lo, 1)[owner]
    at = lo[owner] + (rng.random(len(owner)) * span).astype(np.int64)
    order = np.argsort(owner * _KEY + at, kind="stable")
    return owner[order], at[order]


def _resolve_seeks(
    owner: np.ndarray,
    at: np.ndarray,
    offset: np.ndarray,
    p0: np.ndarray,
    stop: np.ndarray,
    budget: np.ndarray,
    duration: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Apply seeks in order, one vectorized step per seek rank.

    Returns per seek whether it happened and the playhead after it; per session the play time and
    whether the playhead reached the end of the title.
    """
    pos = p0.astype(np.int64).copy()
    last = np.zeros(len(p0), dtype=np.int64)  # play time of the last applied seek
    alive = np.ones(len(p0), dtype=bool)
    keep = np.zeros(len(owner), dtype=bool)
    after = np.zeros(len(owner), dtype=np.int64)
    first = np.searchsorted(owner, owner, side="left")
    rank = np.arange(len(owner)) - first
    for r in range(int(rank.max()) + 1 if len(rank) else 0):
        j = np.flatnonzero(rank == r)
        s = owner[j]
        reach = last[s] + np.maximum(stop[s] - pos[s], 0)
        ok = alive[s] & (at[j] < reach) & (at[j] < budget[s])
        alive[s[~ok]] = False
        j, s = j[ok], s[ok]
        moved = np.clip(pos[s] + (at[j] - last[s]) + offset[j], 0, duration[s])
        pos[s], last[s], keep[j], after[j] = moved, at[j], True, moved
    reach = last + np.maximum(stop - pos, 0)
    play = np.minimum(budget, reach)
    completed = (reach <= budget) & ((stop == duration) | (pos >= duration))
    return keep, after, play, completed


def plan_playback(model: Model, sessions: Sessions, rng: np.random.Generator) -> Playback:
    """Plan every started session of the chunk."""
    world, cfg = model.world, model.config
    idx = np.flatnonzero(sessions.outcome == OUTCOME_STARTED)
    m = len(idx)
    duration = sessions.duration_ms[idx]
    title = sessions.title[idx]
    device = sessions.device_type[idx]
    episode = world.title_kind[title] == 1
    start = sessions.request_ms[idx] + sessions.startup_ms[idx]
    cells = sessions.cells[idx]
    dims = {k: v[idx] for k, v in sessions.dims().items()}
    chunk_start = sessions.chunk_index * cfg.chunk_ms
    horizon = (chunk_start, chunk_start + cfg.chunk_ms + MAX_SESSION_MS)

    # Intent: where playback starts, where the member would stop, how long they would play.
    resume = rng.random(m) < 0.2
    p0 = np.where(resume, (duration * rng.uniform(0.05, 0.8, m)).astype(np.int64), 0)
    p_finish = np.clip(0.85 - 0.004 * duration / _MINUTE_MS, 0.25, 0.8)
    finisher = rng.random(m) < p_finish
    at_credits = rng.random(m) < np.where(episode, 0.5, 0.3)
    credits = np.where(episode, rng.uniform(15_000, 60_000, m), rng.uniform(120_000, 420_000, m)).astype(
        np.int64
    )
    stop = np.where(finisher & at_credits, duration - credits, duration)
    sampler = rng.random(m) < 0.3
    median = np.where(sampler, 3 * _MINUTE_MS, 22 * _MINUTE_MS)
    sigma = np.where(sampler, 0.8, 0.9)
    budget = world.user_watch[sessions.user[idx]] * median * np.exp(sigma * rng.standard_normal(m))
    budget = np.clip(np.where(finisher, _MAX_PLAY_MS, budget), 1_000, _MAX_PLAY_MS).astype(np.int64)

    # Seeks.
    expected = np.minimum(budget, stop - p0)
    seek_owner, seek_at = _children(
        rng, rng.poisson(_SEEKS_PER_MS * expected), np.ones(m, np.int64), expected
    )
    offset = _SEEK_OFFSETS_MS[rng.choice(len(_SEEK_OFFSETS_MS), size=len(seek_owner), p=_SEEK_SHARES)]
    keep, seek_pos, play, completed = _resolve_seeks(seek_owner, seek_at, offset, p0, stop, budget, duration)
    play = np.maximum(play, 1)

    # Fatal errors after the first frame.
    p_fail = cfg.playback_failure_rate * world.device_playback_failure[device]
    fail_at = np.where(
        rng.random(m) < p_fail, 1 + (rng.random(m) * (play - 1)).astype(np.int64), _MAX_PLAY_MS * 4
    )
    for inc in model.incidents_between(*horizon, "errors"):
        lo = np.clip(inc.incident.start_ms - start, 0, play)
        hi = np.clip(inc.incident.end_ms - start, 0, play)
        hazard = inc.incident.magnitude * (hi - lo) / (ERROR_HAZARD_MINUTES * _MINUTE_MS)
        hit = inc.matches(dims) & (hi > lo) & (rng.random(m) < -np.expm1(-hazard))
        at = np.maximum(lo + (rng.random(m) * (hi - lo)).astype(np.int64), 1)
        fail_at = np.where(hit, np.minimum(fail_at, at), fail_at)
    failed = fail_at < play
    play = np.where(failed, fail_at, play)
    end_reason = np.where(failed, END_PLAYBACK_FAILURE, np.where(completed, END_COMPLETED, END_USER_EXIT))
    fail_codes = _codes(rng, "playback_failure", m)
    fail_code = np.where(failed, fail_codes, -1).astype(np.int16)
    # A seek at the very end is kept (it ended the session) unless a failure came first.
    keep &= (seek_at < play[seek_owner]) | ((seek_at == play[seek_owner]) & ~failed[seek_owner])
    seek_owner, seek_at, seek_pos = seek_owner[keep], seek_at[keep], seek_pos[keep]

    # Stalls: a per-session network factor drives both the stall rate and the throughput.
    z = rng.standard_normal(m)
    throughput = (
        world.isp_throughput_kbps[dims["isp"]]
        * world.region_throughput[dims["region"]]
        * world.device_throughput[device]
        * np.exp(_NETWORK_SIGMA * z)
    )
    oca = dims["oca_id"]
    delivery = np.where(oca >= 0, world.oca_rebuffer[np.maximum(oca, 0)], world.cdn_rebuffer[dims["cdn"]])
    rate = (
        cfg.rebuffers_per_hour
        / _HOUR_MS
        * world.device_rebuffer[device]
        * world.isp_rebuffer[dims["isp"]]
        * world.region_rebuffer[dims["region"]]
        * delivery
        * (0.75 + 0.5 * sessions.load[idx])
        * model.effect("rebuffer", cells)
        * np.exp(-0.8 * z - 0.32)
    )
    stall_owner, stall_at = _children(rng, rng.poisson(rate * play), np.zeros(m, np.int64), play)
    stall_ms = _STALL_MEDIAN_MS * np.exp(_STALL_SIGMA * rng.standard_normal(len(stall_owner)))
    for inc in model.incidents_between(*horizon, "rebuffer"):
        mag = inc.incident.magnitude
        lo = np.clip(inc.incident.start_ms - start, 0, play)
        hi = np.clip(inc.incident.end_ms - start, 0, play)
        hit = inc.matches(dims) & (hi > lo)
        extra = rng.poisson(np.where(hit, rate * max(mag - 1.0, 0.0) * (hi - lo), 0.0))
        e_owner, e_at = _children(rng, extra, lo, hi)
        inside = hit[stall_owner] & (stall_at >= lo[stall_owner]) & (stall_at < hi[stall_owner])
        thin = inside & (rng.random(len(stall_owner)) >= min(mag, 1.0))
        stall_ms = np.where(inside, stall_ms * mag, stall_ms)[~thin]
        stall_owner, stall_at = stall_owner[~thin], stall_at[~thin]
        e_ms = _STALL_MEDIAN_MS * mag * np.exp(_STALL_SIGMA * rng.standard_normal(len(e_owner)))
        order = np.argsort(
            np.concatenate([stall_owner * _KEY + stall_at, e_owner * _KEY + e_at]), kind="stable"
        )
        stall_owner = np.concatenate([stall_owner, e_owner])[order]
        stall_at = np.concatenate([stall_at, e_at])[order]
        stall_ms = np.concatenate([stall_ms, e_ms])[order]
    stall_ms = np.clip(np.round(stall_ms), 200, 600_000).astype(np.int64)
    # One stall per play instant (two at the same instant would overlap on the wall clock).
    key = stall_owner * _KEY + stall_at
    distinct = np.ones(len(key), dtype=bool)
    distinct[1:] = key[1:] != key[:-1]
    stall_owner, stall_at, stall_ms, key = (
        stall_owner[distinct],
        stall_at[distinct],
        stall_ms[distinct],
        key[distinct],
    )

    # Non-fatal errors.
    error_owner, error_at = _children(rng, rng.poisson(_ERRORS_PER_MS * play), np.ones(m, np.int64), play)
    error_code = _codes(rng, "non_fatal", len(error_owner))

    # Place everything on the wall clock: play time + the stalls that came before.
    cum = np.concatenate([[0], np.cumsum(stall_ms)])
    first = np.searchsorted(key, np.arange(m, dtype=np.int64) * _KEY, side="left")
    stalled_total = (
        cum[np.searchsorted(key, np.arange(1, m + 1, dtype=np.int64) * _KEY, side="left")] - cum[first]
    )

    def wall(owner: np.ndarray, at: np.ndarray) -> np.ndarray:
        before = cum[np.searchsorted(key, owner * _KEY + at, side="left")] - cum[first[owner]]
        return start[owner] + at + before

    return Playback(
        session=idx,
        start_ms=start,
        start_position_ms=p0,
        play_ms=play,
        end_ms=start + play + stalled_total,
        end_reason=end_reason.astype(np.int8),
        fail_code=fail_code,
        throughput_kbps=throughput,
        seek_owner=seek_owner,
        seek_ms=wall(seek_owner, seek_at),
        seek_position_ms=seek_pos,
        stall_owner=stall_owner,
        stall_start_ms=wall(stall_owner, stall_at),
        stall_ms=stall_ms,
        error_owner=error_owner,
        error_ms=wall(error_owner, error_at),
        error_code=error_code,
    )


def _codes(rng: np.random.Generator, phase: str, n: int) -> np.ndarray:
    pairs = catalog.ERROR_CODES[phase]
    codes = np.array([catalog.ERROR_CODE_NAMES.index(c) for c, _ in pairs], dtype=np.int16)
    weights = np.array([w for _, w in pairs])
    return codes[rng.choice(len(codes), size=n, p=weights / weights.sum())]
