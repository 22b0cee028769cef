"""When the collector receives each event: network delay, retries, and offline bursts.

`received_ts_ms − event_ts_ms` is never negative. Normally it is a lognormal network delay
(median 120 ms) plus, for 1.5% of events, a retry of 1–8 s. A `late_fraction` of sessions (about;
mobile and tablet sessions go offline more often than TVs) lose connectivity at a random moment
for a lognormal while (median 10 min, 1 min to 6 h): every event in that gap is delivered in one
burst at reconnection, so it arrives minutes to hours after it happened. Events are still
*emitted* in event-time order; only their receive times are late.
"""

from __future__ import annotations

import numpy as np

from .catalog import DEVICES

__all__ = ["LATE_THRESHOLD_MS", "received_times"]

#: Events received at least this long after they happened count as late (DESIGN: allowed lateness).
LATE_THRESHOLD_MS = 30_000
_OFFLINE_WEIGHT = {"TV": 0.6, "MOBILE": 2.5, "TABLET": 1.5, "WEB": 0.6, "CONSOLE": 0.4}
_WEIGHTS = np.array([_OFFLINE_WEIGHT[d.name] for d in DEVICES])
_MEAN_WEIGHT = 1.1  # under the default device mix, so late_fraction is about the share of sessions
_DELAY_MEDIAN_MS = 120.0
_RETRY_SHARE = 0.015
_OFFLINE_MEDIAN_MS = 600_000.0
_OFFLINE_MAX_MS = 6 * 3_600_000


def received_times(
    rng: np.random.Generator, ts: np.ndarray, sess: np.ndarray, device_type: np.ndarray, late_fraction: float
) -> np.ndarray:
    """Receive time of each event; `sess` (sorted) indexes `device_type`, one entry per session."""
    n = len(ts)
    delay = _DELAY_MEDIAN_MS * np.exp(0.6 * rng.standard_normal(n))
    delay += np.where(rng.random(n) < _RETRY_SHARE, rng.uniform(1_000, 8_000, n), 0.0)
    delay = np.round(delay).astype(np.int64)

    m = len(device_type)
    p_offline = np.minimum(late_fraction * _WEIGHTS[device_type] / _MEAN_WEIGHT, 1.0)
    offline = rng.random(m) < p_offline
    # Every session has at least its PLAY_REQUEST and PLAY_END, so first <= last.
    first = np.searchsorted(sess, np.arange(m), side="left")
    last = np.searchsorted(sess, np.arange(m), side="right") - 1
    if n == 0:
        return ts + delay
    gap_start = ts[first] + (rng.random(m) * (ts[last] - ts[first])).astype(np.int64)
    gap_ms = np.clip(_OFFLINE_MEDIAN_MS * np.exp(rng.standard_normal(m)), 60_000, _OFFLINE_MAX_MS)
    reconnect = gap_start + gap_ms.astype(np.int64)
    burst = offline[sess] & (ts >= gap_start[sess]) & (ts < reconnect[sess])
    return np.where(burst, reconnect[sess], ts) + delay
