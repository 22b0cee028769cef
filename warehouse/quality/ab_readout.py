"""Expectations of `ab_readout` for one run date (beyond the spec's key, NOT NULL and partition).

- cells present: one row per metric for every test × cell with exposed members (fact
  `expected_rows` = metrics × cells counted by the job), and every test has exactly one control
  row per metric;
- rates and probabilities are within [0, 1]: p-values (plain, adjusted, CUPED, SRM) and the value
  of the rate metrics (completion_rate, retention, rebuffer_ratio, start_failure_rate);
- counts and variances are never negative, VST quantiles are positive;
- every interval holds its estimate: ci_low_abs ≤ delta_abs ≤ ci_high_abs, and the same for the
  relative and the CUPED intervals.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import great_expectations as gx
from great_expectations.expectations import Expectation

__all__ = ["RATE_METRICS", "expectations"]

RATE_METRICS = ("completion_rate", "retention", "rebuffer_ratio", "start_failure_rate")


def expectations(run_date: dt.date, facts: Mapping[str, Any]) -> list[Expectation]:
    e = gx.expectations
    rates = f"metric in {list(RATE_METRICS)!r}"
    out: list[Expectation] = [
        e.ExpectColumnValuesToBeBetween(column="n", min_value=0),
        e.ExpectColumnValuesToBeBetween(column="variance", min_value=0),
        e.ExpectColumnValuesToBeBetween(
            column="mean", min_value=0, max_value=1, row_condition=rates, condition_parser="pandas"
        ),
        e.ExpectColumnValuesToBeBetween(
            column="mean",
            min_value=0,
            row_condition='metric.str.startswith("vst_")',
            condition_parser="pandas",
        ),
    ]
    for column in ("p_value", "p_value_adjusted", "cuped_p_value", "srm_p_value"):
        out.append(e.ExpectColumnValuesToBeBetween(column=column, min_value=0, max_value=1))
    for low, value, high in (
        ("ci_low_abs", "delta_abs", "ci_high_abs"),
        ("ci_low_rel", "delta_rel", "ci_high_rel"),
        ("cuped_ci_low_abs", "cuped_delta_abs", "cuped_ci_high_abs"),
    ):
        for a, b in ((value, low), (high, value)):
            out.append(
                e.ExpectColumnPairValuesAToBeGreaterThanB(
                    column_A=a, column_B=b, or_equal=True, ignore_row_if="either_value_is_missing"
                )
            )
    if "expected_rows" in facts:
        rows = int(facts["expected_rows"])
        out.append(e.ExpectTableRowCountToEqual(value=rows))
    if "tests" in facts and "metrics" in facts:
        controls = int(facts["tests"]) * int(facts["metrics"])
        out.append(e.ExpectColumnSumToBeBetween(column="is_control", min_value=controls, max_value=controls))
    return out
