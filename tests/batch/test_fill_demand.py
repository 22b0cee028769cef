"""From the regional forecast to bytes per appliance, on a case worked out by hand."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from batch.appliance_demand import appliance_demand
from batch.fill_job import FillOptions

DAY = dt.date(2025, 2, 1)


def test_share_bitrate_and_release_prior_by_hand() -> None:
    forecast = pd.DataFrame(
        {"title_id": ["A", "B", "A"], "region": ["r1", "r1", "r2"], "forecast_hours": [10.0, 8.0, 5.0]}
    )
    # oca1 served 6 of A's 10 regional hours and 1 of C's 4 (C: a release 3 days old), at 1 GB/hour.
    traffic = pd.DataFrame(
        {"oca_id": ["oca1", "oca1", "oca2"], "title_id": ["A", "C", "A"], "hours": [6.0, 1.0, 2.0],
         "bytes": [6e9, 1e9, 4e9]}
    )  # fmt: skip
    regional = pd.DataFrame({"title_id": ["A", "C"], "region": ["r1", "r1"], "hours": [10.0, 4.0]})
    appliances = pd.DataFrame({"oca_id": ["oca1", "oca2", "oca3"], "region": ["r1", "r1", "r2"]})
    releases = {"B": DAY, "C": DAY - dt.timedelta(days=3)}
    out = appliance_demand(forecast, traffic, regional, appliances, releases, DAY).set_index(
        ["oca_id", "title_id"]
    )
    # A on oca1: share (6 + 2 × 0.6) / (10 + 2) = 0.6 of 10 h at 1 GB/h.
    assert out.loc[("oca1", "A"), "share"] == pytest.approx(0.6)
    assert out.loc[("oca1", "A"), "demand_bytes"] == pytest.approx(6e9)
    # B is due tomorrow, no history: oca1's share of recent releases (1 of 4 hours) of 8 h.
    assert out.loc[("oca1", "B"), "demand_bytes"] == pytest.approx(8 * 0.25 * 1e9)
    # oca2 streams at 2 GB/h and served 2 of A's 10 hours: (2 + 2 × 0.2) / 12 = 0.2.
    assert out.loc[("oca2", "A"), "demand_bytes"] == pytest.approx(10 * 0.2 * 2e9)
    # oca3 served nothing yet: no share, no demand, no row.
    assert "oca3" not in out.index.get_level_values(0)


def test_missing_columns_are_named() -> None:
    empty = pd.DataFrame({"title_id": [], "region": [], "hours": []})
    with pytest.raises(ValueError, match="forecast lacks column"):
        appliance_demand(pd.DataFrame({"title_id": []}), empty, empty, empty, {}, DAY)


def test_a_tail_title_seen_once_is_shrunk_towards_the_appliance_share_of_its_class() -> None:
    forecast = pd.DataFrame({"title_id": ["A", "D"], "region": ["r1", "r1"], "forecast_hours": [10.0, 1.0]})
    # oca1 served 6 of A's 10 regional hours and D's only hour: 7 of the class's 11 hours.
    traffic = pd.DataFrame(
        {"oca_id": ["oca1", "oca1", "oca2"], "title_id": ["A", "D", "A"], "hours": [6.0, 1.0, 4.0],
         "bytes": [6e9, 1e9, 4e9]}
    )  # fmt: skip
    regional = pd.DataFrame({"title_id": ["A", "D"], "region": ["r1", "r1"], "hours": [10.0, 1.0]})
    appliances = pd.DataFrame({"oca_id": ["oca1", "oca2"], "region": ["r1", "r1"]})

    def share(pseudo_hours: float) -> pd.Series:
        out = appliance_demand(forecast, traffic, regional, appliances, {}, DAY, pseudo_hours)
        return out.set_index(["oca_id", "title_id"])["share"]

    # 2 pseudo-hours: (1 + 2 × 7/11) / (1 + 2); the fill job's 40: (1 + 40 × 7/11) / (1 + 40).
    assert share(2.0)[("oca1", "D")] == pytest.approx((1 + 2 * 7 / 11) / 3)
    assert share(40.0)[("oca1", "D")] == pytest.approx((1 + 40 * 7 / 11) / 41)
    assert share(40.0)[("oca2", "D")] == pytest.approx(40 * 4 / 11 / 41)


def test_fill_options_default_shrinkage_and_validation() -> None:
    assert FillOptions().share_pseudo_hours == 40.0
    with pytest.raises(ValueError, match="share_pseudo_hours"):
        FillOptions(share_pseudo_hours=-1)
