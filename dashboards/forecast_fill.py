"""Forecast & fill: the nightly demand forecast (`demand_forecast`) with its backtest accuracy, and
the OCA fill plan (`oca_fill_plan`) of the latest run at or before the end of the time range.
"""

from __future__ import annotations

from dashboards.specs import DashboardSpec, PanelSpec, VariableSpec

__all__ = ["FORECAST_FILL"]

_REGIONS = "$__conditionalAll(region IN (${region:sqlstring}), $region)"


def _latest(table: str) -> str:
    return f"run_date = (SELECT max(run_date) FROM {table} WHERE run_date <= toDate($__toTime))"


_FORECAST = f"{_latest('demand_forecast')} AND {_REGIONS}"
_PLAN = f"{_latest('oca_fill_plan')} AND {_REGIONS}"

_PANELS = (
    PanelSpec(
        title="Predicted offload",
        kind="stat",
        sql=(
            "SELECT sum(predicted_offload_bytes) / nullIf(sum(predicted_demand_bytes), 0) AS offload_ratio "
            f"FROM oca_fill_plan WHERE {_PLAN}"
        ),
        columns=("offload_ratio",),
        unit="percentunit",
        decimals=1,
        width=6,
        height=4,
        description="Share of predicted bytes the appliances serve themselves after tonight's fill.",
    ),
    PanelSpec(
        title="Fill tonight",
        kind="stat",
        sql=(
            "SELECT sumIf(size_bytes, action = 'fill') AS fill_bytes, sumIf(size_bytes, action = 'evict') "
            f"AS evict_bytes FROM oca_fill_plan WHERE {_PLAN}"
        ),
        columns=("fill_bytes", "evict_bytes"),
        unit="bytes",
        width=8,
        height=4,
    ),
    PanelSpec(
        title="Forecast accuracy (backtest)",
        kind="stat",
        sql=(
            "SELECT sum(backtest_mae_hours) / nullIf(sum(backtest_snaive_mae_hours), 0) AS relative_mae, "
            "quantileExact(0.5)(backtest_mase) AS median_mase, "
            "quantileExact(0.5)(backtest_smape) AS median_smape "
            f"FROM demand_forecast WHERE {_FORECAST}"
        ),
        columns=("relative_mae", "median_mase", "median_smape"),
        decimals=2,
        width=10,
        height=4,
        description="Pooled MAE relative to the weekly seasonal-naive forecast, and the median MASE and "
        "sMAPE of the title × region models; below 1 beats seasonal naive.",
    ),
    PanelSpec(
        title="Demand forecast",
        kind="timeseries",
        sql=(
            "SELECT toDateTime(target_date) AS time, sum(forecast_hours) AS forecast_hours, "
            "sum(lower_hours) AS lower_hours, sum(upper_hours) AS upper_hours "
            f"FROM demand_forecast WHERE {_FORECAST} GROUP BY time ORDER BY time"
        ),
        columns=("time", "forecast_hours", "lower_hours", "upper_hours"),
        unit="h",
        width=24,
        description="Predicted watch time per day with the 80% prediction interval, summed over titles.",
    ),
    PanelSpec(
        title="Forecast by title and region",
        kind="table",
        sql=(
            "SELECT title_id, region, model, sum(forecast_hours) AS forecast_hours, "
            "any(backtest_mase) AS backtest_mase, any(backtest_smape) AS backtest_smape "
            f"FROM demand_forecast WHERE {_FORECAST} GROUP BY title_id, region, model "
            "ORDER BY forecast_hours DESC LIMIT 50"
        ),
        columns=("title_id", "region", "model", "forecast_hours", "backtest_mase", "backtest_smape"),
    ),
    PanelSpec(
        title="Fill plan per appliance",
        kind="table",
        sql=(
            "SELECT oca_id, region, countIf(action = 'hold') AS holds, countIf(action = 'fill') AS fills, "
            "countIf(action = 'evict') AS evicts, countIf(action = 'defer') AS defers, "
            "sumIf(size_bytes, action = 'fill') AS fill_bytes, "
            "sumIf(size_bytes, action = 'evict') AS evict_bytes, "
            "sum(predicted_offload_bytes) / nullIf(sum(predicted_demand_bytes), 0) AS offload_ratio "
            f"FROM oca_fill_plan WHERE {_PLAN} GROUP BY oca_id, region ORDER BY oca_id"
        ),
        columns=(
            "oca_id",
            "region",
            "holds",
            "fills",
            "evicts",
            "defers",
            "fill_bytes",
            "evict_bytes",
            "offload_ratio",
        ),
    ),
    PanelSpec(
        title="Fill actions",
        kind="table",
        sql=(
            "SELECT oca_id, title_id, action, size_bytes / 1e9 AS size_gb, value_per_gb, "
            "predicted_offload_bytes / 1e9 AS offload_gb, reason FROM oca_fill_plan "
            f"WHERE {_PLAN} AND action IN ('fill', 'evict', 'defer') "
            "ORDER BY oca_id, action, value_per_gb DESC LIMIT 500"
        ),
        columns=("oca_id", "title_id", "action", "size_gb", "value_per_gb", "offload_gb", "reason"),
        width=24,
        description="What each appliance copies in (fill), deletes (evict) or leaves for a later night over "
        "the fill budget (defer), by value per GB.",
    ),
)

FORECAST_FILL = DashboardSpec(
    uid="playpulse-forecast-fill",
    title="Forecast & fill",
    description="Demand forecasts per title and region and the OCA fill plans made from them.",
    panels=_PANELS,
    variables=(
        VariableSpec(
            name="region",
            label="Region",
            sql="SELECT DISTINCT region FROM demand_forecast ORDER BY region",
            multi=True,
        ),
    ),
    tags=("playpulse", "forecast", "fill"),
    time_from="now-7d",
    time_to="now+14d",
)
