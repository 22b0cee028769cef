"""The local web dashboard's panels as data: warehouse queries → JSON-ready dicts (no HTTP here).

The same panels as the Grafana dashboards, in SQL both warehouses run (DuckDB, the embedded
default, and ClickHouse), with values bound as `$name` parameters:

- live QoE per minute of one slice (all, a region, a device, or region × device — the stored
  grouping sets): plays, VST p50/p95/p99 merged from the rows' sketch bins
  (`streaming.sketch_sql`), rebuffer ratio, start failures, EBVS, concurrent plays; and every
  region over the same range;
- alerts: open (pending, firing) and those of the last day;
- the latest A/B readouts, demand forecast and fill plans; daily engagement.

"Live" is the last `minutes` one-minute windows up to now (the current one included), or up to the
newest window in `qoe_minute` when the stream has been quiet longer than that (the page says which).
"""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal
from typing import Any

import pyarrow as pa

from streaming.sketch_sql import vst_quantiles_sql
from warehouse import Warehouse

__all__ = [
    "alerts",
    "engagement",
    "experiments",
    "fill_plans",
    "forecast",
    "live_qoe",
    "slice_options",
]

_SLICE = (
    "region = $region AND device_type = $device AND country = '*' AND isp = '*' AND cdn = '*' "
    "AND oca_id = '*' AND title_id = '*'"
)


def _clean(value: Any) -> Any:
    if isinstance(value, Decimal):  # DuckDB sums integers into DECIMAL/HUGEINT
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _records(table: pa.Table) -> list[dict[str, Any]]:
    return [{k: _clean(v) for k, v in row.items()} for row in table.to_pylist()]


def _columns(table: pa.Table) -> dict[str, list[Any]]:
    return {name: [_clean(v) for v in table.column(name).to_pylist()] for name in table.column_names}


def _as_utc(value: Any) -> dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    return dt.datetime.fromtimestamp(int(value), dt.UTC)  # engines may return epoch seconds


def _newest(wh: Warehouse, table: str, column: str) -> Any:
    """The largest value of `column`, None for an empty table (ClickHouse's max() would give 1970)."""
    rows = wh.query(f"SELECT {column} AS v FROM {table} ORDER BY {column} DESC LIMIT 1")
    return rows.column("v")[0].as_py() if rows.num_rows else None


def slice_options(wh: Warehouse) -> dict[str, list[str]]:
    """The regions and devices present in the last day of `qoe_minute`."""
    since = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    out = {}
    for column in ("region", "device_type"):
        rows = wh.query(
            f"SELECT DISTINCT {column} AS v FROM qoe_minute WHERE slice = $slice AND window_start >= $since "
            "ORDER BY v",
            {"slice": column, "since": since},
        )
        out[column] = [v for v in rows.column("v").to_pylist() if v != "*"]
    return out


