"""The fill plan of one edge appliance for one night: which title files to hold, fill and evict.

Pure: pandas/NumPy/SciPy in, a `FillPlan` out, no I/O.

Given per title its file size and the bytes the appliance is predicted to serve for it if stored
(`demand_bytes`), what the appliance holds now, its disk capacity and tonight's fill budget,
`plan_fill` chooses the set S of titles to hold tomorrow that

    maximises   Σ_{t∈S} demand_bytes(t)                      (predicted bytes served locally)
    subject to  Σ_{t∈S} size(t)            ≤ capacity         (disk)
                Σ_{t∈S, t∉held} size(t)    ≤ fill budget      (what the fill window can copy)
                every release due tomorrow with demand is in S, as far as the two limits allow.

This is a two-constraint 0/1 knapsack. It is solved exactly with SciPy's mixed-integer solver
(HiGHS, `scipy.optimize.milp`, with a time limit) and by the greedy rule operators use
(popularity = predicted bytes ÷ file size, taken in that order while both limits allow); the better
of the two is kept, so the plan is never worse than greedy and is optimal (to a relative gap of
0.01%) whenever HiGHS proves it within the limit (`FillPlan.optimal`). Eviction costs no fill
budget, so a held title is evicted only when its space is needed: titles left out but held are
kept while the disk has room. Disk and budget still left over are filled with titles that have no
predicted demand on this appliance, by a fallback popularity (an idle disk serves nothing).

Each row carries its action (`hold`, `fill`, `evict`, `defer`: wanted on the disk but over
tonight's fill budget, so copied on a later night, or `skip`: predicted demand but not stored, served
upstream) — so every title with predicted demand has a row — its popularity (`value_per_gb`:
predicted bytes per GB stored) and a reason a planner can read. `predicted_offload` = Σ demand
held ÷ Σ demand of all titles: the share of the appliance's predicted bytes it serves itself.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import Bounds, LinearConstraint, milp

__all__ = ["PLAN_COLUMNS", "FillPlan", "choose_titles", "plan_fill"]

#: Columns of `FillPlan.rows`.
PLAN_COLUMNS: tuple[str, ...] = (
    "title_id",
    "action",
    "size_bytes",
    "predicted_demand_bytes",
    "value_per_gb",
    "reason",
    "predicted_offload_bytes",
)
_GB = 1e9
#: Relative optimality gap at which HiGHS stops: 0.01% of the predicted bytes.
_MIP_GAP = 1e-4
_ACTIONS_HELD = ("hold", "fill")


@dataclass(frozen=True)
class FillPlan:
    """One appliance's plan: rows per title (`PLAN_COLUMNS`) and the totals."""

    rows: pd.DataFrame
    predicted_offload: float
    demand_bytes: float
    stored_bytes: int
    fill_bytes: int
    evict_bytes: int
    solver: str
    optimal: bool

    @property
    def held_titles(self) -> set[str]:
        """The titles on the disk after tonight's fill."""
        return set(self.rows.loc[self.rows["action"].isin(_ACTIONS_HELD), "title_id"])


