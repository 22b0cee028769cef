"""A/B tests: cells with true effects, the member → cell assignment, and allocation codes.

Guarantees:

- Assignment is a pure function of (user_id, test_id): the bucket of a member is the first 8 bytes
  of blake2b(b"<test_id>:<user_id>") read as an unsigned big-endian integer divided by 2**64. A
  member with bucket < `traffic` is enrolled, in the first cell whose cumulative weight share
  exceeds bucket / traffic. Anyone can reproduce it from the ids alone with `assign_cells`.
- A member carries the test in the `experiments` map only on sessions requested inside
  [start_ms, end_ms), so every test has a pre-period for CUPED.
- True effects per cell: `watch_time` multiplies the member's play rate (plays and watch time per
  member scale by it in expectation; session length does not change), `startup` multiplies the
  start-up time, `rebuffer` the rebuffer rate, `start_failure` the start-failure probability.
- `srm_loss` injects a sample-ratio mismatch: that fraction of the enrolled members of `srm_cell`
  (by a second hash, b"<test_id>:srm:<user_id>") lose every session requested during the test,
  as when a client bug drops a cell's beacons.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "AllocationCodes",
    "Cell",
    "Experiment",
    "assign_cells",
    "default_experiments",
    "srm_lost_members",
]

_DAY_MS = 86_400_000
_HOUR_MS = 3_600_000
_Entries = tuple[tuple[str, ...], tuple[str, ...]]  # (test ids, cell names) of one allocation


@dataclass(frozen=True)
class Cell:
    """One arm of a test with its allocation weight and true effects (multipliers, 1.0 = none)."""

    name: str
    weight: float = 1.0
    watch_time: float = 1.0
    startup: float = 1.0
    rebuffer: float = 1.0
    start_failure: float = 1.0

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("Cell.name must be a non-empty string")
        for name in ("weight", "watch_time", "startup", "rebuffer", "start_failure"):
            value = getattr(self, name)
            if not value > 0:
                raise ValueError(f"Cell {self.name!r}: {name} must be > 0, got {value!r}")

    def effects(self) -> dict[str, float]:
        """The true effects as a dict (multipliers)."""
        return {
            "watch_time": self.watch_time,
            "startup": self.startup,
            "rebuffer": self.rebuffer,
            "start_failure": self.start_failure,
        }


@dataclass(frozen=True)
class Experiment:
    """An A/B test. The first cell is the control."""

    test_id: str
    cells: tuple[Cell, ...]
    start_ms: int
    end_ms: int | None = None
    traffic: float = 1.0
    srm_loss: float = 0.0
    srm_cell: str | None = None
    description: str = ""

    def __post_init__(self) -> None:
        if not self.test_id:
            raise ValueError("Experiment.test_id must be a non-empty string")
        object.__setattr__(self, "cells", tuple(self.cells))
        names = [cell.name for cell in self.cells]
        if len(names) < 2:
            raise ValueError(f"Experiment {self.test_id!r} needs at least two cells (control first)")
        if len(set(names)) != len(names):
            raise ValueError(f"Experiment {self.test_id!r} has duplicate cell names: {names}")
        if self.end_ms is not None and self.end_ms <= self.start_ms:
            raise ValueError(f"Experiment {self.test_id!r}: end_ms must be after start_ms")
        if not 0 < self.traffic <= 1:
            raise ValueError(f"Experiment {self.test_id!r}: traffic must be in (0, 1], got {self.traffic}")
        if not 0 <= self.srm_loss < 1:
            raise ValueError(f"Experiment {self.test_id!r}: srm_loss must be in [0, 1), got {self.srm_loss}")
        if self.srm_cell is not None and self.srm_cell not in names:
            raise ValueError(f"Experiment {self.test_id!r}: srm_cell {self.srm_cell!r} is not one of {names}")

    @property
    def control(self) -> Cell:
        return self.cells[0]

    @property
    def lossy_cell(self) -> str:
        """The cell that loses sessions when `srm_loss` > 0 (the last cell unless `srm_cell` says)."""
        return self.srm_cell if self.srm_cell is not None else self.cells[-1].name

    def allocation(self) -> dict[str, float]:
        """Share of all members allocated to each cell (the intended allocation, before any SRM)."""
        total = sum(cell.weight for cell in self.cells)
        return {cell.name: self.traffic * cell.weight / total for cell in self.cells}

    def active_at(self, ts_ms: np.ndarray) -> np.ndarray:
        """Whether the test runs at each timestamp."""
        active = ts_ms >= self.start_ms
        if self.end_ms is not None:
            active &= ts_ms < self.end_ms
        return active

    def to_dict(self) -> dict[str, Any]:
        return {
            "test_id": self.test_id,
            "description": self.description,
            "start_ms": self.start_ms,
            "end_ms": self.end_ms,
            "traffic": self.traffic,
            "control": self.control.name,
            "cells": [{"name": c.name, "weight": c.weight, "true_effects": c.effects()} for c in self.cells],
            "allocation": self.allocation(),
            "srm": {"cell": self.lossy_cell, "loss": self.srm_loss} if self.srm_loss else None,
        }


def _buckets(user_ids: Sequence[str], salt: str) -> np.ndarray:
    """Uniform [0, 1) bucket per member from blake2b(b"<salt>:<user_id>")."""
    prefix = salt.encode() + b":"
    digests = b"".join(hashlib.blake2b(prefix + uid.encode(), digest_size=8).digest() for uid in user_ids)
    words = np.frombuffer(digests, dtype=">u8").astype(np.float64)
    return words / 2.0**64


def assign_cells(user_ids: Sequence[str], experiment: Experiment) -> np.ndarray:
    """Cell index per member (int16, -1 when the member is not enrolled)."""
    buckets = _buckets(user_ids, experiment.test_id)
    weights = np.array([cell.weight for cell in experiment.cells], dtype=np.float64)
    edges = np.cumsum(weights) / weights.sum()
    cells = np.searchsorted(edges, buckets / experiment.traffic, side="right")
    cells = np.minimum(cells, len(weights) - 1).astype(np.int16)
    cells[buckets >= experiment.traffic] = -1
    return cells


def srm_lost_members(user_ids: Sequence[str], experiment: Experiment, cells: np.ndarray) -> np.ndarray:
    """Whether each member loses its sessions during the test (the injected sample-ratio mismatch)."""
    if experiment.srm_loss == 0:
        return np.zeros(len(user_ids), dtype=bool)
    lossy = [c.name for c in experiment.cells].index(experiment.lossy_cell)
    return (cells == lossy) & (_buckets(user_ids, f"{experiment.test_id}:srm") < experiment.srm_loss)


def default_experiments(start_ms: int, end_ms: int) -> tuple[Experiment, ...]:
    """The two default tests, both starting mid-range (on a day boundary when the range spans ≥ 2 days).

    - `artwork_personalization`: personalized artwork raises plays (and so watch time) per member 3%.
    - `abr_fast_start`: a faster start-up ABR profile cuts start-up time 10% and raises rebuffering 8%.
    """
    middle = start_ms + (end_ms - start_ms) // 2
    grid = _DAY_MS if end_ms - start_ms >= 2 * _DAY_MS else _HOUR_MS
    begin = max(start_ms, middle - middle % grid)
    return (
        Experiment(
            "artwork_personalization",
            (Cell("control"), Cell("personalized", watch_time=1.03)),
            begin,
            description="Personalized title artwork on the home page",
        ),
        Experiment(
            "abr_fast_start",
            (Cell("control"), Cell("fast_start", startup=0.9, rebuffer=1.08)),
            begin,
            description="ABR profile that starts at a lower rung for a faster first frame",
        ),
    )


@dataclass
class AllocationCodes:
    """Small integer codes for the allocation a session carries (one code per distinct test→cell map).

    Code 0 is the empty map. Codes are internal: they depend on the order sessions are generated in,
    the maps they stand for do not.
    """

    test_ids: tuple[str, ...]
    cell_names: tuple[tuple[str, ...], ...]
    _rows: dict[tuple[int, ...], int] = field(init=False, default_factory=dict)
    _entries: list[_Entries] = field(init=False, default_factory=lambda: [((), ())])

    def __post_init__(self) -> None:
        self._rows[(-1,) * len(self.test_ids)] = 0

    def encode(self, cells: np.ndarray) -> np.ndarray:
        """Code per row of a (sessions × tests) matrix of cell indices (-1 = not in that test)."""
        if cells.shape[1] == 0 or len(cells) == 0:
            return np.zeros(len(cells), dtype=np.int32)
        unique, inverse = np.unique(cells, axis=0, return_inverse=True)
        codes = np.empty(len(unique), dtype=np.int32)
        for i, row in enumerate(unique.tolist()):
            key = tuple(row)
            code = self._rows.get(key)
            if code is None:
                code = len(self._entries)
                self._rows[key] = code
                pairs = [
                    (t, self.cell_names[j][c])
                    for j, (t, c) in enumerate(zip(self.test_ids, key, strict=True))
                    if c >= 0
                ]
                self._entries.append((tuple(p[0] for p in pairs), tuple(p[1] for p in pairs)))
            codes[i] = code
        return codes[inverse.reshape(-1)]

    def entries(self, code: int) -> _Entries:
        """(test ids, cell names) of a code."""
        return self._entries[code]
