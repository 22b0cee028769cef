"""Expectations of `oca_fill_plan` for one run date (on top of the spec's key, NOT NULL and partition).

- actions are the planner's (hold, fill, evict, defer, skip);
- sizes, predicted bytes and popularity are ≥ 0, and a title never offloads more than its demand;
- every appliance the job planned has rows (fact `appliances`: appliances with a title held, a
  title in demand, or room for a title), so no appliance's plan was lost on the way.

Per-appliance limits (stored bytes ≤ disk, filled bytes ≤ fill budget) are sums over rows, which
GX's pandas expectations cannot express; the job checks them against the catalogue before it
returns its rows and fails the run if one is exceeded.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import great_expectations as gx
from great_expectations.expectations import Expectation

__all__ = ["ACTIONS", "expectations"]

#: The actions of a fill plan row.
ACTIONS = ("hold", "fill", "evict", "defer", "skip")


def expectations(run_date: dt.date, facts: Mapping[str, Any]) -> list[Expectation]:
    e = gx.expectations
    out: list[Expectation] = [
        e.ExpectColumnValuesToBeInSet(column="action", value_set=list(ACTIONS)),
        e.ExpectColumnValuesToBeBetween(column="size_bytes", min_value=0),
        e.ExpectColumnValuesToBeBetween(column="predicted_demand_bytes", min_value=0),
        e.ExpectColumnValuesToBeBetween(column="value_per_gb", min_value=0),
        e.ExpectColumnValuesToBeBetween(column="predicted_offload_bytes", min_value=0),
        e.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A="predicted_demand_bytes", column_B="predicted_offload_bytes", or_equal=True
        ),
    ]
    if "appliances" in facts:
        count = int(facts["appliances"])
        out.append(
            e.ExpectColumnUniqueValueCountToBeBetween(column="oca_id", min_value=count, max_value=count)
        )
    return out
