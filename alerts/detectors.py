"""Detectors: per rule, every slice of a window judged at once (NumPy), with no I/O.

A detector turns a `WindowFrame` into a `Judgement` per slice: *eligible* (volume ≥
`min_volume` and a value), *breach* (the firing condition), *clear* (the resolving condition,
stricter than not-breaching: hysteresis), plus the observed value, the baseline, the threshold
and the numbers the roll-up compares (deviation, its standard error, and excess volume).

- `ThresholdDetector`: static SLO. Breach: value > `above`; clear: value ≤ `resolve_below`.
- `DesDetector`: Holt double exponential smoothing of the slice's own value, as Netflix Atlas
  `:des` does (level and trend, smoothing `alpha`, `beta`), on the log scale for percentiles and
  as a fraction for rates. The noise is learned per slice as a robust scale per unit of volume
  (mean absolute deviation × √volume, σ = 1.2533 × that for a Gaussian) plus an extra variance W
  for movement volume does not explain: z = (y − ŷ) / √(σ²/n + W) for a window of n units.
  Proportions (failures, EBVS) are decided by their count instead: a quasi-Poisson tail of the
  events against the expected count, with a dispersion learned from windows expecting ≥ 5 events
  (a Gaussian is far too thin-tailed at a handful of failures). The rebuffer ratio keeps its
  robust z but needs its stall count to be at least mildly unusual too (quasi-Poisson z ≥ 2).
  Percentiles (VST) of a slice with few starts are noisy statistics, but the starts behind them
  are counts: where the percentile's own z falls short, the exact binomial tail of the starts
  above the baseline percentile (each exceeds it with probability 1 − q while the slice is
  normal) decides, its z shrunk by the share of the variance that sampling explains (so mix
  shifts in a big slice, which the extra variance W holds, do not pass for evidence).
  A breach needs z ≥ `z` *and* a practical change: value ≥ `min_ratio` × baseline, value −
  baseline ≥ `min_delta`, and ≥ `min_count` events where the value has a count. Windows that
  breach, or whose slice has an open alert, do not train the baseline, and suspicious ones
  (z ≥ `resolve_z`) train it a tenth as fast, so an incident does not become normal.
- `SeasonalDetector`: the same, but the expected level is the median of the same minute-of-day
  bucket (15 minutes) over the previous `season_days` days, once two such days exist, else the
  smoothed level: a robust seasonal baseline.

Judgements are only made after `training_windows` eligible windows of a slice.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np
from scipy import stats

from alerts.frames import WindowFrame, count_above, dimension_of
from alerts.metrics import METRICS, Metric
from alerts.rules import AnomalyRule, Rule, ThresholdRule

__all__ = [
    "DesDetector",
    "Detector",
    "Judgement",
    "SeasonalDetector",
    "ThresholdDetector",
    "detector_for",
    "excess",
]

_DAY_MS = 86_400_000
_BUCKET_MS = 15 * 60_000


@dataclass(frozen=True)
class Judgement:
    """One rule's verdict on every slice of one window (arrays aligned with `slices`)."""

    window_start_ms: int
    slices: tuple[str, ...]
    eligible: np.ndarray
    breach: np.ndarray
    clear: np.ndarray
    observed: np.ndarray
    baseline: np.ndarray
    threshold: np.ndarray
    score: np.ndarray
    volume: np.ndarray
    deviation: np.ndarray
    stderr: np.ndarray
    excess: np.ndarray


