"""Every Grafana dashboard of playpulse, in the order they are listed and written."""

from __future__ import annotations

from dashboards.engagement import ENGAGEMENT
from dashboards.experiments import EXPERIMENTS
from dashboards.forecast_fill import FORECAST_FILL
from dashboards.operations_qoe import OPERATIONS_QOE
from dashboards.specs import DashboardSpec

__all__ = ["DASHBOARDS"]

DASHBOARDS: tuple[DashboardSpec, ...] = (OPERATIONS_QOE, ENGAGEMENT, EXPERIMENTS, FORECAST_FILL)
