"""The demo's wait for the incident's alert: it must fire; it resolves when the replayed minutes
after the incident turn clear, and is reported still firing when they never do."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pyarrow as pa
import pytest
from rich.console import Console

from ingest.simulator.incidents import Incident
from playpulse.config import Settings
from playpulse.demo import _watch_alert
from playpulse.resources import open_configured_warehouse
from warehouse.tables import ALERTS

INCIDENT = Incident(
    kind="rebuffer", dimension="oca_id", value="oca-1", start_ms=1_765_000_000_000,
    end_ms=1_765_000_720_000, magnitude=8.0, incident_id="demo-incident",
)  # fmt: skip


class _Stack:
    def check(self) -> None:  # the stack's workers are alive
        pass


def _alert(settings: Settings, state: str) -> None:
    fired = datetime(2025, 12, 6, 12, 3, tzinfo=UTC)
    row = {
        "fingerprint": "f1", "dedup_key": "rebuffer_anomaly|oca_id=oca-1", "rule": "rebuffer_anomaly",
        "metric": "rebuffer_ratio", "slice": "oca_id=oca-1", "state": state, "severity": "warning",
        "started_at": fired, "fired_at": fired, "ended_at": fired if state == "resolved" else None,
        "last_window": fired, "observed": 0.15, "baseline": 0.01, "threshold": 0.02, "affected": "",
        "message": "…", "updated_at": fired,
    }  # fmt: skip
    with open_configured_warehouse(settings, attach_lake=False) as wh:
        wh.upsert(ALERTS.name, ALERTS.conform(pa.Table.from_pylist([row])))


def test_an_alert_that_resolves_is_returned_resolved(settings: Settings) -> None:
    _alert(settings, "firing")
    later = threading.Timer(1.0, _alert, (settings, "resolved"))
    later.start()
    alert = _watch_alert(settings, Console(quiet=True), _Stack(), INCIDENT, resolve_wait_s=20)  # type: ignore[arg-type]
    later.join()
    assert alert["state"] == "resolved" and alert["ended_at"] is not None


def test_an_alert_still_firing_after_the_wait_is_reported_firing(settings: Settings) -> None:
    _alert(settings, "firing")
    alert = _watch_alert(settings, Console(quiet=True), _Stack(), INCIDENT, resolve_wait_s=1)  # type: ignore[arg-type]
    assert alert["state"] == "firing" and alert["slice"] == "oca_id=oca-1"


def test_no_alert_at_all_is_an_error(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    import playpulse.demo as demo

    monkeypatch.setattr(demo.time, "sleep", lambda _: None)
    calls = iter([0.0, 0.0] + [1_000.0] * 10)
    monkeypatch.setattr(demo.time, "monotonic", lambda: next(calls))
    with open_configured_warehouse(settings, attach_lake=False):
        pass
    with pytest.raises(RuntimeError, match="alert: not done after 240 s"):
        _watch_alert(settings, Console(quiet=True), _Stack(), INCIDENT)  # type: ignore[arg-type]
