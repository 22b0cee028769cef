"""The fill planner on small cases whose best plan can be checked by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from batch.fill_plan import PLAN_COLUMNS, choose_titles, plan_fill

GB = 10**9


def _titles(rows: list[tuple[str, int, float]], prepositioned: tuple[str, ...] = ()) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["title_id", "size_bytes", "demand_bytes"])
    frame["size_bytes"] *= GB
    frame["demand_bytes"] *= GB
    frame["prepositioned"] = frame["title_id"].isin(prepositioned)
    return frame


def _actions(plan) -> dict[str, str]:
    return dict(zip(plan.rows["title_id"], plan.rows["action"], strict=True))


def test_the_best_set_is_chosen_where_greedy_by_popularity_is_not_optimal() -> None:
    # By demand per GB, A (7/6) ranks first, but B + C (10) beat A alone (7) on a 10 GB disk.
    titles = _titles([("A", 6, 7.0), ("B", 5, 5.0), ("C", 5, 5.0)])
    plan = plan_fill(titles, held=[], capacity_bytes=10 * GB, fill_budget_bytes=100 * GB)
    assert plan.held_titles == {"B", "C"}
    assert plan.solver == "milp" and plan.optimal
    assert plan.stored_bytes == 10 * GB
    assert plan.predicted_offload == pytest.approx(10 / 17)
    assert list(plan.rows.columns) == list(PLAN_COLUMNS)
    assert _actions(plan) == {"B": "fill", "C": "fill", "A": "defer"}


@pytest.mark.parametrize("capacity, budget", [(8, 4), (12, 4), (8, 8), (4, 0), (0, 100)])
def test_capacity_and_budget_are_respected(capacity: int, budget: int) -> None:
    titles = _titles([("A", 4, 1.0), ("B", 4, 10.0), ("C", 4, 9.0), ("D", 2, 3.0)])
    plan = plan_fill(titles, held=["A"], capacity_bytes=capacity * GB, fill_budget_bytes=budget * GB)
    assert plan.stored_bytes <= capacity * GB
    assert plan.fill_bytes <= budget * GB
    fills = plan.rows[plan.rows["action"] == "fill"]
    assert fills["size_bytes"].sum() == plan.fill_bytes


def test_fill_budget_binds_keep_what_is_held_and_defer_the_rest() -> None:
    titles = _titles([("A", 4, 1.0), ("B", 4, 10.0), ("C", 4, 9.0)])
    plan = plan_fill(titles, held=["A"], capacity_bytes=8 * GB, fill_budget_bytes=4 * GB)
    assert _actions(plan) == {"A": "hold", "B": "fill", "C": "defer"}
    assert plan.fill_bytes == 4 * GB and plan.evict_bytes == 0
    assert plan.predicted_offload == pytest.approx(11 / 20)


def test_unpopular_held_titles_are_evicted_only_for_space() -> None:
    titles = _titles([("A", 4, 1.0), ("D", 4, 0.0), ("B", 4, 10.0), ("C", 4, 9.0)])
    plan = plan_fill(titles, held=["A", "D", "gone"], capacity_bytes=8 * GB, fill_budget_bytes=8 * GB)
    assert _actions(plan) == {"A": "evict", "D": "evict", "B": "fill", "C": "fill", "gone": "evict"}
    assert plan.evict_bytes == 8 * GB
    roomy = plan_fill(titles, held=["A", "D"], capacity_bytes=16 * GB, fill_budget_bytes=8 * GB)
    assert _actions(roomy) == {"A": "hold", "D": "hold", "B": "fill", "C": "fill"}
    assert "kept" in roomy.rows.set_index("title_id").loc["D", "reason"]


def test_releases_due_tomorrow_are_pre_positioned() -> None:
    titles = _titles([("X", 4, 10.0), ("Y", 4, 9.0), ("R", 4, 1.0)], prepositioned=("R",))
    plan = plan_fill(
        titles, held=[], capacity_bytes=8 * GB, fill_budget_bytes=8 * GB, release_dates={"R": "2025-02-01"}
    )
    assert _actions(plan) == {"X": "fill", "R": "fill", "Y": "defer"}
    reason = plan.rows.set_index("title_id").loc["R", "reason"]
    assert reason.startswith("new release due 2025-02-01: pre-positioned")
    row = plan.rows.set_index("title_id").loc["X"]
    assert row["value_per_gb"] == pytest.approx(10 * GB / 4)
    assert row["predicted_offload_bytes"] == pytest.approx(10 * GB)


def test_choose_titles_matches_brute_force_on_random_small_cases() -> None:
    rng = np.random.default_rng(4)
    for _ in range(30):
        n = 8
        sizes = rng.integers(1, 10, n) * GB
        values = rng.uniform(0, 10, n)
        held = rng.random(n) < 0.3
        capacity, budget = int(rng.integers(5, 40)) * GB, int(rng.integers(0, 30)) * GB
        chosen, _, _ = choose_titles(sizes, values, held, capacity, budget)
        best = 0.0
        for mask in range(1 << n):
            pick = np.array([(mask >> i) & 1 for i in range(n)], dtype=bool)
            if sizes[pick].sum() <= capacity and sizes[pick & ~held].sum() <= budget:
                best = max(best, values[pick].sum())
        assert sizes[chosen].sum() <= capacity and sizes[chosen & ~held].sum() <= budget
        assert values[chosen].sum() == pytest.approx(best)


def test_bad_input_says_what_to_fix() -> None:
    with pytest.raises(ValueError, match="demand_bytes"):
        plan_fill(pd.DataFrame({"title_id": ["a"], "size_bytes": [1]}), [], 1, 1)
    with pytest.raises(ValueError, match="twice"):
        plan_fill(_titles([("a", 1, 1.0), ("a", 1, 1.0)]), [], GB, GB)


def test_spare_disk_is_filled_by_fallback_popularity_within_the_budget() -> None:
    titles = _titles([("X", 4, 10.0), ("P", 4, 0.0), ("Q", 4, 0.0), ("R", 4, 0.0)])
    titles["fallback"] = [0.0, 5.0, 9.0, 1.0]
    plan = plan_fill(titles, held=[], capacity_bytes=12 * GB, fill_budget_bytes=12 * GB)
    # X by its forecast, then the most popular elsewhere (Q, then P) while disk and budget allow.
    assert _actions(plan) == {"X": "fill", "Q": "fill", "P": "fill"}
    assert plan.rows.set_index("title_id").loc["Q", "reason"].startswith("spare disk")
    assert plan.predicted_offload == pytest.approx(1.0)
    tight = plan_fill(titles, held=[], capacity_bytes=12 * GB, fill_budget_bytes=8 * GB)
    assert _actions(tight) == {"X": "fill", "Q": "fill"}
