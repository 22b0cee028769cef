"""Outputs of the lifecycle: the wire formats, notifiers over real HTTP (retries, give-ups, never
blocking), and the warehouse edge (history that warms the baselines, alert rows) on real DuckDB."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from alerts.engine import AlertEngine
from alerts.lifecycle import Alert, AlertEvent
from alerts.notifiers import Notifiers
from alerts.payloads import alert_from_row, to_alertmanager, to_pagerduty, to_row, to_slack, to_webhook
from alerts.rules import load_rules
from alerts.store import AlertStore
from ingest.simulator import SimulationConfig, Simulator
from playpulse.config import NotifierSettings
from streaming.qoe import QoeAggregator
from streaming.windows import PartitionWindows
from tests.support.net import serve
from warehouse import open_warehouse

T0 = 1_736_121_600_000


def _alert(state: str = "firing", **extra: Any) -> Alert:
    fields: dict[str, Any] = {
        "rule": "rebuffer_anomaly", "metric": "rebuffer_ratio", "kind": "anomaly", "severity": "warning",
        "slice": "oca_id=oca-7", "started_ms": T0, "state": state, "fired_ms": T0 + 120_000,
        "last_window_ms": T0 + 60_000, "observed": 0.05, "baseline": 0.004, "threshold": 0.008, "score": 9.0,
        "volume": 120.0, "affected": ("isp=att", "region=us-east"),
    }  # fmt: skip
    fields.update(extra)
    return Alert(**fields)


def test_every_format_carries_slice_times_observed_and_baseline() -> None:
    firing = AlertEvent("firing", _alert())
    resolved = AlertEvent("resolved", _alert("resolved", ended_ms=T0 + 600_000))
    hook = to_webhook(firing)
    assert hook["event"] == "firing" and hook["alert"]["slice"] == "oca_id=oca-7"
    assert hook["alert"]["dimensions"] == {"oca_id": "oca-7"} and hook["alert"]["baseline"] == 0.004
    assert hook["alert"]["started_at"] == "2025-01-06T00:00:00Z" and hook["alert"]["affected"] == [
        "isp=att",
        "region=us-east",
    ]
    assert "oca_id=oca-7" in to_slack(firing)["text"] and "baseline 0.40%" in to_slack(firing)["text"]
    [am] = to_alertmanager(firing, "http://alerts/")
    assert am["labels"] == {
        "alertname": "rebuffer_anomaly",
        "severity": "warning",
        "metric": "rebuffer_ratio",
        "slice": "oca_id=oca-7",
        "source": "playpulse",
        "dim_oca_id": "oca-7",
    }
    assert (
        am["startsAt"] == "2025-01-06T00:00:00Z"
        and "endsAt" not in am
        and am["generatorURL"] == "http://alerts/"
    )
    assert to_alertmanager(resolved)[0]["endsAt"] == "2025-01-06T00:10:00Z"
    trigger, resolve = to_pagerduty(firing, "key"), to_pagerduty(resolved, "key")
    assert trigger["event_action"] == "trigger" and trigger["payload"]["severity"] == "warning"
    assert resolve == {"routing_key": "key", "event_action": "resolve", "dedup_key": trigger["dedup_key"]}


def test_a_table_row_round_trips_to_an_open_alert() -> None:
    alert = _alert()
    row = to_row(AlertEvent("firing", alert), T0 + 180_000)
    back = alert_from_row(row, "anomaly")
    assert (back.incident_id, back.dedup_key, back.state, back.affected) == (
        alert.incident_id,
        alert.dedup_key,
        "firing",
        alert.affected,
    )


class _Receiver:
    def __init__(self, fail_first: int, status: int = 503) -> None:
        self.bodies: list[Any] = []
        self.calls = 0

        async def post(request: Request) -> Response:
            self.calls += 1
            if self.calls <= fail_first:
                return JSONResponse({"error": "nope"}, status_code=status, headers={"Retry-After": "0.1"})
            self.bodies.append(json.loads(await request.body()))
            return JSONResponse({"ok": True})

        self.app = Starlette(routes=[Route("/{p:path}", post, methods=["POST"])])


def test_notifiers_retry_with_backoff_give_up_on_bad_requests_and_never_block() -> None:
    flaky, refusing = _Receiver(fail_first=2), _Receiver(fail_first=10, status=400)
    with serve(flaky.app) as flaky_url, serve(refusing.app) as refusing_url:

        async def scenario() -> tuple[int, list[dict[str, Any]]]:
            notifiers = Notifiers(
                [NotifierSettings(kind="webhook", url=f"{flaky_url}/hook"),
                 NotifierSettings(kind="alertmanager", url=refusing_url),
                 NotifierSettings(kind="slack", url="http://127.0.0.1:9/closed", min_severity="critical")],
                attempts=4, backoff_s=0.05,
            )  # fmt: skip
            await notifiers.start()
            notifiers.submit(AlertEvent("firing", _alert()))
            notifiers.submit(AlertEvent("update", _alert()))  # not a notification
            submitted = flaky.calls + refusing.calls  # submit only queued: no request went out yet
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                now = notifiers.stats()
                if now[0].get("delivered") and now[1].get("rejected"):
                    break
                await asyncio.sleep(0.02)
            stats = notifiers.stats()
            await notifiers.stop()
            return submitted, stats

        submitted, stats = asyncio.run(scenario())
    assert submitted == 0  # submitting never waits for the network
    assert flaky.calls == 3 and flaky.bodies[0]["alert"]["slice"] == "oca_id=oca-7"
    assert stats[0]["delivered"] == 1 and stats[0]["retries"] == 2
    assert refusing.calls == 1 and stats[1]["rejected"] == 1  # a 400 is not retried
    assert stats[2].get("queued_total", 0) == 0  # below its min_severity


def _qoe_rows(minutes: int) -> pa.Table:
    config = SimulationConfig(
        seed=3,
        users=3_000,
        sessions_per_user_per_day=20,
        heartbeat_interval_s=600,
        start_ms=T0,
        days=minutes / 1440,
        late_fraction=0.0,
        experiments=(),
    )
    events = Simulator(config).table()
    aggregator, windows = QoeAggregator(), PartitionWindows(0)
    n = events.num_rows
    parts = np.arange(n, dtype=np.int32) % 2  # two source partitions, to merge
    assigned = windows.assign(events["event_ts_ms"].to_numpy(), np.arange(n))
    aggregator.add(events, parts, assigned)
    keys = sorted(aggregator.open_keys())
    return aggregator.emit(keys, provisional=False, emitted_at_ms=T0, drop=True)


def test_history_from_the_warehouse_warms_the_baselines_and_alert_rows_persist(tmp_path: Path) -> None:
    path = tmp_path / "wh.duckdb"
    with open_warehouse("duckdb", duckdb_path=path) as wh:
        wh.create_tables()
        wh.upsert("qoe_minute", _qoe_rows(40))
    store = AlertStore(lambda: open_warehouse("duckdb", duckdb_path=path))
    latest = store.latest_window_ms()
    frames = list(store.history_frames(T0, latest + 60_000))
    assert [f.window_start_ms for f in frames] == sorted({f.window_start_ms for f in frames})
    assert len(frames) >= 40 and "all" in frames[10].slices
    engine = AlertEngine(load_rules())
    for frame in frames:
        engine.warm(frame)
    detector = engine.detectors["rebuffer_anomaly"]
    assert detector.seen[detector.index["all"]] >= 30  # type: ignore[attr-defined]
    assert engine.windows_warmed == len(frames) and not engine.open_alerts()

    store.write([to_row(AlertEvent("firing", _alert()), T0)])
    store.write([to_row(AlertEvent("firing", _alert(observed=0.07)), T0 + 60_000)])
    [row] = store.open_alert_rows()
    assert row["observed"] == 0.07 and row["affected"] == "isp=att,region=us-east"