def choose_titles(
    sizes: np.ndarray,
    values: np.ndarray,
    held: np.ndarray,
    capacity: int,
    budget: int,
    forced: np.ndarray | None = None,
    time_limit_s: float = 2.0,
) -> tuple[np.ndarray, str, bool]:
    """The chosen mask maximising Σ values under the disk and fill-budget limits; (mask, solver, optimal).

    `held` marks titles already stored (they cost disk, not budget); `forced` ones are taken first
    (by value) as far as the limits allow.
    """
    sizes = np.asarray(sizes, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    held = np.asarray(held, dtype=bool)
    n = len(sizes)
    forced = np.zeros(n, dtype=bool) if forced is None else np.asarray(forced, dtype=bool)
    forced = _feasible_forced(sizes, values, held, forced, capacity, budget)
    greedy = _greedy(sizes, values, held, forced, capacity, budget)
    candidates = (values > 0) | forced
    if not candidates.any():
        return greedy, "greedy", True
    idx = np.flatnonzero(candidates)
    s = sizes[idx] / _GB
    v = values[idx]
    scale = v.max() if v.max() > 0 else 1.0
    lower = forced[idx].astype(np.float64)
    constraints = [
        LinearConstraint(s[None, :], -np.inf, capacity / _GB),
        LinearConstraint(np.where(held[idx], 0.0, s)[None, :], -np.inf, budget / _GB),
    ]
    result = milp(
        c=-v / scale,
        constraints=constraints,
        integrality=np.ones(len(idx)),
        bounds=Bounds(lower, np.ones(len(idx))),
        options={"time_limit": time_limit_s, "mip_rel_gap": _MIP_GAP},
    )
    if result.x is None:
        return greedy, "greedy", False
    exact = np.zeros(n, dtype=bool)
    exact[idx] = result.x > 0.5
    if not _fits(sizes, held, exact, capacity, budget):
        return greedy, "greedy", False
    if values[exact].sum() >= values[greedy].sum() - 1e-9 * max(values.sum(), 1.0):
        return exact, "milp", bool(result.status == 0)
    return greedy, "greedy", False


def plan_fill(
    titles: pd.DataFrame,
    held: Iterable[str],
    capacity_bytes: int,
    fill_budget_bytes: int,
    release_dates: dict[str, str] | None = None,
    time_limit_s: float = 2.0,
) -> FillPlan:
    """The plan for one appliance.

    `titles` has title_id, size_bytes, demand_bytes (predicted bytes served if stored) and
    optionally prepositioned (bool: a release due tomorrow) and fallback (a popularity score, e.g.
    recent watch hours anywhere, that orders titles without predicted demand for spare disk).
    `held` are the titles stored now;
    held titles missing from `titles` are evicted (no longer in the catalogue). `release_dates`
    maps pre-positioned titles to their release date, for the reason text.
    """
    for column in ("title_id", "size_bytes", "demand_bytes"):
        if column not in titles.columns:
            raise ValueError(
                f"fill plan input lacks column {column!r}; give title_id, size_bytes, demand_bytes"
            )
    if capacity_bytes < 0 or fill_budget_bytes < 0:
        raise ValueError("capacity_bytes and fill_budget_bytes must be >= 0")
    frame = titles.reset_index(drop=True)
    if frame["title_id"].duplicated().any():
        raise ValueError("fill plan input has a title twice; give one row per title")
    if (frame["demand_bytes"] < 0).any() or not np.isfinite(frame["demand_bytes"]).all():
        raise ValueError("demand_bytes must be finite and >= 0")
    held_set = set(held)
    ids = frame["title_id"].astype(str).to_numpy()
    sizes = frame["size_bytes"].to_numpy(dtype=np.int64)
    values = frame["demand_bytes"].to_numpy(dtype=np.float64)
    is_held = np.isin(ids, list(held_set))
    pre = (
        frame["prepositioned"].to_numpy(dtype=bool) if "prepositioned" in frame else np.zeros(len(ids), bool)
    )
    pre = pre & (values > 0)
    chosen, solver, optimal = choose_titles(
        sizes, values, is_held, capacity_bytes, fill_budget_bytes, pre, time_limit_s
    )
    # Eviction is free: keep held titles left out while the disk has room (most valuable first).
    used = sizes[chosen].sum()
    for i in sorted(np.flatnonzero(is_held & ~chosen), key=lambda i: -values[i]):
        if used + sizes[i] <= capacity_bytes:
            chosen[i] = True
            used += sizes[i]
    # Spare disk and budget: titles without predicted demand here, by fallback popularity.
    spare = np.zeros(len(ids), dtype=bool)
    if "fallback" in frame:
        fallback = frame["fallback"].to_numpy(dtype=np.float64)
        fill_used = sizes[chosen & ~is_held].sum()
        for i in np.lexsort((ids, -fallback)):
            if chosen[i] or values[i] > 0 or sizes[i] <= 0:
                continue
            if used + sizes[i] <= capacity_bytes and fill_used + sizes[i] <= fill_budget_bytes:
                chosen[i] = spare[i] = True
                used += sizes[i]
                fill_used += sizes[i]
    # What the disk alone would take (no budget): the titles deferred to later nights.
    wanted = _greedy(sizes, values, is_held, np.zeros(len(ids), bool), capacity_bytes, np.iinfo(np.int64).max)
    value_per_gb = np.divide(values, sizes / _GB, out=np.zeros(len(ids)), where=sizes > 0)
    order = np.argsort(-value_per_gb, kind="stable")
    rank = np.empty(len(ids), dtype=np.int64)
    rank[order] = np.arange(1, len(ids) + 1)
    ranked_in = chosen & (values > 0)
    cutoff = float(value_per_gb[ranked_in].min()) if ranked_in.any() else 0.0
    n = len(ids)
    release_dates = release_dates or {}

    rows = []
    for i in range(n):
        vpg = value_per_gb[i]
        desc = (
            f"{values[i] / _GB:,.1f} GB forecast from {sizes[i] / _GB:,.1f} GB stored ({vpg / _GB:.3f} GB/GB)"
        )
        if chosen[i]:
            action = "hold" if is_held[i] else "fill"
            if pre[i] and not is_held[i]:
                when = release_dates.get(ids[i], "tomorrow")
                reason = f"new release due {when}: pre-positioned; {desc}"
            elif spare[i]:
                reason = "spare disk: no demand forecast here, filled by popularity elsewhere"
            elif values[i] <= 0 or vpg < cutoff:
                reason = f"kept: below the cutoff, the disk has room; {desc}"
            else:
                reason = f"rank {rank[i]} of {n} by demand per GB, above the cutoff; {desc}"
        elif is_held[i]:
            action = "evict"
            reason = (
                f"below the cutoff {cutoff / _GB:.3f} GB/GB; space needed for more popular titles; {desc}"
            )
        elif wanted[i] and values[i] > 0:
            action = "defer"
            reason = f"rank {rank[i]} of {n} but over tonight's fill budget; fill on a later night; {desc}"
        elif values[i] > 0:
            action = "skip"
            reason = (
                f"rank {rank[i]} of {n}, below the cutoff {cutoff / _GB:.3f} GB/GB: served upstream; {desc}"
            )
        else:
            continue
        rows.append(
            (
                ids[i],
                action,
                int(sizes[i]),
                float(values[i]),
                float(vpg),
                reason,
                float(values[i]) if chosen[i] else 0.0,
            )
        )
    for title in sorted(held_set - set(ids)):
        rows.append((title, "evict", 0, 0.0, 0.0, "no longer in the catalogue", 0.0))
    out = pd.DataFrame(rows, columns=list(PLAN_COLUMNS))
    demand = float(values.sum())
    stored = chosen
    return FillPlan(
        rows=out,
        predicted_offload=float(values[stored].sum() / demand) if demand > 0 else 0.0,
        demand_bytes=demand,
        stored_bytes=int(sizes[stored].sum()),
        fill_bytes=int(sizes[stored & ~is_held].sum()),
        evict_bytes=int(sizes[is_held & ~stored].sum()),
        solver=solver,
        optimal=optimal,
    )


def _fits(sizes: np.ndarray, held: np.ndarray, chosen: np.ndarray, capacity: int, budget: int) -> bool:
    return sizes[chosen].sum() <= capacity and sizes[chosen & ~held].sum() <= budget


def _feasible_forced(
    sizes: np.ndarray, values: np.ndarray, held: np.ndarray, forced: np.ndarray, capacity: int, budget: int
) -> np.ndarray:
    """The forced titles that fit together, most valuable first."""
    keep = np.zeros(len(sizes), dtype=bool)
    disk = fill = 0.0
    for i in sorted(np.flatnonzero(forced), key=lambda i: -values[i]):
        extra_fill = 0.0 if held[i] else sizes[i]
        if disk + sizes[i] <= capacity and fill + extra_fill <= budget:
            keep[i] = True
            disk += sizes[i]
            fill += extra_fill
    return keep


def _greedy(
    sizes: np.ndarray, values: np.ndarray, held: np.ndarray, forced: np.ndarray, capacity: int, budget: float
) -> np.ndarray:
    """Forced first, then by predicted bytes per byte stored, while disk and budget allow."""
    chosen = forced.copy()
    disk = float(sizes[chosen].sum())
    fill = float(sizes[chosen & ~held].sum())
    density = np.divide(values, sizes, out=np.zeros(len(sizes)), where=sizes > 0)
    for i in np.lexsort((~held, -density)):
        if chosen[i] or values[i] <= 0:
            continue
        extra_fill = 0.0 if held[i] else float(sizes[i])
        if disk + sizes[i] <= capacity and fill + extra_fill <= budget:
            chosen[i] = True
            disk += float(sizes[i])
            fill += extra_fill
    return chosen
