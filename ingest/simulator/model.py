"""The generative model resolved against one world: who gets sampled, which cell, which incident.

`Model` holds everything that is fixed for a simulation and read on every chunk: the member
sampling table (members by region, weighted by activity), each member's cell in each test and
whether the injected SRM drops them, the per-cell effect tables, the incidents with their target
value resolved to the world's integer code, and the registry of allocation codes. Building it
validates the config against the world (an incident on an unknown ISP fails here, by name).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import SimulationConfig
from .experiments import AllocationCodes, Experiment, assign_cells, srm_lost_members
from .incidents import Incident
from .world import World

__all__ = ["EFFECTS", "MAX_SESSION_MS", "Model", "ResolvedIncident"]

#: The per-cell effect names, as on `Cell`.
EFFECTS: tuple[str, ...] = ("watch_time", "startup", "rebuffer", "start_failure")
#: No session lasts longer than this from request to end (play budget cap plus stalls).
MAX_SESSION_MS = 8 * 3_600_000


@dataclass(frozen=True)
class ResolvedIncident:
    """An incident with its target value as the world's integer code for that dimension."""

    incident: Incident
    code: int

    @property
    def kind(self) -> str:
        return self.incident.kind

    def matches(self, dims: dict[str, np.ndarray]) -> np.ndarray:
        """Whether each session belongs to the targeted slice."""
        return dims[self.incident.dimension] == self.code


class Model:
    """Config and world, prepared for fast chunk generation."""

    def __init__(self, config: SimulationConfig, world: World) -> None:
        self.config = config
        self.world = world
        n_regions = len(world.region_names)
        # Member sampling: members ordered by region, cumulative activity shifted by the region index,
        # so one searchsorted over (region + u) picks a member of that region with P ∝ activity.
        order = np.argsort(world.user_region, kind="stable")
        region = world.user_region[order]
        act = world.user_activity[order]
        totals = np.bincount(region, act, n_regions)
        within = np.cumsum(act) - np.repeat(
            np.concatenate([[0.0], np.cumsum(totals)[:-1]]), np.bincount(region, minlength=n_regions)
        )
        self._user_order = order.astype(np.int32)
        self._user_cdf = region + within / np.where(totals > 0, totals, 1.0)[region]
        self._region_has_users = totals > 0

        self.experiments: tuple[Experiment, ...] = config.experiments
        n_users = len(world.user_region)
        n_exp = len(self.experiments)
        user_ids = world.user_ids.to_pylist() if n_exp else []
        self.exp_cells = np.full((n_users, n_exp), -1, dtype=np.int16)
        self.exp_lost = np.zeros((n_users, n_exp), dtype=bool)
        width = max((len(e.cells) for e in self.experiments), default=0) + 1
        # Effect tables: [experiment, cell]; the last column (index -1) is "not in the test" = 1.0.
        self.exp_effect = {name: np.ones((n_exp, width)) for name in EFFECTS}
        for j, exp in enumerate(self.experiments):
            cells = assign_cells(user_ids, exp)
            self.exp_cells[:, j] = cells
            self.exp_lost[:, j] = srm_lost_members(user_ids, exp, cells)
            for c, cell in enumerate(exp.cells):
                for name in EFFECTS:
                    self.exp_effect[name][j, c] = getattr(cell, name)
        # Sessions are drawn at the highest play rate any allocation can have, then thinned.
        self.watch_bound = (
            float(np.prod(np.maximum(self.exp_effect["watch_time"], 1.0).max(axis=1))) if n_exp else 1.0
        )
        self.allocations = AllocationCodes(
            tuple(e.test_id for e in self.experiments),
            tuple(tuple(c.name for c in e.cells) for e in self.experiments),
        )
        self.region_rate_per_min = totals * config.sessions_per_user_per_day / 1440.0 * self.watch_bound
        self.incidents = tuple(
            ResolvedIncident(i, world.code_of(i.dimension, i.value)) for i in config.incidents
        )

    def pick_users(self, region: np.ndarray, u: np.ndarray) -> np.ndarray:
        """A member of each region, with probability proportional to activity."""
        idx = np.searchsorted(self._user_cdf, region + u, side="right")
        return self._user_order[np.minimum(idx, len(self._user_order) - 1)]

    def cells_at(self, user: np.ndarray, request_ms: np.ndarray) -> np.ndarray:
        """(sessions × tests) cell index, -1 where the member is not in a test running at request time."""
        cells = self.exp_cells[user]
        for j, exp in enumerate(self.experiments):
            cells[~exp.active_at(request_ms), j] = -1
        return cells

    def lost_to_srm(self, user: np.ndarray, cells: np.ndarray) -> np.ndarray:
        """Whether each session is dropped by an injected sample-ratio mismatch."""
        if cells.shape[1] == 0:
            return np.zeros(len(user), dtype=bool)
        return (self.exp_lost[user] & (cells >= 0)).any(axis=1)

    def effect(self, name: str, cells: np.ndarray) -> np.ndarray:
        """Product over tests of the named effect of each session's cells (1.0 outside tests)."""
        out = np.ones(len(cells))
        table = self.exp_effect[name]
        for j in range(cells.shape[1]):
            out *= table[j, cells[:, j]]
        return out

    def incidents_between(self, start_ms: int, end_ms: int, kind: str) -> tuple[ResolvedIncident, ...]:
        """Incidents of a kind whose window overlaps [start_ms, end_ms)."""
        return tuple(
            r
            for r in self.incidents
            if r.kind == kind and r.incident.start_ms < end_ms and r.incident.end_ms > start_ms
        )
