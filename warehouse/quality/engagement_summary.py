"""Expectations of `engagement_summary` for one run date (beyond the spec's key, NOT NULL and partition).

- every slice is present, and the largest member count (the `all` row's) equals the run's DAU;
- counts are never negative; completion rate and retention are fractions in [0, 1];
- the retained members never exceed their cohort.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import great_expectations as gx
from great_expectations.expectations import Expectation

__all__ = ["expectations"]

SLICE_NAMES = ["all", "region", "device_type", "region,device_type", "title_id"]


def expectations(run_date: dt.date, facts: Mapping[str, Any]) -> list[Expectation]:
    e = gx.expectations
    out: list[Expectation] = [
        e.ExpectColumnDistinctValuesToEqualSet(column="slice", value_set=SLICE_NAMES),
        e.ExpectColumnValuesToBeBetween(column="members", min_value=0),
        e.ExpectColumnValuesToBeBetween(column="sessions", min_value=0),
        e.ExpectColumnValuesToBeBetween(column="watch_time_ms", min_value=0),
        e.ExpectColumnValuesToBeBetween(column="completions", min_value=0),
        e.ExpectColumnValuesToBeBetween(column="completion_rate", min_value=0, max_value=1),
        e.ExpectColumnValuesToBeBetween(column="retention_7d", min_value=0, max_value=1),
        e.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A="retention_cohort_7d",
            column_B="retained_7d",
            or_equal=True,
            ignore_row_if="either_value_is_missing",
        ),
    ]
    if "dau" in facts:
        dau = int(facts["dau"])
        out.append(e.ExpectColumnMaxToBeBetween(column="members", min_value=dau, max_value=dau))
    return out
