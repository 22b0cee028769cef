"""The QoE metrics rules can watch, computed from a `WindowFrame` with the definitions of DESIGN.md.

Each metric says how to read its value, its volume (what `min_volume` counts and what the
sampling variance shrinks with) and its scale for the detectors:

| metric | value | volume |
|---|---|---|
| `vst_p50_ms` … `vst_p99_ms` | VST percentile of the merged sketch, ms | starts |
| `rebuffer_ratio` | rebuffer_ms / (playing_ms + rebuffer_ms), fraction | concurrent plays |
| `start_failure_pct` | 100 × start_failures / attempts | attempts |
| `ebvs_pct` | 100 × ebvs / attempts | attempts |
| `playback_failure_pct` | 100 × playback_failures / starts | starts |

Scales: `log` (percentiles: changes are multiplicative, detectors work on log values),
`proportion` (events out of trials: counts are Poisson-like at low volume) and `ratio`.
No I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from alerts.frames import WindowFrame
from streaming.windows import WINDOW_MS

__all__ = ["METRICS", "Metric", "MetricValues"]

Scale = Literal["log", "proportion", "ratio"]


@dataclass(frozen=True)
class MetricValues:
    """Per slice of a frame: the value (display unit), the volume, and the count of events behind
    the value when it has one (failures of a proportion, stalls of the rebuffer ratio)."""

    value: np.ndarray
    volume: np.ndarray
    count: np.ndarray | None = None


@dataclass(frozen=True)
class Metric:
    name: str
    unit: str
    volume_unit: str
    scale: Scale
    #: Factor from the model's rate (a fraction) to the display value (100 for *_pct).
    display_factor: float = 1.0
    #: For percentiles: the quantile (0.95 for vst_p95_ms).
    quantile: float = 0.0

    def values(self, frame: WindowFrame) -> MetricValues:
        with np.errstate(divide="ignore", invalid="ignore"):
            if self.scale == "log":
                return MetricValues(frame[self.name].astype(float), frame["starts"].astype(float))
            if self.name == "rebuffer_ratio":
                stalled = frame["rebuffer_ms"].astype(float)
                in_playback = frame["playing_ms"] + stalled
                ratio = np.where(in_playback > 0, stalled / in_playback, np.nan)
                return MetricValues(ratio, in_playback / WINDOW_MS, frame["rebuffers"].astype(float))
            numerator, denominator = _PROPORTIONS[self.name]
            trials = frame[denominator].astype(float)
            events = frame[numerator].astype(float)
            rate = np.where(trials > 0, events / trials, np.nan)
            return MetricValues(rate * self.display_factor, trials, events)

    def to_model(self, display: np.ndarray) -> np.ndarray:
        """Display values → the detectors' scale (log ms, or a fraction)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            if self.scale == "log":
                return np.log(np.maximum(display, 1.0))
            return display / self.display_factor

    def to_display(self, model: np.ndarray) -> np.ndarray:
        if self.scale == "log":
            return np.exp(model)
        return model * self.display_factor


_PROPORTIONS = {
    "start_failure_pct": ("start_failures", "attempts"),
    "ebvs_pct": ("ebvs", "attempts"),
    "playback_failure_pct": ("playback_failures", "starts"),
}

METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        *(Metric(f"vst_p{q}_ms", "ms", "starts", "log", quantile=q / 100) for q in (50, 90, 95, 99)),
        Metric("rebuffer_ratio", "fraction", "concurrent plays", "ratio"),
        Metric("start_failure_pct", "%", "attempts", "proportion", 100.0),
        Metric("ebvs_pct", "%", "attempts", "proportion", 100.0),
        Metric("playback_failure_pct", "%", "starts", "proportion", 100.0),
    )
}
