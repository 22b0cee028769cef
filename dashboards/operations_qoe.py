"""Operations QoE: live per-minute QoE from `qoe_minute`, sliced by region, device, ISP, CDN and OCA,
with the `alerts` table as annotations and as a table.

Slicing: `qoe_minute` stores grouping sets (global, region, country, device, ISP, CDN, OCA,
region × device), and a dimension a row is not grouped by holds `'*'`. The variables are
single-valued with `'*'` as their "All" value, so `region = ${region:sqlstring} AND
device_type = ${device:sqlstring} AND …` selects exactly the grouping set of the chosen
dimensions: All everywhere reads the global rows, region + device the region × device rows. A
combination that is not stored (say ISP and device) shows "No data" rather than a wrong number;
the panel descriptions say so.

VST percentiles merge the rows' DDSketch bins inside ClickHouse (`sumMap` over `vst_bin_keys` /
`vst_bin_counts`, quantiles as `streaming.sketch_sql`), so p95 over partitions, minutes or
slices is the p95 of the union, within 1%.
"""

from __future__ import annotations

from dashboards.specs import AnnotationSpec, DashboardSpec, PanelSpec, VariableSpec
from streaming.sketch_sql import CLICKHOUSE_MERGED_BINS, clickhouse_quantile

__all__ = ["OPERATIONS_QOE", "SLICE_FILTER"]

#: Selects the grouping set of the chosen variables (see the module docstring).
SLICE_FILTER = (
    "region = ${region:sqlstring} AND device_type = ${device:sqlstring} AND isp = ${isp:sqlstring} "
    "AND cdn = ${cdn:sqlstring} AND oca_id = ${oca:sqlstring} AND country = '*' AND title_id = '*'"
)
_SLICE_NOTE = (
    " Stored slices: all, region, device, ISP, CDN, OCA and region × device; other combinations "
    "of the variables show no data."
)
_TIME = "$__timeInterval(window_start) AS time"
_WHERE = f"$__timeFilter(window_start) AND {SLICE_FILTER}"


def _vst(q: float) -> str:
    return clickhouse_quantile(q, CLICKHOUSE_MERGED_BINS)


def _variable(name: str, label: str, column: str, slice_name: str) -> VariableSpec:
    return VariableSpec(
        name=name,
        label=label,
        sql=(
            f"SELECT DISTINCT {column} FROM qoe_minute WHERE slice = '{slice_name}' "
            f"AND $__timeFilter(window_start) ORDER BY {column}"
        ),
        all_value="'*'",
    )