def excess(
    metric: Metric,
    frame: WindowFrame,
    observed: np.ndarray,
    reference: np.ndarray,
    volume: np.ndarray,
    which: np.ndarray,
) -> np.ndarray:
    """How much worse than `reference` each slice is, in additive units (so a part can explain a whole).

    Proportions: extra events (failures, exits); rebuffer ratio: extra stall session-minutes;
    percentiles: extra starts slower than the reference value, from the slice's merged sketch
    (count above the reference − the share expected above it), for the slices in `which`; without
    a sketch, the relative rise times the starts beyond the quantile.
    """
    with np.errstate(invalid="ignore"):
        if metric.scale != "log":
            return np.where(
                np.isfinite(observed), (observed - reference) * volume / metric.display_factor, 0.0
            )
        tail = 1.0 - metric.quantile
        out = np.where(
            np.isfinite(observed) & (reference > 0), (observed / reference - 1.0) * volume * tail, 0.0
        )
    if frame.sketches is not None:
        for i in np.flatnonzero(which).tolist():
            sketch = frame.sketch(i)
            if sketch is not None and np.isfinite(reference[i]):
                out[i] = count_above(sketch, float(reference[i])) - tail * sketch.count
    return out


def _exceedance_z(frame: WindowFrame, i: int, reference: float, quantile: float) -> float:
    """The z score of the exact binomial tail of the starts of slice `i` above `reference`, the
    baseline `quantile`: under normal service each start exceeds it with probability 1 − quantile."""
    sketch = frame.sketch(i)
    if sketch is None or sketch.count <= 0:
        return float("-inf")
    trials = int(round(sketch.count))
    above = int(round(count_above(sketch, reference)))
    tail = float(stats.binom.sf(above - 1, trials, 1.0 - quantile))
    return float(stats.norm.isf(min(max(tail, 1e-300), 1.0)))


class Detector(ABC):
    """Base: the rule, its metric, and which slices of a frame it watches."""

    def __init__(self, rule: Rule) -> None:
        self.rule = rule
        self.metric: Metric = METRICS[rule.metric]

    def watched(self, frame: WindowFrame) -> np.ndarray:
        return np.array([self.rule.watches(dimension_of(s)) for s in frame.slices], bool)

    @abstractmethod
    def evaluate(self, frame: WindowFrame, frozen: np.ndarray | None = None) -> Judgement:
        """Judge every slice of `frame`; learn from the eligible ones that are not `frozen`."""

    def warm(self, frame: WindowFrame) -> None:
        """Learn from a historical window without judging it (baselines only)."""
        self.evaluate(frame)


class ThresholdDetector(Detector):
    rule: ThresholdRule

    def evaluate(self, frame: WindowFrame, frozen: np.ndarray | None = None) -> Judgement:
        values = self.metric.values(frame)
        x = values.value
        eligible = self.watched(frame) & np.isfinite(x) & (values.volume >= self.rule.min_volume)
        above = self.rule.above
        breach = eligible & (x > above)
        clear = eligible & (x <= self.rule.clear_below)
        model_x = self.metric.to_model(np.where(np.isfinite(x), x, 0.0))
        model_t = float(self.metric.to_model(np.array([above]))[0])
        deviation = model_x - model_t
        with np.errstate(divide="ignore", invalid="ignore"):
            score = np.where(above != 0, x / above, np.inf)
        n = len(frame)
        return Judgement(
            frame.window_start_ms,
            frame.slices,
            eligible,
            breach,
            clear,
            x,
            np.full(n, np.nan),
            np.full(n, above),
            score,
            values.volume,
            deviation,
            np.abs(deviation) * 0.25,
            excess(self.metric, frame, x, np.full(n, above), values.volume, breach),
        )


