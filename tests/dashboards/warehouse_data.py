"""Realistic contents for every table the dashboards read, for a warehouse ending at `now`.

- `qoe_minute`: an hour of simulated traffic (with a start-up incident in us-east for the middle
  twenty minutes) through the real QoE aggregator, over three source partitions;
- `sessions` and `engagement_daily`: built from the same simulated events the way the metric
  definitions say (one row per session; per date × member × title × region × device);
- `alerts`, `ab_readout`, `demand_forecast`, `oca_fill_plan`: a few rows each, as those jobs
  write them (one firing incident on the injected slice, one resolved).
"""

from __future__ import annotations

import zlib
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa

from ingest.simulator import SimulationConfig, Simulator
from ingest.simulator.incidents import Incident
from streaming.qoe import QoeAggregator
from streaming.windows import PartitionWindows
from warehouse import Warehouse

__all__ = ["INCIDENT_REGION", "FIRING_MESSAGE", "demo_tables", "fill"]

INCIDENT_REGION = "us-east"
FIRING_MESSAGE = "VST p95 in region=us-east is 4210 ms, above 2500 ms for 3 windows"
_PARTITIONS = 3


def _events(now: datetime) -> tuple[pa.Table, int]:
    end_ms = int(now.timestamp() * 1000) // 60_000 * 60_000
    start_ms = end_ms - 3_600_000
    incident = Incident("startup", "region", INCIDENT_REGION, start_ms + 1_200_000, start_ms + 2_400_000, 4.0)
    config = SimulationConfig(
        seed=11, users=15_000, start_ms=start_ms, end_ms=end_ms, late_fraction=0.0, incidents=(incident,)
    )
    return Simulator(config).table(), start_ms


def _qoe_minute(events: pa.Table, emitted_at_ms: int) -> pa.Table:
    users = events["user_id"].to_numpy(zero_copy_only=False)
    partition = np.array([zlib.crc32(u.encode()) % _PARTITIONS for u in users], np.int32)
    aggregator = QoeAggregator()
    for p in range(_PARTITIONS):
        rows = np.flatnonzero(partition == p)
        part = events.take(pa.array(rows))
        clock = PartitionWindows(p)
        assigned = clock.assign(part["event_ts_ms"].to_numpy(), np.arange(part.num_rows))
        aggregator.add(part, np.full(part.num_rows, p, np.int32), assigned)
    return aggregator.emit(
        sorted(aggregator.open_keys()), provisional=False, emitted_at_ms=emitted_at_ms, drop=True
    )


def _sessions(events: pa.Table) -> pa.Table:
    df = events.select(
        [
            "session_id", "user_id", "title_id", "region", "country", "device_type", "device_os",
            "app_version", "isp", "cdn", "oca_id", "event_type", "event_ts_ms", "startup_ms",
            "played_ms", "rebuffer_ms", "bitrate_kbps", "end_reason", "error_code", "fatal",
            "content_duration_ms",
        ]
    ).to_pandas()  # fmt: skip
    df = df.sort_values(["session_id", "event_ts_ms"])
    df["played_ms"] = df["played_ms"].fillna(0)
    df["kbps_ms"] = df["bitrate_kbps"].fillna(0) * df["played_ms"]
    df["is_rebuffer_end"] = df["event_type"] == "REBUFFER_END"
    df["is_error"] = df["event_type"] == "ERROR"
    df["stall_ms"] = df["rebuffer_ms"].where(df["is_rebuffer_end"], 0).fillna(0)
    g = df.groupby("session_id", sort=True)
    first = g.first()
    out = pd.DataFrame(
        {
            "session_id": first.index,
            "user_id": first["user_id"].to_numpy(),
            "title_id": first["title_id"].to_numpy(),
            "region": first["region"].to_numpy(),
            "country": first["country"].to_numpy(),
            "device_type": first["device_type"].to_numpy(),
            "device_os": first["device_os"].to_numpy(),
            "app_version": first["app_version"].to_numpy(),
            "isp": first["isp"].to_numpy(),
            "cdn": first["cdn"].to_numpy(),
            "oca_id": first["oca_id"].to_numpy(),
        }
    )
    started_at = pd.to_datetime(g["event_ts_ms"].min().to_numpy(), unit="ms", utc=True)
    out["session_date"] = started_at.date
    out["started_at"] = started_at
    out["ended_at"] = pd.to_datetime(g["event_ts_ms"].max().to_numpy(), unit="ms", utc=True)
    types = g["event_type"].agg(set)
    out["attempted"] = ["PLAY_REQUEST" in t for t in types]
    out["started"] = ["PLAY_START" in t for t in types]
    out["vst_ms"] = g["startup_ms"].max().to_numpy()
    out["playing_ms"] = g["played_ms"].sum().astype("int64").to_numpy()
    out["rebuffer_ms"] = g["stall_ms"].sum().astype("int64").to_numpy()
    out["rebuffer_count"] = g["is_rebuffer_end"].sum().astype("int64").to_numpy()
    kbps_ms = g["kbps_ms"].sum().to_numpy()
    out["avg_bitrate_kbps"] = np.where(
        out["playing_ms"] > 0, kbps_ms / np.maximum(out["playing_ms"], 1), None
    )
    out["error_count"] = g["is_error"].sum().astype("int64").to_numpy()
    reasons = g["end_reason"].last()
    out["end_reason"] = reasons.to_numpy()
    out["fatal_error_code"] = None
    out["ebvs"] = (reasons == "EXIT_BEFORE_START").to_numpy()
    out["start_failure"] = (reasons == "START_FAILURE").to_numpy()
    out["playback_failure"] = (reasons == "PLAYBACK_FAILURE").to_numpy()
    duration = g["content_duration_ms"].max()
    out["content_duration_ms"] = duration.to_numpy()
    out["completed"] = (reasons == "COMPLETED").to_numpy()
    out["experiments"] = [[] for _ in range(len(out))]
    table = pa.Table.from_pandas(out, preserve_index=False)
    return table.set_column(
        table.schema.get_field_index("experiments"),
        "experiments",
        pa.array([[] for _ in range(table.num_rows)], pa.map_(pa.string(), pa.string())),
    )


