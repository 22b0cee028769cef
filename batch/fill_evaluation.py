"""Scoring a night's fill plan on the next day's actual requests: plan vs LRU vs oracle.

`evaluate_plan` (pure) replays, per appliance and in time order, the sessions it served on the day
the plan is for against (a) the plan's stored titles (hold + fill), (b) an LRU cache of the same
disk with no prefetch, and (c) the perfect-foresight oracle: the same planner under the same disk
and fill budget, starting from the same holdings, fed the day's actual bytes per title
(`batch.cache_sim`); an appliance that held nothing is on its initial load, as in the fill job.
Offload = bytes served locally ÷ bytes requested, per appliance and in total.

The LRU caches carry their disks from day to day: pass the same `lru` mapping to consecutive days
(a multi-day evaluation), or warm them on the requests of the day before (`warmup`), so LRU is not
charged for starting cold.

Each appliance's row also says where the oracle's lead comes from and what binds: the day's
sessions and distinct titles, the bytes of titles the oracle stored and the plan did not, split
into titles requested once that day (which of the tail gets asked for: chance only foresight
knows) and titles requested more often, and the disk and fill bytes each of the two used
against the appliance's capacity and budget.

`load_plan` and `load_requests` read the published plan and the served sessions through the
`Warehouse` interface (a request's bytes = playing_ms × avg_bitrate_kbps ÷ 8).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import MutableMapping
from dataclasses import dataclass

import pandas as pd

from batch.cache_sim import CacheResult, LruCache, oracle_titles, static_replay
from batch.catalogue import Catalogue
from warehouse.base import Warehouse

__all__ = [
    "FillEvaluation",
    "evaluate_plan",
    "fill_limits",
    "holdings",
    "load_plan",
    "load_requests",
    "warm_lru",
]

_STORED = ("hold", "fill")
_HELD_BEFORE = ("hold", "evict")


@dataclass(frozen=True)
class FillEvaluation:
    """Offload of plan, LRU and oracle on one served day, per appliance and in total."""

    day: dt.date
    per_appliance: pd.DataFrame
    plan: CacheResult
    lru: CacheResult
    oracle: CacheResult

    def summary(self) -> dict[str, float]:
        return {
            "plan_offload": self.plan.offload,
            "lru_offload": self.lru.offload,
            "oracle_offload": self.oracle.offload,
            "requests": float(self.plan.requests),
            "bytes_requested": self.plan.bytes_requested,
        }


def evaluate_plan(
    plan: pd.DataFrame,
    requests: pd.DataFrame,
    catalogue: Catalogue,
    day: dt.date,
    lru: MutableMapping[str, LruCache] | None = None,
    warmup: pd.DataFrame | None = None,
) -> FillEvaluation:
    """Replay `requests` (oca_id, title_id, started_at, bytes) against the plan, LRU and the oracle.

    `plan` has oca_id, title_id, action (one appliance's rows or many). Appliances are those of the
    catalogue; requests to others are ignored.
    """
    sizes = catalogue.sizes
    apps = catalogue.appliances.set_index("oca_id")
    lru = {} if lru is None else lru
    ordered = requests.sort_values("started_at", kind="stable")
    by_app = dict(tuple(ordered.groupby("oca_id", sort=True)))
    plans = dict(tuple(plan.groupby("oca_id", sort=True)))
    stored_by, held_by = holdings(plan)
    if warmup is not None:
        warm_lru(lru, warmup, catalogue)
    rows = []
    totals = {"plan": CacheResult(), "lru": CacheResult(), "oracle": CacheResult()}
    for oca_id in apps.index:
        group = by_app.get(oca_id)
        titles = group["title_id"].astype(str).tolist() if group is not None else []
        served = group["bytes"].astype(float).tolist() if group is not None else []
        rows_of = plans.get(oca_id)
        stored, held = stored_by.get(oca_id, set()), held_by.get(oca_id, set())
        capacity, budget = fill_limits(apps, oca_id, held)
        actual = group.groupby("title_id")["bytes"].sum().to_dict() if group is not None else {}
        oracle_set = oracle_titles(actual, sizes, held, capacity, budget) if actual else set()
        cache = lru.setdefault(oca_id, LruCache(capacity, sizes))
        results = {
            "plan": static_replay(titles, served, stored),
            "lru": cache.replay(titles, served),
            "oracle": static_replay(titles, served, oracle_set),
        }
        for name, result in results.items():
            totals[name] = totals[name] + result
        predicted = float("nan")
        if rows_of is not None and rows_of.get("predicted_demand_bytes") is not None:
            demand = rows_of["predicted_demand_bytes"].sum()
            predicted = (
                float(rows_of["predicted_offload_bytes"].sum() / demand) if demand > 0 else float("nan")
            )
        requested = group.groupby("title_id").size().to_dict() if group is not None else {}
        oracle_only = {t: b for t, b in actual.items() if t in oracle_set and t not in stored}
        rows.append(
            {
                "oca_id": oca_id,
                "region": apps.at[oca_id, "region"],
                "kind": apps.at[oca_id, "kind"],
                "requests": results["plan"].requests,
                "titles_requested": len(actual),
                "bytes_requested": results["plan"].bytes_requested,
                "plan_offload": results["plan"].offload,
                "lru_offload": results["lru"].offload,
                "oracle_offload": results["oracle"].offload,
                "predicted_offload": predicted,
                "stored_titles": len(stored),
                "oracle_only_once_bytes": float(sum(b for t, b in oracle_only.items() if requested[t] == 1)),
                "oracle_only_repeat_bytes": float(sum(b for t, b in oracle_only.items() if requested[t] > 1)),
                "capacity_bytes": capacity,
                "fill_budget_bytes": budget,
                "plan_stored_bytes": _bytes_of(stored, sizes),
                "plan_fill_bytes": _bytes_of(stored - held, sizes),
                "oracle_stored_bytes": _bytes_of(oracle_set, sizes),
                "oracle_fill_bytes": _bytes_of(oracle_set - held, sizes),
            }
        )
    return FillEvaluation(day, pd.DataFrame(rows), totals["plan"], totals["lru"], totals["oracle"])


def holdings(plan: pd.DataFrame) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """(stored after the fill, held before it) per appliance, from plan rows (oca_id, title_id, action)."""
    stored = plan[plan["action"].isin(_STORED)].groupby("oca_id")["title_id"].agg(set).to_dict()
    held = plan[plan["action"].isin(_HELD_BEFORE)].groupby("oca_id")["title_id"].agg(set).to_dict()
    return stored, held


def fill_limits(appliances: pd.DataFrame, oca_id: str, held: set[str]) -> tuple[int, int]:
    """(disk, fill budget) of an appliance tonight, from `appliances` indexed by oca_id. One that
    held nothing gets its initial load, as in the fill job: budget = disk."""
    capacity = int(appliances.at[oca_id, "capacity_bytes"])
    return capacity, int(appliances.at[oca_id, "fill_budget_bytes"]) if held else capacity


def _bytes_of(titles: set[str], sizes: dict[str, int]) -> int:
    return int(sum(sizes.get(t, 0) for t in titles))


def warm_lru(lru: MutableMapping[str, LruCache], requests: pd.DataFrame, catalogue: Catalogue) -> None:
    """Replay `requests` into the LRU caches (created empty, of each appliance's disk, where missing)."""
    sizes = catalogue.sizes
    apps = catalogue.appliances.set_index("oca_id")
    for oca_id, group in requests.sort_values("started_at", kind="stable").groupby("oca_id"):
        if oca_id in apps.index:
            cache = lru.setdefault(oca_id, LruCache(int(apps.at[oca_id, "capacity_bytes"]), sizes))
            cache.replay(group["title_id"].astype(str), group["bytes"].astype(float))


def load_plan(warehouse: Warehouse, run_date: dt.date) -> pd.DataFrame:
    """The published oca_fill_plan rows of `run_date` (empty when there is none)."""
    return warehouse.query(
        "SELECT * FROM oca_fill_plan WHERE run_date = $day ORDER BY oca_id, title_id", {"day": run_date}
    ).to_pandas()


def load_requests(warehouse: Warehouse, day: dt.date) -> pd.DataFrame:
    """Sessions appliances served on `day` with their bytes, in time order."""
    return warehouse.query(
        "SELECT oca_id, title_id, started_at, CAST(playing_ms AS DOUBLE) * avg_bitrate_kbps / 8 AS bytes "
        "FROM sessions WHERE session_date = $day AND oca_id IS NOT NULL AND playing_ms > 0 "
        "AND avg_bitrate_kbps IS NOT NULL ORDER BY started_at, session_id",
        {"day": day},
    ).to_pandas()