class DesDetector(Detector):
    """Double exponential smoothing baseline per slice, with a learned per-volume variance."""

    rule: AnomalyRule

    def __init__(self, rule: AnomalyRule) -> None:
        super().__init__(rule)
        self.index: dict[str, int] = {}
        size = 64
        self.level = np.zeros(size)
        self.trend = np.zeros(size)
        self.var_unit = np.zeros(size)  # mean absolute deviation × √volume
        self.var_extra = np.zeros(size)
        self.seen = np.zeros(size, np.int64)
        self.count_rate = np.zeros(size)
        self.dispersion = np.ones(size)

    # -- state -----------------------------------------------------------------------------------
    def _rows(self, slices: tuple[str, ...]) -> np.ndarray:
        rows = np.empty(len(slices), np.int64)
        for i, key in enumerate(slices):
            row = self.index.get(key)
            if row is None:
                row = self.index[key] = len(self.index)
            rows[i] = row
        if len(self.index) > self.level.size:
            self._grow(max(len(self.index), self.level.size * 2))
        return rows

    def _grow(self, size: int) -> None:
        for name in ("level", "trend", "var_unit", "var_extra", "seen", "count_rate", "dispersion"):
            old = getattr(self, name)
            new = np.zeros(size, old.dtype)
            new[: old.size] = old
            setattr(self, name, new)

    def expected(self, rows: np.ndarray, window_start_ms: int) -> np.ndarray:
        """The baseline (model scale) of each row for this window."""
        return self.level[rows] + self.trend[rows]

    def _record(self, rows: np.ndarray, y: np.ndarray, weight: np.ndarray, window_start_ms: int) -> None:
        """Hook for seasonal history: the learned values of this window."""

    # -- judging ---------------------------------------------------------------------------------
    def evaluate(self, frame: WindowFrame, frozen: np.ndarray | None = None) -> Judgement:
        rule = self.rule
        values = self.metric.values(frame)
        x, n = values.value, values.volume
        rows = self._rows(frame.slices)
        eligible = self.watched(frame) & np.isfinite(x) & (n >= rule.min_volume) & (n > 0)
        y = self.metric.to_model(np.where(np.isfinite(x), x, 0.0))
        y_hat = self.expected(rows, frame.window_start_ms)
        seen = self.seen[rows]
        trained = seen >= rule.training_windows
        safe_n = np.maximum(n, 1e-9)
        # Robust scale: the learned mean absolute deviation per unit of volume (σ = 1.2533 × MAD for
        # a Gaussian), so a rare huge stall or a slow start does not inflate it for hours.
        sigma_unit = 1.2533 * self.var_unit[rows]
        if self.metric.scale == "proportion":
            base = np.clip(y_hat, 1e-4, 1.0)
            sigma_unit = np.maximum(sigma_unit, np.sqrt(base * (1 - base)))
        variance = sigma_unit**2 / safe_n + self.var_extra[rows]
        stderr = np.sqrt(np.maximum(variance, 1e-12))
        residual = y - y_hat
        z = residual / stderr
        if values.count is not None:
            # The events behind the value (failures, stalls) decide: a quasi-Poisson test of their
            # count against the expected count, with the learned dispersion φ (k/φ ~ Poisson(λ/φ)).
            # A Gaussian on the value itself is far too thin-tailed with a handful of events, and
            # stall durations are heavy-tailed.
            rate = np.clip(y_hat, 1e-4, 1.0) if self.metric.scale == "proportion" else self.count_rate[rows]
            expected_count = np.maximum(np.maximum(rate, 1e-4) * n, 1e-9)
            phi = np.maximum(self.dispersion[rows], 1.0)
            tail = stats.poisson.sf(np.ceil(values.count / phi) - 1, expected_count / phi)
            z_count = stats.norm.isf(np.clip(tail, 1e-300, 1.0))
            if self.metric.scale == "proportion":
                z = z_count
            else:
                # Rebuffer: the robust z of the ratio decides (duration and frequency both move it),
                # provided the stall count itself is at least mildly unusual.
                z = np.where(z_count >= 2.0, z, np.minimum(z, z_count))
        observed = x
        baseline = self.metric.to_display(y_hat)
        ratio_needed = (
            baseline * rule.min_ratio
            if self.metric.scale != "log"
            else np.exp(y_hat + np.log(rule.min_ratio))
        )
        threshold = np.maximum(ratio_needed, baseline + rule.min_delta)
        practical = observed >= threshold
        if values.count is not None:
            practical &= values.count >= rule.min_count
        judged = eligible & trained
        if self.metric.scale == "log" and frame.sketches is not None:
            # A percentile of a few dozen starts is a noisy statistic; the starts behind it are not.
            # How many starts exceed the baseline percentile is binomial (n starts, p = 1 − q) while
            # the slice is normal: its exact tail decides where the percentile's own z falls short.
            # Movement that volume does not explain (the extra variance W: mix shifts, busy hours)
            # moves the count too, so its z shrinks by the share of the variance sampling explains.
            check = judged & practical & (z < rule.z)
            sampling = np.sqrt(np.maximum(sigma_unit**2 / safe_n, 1e-12) / np.maximum(variance, 1e-12))
            z = z.copy()
            for i in np.flatnonzero(check).tolist():
                exceed = _exceedance_z(frame, i, float(baseline[i]), self.metric.quantile)
                z[i] = max(z[i], exceed * float(sampling[i]))
        breach = judged & (z >= rule.z) & practical
        clear_threshold = np.maximum(baseline * rule.clear_ratio, baseline + rule.min_delta / 2)
        clear = judged & ((z < rule.resolve_z) | (observed < clear_threshold))
        # Learn from eligible windows that neither breach nor belong to an open alert; a window
        # already suspicious (z ≥ resolve_z) teaches a tenth as much, so a rising incident that has
        # not fired yet cannot drag the baseline up behind it.
        learn = eligible & ~breach
        if frozen is not None:
            learn &= ~frozen
        if learn.any():
            weight = np.where(trained & (z >= rule.resolve_z), 0.1, 1.0)
            self._learn(
                rows[learn],
                y[learn],
                n[learn],
                residual[learn],
                stderr[learn],
                weight[learn],
                frame.window_start_ms,
            )
            if values.count is not None:
                at = rows[learn]
                step = np.maximum(rule.alpha, 1.0 / (self.seen[at])) * weight[learn]
                if self.metric.scale == "proportion":
                    expected = np.maximum(np.clip(y_hat[learn], 1e-4, 1.0) * n[learn], 1e-9)
                else:
                    expected = np.maximum(self.count_rate[at] * n[learn], 1e-9)
                    per_unit = values.count[learn] / np.maximum(n[learn], 1e-9)
                    self.count_rate[at] += step * (per_unit - self.count_rate[at])
                index = np.clip((values.count[learn] - expected) ** 2 / expected, 0.0, 20.0)
                warm = self.seen[at] > 3  # the first windows' expectations are not worth a dispersion
                # Only windows expecting ≥ 5 events say anything about dispersion (a single failure
                # against an expectation of 0.2 is ordinary Poisson luck, not overdispersion), and
                # suspicious windows must not widen it.
                calm = (weight[learn] >= 1.0) & (expected >= 5.0)
                moved = self.dispersion[at] + step * (index - self.dispersion[at])
                self.dispersion[at] = np.where(warm & calm, moved, self.dispersion[at])
        return Judgement(
            frame.window_start_ms,
            frame.slices,
            eligible,
            breach,
            clear,
            observed,
            baseline,
            threshold,
            np.where(judged, z, np.nan),
            n,
            residual,
            stderr,
            excess(self.metric, frame, observed, baseline, n, breach),
        )

    def _learn(
        self,
        rows: np.ndarray,
        y: np.ndarray,
        n: np.ndarray,
        residual: np.ndarray,
        stderr: np.ndarray,
        weight: np.ndarray,
        window_start_ms: int,
    ) -> None:
        rule = self.rule
        seen = self.seen[rows]
        first = seen == 0
        # Early windows average (1/seen) so the baseline settles fast; then exponential smoothing.
        alpha = np.maximum(rule.alpha, 1.0 / (seen + 1)) * weight
        gamma = np.maximum(rule.alpha, 1.0 / np.maximum(seen, 1)) * weight
        trained = seen >= rule.training_windows
        # Huber-style clip: one odd window moves the baseline and the variance by a bounded step.
        clipped = np.where(trained, np.clip(residual, -3 * stderr, 3 * stderr), residual)
        y_learn = np.where(first, y, self.level[rows] + self.trend[rows] + clipped)
        old_level = self.level[rows]
        level = np.where(first, y, alpha * y_learn + (1 - alpha) * (old_level + self.trend[rows]))
        beta = np.where(trained, rule.beta, 0.0)
        trend = np.where(first, 0.0, beta * (level - old_level) + (1 - beta) * self.trend[rows])
        unit_sample = np.sqrt(n) * np.abs(clipped)
        var_unit = np.where(first, 0.0, (1 - gamma) * self.var_unit[rows] + gamma * unit_sample)
        extra_sample = np.maximum(clipped**2 - (1.2533 * var_unit) ** 2 / np.maximum(n, 1e-9), 0.0)
        var_extra = np.where(first, 0.0, (1 - gamma) * self.var_extra[rows] + gamma * extra_sample)
        self.level[rows] = level
        self.trend[rows] = trend
        self.var_unit[rows] = var_unit
        self.var_extra[rows] = var_extra
        self.seen[rows] = seen + 1
        self._record(rows, y, n, window_start_ms)


