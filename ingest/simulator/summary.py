"""Exact QoE and engagement figures of a batch of raw events, to calibrate and check the simulator.

These follow DESIGN.md's metric definitions over the whole input (no windows, no sketches):
VST percentiles over PLAY_START `startup_ms`; rebuffer ratio = Σ rebuffer_ms ÷ (Σ played_ms +
Σ rebuffer_ms); start failure % = START_FAILURE ends ÷ attempts; EBVS % = EXIT_BEFORE_START ends
÷ attempts; playback failure % = PLAYBACK_FAILURE ends ÷ starts; average bitrate weighted by
played_ms. They are the simulator's self-check, not the platform's metric implementation (that
lives in `streaming/` and `batch/`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["qoe_summary"]


def qoe_summary(events: pa.Table) -> dict[str, Any]:
    """Headline figures of an event table in EVENT_SCHEMA."""
    etype = events["event_type"]
    starts = events.filter(pc.equal(etype, "PLAY_START"))
    startup = starts["startup_ms"].to_numpy()
    attempts = int(pc.sum(pc.equal(etype, "PLAY_REQUEST")).as_py() or 0)
    reasons = events.filter(pc.equal(etype, "PLAY_END"))["end_reason"].value_counts().to_pylist()
    ends = {r["values"]: r["counts"] for r in reasons}
    played = pc.fill_null(events["played_ms"], 0).to_numpy()
    rebuffer = float(pc.sum(events["rebuffer_ms"]).as_py() or 0)
    bitrate = pc.fill_null(events["bitrate_kbps"], 0).to_numpy().astype(np.float64)
    play_total = float(played.sum())
    n_starts = len(startup)
    days = (pc.max(events["event_ts_ms"]).as_py() - pc.min(events["event_ts_ms"]).as_py()) / 86_400_000
    return {
        "events": events.num_rows,
        "attempts": attempts,
        "starts": n_starts,
        "events_per_session": events.num_rows / max(attempts, 1),
        "vst_p50_ms": float(np.percentile(startup, 50)) if n_starts else None,
        "vst_p90_ms": float(np.percentile(startup, 90)) if n_starts else None,
        "vst_p95_ms": float(np.percentile(startup, 95)) if n_starts else None,
        "vst_p99_ms": float(np.percentile(startup, 99)) if n_starts else None,
        "rebuffer_ratio_pct": 100 * rebuffer / max(play_total + rebuffer, 1.0),
        "start_failure_pct": 100 * ends.get("START_FAILURE", 0) / max(attempts, 1),
        "ebvs_pct": 100 * ends.get("EXIT_BEFORE_START", 0) / max(attempts, 1),
        "playback_failure_pct": 100 * ends.get("PLAYBACK_FAILURE", 0) / max(n_starts, 1),
        "completed_pct": 100 * ends.get("COMPLETED", 0) / max(n_starts, 1),
        "avg_bitrate_kbps": float((played * bitrate).sum() / max(play_total, 1.0)),
        "play_hours": play_total / 3_600_000,
        "play_minutes_per_start": play_total / 60_000 / max(n_starts, 1),
        "span_days": days,
    }
