"""One chunk end to end: sessions → playback → heartbeats → events → ids and receive times.

`generate_chunk(model, chunk_index)` is the pure unit of generation: its result depends only on
(seed, chunk_index) and the config, so a chunk is identical whichever range it is generated for,
and ranges split on chunk boundaries concatenate to exactly the events of the whole range. Each
stage draws from its own child of `SeedSequence([seed, chunk_index])`, so changing one stage's
model does not reshuffle the others.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .abr import run_abr
from .columns import Columns
from .delivery import received_times
from .events import expand
from .ids import uuid4_bytes
from .model import Model
from .playback import plan_playback
from .sessions import draw_sessions

__all__ = ["Chunk", "SESSION_COLUMNS", "generate_chunk"]

_STREAM = 0xC4A9C
#: Session attributes every event carries, gathered when events are released.
SESSION_COLUMNS = (
    "user",
    "session_uuid",
    "title",
    "device_type",
    "device_os",
    "app_version",
    "region",
    "country",
    "isp",
    "cdn",
    "oca",
    "allocation",
)


@dataclass
class Chunk:
    """Sessions requested in one chunk (`sessions`) and their not-yet-emitted events (`events`)."""

    index: int
    sessions: Columns
    events: Columns  # sorted by (sess, seq); `sess` indexes `sessions`
    lost_to_srm: int


def generate_chunk(model: Model, chunk_index: int, start_ms: int, end_ms: int) -> Chunk:
    """The chunk's sessions requested in [start_ms, end_ms) and all their events."""
    seeds = np.random.SeedSequence([model.config.seed, _STREAM, chunk_index]).spawn(5)
    rng_sessions, rng_playback, rng_abr, rng_ids, rng_delivery = (np.random.default_rng(s) for s in seeds)
    sessions = draw_sessions(model, chunk_index, rng_sessions)
    playback = plan_playback(model, sessions, rng_playback)
    heartbeats = run_abr(playback, sessions, model.world, model.config.heartbeat_interval_ms, rng_abr)
    events = expand(sessions, playback, heartbeats)
    events = events.with_columns(
        event_uuid=uuid4_bytes(rng_ids, events.rows),
        recv=received_times(
            rng_delivery, events["ts"], events["sess"], sessions.device_type, model.config.late_fraction
        ),
    )
    frame = Columns(
        {
            "request_ms": sessions.request_ms,
            "user": sessions.user,
            "session_uuid": sessions.uuid,
            "title": sessions.title,
            "device_type": sessions.device_type,
            "device_os": sessions.device_os,
            "app_version": sessions.app_version,
            "region": sessions.region,
            "country": sessions.country,
            "isp": sessions.isp,
            "cdn": sessions.cdn,
            "oca": sessions.oca,
            "allocation": sessions.allocation,
        }
    )
    lost = int(((sessions.lost_request_ms >= start_ms) & (sessions.lost_request_ms < end_ms)).sum())
    inside = (sessions.request_ms >= start_ms) & (sessions.request_ms < end_ms)
    if not inside.all():
        renumber = np.cumsum(inside) - 1
        events = events.filter(inside[events["sess"]])
        events = events.with_columns(sess=renumber[events["sess"]])
        frame = frame.filter(inside)
    return Chunk(chunk_index, frame, events, lost)
