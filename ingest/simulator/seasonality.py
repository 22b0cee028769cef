"""When members watch: the diurnal and weekly shape of play requests, by local time.

`demand_shape(local_ms)` is the relative request rate at a local wall-clock time: a piecewise-linear
day curve (low around 04:00, rising through the afternoon, peak 20:00–21:00) times a weekly curve
(weekdays a little below average, Friday evening and the weekend above), both continuous so no
minute jumps against its neighbour. It is normalized to mean 1 over a week, so a member's expected
requests per day equal the configured rate times the member's activity. `load_factor` is the day
curve alone scaled to peak 1, used for evening congestion.
"""

from __future__ import annotations

import numpy as np

__all__ = ["DIURNAL", "WEEKLY", "demand_shape", "load_factor", "local_ms"]

_DAY_MS = 86_400_000
_HOUR_MS = 3_600_000

#: Relative demand at each local hour (00:00 ... 23:00), interpolated linearly in between.
DIURNAL: tuple[float, ...] = (
    0.55, 0.35, 0.22, 0.15, 0.12, 0.13, 0.20, 0.30, 0.38, 0.42, 0.45, 0.50,
    0.55, 0.55, 0.55, 0.58, 0.65, 0.75, 0.88, 0.97, 1.00, 1.00, 0.92, 0.75,
)  # fmt: skip
#: Relative demand at noon of each local weekday, Monday first, interpolated linearly in between.
WEEKLY: tuple[float, ...] = (0.93, 0.92, 0.93, 0.96, 1.06, 1.16, 1.12)

_HOURS = np.arange(25, dtype=np.float64)
_DIURNAL = np.append(np.array(DIURNAL), DIURNAL[0])
_DAYS = np.arange(-0.5, 8.0, 1.0)
_WEEKLY = np.concatenate([[WEEKLY[-1]], WEEKLY, [WEEKLY[0]]])


def local_ms(utc_ms: np.ndarray, utc_offset_min: np.ndarray | int) -> np.ndarray:
    """Local wall-clock time in ms for a fixed UTC offset."""
    return np.asarray(utc_ms, dtype=np.int64) + np.asarray(utc_offset_min, dtype=np.int64) * 60_000


def _day_curve(local: np.ndarray) -> np.ndarray:
    hour = (local % _DAY_MS) / _HOUR_MS
    return np.interp(hour, _HOURS, _DIURNAL)


def _week_curve(local: np.ndarray) -> np.ndarray:
    # 1970-01-01 was a Thursday: day 0 is weekday 3 when Monday is 0.
    day = ((local / _DAY_MS) + 3.0) % 7.0
    return np.interp(day, _DAYS, _WEEKLY)


def _weekly_mean() -> float:
    minutes = np.arange(0, 7 * _DAY_MS, 60_000, dtype=np.int64)
    return float(np.mean(_day_curve(minutes) * _week_curve(minutes)))


_NORM = _weekly_mean()


def demand_shape(local: np.ndarray) -> np.ndarray:
    """Relative play-request rate at local times (mean 1 over a week)."""
    local = np.asarray(local, dtype=np.int64)
    return _day_curve(local) * _week_curve(local) / _NORM


def load_factor(local: np.ndarray) -> np.ndarray:
    """Day curve alone with peak 1 (network load at that local hour)."""
    return _day_curve(np.asarray(local, dtype=np.int64)) / max(DIURNAL)
