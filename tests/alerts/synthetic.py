"""Synthetic QoE windows for detector tests: traffic cells (region × ISP × OCA × device) whose
counts are drawn per window, summed into every slice the QoE job emits, as `WindowFrame`s."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from alerts.frames import COUNT_COLUMNS, QUANTILE_COLUMNS, WindowFrame

__all__ = ["Cells", "T0", "W"]

T0 = 1_736_121_600_000  # Monday 2025-01-06 00:00 UTC
W = 60_000


@dataclass
class Cells:
    """Traffic cells; `attempts` per cell per window (before the volume curve)."""

    seed: int = 1
    regions: tuple[str, ...] = ("us-east", "eu-west")
    isps_per_region: int = 2
    ocas_per_isp: int = 3
    devices: tuple[str, ...] = ("TV", "MOBILE", "WEB")
    attempts: float = 12.0
    rng: np.random.Generator = field(init=False)

    def __post_init__(self) -> None:
        self.rng = np.random.default_rng(self.seed)
        self.cells: list[dict[str, str]] = []
        for region in self.regions:
            for i in range(self.isps_per_region):
                isp = f"isp-{region}-{i}"
                for k in range(self.ocas_per_isp):
                    for device in self.devices:
                        self.cells.append(
                            {"region": region, "isp": isp, "oca_id": f"oca-{isp}-{k}", "device_type": device}
                        )

    def _membership(self) -> tuple[tuple[str, ...], np.ndarray]:
        if not hasattr(self, "_slices"):
            keys: dict[str, list[int]] = {}
            for j, c in enumerate(self.cells):
                for key in (
                    "all",
                    f"region={c['region']}",
                    f"isp={c['isp']}",
                    f"oca_id={c['oca_id']}",
                    f"device_type={c['device_type']}",
                    f"region={c['region']},device_type={c['device_type']}",
                ):
                    keys.setdefault(key, []).append(j)
            self._slices = tuple(sorted(keys))
            self._member = np.zeros((len(self._slices), len(self.cells)))
            for i, key in enumerate(self._slices):
                self._member[i, keys[key]] = 1.0
        return self._slices, self._member

    def frame(
        self,
        window: int,
        *,
        volume: float = 1.0,
        failure_rate: Callable[[dict[str, str]], float] = lambda c: 0.005,
        vst_factor: Callable[[dict[str, str]], float] = lambda c: 1.0,
        stall_factor: Callable[[dict[str, str]], float] = lambda c: 1.0,
        only: Callable[[dict[str, str]], bool] = lambda c: True,
    ) -> WindowFrame:
        """One window: per cell Poisson attempts, binomial failures, Poisson stalls of exponential
        length; summed into all, region, isp, oca_id, device_type and region × device_type. VST
        percentiles are lognormal (median 900 ms, σ 0.5) times the starts-weighted factor, with the
        sampling noise of a percentile of that many starts."""
        slices, member = self._membership()
        rng = self.rng
        present = np.array([only(c) for c in self.cells], bool)
        n = len(self.cells)
        attempts = rng.poisson(self.attempts * volume, n) * present
        rates = np.minimum([failure_rate(c) for c in self.cells], 1.0)
        failures = rng.binomial(attempts, rates)
        starts = attempts - failures
        stall = np.array([stall_factor(c) for c in self.cells])
        playing = 30.0 * attempts * 60_000
        stalls = rng.poisson(playing / 3_600_000 * 3 * stall)
        stalled = np.array([rng.exponential(2_000 * f, k).sum() for f, k in zip(stall, stalls, strict=True)])
        per_cell = {
            "attempts": attempts, "starts": starts, "playing_ms": playing, "rebuffer_ms": stalled,
            "rebuffers": stalls, "start_failures": failures, "ebvs": np.zeros(n),
            "playback_failures": np.zeros(n),
        }  # fmt: skip
        columns = {name: member @ per_cell[name].astype(float) for name in COUNT_COLUMNS}
        keep = columns["attempts"] > 0
        factor = np.array([vst_factor(c) for c in self.cells])
        with np.errstate(divide="ignore", invalid="ignore"):
            mean_factor = (member @ (starts * factor)) / columns["starts"]
        slice_starts = columns["starts"]
        for name, z in zip(QUANTILE_COLUMNS, (0.0, 1.2816, 1.6449, 2.3263), strict=True):
            noise = (
                rng.normal(0.0, 1.0, len(slices))
                * 0.5
                * np.sqrt(1.0 + z**2 / 2)
                / np.sqrt(np.maximum(slice_starts, 1))
            )
            columns[name] = np.where(slice_starts > 0, 900.0 * np.exp(0.5 * z + noise) * mean_factor, np.nan)
        kept = tuple(s for s, k in zip(slices, keep, strict=True) if k)
        return WindowFrame(window, kept, {name: values[keep] for name, values in columns.items()})
