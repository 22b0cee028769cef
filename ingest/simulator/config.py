"""The simulator's typed configuration: every knob, validated when the config is built.

`SimulationConfig(seed=1)` is a complete, realistic default: 5,000 members, 1,500 titles, one week
from Monday 2025-01-06 00:00 UTC, 60 s heartbeats, the two default A/B tests starting mid-range and
no incidents. The config never reads the environment; callers build it from theirs.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from .experiments import Experiment, default_experiments
from .incidents import Incident

__all__ = ["DEFAULT_START_MS", "SimulationConfig"]

#: Monday 2025-01-06 00:00:00 UTC.
DEFAULT_START_MS = 1_736_121_600_000
_DAY_MS = 86_400_000
_HOUR_MS = 3_600_000
_MINUTE_MS = 60_000
_DEFAULT_DAYS = 7.0


@dataclass(frozen=True)
class SimulationConfig:
    """What to simulate: give `days` (default 7) or `end_ms`; `experiments=None` means the two defaults.

    After construction `days`, `end_ms` and `experiments` hold resolved values; with
    `dataclasses.replace`, changing the range means setting `days` or `end_ms` and the other to None
    (and `experiments=None` to re-derive the default tests for the new range).

    Rates are the clean-traffic baselines before device, ISP, region, CDN, experiment and incident
    factors: `start_failure_rate` and `playback_failure_rate` are per attempt / per start,
    `rebuffers_per_hour` per hour of play. `late_fraction` is the share of sessions that go offline
    for a while (mostly mobile) and deliver a burst of events late. `chunk_ms` is the generation
    step: it bounds memory and is part of the seed's meaning (same seed and chunk → same events).
    """

    seed: int
    users: int = 5_000
    titles: int = 1_500
    start_ms: int = DEFAULT_START_MS
    days: float | None = None
    end_ms: int | None = None
    heartbeat_interval_s: float = 60.0
    sessions_per_user_per_day: float = 1.2
    experiments: tuple[Experiment, ...] | None = None
    incidents: tuple[Incident, ...] = ()
    chunk_ms: int = _HOUR_MS
    oca_share: float = 0.9
    third_party_cdns: tuple[tuple[str, float], ...] = (("akamai", 0.6), ("cloudfront", 0.4))
    late_fraction: float = 0.002
    activity_sigma: float = 1.0
    zipf_exponent: float = 0.9
    releases_per_day: float = 1.0
    start_failure_rate: float = 0.005
    playback_failure_rate: float = 0.0035
    rebuffers_per_hour: float = 3.0
    startup_scale: float = 1.0

    def __post_init__(self) -> None:
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or self.seed < 0:
            raise ValueError(f"seed must be a non-negative int, got {self.seed!r}")
        _require(self.users >= 1, f"users must be >= 1, got {self.users}")
        _require(self.titles >= 10, f"titles must be >= 10, got {self.titles}")
        _require(self.start_ms >= 0, f"start_ms must be a Unix time in ms >= 0, got {self.start_ms}")
        if self.end_ms is None:
            days = _DEFAULT_DAYS if self.days is None else self.days
            _require(days > 0 and math.isfinite(days), f"days must be > 0, got {days}")
            object.__setattr__(self, "end_ms", self.start_ms + round(days * _DAY_MS))
        else:
            _require(self.end_ms > self.start_ms, f"end_ms ({self.end_ms}) must be after start_ms")
            _require(
                self.days is None or self.start_ms + round(self.days * _DAY_MS) == self.end_ms,
                f"days ({self.days}) and end_ms ({self.end_ms}) disagree; give one of them"
                " (with dataclasses.replace, set the other to None)",
            )
        object.__setattr__(self, "days", (self.end_ms - self.start_ms) / _DAY_MS)
        _require(
            1 <= self.heartbeat_interval_s <= 600
            and self.heartbeat_interval_s * 1000 == int(self.heartbeat_interval_s * 1000),
            f"heartbeat_interval_s must be in [1, 600] s, whole ms; got {self.heartbeat_interval_s}",
        )
        _require(
            0 < self.sessions_per_user_per_day <= 50,
            f"sessions_per_user_per_day must be in (0, 50], got {self.sessions_per_user_per_day}",
        )
        _require(
            self.chunk_ms >= _MINUTE_MS and self.chunk_ms % _MINUTE_MS == 0 and _HOUR_MS % self.chunk_ms == 0,
            f"chunk_ms must be whole minutes that divide an hour (1, 2, 5, ..., 60 min), got {self.chunk_ms}",
        )
        _require(0 < self.oca_share <= 1, f"oca_share must be in (0, 1], got {self.oca_share}")
        cdns = tuple((str(name), float(w)) for name, w in self.third_party_cdns)
        object.__setattr__(self, "third_party_cdns", cdns)
        _require(
            self.oca_share == 1 or (cdns and all(w > 0 for _, w in cdns)),
            "third_party_cdns must name at least one CDN with a positive weight when oca_share < 1",
        )
        _require(
            all(name != "oca" for name, _ in cdns), "'oca' is the own CDN; do not list it as third-party"
        )
        _require(0 <= self.late_fraction <= 1, f"late_fraction must be in [0, 1], got {self.late_fraction}")
        _require(
            0 <= self.activity_sigma <= 3, f"activity_sigma must be in [0, 3], got {self.activity_sigma}"
        )
        _require(0 <= self.zipf_exponent <= 3, f"zipf_exponent must be in [0, 3], got {self.zipf_exponent}")
        _require(self.releases_per_day >= 0, f"releases_per_day must be >= 0, got {self.releases_per_day}")
        for name in ("start_failure_rate", "playback_failure_rate"):
            value = getattr(self, name)
            _require(0 <= value < 1, f"{name} must be a probability in [0, 1), got {value}")
        _require(
            self.rebuffers_per_hour >= 0, f"rebuffers_per_hour must be >= 0, got {self.rebuffers_per_hour}"
        )
        _require(self.startup_scale > 0, f"startup_scale must be > 0, got {self.startup_scale}")

        experiments = self.experiments
        if experiments is None:
            experiments = default_experiments(self.start_ms, self.end_ms)
        experiments = tuple(experiments)
        for e in experiments:
            _require(
                isinstance(e, Experiment), f"experiments must hold Experiment objects, got {type(e).__name__}"
            )
        ids = [e.test_id for e in experiments]
        _require(len(set(ids)) == len(ids), f"experiment test_ids must be unique, got {ids}")
        object.__setattr__(self, "experiments", experiments)
        incidents = tuple(self.incidents)
        for i in incidents:
            _require(isinstance(i, Incident), f"incidents must hold Incident objects, got {type(i).__name__}")
        object.__setattr__(self, "incidents", incidents)

    @property
    def heartbeat_interval_ms(self) -> int:
        return int(self.heartbeat_interval_s * 1000)

    def summary(self) -> dict[str, Any]:
        """The knobs as plain JSON-ready values (experiments and incidents are described elsewhere)."""
        out = asdict(self)
        out.pop("experiments")
        out.pop("incidents")
        out["third_party_cdns"] = [list(pair) for pair in self.third_party_cdns]
        return out


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)
