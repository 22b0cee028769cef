"""Expectations of `demand_forecast` for one run date (on top of the spec's key, NOT NULL and partition).

- every series forecast has exactly `horizon_days` rows: the row count is series × horizon (facts
  `series` and `horizon_days` from the job), and target dates are run_date + 1 … run_date + horizon;
- forecasts and interval bounds are hours ≥ 0 and lower ≤ forecast ≤ upper;
- the model is one the forecaster has (ets, ets_log, ses, launch_prior);
- backtest accuracy, where present, is in range: MASE and MAEs ≥ 0, sMAPE in [0, 200].
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import great_expectations as gx
from great_expectations.expectations import Expectation

__all__ = ["MODELS", "expectations"]

#: The models `batch.forecast` uses.
MODELS = ("ets", "ets_log", "ses", "launch_prior")
_DEFAULT_HORIZON = 14


def expectations(run_date: dt.date, facts: Mapping[str, Any]) -> list[Expectation]:
    e = gx.expectations
    horizon = int(facts.get("horizon_days", _DEFAULT_HORIZON))
    targets = [(run_date + dt.timedelta(days=h)).isoformat() for h in range(1, horizon + 1)]
    out: list[Expectation] = [
        e.ExpectColumnValuesToBeInSet(column="target_date", value_set=targets),
        e.ExpectColumnValuesToBeBetween(column="forecast_hours", min_value=0),
        e.ExpectColumnValuesToBeBetween(column="lower_hours", min_value=0),
        e.ExpectColumnValuesToBeBetween(column="upper_hours", min_value=0),
        e.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A="forecast_hours", column_B="lower_hours", or_equal=True
        ),
        e.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A="upper_hours", column_B="forecast_hours", or_equal=True
        ),
        e.ExpectColumnValuesToBeInSet(column="model", value_set=list(MODELS)),
        e.ExpectColumnValuesToBeBetween(column="backtest_mase", min_value=0),
        e.ExpectColumnValuesToBeBetween(column="backtest_smape", min_value=0, max_value=200),
        e.ExpectColumnValuesToBeBetween(column="backtest_mae_hours", min_value=0),
        e.ExpectColumnValuesToBeBetween(column="backtest_snaive_mae_hours", min_value=0),
    ]
    if "series" in facts:
        out.append(e.ExpectTableRowCountToEqual(value=int(facts["series"]) * horizon))
    return out