_PANELS = (
    PanelSpec(
        title="Plays (attempts in range)",
        kind="stat",
        sql=f"SELECT sumOrNull(attempts) AS attempts FROM qoe_minute WHERE {_WHERE}",
        columns=("attempts",),
        unit="short",
        width=4,
        height=4,
        description="Play attempts (PLAY_REQUEST) in the selected range and slice.",
    ),
    PanelSpec(
        title="VST p95 (range)",
        kind="stat",
        sql=f"SELECT {_vst(0.95)} AS vst_p95_ms FROM qoe_minute WHERE {_WHERE}",
        columns=("vst_p95_ms",),
        unit="ms",
        width=4,
        height=4,
        description="95th percentile of video start time over the range, from the merged sketches.",
    ),
    PanelSpec(
        title="Rebuffer ratio (range)",
        kind="stat",
        sql=(
            "SELECT sum(rebuffer_ms) / nullIf(sum(playing_ms) + sum(rebuffer_ms), 0) AS rebuffer_ratio "
            f"FROM qoe_minute WHERE {_WHERE}"
        ),
        columns=("rebuffer_ratio",),
        unit="percentunit",
        decimals=2,
        width=4,
        height=4,
        description="Rebuffer time / (playing + rebuffer time) over the range; target < 0.5%.",
    ),
    PanelSpec(
        title="Video start failures (range)",
        kind="stat",
        sql=(
            "SELECT 100 * sum(start_failures) / nullIf(sum(attempts), 0) AS start_failure_pct "
            f"FROM qoe_minute WHERE {_WHERE}"
        ),
        columns=("start_failure_pct",),
        unit="percent",
        decimals=2,
        width=4,
        height=4,
        description="Attempts that ended with a fatal error before the first frame, percent of attempts.",
    ),
    PanelSpec(
        title="EBVS (range)",
        kind="stat",
        sql=f"SELECT 100 * sum(ebvs) / nullIf(sum(attempts), 0) AS ebvs_pct FROM qoe_minute WHERE {_WHERE}",
        columns=("ebvs_pct",),
        unit="percent",
        decimals=2,
        width=4,
        height=4,
        description="Exits before video start (abandoned, no fatal error), percent of attempts.",
    ),
    PanelSpec(
        title="Open alerts",
        kind="stat",
        sql="SELECT count() AS open_alerts FROM alerts WHERE state IN ('pending', 'firing')",
        columns=("open_alerts",),
        unit="short",
        width=4,
        height=4,
        description="Incidents pending or firing now, on any slice.",
    ),
    PanelSpec(
        title="Video start time (VST) p50 / p95 / p99",
        kind="timeseries",
        sql=(
            f"SELECT {_TIME}, {_vst(0.5)} AS p50, {_vst(0.95)} AS p95, {_vst(0.99)} AS p99 "
            f"FROM qoe_minute WHERE {_WHERE} GROUP BY time ORDER BY time"
        ),
        columns=("time", "p50", "p95", "p99"),
        unit="ms",
        description="Percentiles of play request → first frame, merged from the per-minute sketches."
        + _SLICE_NOTE,
    ),
    PanelSpec(
        title="Rebuffer ratio",
        kind="timeseries",
        sql=(
            f"SELECT {_TIME}, sum(rebuffer_ms) / nullIf(sum(playing_ms) + sum(rebuffer_ms), 0) "
            f"AS rebuffer_ratio FROM qoe_minute WHERE {_WHERE} GROUP BY time ORDER BY time"
        ),
        columns=("time", "rebuffer_ratio"),
        unit="percentunit",
        description="Rebuffer time / (playing + rebuffer time); seek stalls and start-up excluded."
        + _SLICE_NOTE,
    ),
    PanelSpec(
        title="Start failures and EBVS",
        kind="timeseries",
        sql=(
            f"SELECT {_TIME}, 100 * sum(start_failures) / nullIf(sum(attempts), 0) AS start_failure_pct, "
            "100 * sum(ebvs) / nullIf(sum(attempts), 0) AS ebvs_pct, "
            "100 * sum(playback_failures) / nullIf(sum(starts), 0) AS playback_failure_pct "
            f"FROM qoe_minute WHERE {_WHERE} GROUP BY time ORDER BY time"
        ),
        columns=("time", "start_failure_pct", "ebvs_pct", "playback_failure_pct"),
        unit="percent",
        description="Video start failure % and EBVS % of attempts; playback failure % of starts."
        + _SLICE_NOTE,
    ),
    PanelSpec(
        title="Plays per minute",
        kind="timeseries",
        sql=(
            f"SELECT {_TIME}, sum(attempts) / greatest(uniqExact(window_start), 1) AS attempts_per_min, "
            "sum(starts) / greatest(uniqExact(window_start), 1) AS starts_per_min, "
            "sum(concurrent_plays) / greatest(uniqExact(window_start), 1) AS concurrent_plays "
            f"FROM qoe_minute WHERE {_WHERE} GROUP BY time ORDER BY time"
        ),
        columns=("time", "attempts_per_min", "starts_per_min", "concurrent_plays"),
        unit="short",
        description="Attempts and starts per minute, and the average number of sessions in playback."
        + _SLICE_NOTE,
    ),
    PanelSpec(
        title="QoE by region",
        kind="table",
        sql=(
            f"SELECT region, sum(attempts) AS plays, {_vst(0.95)} AS vst_p95_ms, "
            "sum(rebuffer_ms) / nullIf(sum(playing_ms) + sum(rebuffer_ms), 0) AS rebuffer_ratio, "
            "100 * sum(start_failures) / nullIf(sum(attempts), 0) AS start_failure_pct, "
            "100 * sum(ebvs) / nullIf(sum(attempts), 0) AS ebvs_pct "
            "FROM qoe_minute WHERE $__timeFilter(window_start) AND slice = 'region' "
            "GROUP BY region ORDER BY plays DESC"
        ),
        columns=("region", "plays", "vst_p95_ms", "rebuffer_ratio", "start_failure_pct", "ebvs_pct"),
        width=24,
        description="Every region over the selected range (ignores the variables).",
    ),
    PanelSpec(
        title="Alerts: open and recent",
        kind="table",
        sql=(
            "SELECT state, severity, rule, metric, slice, started_at, fired_at, ended_at, observed, "
            "baseline, threshold, affected, message FROM alerts "
            "WHERE state IN ('pending', 'firing') OR (state = 'resolved' AND started_at <= $__toTime "
            "AND coalesce(ended_at, started_at) >= $__fromTime) "
            "ORDER BY state = 'resolved', started_at DESC LIMIT 100"
        ),
        columns=(
            "state",
            "severity",
            "rule",
            "metric",
            "slice",
            "started_at",
            "fired_at",
            "ended_at",
            "observed",
            "baseline",
            "threshold",
            "affected",
            "message",
        ),
        width=24,
        description="Incidents still pending or firing, then the resolved ones active during the range, "
        "newest first (cancelled ones never fired and are left out). fired_at - started_at is the time "
        "to detect; affected lists slices rolled up into the incident.",
    ),
)

OPERATIONS_QOE = DashboardSpec(
    uid="playpulse-operations-qoe",
    title="Operations QoE",
    description="Live quality of experience per minute from the streaming QoE job, with alerts.",
    panels=_PANELS,
    variables=(
        _variable("region", "Region", "region", "region"),
        _variable("device", "Device", "device_type", "device_type"),
        _variable("isp", "ISP", "isp", "isp"),
        _variable("cdn", "CDN", "cdn", "cdn"),
        _variable("oca", "OCA", "oca_id", "oca_id"),
    ),
    annotations=(
        AnnotationSpec(
            name="Alerts",
            sql=(
                "SELECT started_at AS time, coalesce(ended_at, now64(3)) AS timeEnd, "
                "concat(severity, ': ', rule, ' on ', slice) AS title, message AS text, "
                "[severity, state, metric] AS tags FROM alerts "
                "WHERE state != 'cancelled' AND started_at <= $__toTime "
                "AND coalesce(ended_at, now64(3)) >= $__fromTime "
                "ORDER BY started_at"
            ),
        ),
    ),
    tags=("playpulse", "qoe", "operations"),
    time_from="now-3h",
    refresh="30s",
)
