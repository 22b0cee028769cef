"""Engagement: daily active users, watch time, sessions and completions from the nightly tables
(`engagement_daily`, `sessions`), filtered by region and device (multi-select, All by default:
the plugin's `$__conditionalAll` drops the filter when All is selected).
"""

from __future__ import annotations

from dashboards.specs import DashboardSpec, PanelSpec, VariableSpec

__all__ = ["ENGAGEMENT"]

_FILTER = (
    "$__conditionalAll(region IN (${region:sqlstring}), $region) "
    "AND $__conditionalAll(device_type IN (${device:sqlstring}), $device)"
)
_DAYS = f"$__dateFilter(date) AND {_FILTER}"
_SESSION_DAYS = f"$__dateFilter(session_date) AND {_FILTER}"

_PANELS = (
    PanelSpec(
        title="Daily active users",
        kind="timeseries",
        sql=(
            "SELECT toDateTime(date) AS time, uniqExact(user_id) AS dau FROM engagement_daily "
            f"WHERE {_DAYS} GROUP BY time ORDER BY time"
        ),
        columns=("time", "dau"),
        unit="short",
        description="Distinct members who played anything that day (UTC).",
    ),
    PanelSpec(
        title="Watch time",
        kind="timeseries",
        sql=(
            "SELECT toDateTime(date) AS time, sum(watch_time_ms) / 3600000 AS watch_hours "
            "FROM engagement_daily "
            f"WHERE {_DAYS} GROUP BY time ORDER BY time"
        ),
        columns=("time", "watch_hours"),
        unit="h",
        description="Content played per day, hours.",
    ),
    PanelSpec(
        title="Sessions and completion rate",
        kind="timeseries",
        sql=(
            "SELECT toDateTime(date) AS time, sum(sessions) AS total_sessions, "
            "sum(completions) / nullIf(sum(sessions), 0) AS completion_rate FROM engagement_daily "
            f"WHERE {_DAYS} GROUP BY time ORDER BY time"
        ),
        columns=("time", "total_sessions", "completion_rate"),
        description="Sessions per day and the share that watched at least 90% of the title.",
    ),
    PanelSpec(
        title="7-day retention",
        kind="timeseries",
        sql=(
            "SELECT toDateTime(date) AS time, retention_7d FROM engagement_summary "
            "WHERE $__dateFilter(date) AND slice = 'all' AND retention_7d IS NOT NULL ORDER BY time"
        ),
        columns=("time", "retention_7d"),
        unit="percentunit",
        description="Members active 7 days before who came back within the 7 days since (all regions and "
        "devices, from engagement_summary).",
    ),
    PanelSpec(
        title="Watch time by device",
        kind="barchart",
        sql=(
            "SELECT device_type, sum(watch_time_ms) / 3600000 AS watch_hours FROM engagement_daily "
            f"WHERE {_DAYS} GROUP BY device_type ORDER BY watch_hours DESC"
        ),
        columns=("device_type", "watch_hours"),
        unit="h",
    ),
    PanelSpec(
        title="Top titles",
        kind="table",
        sql=(
            "SELECT title_id, sum(watch_time_ms) / 3600000 AS watch_hours, uniqExact(user_id) AS viewers, "
            "sum(sessions) AS total_sessions, sum(completions) / nullIf(sum(sessions), 0) AS completion_rate "
            f"FROM engagement_daily WHERE {_DAYS} GROUP BY title_id ORDER BY watch_hours DESC LIMIT 20"
        ),
        columns=("title_id", "watch_hours", "viewers", "total_sessions", "completion_rate"),
    ),
    PanelSpec(
        title="Session quality by device",
        kind="table",
        sql=(
            "SELECT device_type, count() AS sessions, countIf(started) AS starts, "
            "quantileExactIf(0.95)(vst_ms, started) AS vst_p95_ms, "
            "sum(rebuffer_ms) / nullIf(sum(playing_ms) + sum(rebuffer_ms), 0) AS rebuffer_ratio, "
            "100 * countIf(start_failure) / nullIf(countIf(attempted), 0) AS start_failure_pct, "
            "100 * countIf(ebvs) / nullIf(countIf(attempted), 0) AS ebvs_pct, "
            "sumIf(avg_bitrate_kbps * playing_ms, playing_ms > 0) / nullIf(sum(playing_ms), 0) "
            "AS avg_bitrate_kbps "
            f"FROM sessions WHERE {_SESSION_DAYS} GROUP BY device_type ORDER BY sessions DESC"
        ),
        columns=(
            "device_type",
            "sessions",
            "starts",
            "vst_p95_ms",
            "rebuffer_ratio",
            "start_failure_pct",
            "ebvs_pct",
            "avg_bitrate_kbps",
        ),
        width=24,
        description="From the nightly sessions table: exact percentiles over the days in range.",
    ),
)


def _variable(name: str, label: str, column: str) -> VariableSpec:
    return VariableSpec(
        name=name,
        label=label,
        sql=f"SELECT DISTINCT {column} FROM engagement_daily WHERE $__dateFilter(date) ORDER BY {column}",
        multi=True,
    )


ENGAGEMENT = DashboardSpec(
    uid="playpulse-engagement",
    title="Engagement",
    description="Daily engagement from the nightly batch: DAU, watch time, sessions, completions.",
    panels=_PANELS,
    variables=(_variable("region", "Region", "region"), _variable("device", "Device", "device_type")),
    tags=("playpulse", "engagement"),
    time_from="now-30d",
)
