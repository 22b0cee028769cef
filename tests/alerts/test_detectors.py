"""Detectors, roll-up and lifecycle on synthetic series: steps, spikes, drifts, seasonal traffic,
low volume and missing windows (pure code, no I/O)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from alerts.engine import AlertEngine
from alerts.frames import WindowFrame
from alerts.lifecycle import AlertEvent
from alerts.rules import load_rules, parse_rules
from tests.alerts.synthetic import T0, Cells, W

TRAIN = 60  # windows of clean history before anything happens


def _rules(*rules: dict[str, Any]) -> Any:
    return parse_rules({"version": 1, "rules": list(rules)})


FAILURES = {
    "name": "failures",
    "kind": "anomaly",
    "metric": "start_failure_pct",
    "min_ratio": 2.0,
    "min_delta": 1.0,
}
VST = {"name": "vst", "kind": "anomaly", "metric": "vst_p95_ms", "z": 3.5, "min_ratio": 1.5}


def _run(engine: AlertEngine, frames: list[WindowFrame]) -> list[AlertEvent]:
    events: list[AlertEvent] = []
    for frame in frames:
        events.extend(engine.evaluate(frame))
    return events


def _fired(events: list[AlertEvent]) -> list[AlertEvent]:
    return [e for e in events if e.kind == "firing"]


def test_a_step_on_one_oca_fires_within_two_windows_names_the_oca_and_resolves() -> None:
    cells = Cells(seed=3)
    broken = "oca-isp-us-east-0-1"
    engine = AlertEngine(_rules(FAILURES))
    start = T0 + TRAIN * W
    frames = [cells.frame(T0 + i * W) for i in range(TRAIN)]
    frames += [
        cells.frame(start + i * W, failure_rate=lambda c: 0.25 if c["oca_id"] == broken else 0.005)
        for i in range(10)
    ]
    frames += [cells.frame(start + (10 + i) * W) for i in range(10)]
    events = _run(engine, frames)
    fired = _fired(events)
    assert [e.alert.slice for e in fired] == [f"oca_id={broken}"]  # one alert, naming the OCA
    alert = fired[0].alert
    assert alert.started_ms == start
    assert alert.fired_ms is not None and alert.fired_ms <= start + 2 * W
    assert alert.observed > 10 and alert.baseline is not None and alert.baseline < 2
    # its ISP, region and the global total breach too, but are rolled up into the OCA's alert
    resolved = [e for e in events if e.kind == "resolved"]
    assert [e.alert.slice for e in resolved] == [f"oca_id={broken}"]
    assert {"isp=isp-us-east-0", "region=us-east"} <= set(resolved[0].alert.affected)
    assert resolved[0].alert.ended_ms == start + 10 * W  # end of the last breaching window


def test_a_broken_region_is_one_alert_naming_the_region_not_its_ocas() -> None:
    cells = Cells(seed=4)
    engine = AlertEngine(_rules(FAILURES))
    start = T0 + TRAIN * W
    frames = [cells.frame(T0 + i * W) for i in range(TRAIN)]
    frames += [
        cells.frame(start + i * W, failure_rate=lambda c: 0.2 if c["region"] == "eu-west" else 0.005)
        for i in range(5)
    ]
    fired = _fired(_run(engine, frames))
    assert [e.alert.slice for e in fired] == ["region=eu-west"]


def test_a_one_window_spike_is_cancelled_while_pending_and_never_fires() -> None:
    cells = Cells(seed=5)
    engine = AlertEngine(_rules(FAILURES))
    frames = [cells.frame(T0 + i * W) for i in range(TRAIN)]
    frames.append(cells.frame(T0 + TRAIN * W, failure_rate=lambda c: 0.3))
    frames += [cells.frame(T0 + (TRAIN + 1 + i) * W) for i in range(5)]
    events = _run(engine, frames)
    assert not _fired(events)
    assert [e.kind for e in events if e.alert.slice == "all"] == ["pending", "cancelled"]


def test_a_slow_drift_is_learned_not_alerted() -> None:
    cells = Cells(seed=6)
    engine = AlertEngine(_rules(VST))
    # VST p95 creeps up 0.2% a window: ×2.7 over 500 windows, far slower than any incident.
    frames = [cells.frame(T0 + i * W, vst_factor=lambda c, i=i: 1.002**i) for i in range(500)]
    assert not _fired(_run(engine, frames))


def test_a_vst_step_fires() -> None:
    cells = Cells(seed=7)
    engine = AlertEngine(_rules(VST))
    frames = [cells.frame(T0 + i * W) for i in range(TRAIN)]
    frames += [cells.frame(T0 + (TRAIN + i) * W, vst_factor=lambda c: 3.0) for i in range(3)]
    fired = _fired(_run(engine, frames))
    assert [e.alert.slice for e in fired] == ["all"]
    assert fired[0].alert.fired_ms == T0 + (TRAIN + 2) * W


def test_seasonal_traffic_with_constant_quality_raises_nothing_over_a_day() -> None:
    cells = Cells(seed=8, attempts=4.0)
    engine = AlertEngine(load_rules())  # the shipped rules
    frames = []
    for i in range(1440):
        hour = (i % 1440) / 60
        volume = 0.15 + 1.85 * (0.5 - 0.5 * math.cos(2 * math.pi * (hour - 8) / 24)) ** 2  # 0.15 … 2
        frames.append(cells.frame(T0 + i * W, volume=volume))
    events = _run(engine, frames)
    assert not _fired(events)


def test_low_volume_slices_never_alert() -> None:
    cells = Cells(seed=9, attempts=0.5)  # an OCA sees ~1.5 attempts a minute, far below 25
    engine = AlertEngine(_rules(FAILURES))
    frames = [cells.frame(T0 + i * W) for i in range(TRAIN)]
    frames += [cells.frame(T0 + (TRAIN + i) * W, failure_rate=lambda c: 0.5) for i in range(10)]
    events = _run(engine, frames)
    assert not [e for e in events if e.alert.slice.startswith("oca_id=")]


def test_missing_windows_hold_the_baseline_and_a_silent_slice_resolves_as_stale() -> None:
    cells = Cells(seed=10)
    broken = "oca-isp-eu-west-1-2"
    engine = AlertEngine(_rules({**FAILURES, "stale_windows": 4}))
    frames = [cells.frame(T0 + i * W) for i in range(TRAIN) if i % 7 != 3]  # some windows never arrive
    start = T0 + TRAIN * W
    frames += [
        cells.frame(start + i * W, failure_rate=lambda c: 0.3 if c["oca_id"] == broken else 0.005)
        for i in range(3)
    ]
    # then the OCA goes silent (no rows at all) while the rest is healthy
    frames += [cells.frame(start + (3 + i) * W, only=lambda c: c["oca_id"] != broken) for i in range(6)]
    events = _run(engine, frames)
    fired = _fired(events)
    assert [e.alert.slice for e in fired] == [f"oca_id={broken}"]
    resolved = [e for e in events if e.kind == "resolved"]
    assert [e.alert.slice for e in resolved] == [f"oca_id={broken}"]
    assert resolved[0].alert.ended_ms == start + 3 * W


def test_threshold_hysteresis_holds_between_the_lines_and_resolves_below() -> None:
    rule = {
        "name": "slo",
        "kind": "threshold",
        "metric": "start_failure_pct",
        "above": 10.0,
        "resolve_below": 5.0,
        "min_volume": 25,
        "rollup": False,
    }
    cells = Cells(seed=11, attempts=40)
    engine = AlertEngine(_rules(rule))

    def at(i: int, rate: float) -> WindowFrame:
        return cells.frame(T0 + i * W, failure_rate=lambda c: rate, only=lambda c: c["region"] == "us-east")

    rates = [0.01] * 3 + [0.2] * 3 + [0.07] * 4 + [0.01] * 3
    events = _run(engine, [at(i, r) for i, r in enumerate(rates)])
    global_events = [e.kind for e in events if e.alert.slice == "all" and e.kind != "update"]
    assert global_events == ["pending", "firing", "resolved"]
    resolved = next(e.alert for e in events if e.kind == "resolved" and e.alert.slice == "all")
    assert resolved.started_ms == T0 + 3 * W and resolved.ended_ms == T0 + 6 * W
    assert resolved.threshold == 10.0 and resolved.baseline is None


def test_windows_must_come_in_order() -> None:
    engine = AlertEngine(_rules(FAILURES))
    cells = Cells()
    engine.evaluate(cells.frame(T0 + W))
    with pytest.raises(ValueError, match="not after"):
        engine.evaluate(cells.frame(T0))


def test_every_message_carries_slice_start_observed_and_baseline() -> None:
    cells = Cells(seed=12)
    engine = AlertEngine(_rules(FAILURES))
    frames = [cells.frame(T0 + i * W) for i in range(TRAIN)]
    frames += [cells.frame(T0 + (TRAIN + i) * W, failure_rate=lambda c: 0.2) for i in range(2)]
    event = _fired(_run(engine, frames))[0]
    text = event.alert.message()
    assert "all" in text and "baseline" in text and "since 2025-01-06T01:00:00Z" in text
    assert np.isfinite(event.alert.observed) and event.alert.baseline is not None