def _engagement(sessions: pa.Table) -> pa.Table:
    df = sessions.to_pandas()
    grouped = (
        df.groupby(["session_date", "user_id", "title_id", "region", "device_type"])
        .agg(
            watch_time_ms=("playing_ms", "sum"),
            sessions=("session_id", "count"),
            completions=("completed", "sum"),
        )
        .reset_index()
        .rename(columns={"session_date": "date"})
    )
    return pa.Table.from_pandas(grouped, preserve_index=False)


def _engagement_summary(daily: pa.Table) -> pa.Table:
    df = daily.to_pandas()
    frames = []
    for dims in ((), ("region",), ("device_type",), ("region", "device_type"), ("title_id",)):
        keys = ["date", *dims]
        grouped = (
            df.groupby(keys)
            .agg(
                members=("user_id", "nunique"),
                sessions=("sessions", "sum"),
                watch_time_ms=("watch_time_ms", "sum"),
                completions=("completions", "sum"),
            )
            .reset_index()
        )
        for dim in ("title_id", "region", "device_type"):
            if dim not in dims:
                grouped[dim] = "*"
        grouped["slice"] = ",".join(dims) or "all"
        grouped["completion_rate"] = grouped["completions"] / grouped["sessions"]
        frames.append(grouped)
    out = pd.concat(frames, ignore_index=True)
    for column in ("retention_cohort_7d", "retained_7d", "retention_7d"):
        out[column] = None
    out["retention_cohort_7d"] = out["members"].where(out["slice"] == "all")
    out["retained_7d"] = (out["members"] * 0.62).round().where(out["slice"] == "all")
    out["retention_7d"] = out["retained_7d"] / out["retention_cohort_7d"]
    return pa.Table.from_pandas(out, preserve_index=False)


def _alerts(start_ms: int, now: datetime) -> pa.Table:
    began = datetime.fromtimestamp(start_ms / 1000, UTC) + timedelta(minutes=21)
    return pa.Table.from_pylist(
        [
            {
                "fingerprint": "a1f3", "dedup_key": "d-vst-us-east", "rule": "vst_p95_high",
                "metric": "vst_p95_ms", "slice": f"region={INCIDENT_REGION}", "state": "firing",
                "severity": "critical", "started_at": began, "fired_at": began + timedelta(minutes=2),
                "ended_at": None, "observed": 4210.0, "baseline": 1180.0, "threshold": 2500.0,
                "last_window": now.replace(second=0) - timedelta(minutes=1),
                "affected": f"region={INCIDENT_REGION},device_type=TV", "message": FIRING_MESSAGE,
                "updated_at": now,
            },
            {
                "fingerprint": "b7c2", "dedup_key": "d-rebuffer-kddi", "rule": "rebuffer_ratio_anomaly",
                "metric": "rebuffer_ratio", "slice": "isp=kddi", "state": "resolved", "severity": "warning",
                "started_at": began - timedelta(minutes=15), "fired_at": began - timedelta(minutes=13),
                "ended_at": began - timedelta(minutes=9), "observed": 0.011, "baseline": 0.004,
                "threshold": None, "last_window": began - timedelta(minutes=10), "affected": "",
                "message": "rebuffer ratio of isp=kddi was 1.1%, expected 0.4%", "updated_at": now,
            },
            {
                "fingerprint": "c9d4", "dedup_key": "d-ebvs-tv", "rule": "ebvs_pct_high",
                "metric": "ebvs_pct",
                "slice": "device_type=TV", "state": "cancelled", "severity": "warning",
                "started_at": began - timedelta(minutes=5), "fired_at": None,
                "ended_at": began - timedelta(minutes=4), "observed": 6.1, "baseline": None,
                "threshold": 5.0, "last_window": began - timedelta(minutes=5), "affected": "",
                "message": "EBVS of device_type=TV was 6.1%, above 5%", "updated_at": now,
            },
        ]
    )  # fmt: skip