class SeasonalDetector(DesDetector):
    """The expected level is the median of the same 15-minute bucket of the previous days."""

    def __init__(self, rule: AnomalyRule) -> None:
        super().__init__(rule)
        self.days = rule.season_days
        buckets = _DAY_MS // _BUCKET_MS
        self.hist_sum = np.zeros((64, self.days, buckets))
        self.hist_weight = np.zeros((64, self.days, buckets))
        self.slot_day = np.full(self.days, -1, np.int64)

    def _grow(self, size: int) -> None:
        super()._grow(size)
        for name in ("hist_sum", "hist_weight"):
            old = getattr(self, name)
            new = np.zeros((size, *old.shape[1:]))
            new[: old.shape[0]] = old
            setattr(self, name, new)

    def _slot(self, day: int) -> int:
        slot = day % self.days
        if self.slot_day[slot] != day:
            self.hist_sum[:, slot, :] = 0.0
            self.hist_weight[:, slot, :] = 0.0
            self.slot_day[slot] = day
        return slot

    def _record(self, rows: np.ndarray, y: np.ndarray, weight: np.ndarray, window_start_ms: int) -> None:
        day, bucket = divmod(window_start_ms, _DAY_MS)
        slot = self._slot(day)
        bucket //= _BUCKET_MS
        np.add.at(self.hist_sum, (rows, slot, bucket), y * weight)
        np.add.at(self.hist_weight, (rows, slot, bucket), weight)

    def expected(self, rows: np.ndarray, window_start_ms: int) -> np.ndarray:
        smoothed = super().expected(rows, window_start_ms)
        day, offset = divmod(window_start_ms, _DAY_MS)
        bucket = offset // _BUCKET_MS
        past = (self.slot_day >= 0) & (self.slot_day < day) & (self.slot_day >= day - self.days)
        if past.sum() < 2:
            return smoothed
        slots = np.flatnonzero(past)
        weights = self.hist_weight[rows[:, None], slots[None, :], bucket]
        with np.errstate(divide="ignore", invalid="ignore"):
            means = np.where(
                weights > 0, self.hist_sum[rows[:, None], slots[None, :], bucket] / weights, np.nan
            )
        enough = np.sum(np.isfinite(means), axis=1) >= 2
        if not enough.any():
            return smoothed
        median = np.full(rows.size, np.nan)
        median[enough] = np.nanmedian(means[enough], axis=1)
        # Keep the smoothed trend's short-term shift: seasonal shape, current level.
        return np.where(enough, median, smoothed)


def detector_for(rule: Rule) -> Detector:
    if isinstance(rule, ThresholdRule):
        return ThresholdDetector(rule)
    if rule.detector == "seasonal":
        return SeasonalDetector(rule)
    return DesDetector(rule)
