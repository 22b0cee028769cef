"""Injected incidents: a slice of traffic gets worse for a while, and the ground truth says so.

Guarantees, for a session whose `dimension` equals `value`:

- `startup`: requests inside [start_ms, end_ms) take `magnitude` times longer to first frame (so
  EBVS rises with them, since patience does not change).
- `rebuffer`: while the session plays inside the window, stalls happen `magnitude` times as often
  and last `magnitude` times as long (in the window, not before or after it).
- `errors`: requests inside the window fail to start with `magnitude` added probability; sessions
  playing inside the window fail with an added hazard of `magnitude` per `ERROR_HAZARD_MINUTES`
  of play, so the playback-failure rate of the slice rises by about `magnitude` too.

`random_incidents` draws many of them, of several kinds and sizes, one per equal time slot so they
never overlap, each on a slice with at least `min_share` of the traffic (alerts need volume).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .world import World

__all__ = [
    "DIMENSIONS",
    "ERROR_HAZARD_MINUTES",
    "INCIDENT_KINDS",
    "MAGNITUDES",
    "Incident",
    "random_incidents",
]

INCIDENT_KINDS: tuple[str, ...] = ("startup", "rebuffer", "errors")
DIMENSIONS: tuple[str, ...] = ("oca_id", "isp", "region", "cdn", "country", "device_type")

#: Play minutes over which an `errors` incident's magnitude is the added failure probability.
ERROR_HAZARD_MINUTES = 30.0

#: Magnitude of each kind by size, for `random_incidents`.
MAGNITUDES: dict[str, dict[str, float]] = {
    "startup": {"small": 1.6, "medium": 2.5, "large": 4.0},
    "rebuffer": {"small": 2.0, "medium": 4.0, "large": 8.0},
    "errors": {"small": 0.03, "medium": 0.08, "large": 0.2},
}

_MINUTE_MS = 60_000


@dataclass(frozen=True)
class Incident:
    """One injected degradation of one slice during [start_ms, end_ms)."""

    kind: str
    dimension: str
    value: str
    start_ms: int
    end_ms: int
    magnitude: float
    incident_id: str | None = None
    size: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in INCIDENT_KINDS:
            raise ValueError(f"Incident.kind must be one of {INCIDENT_KINDS}, got {self.kind!r}")
        if self.dimension not in DIMENSIONS:
            raise ValueError(f"Incident.dimension must be one of {DIMENSIONS}, got {self.dimension!r}")
        if not self.value:
            raise ValueError("Incident.value must name the slice, e.g. 'comcast' for dimension 'isp'")
        if self.end_ms <= self.start_ms:
            raise ValueError(f"Incident end_ms ({self.end_ms}) must be after start_ms ({self.start_ms})")
        if self.kind == "errors":
            if not 0 < self.magnitude <= 1:
                raise ValueError(
                    f"An errors incident's magnitude is an added probability in (0, 1], got {self.magnitude}"
                )
        elif not self.magnitude > 0:
            raise ValueError(f"A {self.kind} incident's magnitude is a multiplier > 0, got {self.magnitude}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "incident_id": self.incident_id,
            "kind": self.kind,
            "dimension": self.dimension,
            "value": self.value,
            "start_ms": self.start_ms,
            "end_ms": self.end_ms,
            "magnitude": self.magnitude,
            "size": self.size,
        }


def random_incidents(
    world: World,
    seed: int,
    start_ms: int,
    end_ms: int,
    count: int,
    kinds: Sequence[str] = INCIDENT_KINDS,
    sizes: Sequence[str] = ("small", "medium", "large"),
    dimensions: Sequence[str] = DIMENSIONS,
    duration_ms: tuple[int, int] = (10 * _MINUTE_MS, 60 * _MINUTE_MS),
    min_share: float = 0.02,
) -> tuple[Incident, ...]:
    """`count` non-overlapping incidents in [start_ms, end_ms), deterministic for `seed`.

    The range is cut into `count` equal slots; each incident lies inside its slot with at least a
    fifth of the slot clear after it, starts on a whole minute, and lasts `duration_ms` (uniform,
    shortened to fit the slot). Kind, size and dimension are uniform choices; the value is drawn by
    traffic share among the values of that dimension holding at least `min_share` of the traffic.
    """
    if count < 1:
        raise ValueError(f"count must be >= 1, got {count}")
    for kind in kinds:
        if kind not in INCIDENT_KINDS:
            raise ValueError(f"unknown incident kind {kind!r}; choose from {INCIDENT_KINDS}")
    for size in sizes:
        if size not in MAGNITUDES["startup"]:
            raise ValueError(f"unknown incident size {size!r}; choose from {tuple(MAGNITUDES['startup'])}")
    for dimension in dimensions:
        if dimension not in DIMENSIONS:
            raise ValueError(f"unknown dimension {dimension!r}; choose from {DIMENSIONS}")
    slot = (end_ms - start_ms) // count
    if slot < 5 * _MINUTE_MS:
        raise ValueError(
            f"{count} incidents need at least 5 minutes each; the range has {end_ms - start_ms} ms"
        )
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x1C1D]))
    incidents = []
    for i in range(count):
        kind = kinds[rng.integers(len(kinds))]
        size = sizes[rng.integers(len(sizes))]
        dimension = dimensions[rng.integers(len(dimensions))]
        shares = world.slice_shares(dimension)
        eligible = {v: s for v, s in shares.items() if s >= min_share} or {max(shares, key=shares.get): 1.0}
        values = sorted(eligible)
        weights = np.array([eligible[v] for v in values])
        value = values[rng.choice(len(values), p=weights / weights.sum())]
        longest = max(_MINUTE_MS, (slot * 4 // 5) // _MINUTE_MS * _MINUTE_MS)
        length = min(int(rng.integers(duration_ms[0], duration_ms[1] + 1)), longest)
        length = max(_MINUTE_MS, length // _MINUTE_MS * _MINUTE_MS)
        slack = (slot * 4 // 5 - length) // _MINUTE_MS
        begin = start_ms + i * slot + int(rng.integers(0, max(slack, 0) + 1)) * _MINUTE_MS
        begin += (-begin) % _MINUTE_MS
        incidents.append(
            Incident(
                kind=kind,
                dimension=dimension,
                value=value,
                start_ms=begin,
                end_ms=begin + length,
                magnitude=MAGNITUDES[kind][size],
                incident_id=f"inc-{i + 1:03d}",
                size=size,
            )
        )
    return tuple(incidents)
