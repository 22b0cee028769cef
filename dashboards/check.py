"""`playpulse dashboards check`: run every Grafana panel, variable and annotation query on a ClickHouse
warehouse, as Grafana would send it, and report what each returns.

For operators after a deployment or a schema change: a query that fails, or returns other columns
than its panel declares, is reported with the reason, before anyone opens Grafana. Queries are
rendered with `dashboards.macros` for each dashboard's default time range ending at `now`, every
variable on All.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from dashboards.catalog import DASHBOARDS
from dashboards.macros import QueryContext, Selection, render
from dashboards.specs import DashboardSpec
from warehouse import Warehouse, WarehouseError

__all__ = ["QueryCheck", "check_queries"]


@dataclass(frozen=True)
class QueryCheck:
    """The outcome of one query: which, how many rows, and the problem (None when fine)."""

    dashboard: str
    item: str
    rows: int
    problem: str | None

    @property
    def ok(self) -> bool:
        return self.problem is None


_RELATIVE = re.compile(r"now(?:([+-])(\d+)([mhdw]))?\Z")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def _moment(text: str, now: dt.datetime) -> dt.datetime:
    match = _RELATIVE.match(text)
    if not match:
        raise ValueError(f"time {text!r} is not of the form now, now-6h, now+14d")
    if match.group(1) is None:
        return now
    delta = dt.timedelta(**{_UNITS[match.group(3)]: int(match.group(2))})
    return now + delta if match.group(1) == "+" else now - delta


def _context(spec: DashboardSpec, now: dt.datetime) -> QueryContext:
    variables = {v.name: Selection(all_value=v.all_value) for v in spec.variables}
    return QueryContext(_moment(spec.time_from, now), _moment(spec.time_to, now), 60, variables)


def _run(wh: Warehouse, dashboard: str, item: str, sql: str, columns: tuple[str, ...] | None) -> QueryCheck:
    try:
        result = wh.query(sql)
    except WarehouseError as exc:
        return QueryCheck(dashboard, item, 0, str(exc).splitlines()[0])
    if columns is not None and tuple(result.column_names) != columns:
        problem = f"returns columns {result.column_names}, the panel expects {list(columns)}"
        return QueryCheck(dashboard, item, result.num_rows, problem)
    return QueryCheck(dashboard, item, result.num_rows, None)


def check_queries(wh: Warehouse, now: dt.datetime | None = None) -> list[QueryCheck]:
    """Every query of every dashboard run on `wh` (a ClickHouse warehouse), in dashboard order."""
    if wh.backend != "clickhouse":
        raise ValueError("Grafana's panels are ClickHouse SQL: check them on warehouse.backend=clickhouse")
    now = now or dt.datetime.now(dt.UTC)
    checks = []
    for spec in DASHBOARDS:
        context = _context(spec, now)
        for variable in spec.variables:
            sql = render(variable.sql, context)
            checks.append(_run(wh, spec.title, f"variable {variable.name}", sql, None))
        for annotation in spec.annotations:
            sql = render(annotation.sql, context)
            checks.append(_run(wh, spec.title, f"annotation {annotation.name}", sql, annotation.columns))
        for panel in spec.panels:
            checks.append(_run(wh, spec.title, panel.title, render(panel.sql, context), panel.columns))
    return checks
