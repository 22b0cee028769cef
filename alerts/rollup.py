"""Roll-up: the slices one root cause touches become one alert that names the root (no I/O).

When one OCA breaks, its ISP, region, country, the device types it serves and the global total
all get worse too. The slices of qoe.minute overlap but do not say which contains which, so the
roll-up reasons with *excess* — how much worse than its reference a slice is, in additive units
(extra failures, extra stall minutes, extra slow starts; see `alerts.detectors.excess`): a part
cannot carry more excess than the whole, and a root cause carries most of the excess of every
slice that contains it. For the breaching slices of one rule in one window:

1. A slice s is *dominant* when it explains every more general breaching slice that could
   contain it (larger volume and at least 80% of s's excess): it carries at least `share` of
   that slice's excess, and the rest of that slice (its volume and excess minus s's) is at most
   half as broken per unit of volume as s — a part that is only as broken as the rest of the
   whole is a symptom of the whole (a broken region, not its main country).
   Slices are ordered by volume, ties by dimension generality (all, region, country, cdn, isp,
   device type, OCA, region × device).
2. The *roots* are the dominant slices not explained by a more specific dominant slice (one
   carrying `share` of their excess). Each other breaching slice is attached to the root that
   explains it (a more specific root carrying `share` of its excess, or a more general root that
   could contain it); a slice that no root explains is a root itself, so nothing is dropped.

So a broken OCA is one alert naming the OCA (its region's excess is the OCA's), and a broken
region is one alert naming the region (no single OCA in it carries most of its excess).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from alerts.detectors import Judgement
from alerts.frames import dimension_of

__all__ = ["GENERALITY", "Rollup", "roll_up"]

#: Dimension names from the most general to the most specific, to order slices of equal volume.
GENERALITY: tuple[str, ...] = (
    "all",
    "region",
    "country",
    "cdn",
    "isp",
    "device_type",
    "oca_id",
    "region,device_type",
)


@dataclass(frozen=True)
class Rollup:
    """Root slices (indices into the judgement) and, for each other breaching slice, its root."""

    roots: tuple[int, ...]
    attached: dict[int, int] = field(default_factory=dict)

    def affected(self, root: int) -> list[int]:
        return [s for s, r in self.attached.items() if r == root]


def _rank(key: str) -> int:
    dimension = dimension_of(key)
    return GENERALITY.index(dimension) if dimension in GENERALITY else len(GENERALITY)


def roll_up(judgement: Judgement, candidates: np.ndarray, share: float = 0.65) -> Rollup:
    """Group the `candidates` (indices of breaching slices) of one rule's judgement."""
    idx = [int(i) for i in candidates]
    if len(idx) <= 1:
        return Rollup(tuple(idx))
    volume = judgement.volume
    excess = np.maximum(judgement.excess, 0.0)
    # Larger order = more general: by volume, then by dimension generality.
    order = {i: (float(volume[i]), -_rank(judgement.slices[i])) for i in idx}

    def general(a: int, b: int) -> bool:  # a is more general than b
        return order[a] > order[b]

    def containers(s: int) -> list[int]:
        return [p for p in idx if p != s and general(p, s) and excess[p] >= 0.8 * excess[s]]

    def explains(part: int, whole: int) -> bool:
        # The part carries most of the whole's excess, and the rest of the whole (whole − part,
        # additive) is much less broken per unit of volume: a region whose other countries are as
        # broken as its main country is a broken region, not a broken country.
        if not (excess[part] >= share * excess[whole] and excess[part] > 0):
            return False
        rest_volume = volume[whole] - volume[part]
        if rest_volume <= 0.05 * volume[whole]:
            return True  # (nearly) the same traffic: name the more specific slice
        rest_rate = max(excess[whole] - excess[part], 0.0) / rest_volume
        return excess[part] / max(volume[part], 1e-9) >= 2.0 * rest_rate

    dominant = [s for s in idx if all(explains(s, p) for p in containers(s))]
    roots = [s for s in dominant if not any(x != s and general(s, x) and explains(x, s) for x in dominant)]
    attached: dict[int, int] = {}
    for s in idx:
        if s in roots:
            continue
        by_part = [x for x in roots if general(s, x) and explains(x, s)]
        by_whole = [x for x in roots if x in containers(s)]
        owners = by_part or by_whole
        if owners:
            attached[s] = max(owners, key=lambda x: excess[x])
        else:
            roots.append(s)
    roots.sort(key=lambda r: -excess[r])
    return Rollup(tuple(roots), attached)
