"""The alerts app on the real local stack: simulated traffic with an incident on one OCA goes
through the broker, the QoE job and qoe.minute into the faust app; the alert fires naming that
OCA within two windows of the incident's start, resolves after it ends, and reaches a real local
HTTP receiver as a generic webhook, a Slack message, an Alertmanager v2 post and PagerDuty
Events v2 trigger and resolve; the qoe.alerts topic, the warehouse, `playpulse alerts list` and
the faust web view all show it."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import httpx
import orjson
import pyarrow.compute as pc
import pytest
from click.testing import CliRunner
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from alerts.store import AlertStore
from ingest.producer import EventProducer
from ingest.simulator import Incident, SimulationConfig, Simulator, World
from playpulse.cli import cli
from playpulse.config import Settings
from schemas.registry import RegistryClient, event_serde
from schemas.topics import ALERTS
from tests.support.collector import TopicReader
from tests.support.net import free_port, serve
from warehouse import open_warehouse

pytestmark = pytest.mark.integration

START_MS = 1_763_686_800_000  # 2025-11-21T01:00:00Z: evening peak in the Americas
WINDOW_MS = 60_000


class Receiver:
    """A real HTTP server that records every JSON body posted to it, by path; the first post to
    /slack is answered 503 so the test also sees a retry."""

    def __init__(self) -> None:
        self.posts: dict[str, list[Any]] = {}
        self.lock = threading.Lock()
        self.refused_once = False

        async def record(request: Request) -> JSONResponse:
            body = json.loads(await request.body())
            path = request.url.path
            if path == "/slack" and not self.refused_once:
                self.refused_once = True
                return JSONResponse({"error": "busy"}, status_code=503)
            with self.lock:
                self.posts.setdefault(path, []).append(body)
            return JSONResponse({"status": "success"}, status_code=202 if path == "/pd" else 200)

        self.app = Starlette(routes=[Route("/{path:path}", record, methods=["POST"])])

    def bodies(self, path: str) -> list[Any]:
        with self.lock:
            return list(self.posts.get(path, []))


@pytest.fixture(scope="module")
def incident_traffic() -> tuple[Any, Incident]:
    base = SimulationConfig(
        seed=11, users=10_000, sessions_per_user_per_day=40, heartbeat_interval_s=600, start_ms=START_MS,
        days=70 / 1440, late_fraction=0.0, experiments=(),
    )  # fmt: skip
    shares = World(base).slice_shares("oca_id")
    oca = max(shares, key=shares.get)
    incident = Incident(
        kind="rebuffer", dimension="oca_id", value=oca, start_ms=START_MS + 40 * WINDOW_MS,
        end_ms=START_MS + 52 * WINDOW_MS, magnitude=8.0, incident_id="inc-e2e",
    )  # fmt: skip
    config = SimulationConfig(**{**base.__dict__, "days": None, "incidents": (incident,)})
    table = Simulator(config).table()
    # Sessions run on for hours after the last request; their tails only add windows to wait for.
    keep = pc.less(table["event_ts_ms"], START_MS + 72 * WINDOW_MS)
    return table.filter(keep), incident


def _wait(condition: Any, timeout_s: float, what: str, stack: Any) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        stack.check()
        value = condition()
        if value:
            return value
        time.sleep(1)
    raise AssertionError(f"timed out waiting for {what}; alerts log:\n{stack.processes['alerts'].tail(40)}")


def test_an_oca_incident_fires_names_the_oca_resolves_and_notifies_every_format(
    settings: Settings, start_stack: Any, monkeypatch: pytest.MonkeyPatch, incident_traffic: Any
) -> None:
    table, incident = incident_traffic
    receiver = Receiver()
    with serve(receiver.app) as url:
        notifiers = [
            {"kind": "webhook", "url": f"{url}/webhook"},
            {"kind": "slack", "url": f"{url}/slack"},
            {"kind": "alertmanager", "url": f"{url}/am"},
            {"kind": "pagerduty", "url": f"{url}/pd", "routing_key": "R0UTINGKEY"},
        ]
        monkeypatch.setenv("PLAYPULSE_ALERTS__NOTIFIERS", json.dumps(notifiers))
        monkeypatch.setenv("PLAYPULSE_ALERTS__NOTIFY_BACKOFF_S", "0.2")
        monkeypatch.setenv("PLAYPULSE_ALERTS__CLOSE_GRACE_S", "5")
        # The hour of traffic arrives at once: the QoE job reaches some partitions much later.
        monkeypatch.setenv("PLAYPULSE_ALERTS__SOURCE_IDLE_WINDOWS", "120")
        settings.alerts.web_port = free_port()
        stack = start_stack(workers=("qoe", "alerts"))
        with RegistryClient(settings.registry.url) as registry:
            producer = EventProducer(settings.kafka, event_serde(registry))
        producer.send_batch(table)
        producer.flush()

        reader = TopicReader(settings, ALERTS.name, ALERTS.partitions)
        messages: list[dict[str, Any]] = []
        target = f"oca_id={incident.value}"

        def resolved() -> bool:
            messages.extend(orjson.loads(m.value()) for m in reader.read(0, timeout_s=1, quiet_s=0.5))
            return any(m["event"] == "resolved" and m["slice"] == target for m in messages)

        _wait(resolved, 240, f"a resolved alert on {target} in qoe.alerts", stack)
        reader.close()

        # One alert for the incident, naming the OCA, fired within two windows of its start.
        during = [
            m for m in messages
            if m["event"] == "firing" and m["rule"] == "rebuffer_anomaly"
            and incident.start_ms - WINDOW_MS <= _ms(m["started_at"]) < incident.end_ms
        ]  # fmt: skip
        assert [m["slice"] for m in during] == [target], during
        fired = during[0]
        assert _ms(fired["fired_at"]) <= incident.start_ms + 2 * WINDOW_MS
        assert _ms(fired["started_at"]) >= incident.start_ms
        assert fired["observed"] > 2 * fired["baseline"] > 0
        assert fired["dimensions"] == {"oca_id": incident.value}
        done = next(m for m in messages if m["event"] == "resolved" and m["slice"] == target)
        assert done["incident_id"] == fired["incident_id"]
        assert incident.end_ms <= _ms(done["ended_at"]) <= incident.end_ms + 15 * WINDOW_MS

        # Every notifier format arrived at the receiver (Slack after one 503 and a retry).
        def delivered() -> bool:
            return all(
                len(receiver.bodies(p)) >= 2 for p in ("/webhook", "/slack", "/am/api/v2/alerts", "/pd")
            )

        _wait(delivered, 60, "firing and resolved notifications in every format", stack)
        hooks = [b for b in receiver.bodies("/webhook") if b["alert"]["slice"] == target]
        assert [b["event"] for b in hooks] == ["firing", "resolved"]
        assert hooks[0]["alert"]["baseline"] is not None and hooks[0]["alert"]["started_at"]
        assert receiver.refused_once
        slack = [b for b in receiver.bodies("/slack") if target in b["text"]]
        assert slack and slack[0]["attachments"][0]["fields"][0] == {
            "title": "Slice",
            "value": target,
            "short": True,
        }
        posted = [
            a for body in receiver.bodies("/am/api/v2/alerts") for a in body if a["labels"]["slice"] == target
        ]
        assert posted[0]["labels"]["alertname"] == "rebuffer_anomaly" and "endsAt" not in posted[0]
        assert posted[-1]["endsAt"] == done["ended_at"] and posted[-1]["startsAt"] == done["started_at"]
        paged = [b for b in receiver.bodies("/pd") if b["dedup_key"] == fired["incident_id"]]
        assert [b["event_action"] for b in paged] == ["trigger", "resolve"]
        assert paged[0]["routing_key"] == "R0UTINGKEY" and paged[0]["payload"]["source"] == target

        # The faust web view and the warehouse show it; `playpulse alerts list` prints it.
        view = httpx.get(f"http://127.0.0.1:{settings.alerts.web_port}/alerts", timeout=10).json()
        assert any(a["slice"] == target and a["state"] == "resolved" for a in view["recent"])

        def stored() -> list[dict[str, Any]]:
            store = AlertStore(lambda: open_warehouse("duckdb", duckdb_path=settings.duckdb_file))
            rows = store.recent_rows(100)
            return [r for r in rows if r["slice"] == target and r["state"] == "resolved"]

        rows = _wait(stored, 30, "the resolved alert in the warehouse", stack)
        assert rows[0]["fingerprint"] == fired["incident_id"]
    stack.stop()
    result = CliRunner().invoke(cli, ["alerts", "list"], env={"PLAYPULSE_DATA_DIR": str(settings.data_dir)})
    assert result.exit_code == 0, result.output
    assert incident.value in result.output and "resolved" in result.output


def _ms(iso: str) -> int:
    from datetime import datetime

    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)
