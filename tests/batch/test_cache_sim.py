"""The cache simulator against hit counts worked out by hand."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from batch.cache_sim import CacheResult, LruCache, oracle_titles, static_replay
from batch.catalogue import Catalogue
from batch.fill_evaluation import evaluate_plan

#: Requests in time order: title, bytes streamed.
REQUESTS = [("A", 1.0), ("B", 2.0), ("A", 3.0), ("C", 4.0), ("B", 5.0), ("A", 6.0)]
TITLES = [t for t, _ in REQUESTS]
BYTES = [b for _, b in REQUESTS]


def test_lru_hits_by_hand() -> None:
    # Disk of 2 one-unit titles: A miss, B miss, A hit, C miss (evicts B), B miss (evicts A),
    # A miss (evicts C): one hit of 3 bytes out of 21.
    cache = LruCache(2, {"A": 1, "B": 1, "C": 1})
    result = cache.replay(TITLES, BYTES)
    assert (result.requests, result.hits) == (6, 1)
    assert result.bytes_hit == 3.0 and result.bytes_requested == 21.0
    assert result.offload == pytest.approx(3 / 21)
    assert result.bytes_filled == 5
    assert cache.titles == ["B", "A"]
    # The state carries over: the next day starts with B and A stored.
    again = cache.replay(["A", "B", "C"], [1.0, 1.0, 1.0])
    assert again.hits == 2


def test_lru_with_room_for_everything_misses_each_title_once() -> None:
    result = LruCache(10, {"A": 1, "B": 1, "C": 1}).replay(TITLES, BYTES)
    assert result.hits == 3 and result.bytes_hit == 3.0 + 5.0 + 6.0


def test_a_title_larger_than_the_disk_is_never_cached() -> None:
    cache = LruCache(2, {"A": 3, "B": 1})
    result = cache.replay(["A", "A", "B", "B"], [1.0, 1.0, 1.0, 1.0])
    assert result.hits == 1 and cache.titles == ["B"]


def test_static_replay_and_oracle() -> None:
    plan = static_replay(TITLES, BYTES, {"A"})
    assert (plan.hits, plan.bytes_hit) == (3, 10.0)
    # Actual bytes: A 10, B 7, C 4; two one-unit titles fit: the oracle stores A and B.
    actual = {"A": 10.0, "B": 7.0, "C": 4.0}
    sizes = {"A": 1, "B": 1, "C": 1}
    assert oracle_titles(actual, sizes, set(), 2, 2) == {"A", "B"}
    oracle = static_replay(TITLES, BYTES, oracle_titles(actual, sizes, set(), 2, 2))
    assert oracle.bytes_hit == 17.0
    # With C held and a fill budget of one title, the oracle can add only A.
    assert oracle_titles(actual, sizes, {"C"}, 2, 1) == {"A", "C"}


def test_results_add_up() -> None:
    total = CacheResult(2, 1, 10.0, 4.0) + CacheResult(3, 3, 10.0, 10.0, 5.0)
    assert total == CacheResult(5, 4, 20.0, 14.0, 5.0)
    assert total.offload == pytest.approx(0.7)
    with pytest.raises(ValueError, match="one of each"):
        static_replay(["A"], [1.0, 2.0], set())


def test_evaluation_splits_the_oracle_lead_and_reports_what_binds() -> None:
    sizes = {"A": 10, "B": 20, "C": 30, "D": 40}
    titles = pd.DataFrame(
        {"title_id": list(sizes), "kind": "movie", "genre": "drama", "duration_ms": 1, "release_ms": 0,
         "size_bytes": list(sizes.values())}
    )  # fmt: skip
    appliances = pd.DataFrame(
        {"oca_id": ["o1"], "region": ["r"], "isp": [None], "site_type": ["ixp"], "kind": ["storage"],
         "capacity_bytes": [100], "fill_rate_bps": [0.0], "fill_budget_bytes": [50]}
    )  # fmt: skip
    # The plan keeps C and fills B; the day asks for A twice (4 bytes), B once (2), D once (5).
    plan = pd.DataFrame({"oca_id": ["o1", "o1"], "title_id": ["C", "B"], "action": ["hold", "fill"]})
    requests = pd.DataFrame(
        {"oca_id": "o1", "title_id": ["A", "B", "A", "D"], "started_at": [1, 2, 3, 4],
         "bytes": [1.0, 2.0, 3.0, 5.0]}
    )  # fmt: skip
    result = evaluate_plan(plan, requests, Catalogue(titles, appliances), dt.date(2025, 2, 1))
    row = result.per_appliance.iloc[0]
    # Oracle: C held, a fill budget of 50 takes A + D (10 + 40, 9 bytes) over A + B (6 bytes).
    assert result.plan.offload == pytest.approx(2 / 11) and result.oracle.offload == pytest.approx(9 / 11)
    assert (row["requests"], row["titles_requested"]) == (4, 3)
    # Its lead: D, asked for once (5 bytes), and A, asked for twice (4 bytes).
    assert row["oracle_only_once_bytes"] == 5.0 and row["oracle_only_repeat_bytes"] == 4.0
    assert (row["capacity_bytes"], row["fill_budget_bytes"]) == (100, 50)
    assert (row["plan_stored_bytes"], row["plan_fill_bytes"]) == (50, 20)
    assert (row["oracle_stored_bytes"], row["oracle_fill_bytes"]) == (50, 50)