def _readout(run_date: date) -> pa.Table:
    rows = []
    for metric, guardrail, method, control, treatment in (
        ("watch_time_ms", False, "welch t", 2_650_000.0, 2_790_000.0),
        ("completion_rate", False, "delta method z", 0.31, 0.33),
        ("vst_p95_ms", True, "bootstrap", 1_910.0, 2_140.0),
    ):
        for cell, mean in (("control", control), ("artwork-b", treatment)):
            is_control = cell == "control"
            delta = None if is_control else mean - control
            rel = None if is_control else delta / control
            rows.append(
                {
                    "run_date": run_date, "test_id": "artwork-2026-11", "metric": metric, "cell": cell,
                    "is_control": is_control, "is_guardrail": guardrail, "n": 1520 if is_control else 1498,
                    "mean": mean, "variance": mean * mean * 0.4, "delta_abs": delta, "delta_rel": rel,
                    "ci_low_abs": None if is_control else delta * 0.4,
                    "ci_high_abs": None if is_control else delta * 1.6,
                    "ci_low_rel": None if is_control else rel * 0.4,
                    "ci_high_rel": None if is_control else rel * 1.6,
                    "p_value": None if is_control else 0.012,
                    "p_value_adjusted": None if is_control else 0.024,
                    "method": "control" if is_control else method, "cuped_delta_abs": delta,
                    "cuped_delta_rel": rel, "cuped_ci_low_abs": None, "cuped_ci_high_abs": None,
                    "cuped_p_value": None if is_control else 0.004, "srm_p_value": 0.62, "srm_flag": False,
                    "notes": None,
                }
            )  # fmt: skip
    return pa.Table.from_pylist(rows)


def _forecast(run_date: date) -> pa.Table:
    rows = []
    for t, title in enumerate(("t-0001", "t-0002", "t-0003", "t-0004")):
        for region in ("us-east", "eu-west"):
            for day in range(1, 8):
                value = 120.0 / (t + 1) * (1.1 if day % 7 in (5, 6) else 1.0)
                rows.append(
                    {
                        "run_date": run_date, "title_id": title, "region": region,
                        "target_date": run_date + timedelta(days=day), "forecast_hours": value,
                        "lower_hours": value * 0.8, "upper_hours": value * 1.25, "model": "ets",
                        "backtest_mase": 0.72 + 0.05 * t, "backtest_smape": 14.0 + t,
                        "backtest_mae_hours": 9.0 + t, "backtest_snaive_mae_hours": 12.0,
                    }
                )  # fmt: skip
    return pa.Table.from_pylist(rows)


def _fill_plan(run_date: date) -> pa.Table:
    rows = []
    for oca, region in (("oca-us-east-ixp-06", "us-east"), ("oca-eu-west-bt-04", "eu-west")):
        for t, action in enumerate(("hold", "hold", "fill", "fill", "defer", "evict", "skip")):
            size = 40_000_000_000 + t * 5_000_000_000
            demand = 9e11 / (t + 1)
            rows.append(
                {
                    "run_date": run_date, "oca_id": oca, "title_id": f"t-{t + 1:04d}", "region": region,
                    "action": action, "size_bytes": size, "predicted_demand_bytes": demand,
                    "value_per_gb": demand / (size / 1e9),
                    "reason": "below cutoff" if action == "evict" else "ranked above the capacity cutoff",
                    "predicted_offload_bytes": demand * 0.95 if action in ("hold", "fill") else 0.0,
                }
            )  # fmt: skip
    return pa.Table.from_pylist(rows)


def demo_tables(now: datetime) -> dict[str, pa.Table]:
    """Rows for every table the dashboards read, the live hour ending at `now` (UTC)."""
    events, start_ms = _events(now)
    sessions = _sessions(events)
    yesterday = (now - timedelta(days=1)).date()
    return {
        "qoe_minute": _qoe_minute(events, int(now.timestamp() * 1000)),
        "alerts": _alerts(start_ms, now),
        "sessions": sessions,
        "engagement_daily": (daily := _engagement(sessions)),
        "engagement_summary": _engagement_summary(daily),
        "ab_readout": _readout(yesterday),
        "demand_forecast": _forecast(yesterday),
        "oca_fill_plan": _fill_plan(yesterday),
    }


def fill(wh: Warehouse, tables: dict[str, pa.Table]) -> None:
    """Write `tables` into `wh` (created), replacing rows with the same keys."""
    wh.create_tables()
    for name, data in tables.items():
        wh.upsert(name, data)
