"""The expected-demand plan's inputs and the drawn days of `batch.fill_bounds`, on hand-checkable cases."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from batch.fill_bounds import RequestBytes, draw_bytes, expected_demand, score_static
from batch.fill_evaluation import holdings

_GB = 10**9


def _request_bytes() -> RequestBytes:
    # Short titles' sessions stream 1 GB or 3 GB, long titles' 10 GB: two duration buckets.
    sessions = pd.DataFrame(
        {
            "content_duration_ms": [20 * 60_000] * 4 + [120 * 60_000] * 4,
            "bytes": [1 * _GB, 3 * _GB, 1 * _GB, 3 * _GB] + [10 * _GB] * 4,
        }
    )
    return RequestBytes.fit(sessions, np.array([20 * 60_000, 120 * 60_000, 22 * 60_000]), buckets=2)


def test_request_bytes_follow_the_duration_bucket() -> None:
    rb = _request_bytes()
    assert rb.mean.tolist() == [2 * _GB, 10 * _GB, 2 * _GB]
    assert rb.bucket_of.tolist() == [0, 1, 0]
    with pytest.raises(ValueError, match="no played sessions"):
        RequestBytes.fit(pd.DataFrame({"content_duration_ms": [], "bytes": []}), np.array([1]))


def test_expected_demand_is_means_times_played_share_times_bytes() -> None:
    means = np.array([[2.0, 0.0, 1.0], [0.0, 4.0, 0.0]])
    demand = expected_demand(
        means, 0.5, _request_bytes(), ["o1", "o2"], ["a", "b", "c"], {"o1": "r1", "o2": "r2"}
    )
    assert demand.to_dict("records") == [
        {"oca_id": "o1", "region": "r1", "title_id": "a", "demand_bytes": 2.0 * _GB},
        {"oca_id": "o1", "region": "r1", "title_id": "c", "demand_bytes": 1.0 * _GB},
        {"oca_id": "o2", "region": "r2", "title_id": "b", "demand_bytes": 20.0 * _GB},
    ]


def test_drawn_days_average_to_the_means_and_scale_with_the_multiple() -> None:
    means = np.array([[3.0, 0.0, 0.5], [1.0, 2.0, 0.0]])
    rb = _request_bytes()
    rng = np.random.default_rng(7)
    days = np.stack([draw_bytes(means, 0.8, rb, 4, rng) for _ in range(4_000)])
    expected = means * 0.8 * 4 * rb.mean[None, :]
    assert np.allclose(days.mean(axis=0), expected, rtol=0.03)
    assert (days[:, means == 0] == 0).all()
    # Bytes of a short title's request are 1 or 3 GB, never in between: sums of whole sessions.
    short = days[:, 0, 0] / _GB
    assert np.allclose(short, np.round(short))
    # Variance of a compound Poisson sum: λ E[b²].
    assert days[:, 0, 0].var() == pytest.approx(3.0 * 0.8 * 4 * 5 * _GB**2, rel=0.1)


def test_score_static_counts_stored_bytes_and_the_oracle_from_the_same_holdings() -> None:
    appliances = pd.DataFrame({"oca_id": ["o1"], "capacity_bytes": [2 * _GB], "fill_budget_bytes": [1 * _GB]})
    sizes = {"a": _GB, "b": _GB, "c": _GB}
    day = np.array([[5.0, 3.0, 2.0]])  # bytes requested of a, b, c
    plan, oracle = score_static(
        day, {"o1": {"b", "c"}}, {"o1": {"b", "c"}}, appliances, ["o1"], ["a", "b", "c"], sizes
    )
    assert (plan.bytes_requested, plan.bytes_hit) == (10.0, 5.0)
    # The oracle may fill one title (budget 1 GB) and keep one: a and b, 8 of 10 bytes.
    assert oracle.bytes_hit == 8.0
    # Nothing held before: an initial load, budget = disk.
    _, first = score_static(day, {}, {}, appliances, ["o1"], ["a", "b", "c"], sizes)
    assert first.bytes_hit == 8.0


def test_holdings_split_stored_and_held_before() -> None:
    plan = pd.DataFrame(
        {
            "oca_id": ["o1"] * 4,
            "title_id": ["a", "b", "c", "d"],
            "action": ["hold", "fill", "evict", "skip"],
        }
    )
    stored, held = holdings(plan)
    assert stored == {"o1": {"a", "b"}}
    assert held == {"o1": {"a", "c"}}
