"""Expectations of `engagement_daily` for one run date (beyond the spec's key, NOT NULL and partition).

- watch time, sessions and completions are never negative; every row has at least one session
  and no more completions than sessions;
- the rows add up to the run's sessions exactly: Σ sessions and Σ watch_time_ms equal the
  facts `sessions` and `watch_time_ms` the job counted from the staged `sessions` output.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import great_expectations as gx
from great_expectations.expectations import Expectation

__all__ = ["expectations"]


def expectations(run_date: dt.date, facts: Mapping[str, Any]) -> list[Expectation]:
    e = gx.expectations
    out: list[Expectation] = [
        e.ExpectColumnValuesToBeBetween(column="watch_time_ms", min_value=0),
        e.ExpectColumnValuesToBeBetween(column="sessions", min_value=1),
        e.ExpectColumnValuesToBeBetween(column="completions", min_value=0),
        e.ExpectColumnPairValuesAToBeGreaterThanB(column_A="sessions", column_B="completions", or_equal=True),
    ]
    for column in ("sessions", "watch_time_ms"):
        if column in facts:
            value = int(facts[column])
            out.append(e.ExpectColumnSumToBeBetween(column=column, min_value=value, max_value=value))
    return out
