"""The alert engine: closed windows in, lifecycle events out — detectors, roll-up and lifecycle
for every rule, with no I/O (the faust app, the benchmark and the tests drive the same code).

`warm(frame)` trains the baselines on history without judging; `evaluate(frame)` judges one
closed window for every rule and returns the events of that window in rule order. Windows must
come in event-time order; an older window than the last evaluated is refused (ValueError), so a
replay cannot fire twice.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

import numpy as np

from alerts.detectors import Detector, Judgement, detector_for
from alerts.frames import WindowFrame
from alerts.lifecycle import Alert, AlertEvent, RuleLifecycle
from alerts.rollup import Rollup, roll_up
from alerts.rules import RuleSet

__all__ = ["AlertEngine"]


class AlertEngine:
    def __init__(self, rules: RuleSet, *, rollup_share: float = 0.65, keep_recent: int = 200) -> None:
        self.rules = rules
        self.rollup_share = rollup_share
        self.detectors: dict[str, Detector] = {r.name: detector_for(r) for r in rules.rules}
        self.lifecycles: dict[str, RuleLifecycle] = {r.name: RuleLifecycle(r) for r in rules.rules}
        self.recent: deque[Alert] = deque(maxlen=keep_recent)
        self.last_window_ms: int | None = None
        self.windows_evaluated = 0
        self.windows_warmed = 0

    def warm(self, frame: WindowFrame) -> None:
        """Train every baseline on a historical window (no judgement, no events)."""
        for detector in self.detectors.values():
            detector.warm(frame)
        self.windows_warmed += 1

    def restore(self, alerts: Iterable[Alert]) -> int:
        """Re-open alerts that were pending or firing when the app stopped; returns how many."""
        count = 0
        for alert in alerts:
            if alert.open and alert.rule in self.lifecycles:
                self.lifecycles[alert.rule].restore(alert)
                count += 1
        return count

    def evaluate(self, frame: WindowFrame) -> list[AlertEvent]:
        if self.last_window_ms is not None and frame.window_start_ms <= self.last_window_ms:
            raise ValueError(
                f"window {frame.window_start_ms} is not after the last evaluated window {self.last_window_ms}"
            )
        self.last_window_ms = frame.window_start_ms
        self.windows_evaluated += 1
        events: list[AlertEvent] = []
        for rule in self.rules.rules:
            lifecycle = self.lifecycles[rule.name]
            judgement = self.detectors[rule.name].evaluate(frame, lifecycle.frozen(frame.slices))
            events.extend(lifecycle.step(judgement, self._rollup(judgement, rule.rollup)))
        self.recent.extendleft(e.alert for e in events if e.kind == "resolved")
        return events

    def _rollup(self, judgement: Judgement, enabled: bool) -> Rollup:
        breaching = np.flatnonzero(judgement.breach)
        if not enabled:
            return Rollup(tuple(int(i) for i in breaching))
        return roll_up(judgement, breaching, self.rollup_share)

    def open_alerts(self) -> list[Alert]:
        return sorted(
            (a.snapshot() for lc in self.lifecycles.values() for a in lc.open.values()),
            key=lambda a: (a.state != "firing", a.started_ms),
        )