def live_qoe(
    wh: Warehouse,
    *,
    minutes: int = 60,
    region: str = "*",
    device_type: str = "*",
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """Per-minute QoE of one slice over the live range; `'*'` means all values of a dimension."""
    now = now or dt.datetime.now(dt.UTC)
    newest = _as_utc(_newest(wh, "qoe_minute", "window_start"))
    end = now
    if newest is not None and newest + dt.timedelta(minutes=minutes) < now:
        end = newest + dt.timedelta(minutes=1)
    start = end.replace(second=0, microsecond=0) - dt.timedelta(minutes=minutes - 1)  # `minutes` windows
    params = {"start": start, "end": end, "region": region, "device": device_type}
    where = f"window_start >= $start AND window_start < $end AND {_SLICE}"
    sums = wh.query(
        "SELECT window_start AS time, sum(attempts) AS n_attempts, sum(starts) AS n_starts, "
        "sum(rebuffer_ms) / nullif(sum(playing_ms) + sum(rebuffer_ms), 0) AS rebuffer_ratio, "
        "100.0 * sum(start_failures) / nullif(sum(attempts), 0) AS start_failure_pct, "
        "100.0 * sum(ebvs) / nullif(sum(attempts), 0) AS ebvs_pct, "
        "100.0 * sum(playback_failures) / nullif(sum(starts), 0) AS playback_failure_pct, "
        "sum(concurrent_plays) AS concurrent_plays, "
        "max(CASE WHEN provisional THEN 1 ELSE 0 END) AS provisional "
        f"FROM qoe_minute WHERE {where} GROUP BY window_start ORDER BY window_start",
        params,
    )
    vst = wh.query(
        vst_quantiles_sql(wh.backend, where=where, group_by=["window_start"], quantiles=(0.5, 0.95, 0.99)),
        params,
    )
    by_time = {_as_utc(t): i for i, t in enumerate(vst.column("window_start").to_pylist())}
    # Aliases differ from the column names: ClickHouse would resolve `sum(starts)` to the alias.
    series = _columns(
        sums.rename_columns(
            [{"n_attempts": "attempts", "n_starts": "starts"}.get(n, n) for n in sums.column_names]
        )
    )
    series["time"] = [_clean(_as_utc(t)) for t in sums.column("time").to_pylist()]
    for name in ("vst_p50_ms", "vst_p95_ms", "vst_p99_ms"):
        values = vst.column(name).to_pylist()
        series[name] = [
            _clean(values[by_time[t]]) if t in by_time else None
            for t in (_as_utc(t) for t in sums.column("time").to_pylist())
        ]
    return {
        "start": _clean(start),
        "end": _clean(end),
        "stale": end != now,
        "region": region,
        "device_type": device_type,
        "series": series,
        "by_region": _by_region(wh, start, end),
    }


def _by_region(wh: Warehouse, start: dt.datetime, end: dt.datetime) -> list[dict[str, Any]]:
    """Every region over the live range: plays, VST p95 (merged sketches), rebuffer ratio, failures."""
    params = {"start": start, "end": end}
    where = "window_start >= $start AND window_start < $end AND slice = 'region'"
    sums = wh.query(
        "SELECT region, sum(attempts) AS plays, "
        "sum(rebuffer_ms) / nullif(sum(playing_ms) + sum(rebuffer_ms), 0) AS rebuffer_ratio, "
        "100.0 * sum(start_failures) / nullif(sum(attempts), 0) AS start_failure_pct, "
        "100.0 * sum(ebvs) / nullif(sum(attempts), 0) AS ebvs_pct "
        f"FROM qoe_minute WHERE {where} GROUP BY region",
        params,
    )
    vst = wh.query(vst_quantiles_sql(wh.backend, where=where, group_by=["region"], quantiles=(0.95,)), params)
    p95 = dict(zip(vst.column("region").to_pylist(), vst.column("vst_p95_ms").to_pylist(), strict=True))
    rows = _records(sums)
    for row in rows:
        row["vst_p95_ms"] = _clean(p95.get(row["region"]))
    return sorted(rows, key=lambda r: -(r["plays"] or 0))


def alerts(wh: Warehouse, *, recent_hours: int = 24, now: dt.datetime | None = None) -> list[dict[str, Any]]:
    """Open alerts (pending, firing) first, then the resolved ones that started in the last
    `recent_hours` (cancelled incidents never fired and are left out)."""
    since = (now or dt.datetime.now(dt.UTC)) - dt.timedelta(hours=recent_hours)
    return _records(
        wh.query(
            "SELECT fingerprint, state, severity, rule, metric, slice, started_at, fired_at, ended_at, "
            "observed, baseline, threshold, affected, message, updated_at FROM alerts "
            "WHERE state IN ('pending', 'firing') OR (state = 'resolved' AND started_at >= $since) "
            "ORDER BY CASE WHEN state = 'resolved' THEN 1 ELSE 0 END, started_at DESC LIMIT 200",
            {"since": since},
        )
    )


def experiments(wh: Warehouse) -> dict[str, Any]:
    """Every row of the latest A/B readout run."""
    rows = wh.query(
        "SELECT run_date, test_id, metric, cell, is_control, is_guardrail, n, mean, delta_abs, delta_rel, "
        "ci_low_rel, ci_high_rel, p_value, p_value_adjusted, method, cuped_delta_rel, cuped_p_value, "
        "srm_p_value, srm_flag, notes "
        "FROM ab_readout WHERE run_date = (SELECT max(run_date) FROM ab_readout) "
        "ORDER BY test_id, is_guardrail, metric, is_control DESC, cell"
    )
    records = _records(rows)
    return {"run_date": records[0]["run_date"] if records else None, "rows": records}


def forecast(wh: Warehouse) -> dict[str, Any]:
    """Total demand forecast per target day (with its interval) of the latest run, and per region."""
    latest = "run_date = (SELECT max(run_date) FROM demand_forecast)"
    total = wh.query(
        "SELECT target_date, sum(forecast_hours) AS forecast_hours, sum(lower_hours) AS lower_hours, "
        f"sum(upper_hours) AS upper_hours FROM demand_forecast WHERE {latest} "
        "GROUP BY target_date ORDER BY target_date"
    )
    accuracy = wh.query(
        "SELECT region, count(*) AS series, sum(forecast_hours) AS forecast_hours, "
        "avg(backtest_mase) AS mean_mase, avg(backtest_smape) AS mean_smape "
        f"FROM demand_forecast WHERE {latest} GROUP BY region ORDER BY forecast_hours DESC"
    )
    run = _newest(wh, "demand_forecast", "run_date")
    return {"run_date": _clean(run), "total": _columns(total), "by_region": _records(accuracy)}


def fill_plans(wh: Warehouse) -> dict[str, Any]:
    """Per appliance of the latest fill plan: actions, bytes to fill and evict, predicted offload."""
    rows = wh.query(
        "SELECT oca_id, region, "
        "sum(CASE WHEN action = 'hold' THEN 1 ELSE 0 END) AS holds, "
        "sum(CASE WHEN action = 'fill' THEN 1 ELSE 0 END) AS fills, "
        "sum(CASE WHEN action = 'evict' THEN 1 ELSE 0 END) AS evicts, "
        "sum(CASE WHEN action = 'defer' THEN 1 ELSE 0 END) AS defers, "
        "sum(CASE WHEN action = 'fill' THEN size_bytes ELSE 0 END) AS fill_bytes, "
        "sum(CASE WHEN action = 'evict' THEN size_bytes ELSE 0 END) AS evict_bytes, "
        "sum(predicted_offload_bytes) / nullif(sum(predicted_demand_bytes), 0) AS offload_ratio "
        "FROM oca_fill_plan WHERE run_date = (SELECT max(run_date) FROM oca_fill_plan) "
        "GROUP BY oca_id, region ORDER BY oca_id"
    )
    run = _newest(wh, "oca_fill_plan", "run_date")
    return {"run_date": _clean(run), "rows": _records(rows)}


def engagement(wh: Warehouse, *, days: int = 30) -> dict[str, Any]:
    """Daily active users, watch hours, sessions and completions of the last `days` days of data."""
    rows = wh.query(
        "SELECT date, count(DISTINCT user_id) AS dau, sum(watch_time_ms) / 3600000.0 AS watch_hours, "
        "sum(sessions) AS total_sessions, sum(completions) AS total_completions FROM engagement_daily "
        "WHERE date >= (SELECT max(date) FROM engagement_daily) - $days GROUP BY date ORDER BY date",
        {"days": days},
    )
    return {"series": _columns(rows)}
