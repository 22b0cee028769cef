"""The alert engine: closed windows in, lifecycle events out — detectors, roll-up and lifecycle
for every rule, with no I/O (the faust app, the benchmark and the tests drive the same code).

`warm(frame)` trains the baselines on history without judging; `evaluate(frame)` judges one
closed window for every rule and returns the events of that window in rule order. Windows must
come in event-time order; an older window than the last evaluated is refused (ValueError), so a
replay cannot fire twice.

For-duration across roll-up changes: the engine counts every slice's consecutive breaching
windows per rule, whether the roll-up named it or listed it under another root. A slice that
becomes a root after breaching for `for_windows` windows as a rolled-up slice fires at once,
started at its first breaching window: the evidence was there, only the name moved (a broken
region whose first window the roll-up gave to its main country still fires within two windows).
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
from streaming.windows import WINDOW_MS

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
        self.breach_streaks: dict[str, dict[str, int]] = {}
        self.streak_window: dict[str, int] = {}

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
            streaks = self._streaks(rule.name, judgement)
            stepped = lifecycle.step(judgement, self._rollup(judgement, rule.rollup))
            events.extend(self._carry_streaks(lifecycle, stepped, streaks))
        self.recent.extendleft(e.alert for e in events if e.kind == "resolved")
        return events

    def _streaks(self, rule: str, judgement: Judgement) -> dict[str, int]:
        """Consecutive breaching windows of every slice of one rule, root or rolled up."""
        previous = self.breach_streaks.get(rule, {})
        window = judgement.window_start_ms
        contiguous = self.streak_window.get(rule) == window - WINDOW_MS
        current = {
            judgement.slices[i]: (previous.get(judgement.slices[i], 0) if contiguous else 0) + 1
            for i in np.flatnonzero(judgement.breach).tolist()
        }
        self.breach_streaks[rule] = current
        self.streak_window[rule] = window
        return current

    def _carry_streaks(
        self, lifecycle: RuleLifecycle, events: list[AlertEvent], streaks: dict[str, int]
    ) -> list[AlertEvent]:
        """A slice that becomes a root after breaching while rolled up into another root's alert
        has breached all along: those windows count towards its for-duration (the roll-up moved the
        name, the evidence was there), so it fires as if it had been the root from the start."""
        need = lifecycle.rule.for_windows
        out: list[AlertEvent] = []
        for event in events:
            alert = lifecycle.open.get(event.alert.slice)
            streak = streaks.get(event.alert.slice, 0)
            if event.kind != "pending" or alert is None or alert.state != "pending" or streak < need:
                out.append(event)
                continue
            window = alert.started_ms
            alert.started_ms = window - (need - 1) * WINDOW_MS
            alert.streak = alert.breaching_windows = need
            alert.state = "firing"
            alert.fired_ms = window + WINDOW_MS
            out.append(AlertEvent("firing", alert.snapshot()))
        return out

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
