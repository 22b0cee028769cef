"""The alert lifecycle of one rule: pending → firing → resolved, one open alert per rule + slice.

Per window (event time), for the judgement of one rule and its roll-up (no I/O):

- A root slice that breaches and has no open alert opens one, *pending*, started at the window's
  start. It fires after `for_windows` consecutive breaching windows (at once when 1); a pending
  alert whose slice stops breaching before that is *cancelled* (never notified).
- A *firing* alert resolves after `resolve_windows` consecutive *clear* windows (clear is stricter
  than not breaching: hysteresis), ending at the end of its last breaching window. Windows in
  between, and windows without enough volume, hold it; `stale_windows` windows without data for
  the slice resolve it too (the slice went quiet).
- Deduplication: the dedup key is a hash of rule and slice; while an alert of that key is open
  no other is opened. Each incident has its own id: a hash of rule, slice and start.
- Slices attached to a root by the roll-up open no alert of their own; they are listed in the
  root's `affected`. A slice that already has an open alert keeps it until it resolves.

Every event carries a snapshot of the alert: slice, start (and end), observed value, baseline,
threshold and score of the latest window.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Literal

import numpy as np

from alerts.detectors import Judgement
from alerts.metrics import METRICS
from alerts.rollup import Rollup
from alerts.rules import Rule
from streaming.windows import WINDOW_MS

__all__ = ["Alert", "AlertEvent", "RuleLifecycle", "dedup_key", "incident_id"]

State = Literal["pending", "firing", "resolved", "cancelled"]
EventKind = Literal["pending", "firing", "resolved", "cancelled", "update"]


def dedup_key(rule: str, slice_: str) -> str:
    return hashlib.sha256(f"{rule}|{slice_}".encode()).hexdigest()[:16]


def incident_id(rule: str, slice_: str, started_ms: int) -> str:
    return hashlib.sha256(f"{rule}|{slice_}|{started_ms}".encode()).hexdigest()[:16]


def _iso(ms: int | None) -> str | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, UTC).isoformat().replace("+00:00", "Z")


def _fmt(value: float | None, unit: str) -> str:
    if value is None or not np.isfinite(value):
        return "n/a"
    if unit == "ms":
        return f"{value:,.0f} ms"
    if unit == "%":
        return f"{value:.2f}%"
    return f"{value * 100:.2f}%" if unit == "fraction" else f"{value:.4g}"


@dataclass
class Alert:
    """One incident of one rule on one slice."""

    rule: str
    metric: str
    kind: str
    severity: str
    slice: str
    started_ms: int
    state: State = "pending"
    fired_ms: int | None = None
    ended_ms: int | None = None
    last_window_ms: int = 0
    last_breach_ms: int = 0
    observed: float = float("nan")
    baseline: float | None = None
    threshold: float | None = None
    score: float | None = None
    volume: float = 0.0
    affected: tuple[str, ...] = ()
    breaching_windows: int = 0
    streak: int = 0
    clear_streak: int = 0
    missing: int = 0
    description: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def dedup_key(self) -> str:
        return dedup_key(self.rule, self.slice)

    @property
    def incident_id(self) -> str:
        return incident_id(self.rule, self.slice, self.started_ms)

    @property
    def open(self) -> bool:
        return self.state in ("pending", "firing")

    @property
    def started_at(self) -> str:
        return _iso(self.started_ms) or ""

    @property
    def ended_at(self) -> str | None:
        return _iso(self.ended_ms)

    @property
    def fired_at(self) -> str | None:
        return _iso(self.fired_ms)

    def message(self) -> str:
        unit = METRICS[self.metric].unit
        head = (
            f"[{self.state.upper()}] {self.rule}: {self.metric} {_fmt(self.observed, unit)} on {self.slice}"
        )
        parts = [head]
        if self.baseline is not None and np.isfinite(self.baseline):
            parts.append(f"baseline {_fmt(self.baseline, unit)}")
        if self.threshold is not None and np.isfinite(self.threshold):
            parts.append(f"threshold {_fmt(self.threshold, unit)}")
        when = f"since {self.started_at}"
        if self.ended_ms is not None:
            when = f"from {self.started_at} to {self.ended_at}"
        parts.append(when)
        text = ", ".join(parts)
        if self.affected:
            shown = ", ".join(self.affected[:8]) + (
                f" and {len(self.affected) - 8} more" if len(self.affected) > 8 else ""
            )
            text += f"; also affected: {shown}"
        return text

    def snapshot(self) -> Alert:
        return replace(self, affected=tuple(self.affected), extra=dict(self.extra))


@dataclass(frozen=True)
class AlertEvent:
    """A lifecycle step (`pending`, `firing`, `resolved`, `cancelled`) or a new observation (`update`)."""

    kind: EventKind
    alert: Alert

    @property
    def notifies(self) -> bool:
        """Notifiers hear of firing and resolved alerts only."""
        return self.kind in ("firing", "resolved")


class RuleLifecycle:
    """Open alerts of one rule by slice, advanced one window at a time."""

    def __init__(self, rule: Rule) -> None:
        self.rule = rule
        self.open: dict[str, Alert] = {}

    def frozen(self, slices: tuple[str, ...]) -> np.ndarray:
        """Slices with an open alert: their windows must not train the baseline."""
        return np.array([s in self.open for s in slices], bool)

    def restore(self, alert: Alert) -> None:
        if alert.open:
            self.open[alert.slice] = alert

    def _observe(self, alert: Alert, j: Judgement, i: int) -> None:
        alert.observed = float(j.observed[i])
        baseline = float(j.baseline[i])
        alert.baseline = baseline if np.isfinite(baseline) else None
        alert.threshold = float(j.threshold[i])
        score = float(j.score[i])
        alert.score = score if np.isfinite(score) else None
        alert.volume = float(j.volume[i])
        alert.last_window_ms = j.window_start_ms

    def step(self, j: Judgement, rollup: Rollup) -> list[AlertEvent]:
        rule = self.rule
        window = j.window_start_ms
        window_end = window + WINDOW_MS
        position = {s: i for i, s in enumerate(j.slices)}
        affected: dict[int, list[str]] = {}
        for s, root in rollup.attached.items():
            affected.setdefault(root, []).append(j.slices[s])
        events: list[AlertEvent] = []
        for slice_, alert in list(self.open.items()):
            i = position.get(slice_)
            if i is None or not j.eligible[i]:
                alert.missing += 1
                if alert.state == "pending":
                    self._finish(alert, "cancelled", events)
                elif alert.missing >= rule.stale_windows:
                    alert.ended_ms = alert.last_breach_ms + WINDOW_MS
                    alert.extra["resolved_because"] = "no data"
                    self._finish(alert, "resolved", events)
                continue
            alert.missing = 0
            self._observe(alert, j, i)
            if j.breach[i]:
                alert.streak += 1
                alert.clear_streak = 0
                alert.breaching_windows += 1
                alert.last_breach_ms = window
                if i in affected:
                    alert.affected = tuple(sorted(set(alert.affected) | set(affected[i])))
                if alert.state == "pending" and alert.streak >= rule.for_windows:
                    alert.state = "firing"
                    alert.fired_ms = window_end
                    events.append(AlertEvent("firing", alert.snapshot()))
                else:
                    events.append(AlertEvent("update", alert.snapshot()))
            elif alert.state == "pending":
                self._finish(alert, "cancelled", events)
            elif j.clear[i]:
                alert.clear_streak += 1
                if alert.clear_streak >= rule.resolve_windows:
                    alert.ended_ms = alert.last_breach_ms + WINDOW_MS
                    self._finish(alert, "resolved", events)
                else:
                    events.append(AlertEvent("update", alert.snapshot()))
            else:
                alert.clear_streak = 0
                events.append(AlertEvent("update", alert.snapshot()))
        for i in rollup.roots:
            slice_ = j.slices[i]
            if slice_ in self.open:
                continue
            alert = Alert(
                rule=rule.name,
                metric=rule.metric,
                kind=rule.kind,
                severity=rule.severity,
                slice=slice_,
                started_ms=window,
                last_breach_ms=window,
                affected=tuple(sorted(affected.get(i, []))),
                breaching_windows=1,
                streak=1,
                description=rule.description,
            )
            self._observe(alert, j, i)
            self.open[slice_] = alert
            if rule.for_windows <= 1:
                alert.state = "firing"
                alert.fired_ms = window_end
                events.append(AlertEvent("firing", alert.snapshot()))
            else:
                events.append(AlertEvent("pending", alert.snapshot()))
        return events

    def _finish(self, alert: Alert, state: State, events: list[AlertEvent]) -> None:
        alert.state = state
        del self.open[alert.slice]
        events.append(AlertEvent(state, alert.snapshot()))  # type: ignore[arg-type]
