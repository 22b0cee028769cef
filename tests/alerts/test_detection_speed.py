"""Detection at low volume and across roll-up changes: a VST step on a slice of a few dozen
starts is judged on the starts behind its percentile (exact binomial tail), and a slice that
breached while rolled up into another alert keeps those windows towards its for-duration."""

from __future__ import annotations

from typing import Any

import numpy as np

from alerts.engine import AlertEngine
from alerts.frames import COUNT_COLUMNS, QUANTILE_COLUMNS, WindowFrame
from alerts.lifecycle import AlertEvent
from alerts.rollup import Rollup
from alerts.rules import load_rules, parse_rules
from streaming.sketch import Sketch
from tests.alerts.synthetic import T0, Cells, W

VST = {"name": "vst", "kind": "anomaly", "metric": "vst_p95_ms", "z": 3.5, "min_ratio": 1.5}
FAILURES = {
    "name": "failures",
    "kind": "anomaly",
    "metric": "start_failure_pct",
    "min_ratio": 2.0,
    "min_delta": 1.0,
}


def _small_slice(
    rng: np.random.Generator, window: int, factor: float = 1.0, starts: float = 30.0
) -> WindowFrame:
    """One slice ("all") of ~`starts` lognormal start times (median 900 ms, σ 0.5) with their sketch."""
    n = max(int(rng.poisson(starts)), 1)
    values = 900.0 * np.exp(rng.normal(0.0, 0.5, n)) * factor
    sketch = Sketch.of(values)
    columns: dict[str, np.ndarray] = {name: np.zeros(1) for name in COUNT_COLUMNS}
    columns["attempts"] = np.array([float(n)])
    columns["starts"] = np.array([float(n)])
    columns["playing_ms"] = np.array([n * 30.0 * 60_000])
    for name, q in zip(QUANTILE_COLUMNS, (0.5, 0.9, 0.95, 0.99), strict=True):
        columns[name] = np.array([float(sketch.quantile(q) or np.nan)])
    return WindowFrame(window, ("all",), columns, (sketch,))


def _fired(engine: AlertEngine, frames: list[WindowFrame]) -> list[AlertEvent]:
    return [e for frame in frames for e in engine.evaluate(frame) if e.kind == "firing"]


def test_a_vst_step_on_a_few_dozen_starts_fires_within_two_windows() -> None:
    rng = np.random.default_rng(21)
    engine = AlertEngine(parse_rules({"version": 1, "rules": [VST]}))
    start = T0 + 120 * W
    frames = [_small_slice(rng, T0 + i * W) for i in range(120)]
    frames += [_small_slice(rng, start + i * W, factor=1.7) for i in range(4)]
    fired = _fired(engine, frames)
    assert [e.alert.slice for e in fired] == ["all"]
    assert fired[0].alert.started_ms == start and fired[0].alert.fired_ms == start + 2 * W


def test_a_few_dozen_starts_of_normal_traffic_raise_nothing() -> None:
    rng = np.random.default_rng(22)
    engine = AlertEngine(load_rules())  # the shipped rules
    assert not _fired(engine, [_small_slice(rng, T0 + i * W) for i in range(1_000)])


def test_a_slice_rolled_up_while_breaching_fires_as_soon_as_it_is_named() -> None:
    cells = Cells(seed=3)
    broken = "oca-isp-us-east-0-1"
    engine = AlertEngine(parse_rules({"version": 1, "rules": [FAILURES]}))
    start = T0 + 60 * W
    frames = [cells.frame(T0 + i * W) for i in range(60)]
    frames += [
        cells.frame(start + i * W, failure_rate=lambda c: 0.25 if c["oca_id"] == broken else 0.005)
        for i in range(4)
    ]
    for frame in frames[:60]:
        engine.evaluate(frame)
    # In the incident's first window the roll-up names a wider breaching slice and lists the OCA
    # under it (as it may when the first window's evidence is thin); then it names the OCA.
    rollup = engine._rollup
    oca = f"oca_id={broken}"

    def first_names_region(judgement: Any, enabled: bool) -> Rollup:
        plain = rollup(judgement, enabled)
        if judgement.window_start_ms != start:
            return plain
        breaching = [int(i) for i in np.flatnonzero(judgement.breach)]
        assert judgement.slices.index(oca) in breaching
        root = max((i for i in breaching if judgement.slices[i] != oca), key=lambda i: judgement.volume[i])
        return Rollup((root,), {i: root for i in breaching if i != root})

    engine._rollup = first_names_region  # type: ignore[method-assign]
    fired = _fired(engine, frames[60:])
    named = [e.alert for e in fired if e.alert.slice == oca]
    assert len(named) == 1
    assert named[0].started_ms == start and named[0].fired_ms == start + 2 * W
