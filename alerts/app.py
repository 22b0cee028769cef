"""The alerts app (`playpulse alerts`): a faust-streaming agent over qoe.minute, a thin edge around
the pure engine (`alerts.engine`).

On start, before the worker joins the consumer group:
1. the rules file is loaded and validated (`alerts.rules`);
2. the baselines are trained on the last `alerts.warmup_hours` of `qoe_minute` in the warehouse
   (faust table recovery restores stale values on the embedded broker, so baselines are not kept
   in faust tables: the warehouse history is the durable state);
3. incidents that were pending or firing are re-opened from the `alerts` table, so a restart
   neither forgets an open incident nor notifies it twice.

Then the agent reads qoe.minute in batches (`stream.take`), collects rows per window
(`alerts.merge`), and judges each window once it is closed, merged over source partitions
(`alerts.frames`). Lifecycle events go to the `qoe.alerts` topic (state changes, key = incident
id, JSON from `alerts.payloads.to_record`), to the warehouse `alerts` table (every change and
observation, written by a background task through short-lived connections) and to the notifiers
(`alerts.notifiers`: background tasks, retried with backoff). Nothing of that waits inside the
evaluation. The faust web view serves `/` (HTML) and `/alerts` (JSON): open and recent alerts.

Consumer settings for the embedded broker (DESIGN.md): `broker_session_timeout=6`, no
idempotent producer and no exactly-once (both fail on Tansu), topics pre-created by `playpulse up`.
"""

from __future__ import annotations

import asyncio
import html
import logging
import ssl
import time
from datetime import UTC, datetime
from typing import Any

import faust
import mode
import orjson

from alerts.engine import AlertEngine
from alerts.frames import frame_from_rows
from alerts.lifecycle import Alert, AlertEvent
from alerts.merge import WindowMerger
from alerts.notifiers import Notifiers
from alerts.payloads import alert_from_row, to_record, to_row
from alerts.rules import RuleSet, load_rules
from alerts.store import AlertStore
from playpulse.config import KafkaSettings, Settings
from schemas.topics import ALERTS, EVENTS, QOE_MINUTE
from streaming.windows import WINDOW_MS

__all__ = ["AlertsService", "create_app", "run_alerts"]

log = logging.getLogger("playpulse.alerts")
_STATE_CHANGES = ("pending", "firing", "resolved", "cancelled")


class AlertsService:
    """Engine, merger and outputs of one app process; the faust app calls into it."""

    def __init__(self, settings: Settings, rules: RuleSet, store: AlertStore) -> None:
        self.settings = settings
        self.rules = rules
        self.store = store
        self.engine = AlertEngine(rules)
        self.merger = WindowMerger(
            grace_s=settings.alerts.close_grace_s,
            expected_sources=EVENTS.partitions,
            idle_windows=settings.alerts.source_idle_windows,
        )
        web = f"http://{settings.alerts.web_host}:{settings.alerts.web_port}/"
        self.notifiers = Notifiers(
            settings.alerts.notifiers,
            attempts=settings.alerts.notify_attempts,
            backoff_s=settings.alerts.notify_backoff_s,
            queue_size=settings.alerts.notify_queue,
            generator_url=web,
        )
        self.rows_pending: asyncio.Queue[list[dict[str, Any]]] | None = None
        self.records_out: list[tuple[bytes, bytes]] = []
        self.rows_written = 0
        self.write_errors = 0
        self._writer: asyncio.Task[None] | None = None

    # -- start-up (blocking, before the worker runs) --------------------------------------------
    def warm_up(self) -> int:
        """Train the baselines on recent qoe_minute history; returns the windows read."""
        hours = self.settings.alerts.warmup_hours
        latest = self.store.latest_window_ms()
        if latest is None or hours <= 0:
            log.info("no qoe_minute history to warm the baselines from; they learn from live windows")
            return 0
        # The newest two windows may still be incomplete in the warehouse: leave them to the topic.
        until = latest - WINDOW_MS
        since = until - int(hours * 3_600_000)
        started = time.monotonic()
        count = 0
        for frame in self.store.history_frames(since, until):
            self.engine.warm(frame)
            self.merger.judged_through = frame.window_start_ms
            count += 1
            if count % 60 == 0:
                log.info("warming baselines: %d windows read", count)
        log.info(
            "baselines warmed on %d windows of qoe_minute history in %.1f s",
            count,
            time.monotonic() - started,
        )
        return count

    def restore(self) -> int:
        kinds = {r.name: r.kind for r in self.rules.rules}
        alerts = [
            alert_from_row(row, kinds[row["rule"]])
            for row in self.store.open_alert_rows()
            if row["rule"] in kinds
        ]
        restored = self.engine.restore(alerts)
        if restored:
            log.info("re-opened %d pending or firing incident(s) from the alerts table", restored)
        return restored

    # -- running ----------------------------------------------------------------------------------
    async def start(self) -> None:
        self.rows_pending = asyncio.Queue()
        self._writer = asyncio.create_task(self._write_rows(), name="alerts-warehouse-writer")
        await self.notifiers.start()

    async def stop(self) -> None:
        if self.rows_pending is not None:
            deadline = time.monotonic() + 10
            while self.rows_pending.qsize() and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
        if self._writer is not None:
            self._writer.cancel()
        await self.notifiers.stop()

    def add(self, value: bytes, topic_partition: int = 0) -> None:
        record = orjson.loads(value)
        key = "|".join(
            str(record.get(k))
            for k in ("window_start", "slice", "region", "country", "device_type", "isp", "cdn", "oca_id",
                      "title_id", "source_partition")
        )  # fmt: skip
        self.merger.add(key, record, time.monotonic(), topic_partition)

    def judge_ready(self, limit: int = 5) -> list[AlertEvent]:
        """Judge up to `limit` windows that are ready (so the consumer is never held up for long);
        queue their outputs; return their events."""
        events: list[AlertEvent] = []
        for window in self.merger.ready(time.monotonic())[:limit]:
            rows = self.merger.pop(window)
            if not rows:
                continue
            events.extend(self._publish(self.engine.evaluate(frame_from_rows(window, rows))))
        return events

    def _publish(self, events: list[AlertEvent]) -> list[AlertEvent]:
        now = int(time.time() * 1000)
        for event in events:
            if event.kind in _STATE_CHANGES:
                log.info("%s", event.alert.message())
                self.records_out.append((event.alert.incident_id.encode(), orjson.dumps(to_record(event))))
            self.notifiers.submit(event)
        if events and self.rows_pending is not None:
            self.rows_pending.put_nowait([to_row(e, now) for e in events])
        return events

    async def _write_rows(self) -> None:
        assert self.rows_pending is not None
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self.rows_pending.get()]
            while not self.rows_pending.empty():
                batch.append(self.rows_pending.get_nowait())
            rows = [row for part in batch for row in part]
            delay = 1.0
            while True:
                try:
                    self.rows_written += await loop.run_in_executor(None, self.store.write, rows)
                    break
                except Exception as exc:  # the warehouse is away: keep the rows and retry, loudly
                    self.write_errors += 1
                    log.error(
                        "writing %d alert row(s) to the warehouse failed (%s); retrying in %.0f s",
                        len(rows),
                        exc,
                        delay,
                    )
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 30.0)

    # -- the web view -------------------------------------------------------------------------------
    def view(self) -> dict[str, Any]:
        def record(alert: Alert) -> dict[str, Any]:
            return to_record(AlertEvent(alert.state, alert))

        last = self.engine.last_window_ms
        return {
            "open": [record(a) for a in self.engine.open_alerts()],
            "recent": [record(a) for a in list(self.engine.recent)[:50]],
            "last_window": None if last is None else datetime.fromtimestamp(last / 1000, UTC).isoformat(),
            "windows_evaluated": self.engine.windows_evaluated,
            "windows_warmed": self.engine.windows_warmed,
            "late_rows": self.merger.late_rows,
            "late_examples": self.merger.late_examples,
            "rules": [r.name for r in self.rules.rules],
            "rules_file": self.rules.source,
            "notifiers": self.notifiers.stats(),
            "warehouse_rows_written": self.rows_written,
            "warehouse_write_errors": self.write_errors,
        }


def _page(view: dict[str, Any]) -> str:
    def rows(alerts: list[dict[str, Any]]) -> str:
        if not alerts:
            return "<tr><td colspan=8><i>none</i></td></tr>"
        cells = ("state", "severity", "rule", "slice", "observed", "baseline", "started_at", "ended_at")
        return "".join(
            "<tr>"
            + "".join(f"<td>{html.escape(str(a.get(c) if a.get(c) is not None else ''))}</td>" for c in cells)
            + "</tr>"
            for a in alerts
        )

    head = "".join(
        f"<th>{c}</th>"
        for c in ("state", "severity", "rule", "slice", "observed", "baseline", "started", "ended")
    )
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>playpulse alerts</title>
<meta http-equiv="refresh" content="10">
<style>body{{font-family:system-ui,sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left}}</style></head><body>
<h1>playpulse alerts</h1>
<p>last window judged: {html.escape(str(view["last_window"]))} · windows judged: {view["windows_evaluated"]}
· rules: {html.escape(", ".join(view["rules"]))} · <a href="alerts">JSON</a></p>
<h2>Open</h2><table><tr>{head}</tr>{rows(view["open"])}</table>
<h2>Recently resolved</h2><table><tr>{head}</tr>{rows(view["recent"])}</table>
</body></html>"""


def _credentials(kafka: KafkaSettings) -> Any:
    """faust's credentials for the configured security protocol (None for PLAINTEXT)."""
    if kafka.security_protocol == "PLAINTEXT":
        return None
    context = None
    if kafka.security_protocol.endswith("SSL"):
        cafile = str(kafka.ssl_ca_location) if kafka.ssl_ca_location else None
        context = ssl.create_default_context(cafile=cafile)
    if kafka.sasl_mechanism:
        password = kafka.sasl_password.get_secret_value() if kafka.sasl_password else None
        return faust.SASLCredentials(
            username=kafka.sasl_username,
            password=password,
            ssl_context=context,
            mechanism=kafka.sasl_mechanism,
        )
    return faust.SSLCredentials(context)


def create_app(settings: Settings, service: AlertsService) -> faust.App:
    """The faust app: one agent over qoe.minute, a timer for quiet windows, and the web view."""
    kafka = settings.kafka
    app = faust.App(
        settings.alerts.app_id,
        broker=[f"kafka://{server.strip()}" for server in kafka.bootstrap_servers.split(",")],
        broker_session_timeout=kafka.session_timeout_ms / 1000,
        broker_credentials=_credentials(kafka),
        store="memory://",
        datadir=str(settings.data_dir / "alerts"),
        web_enabled=True,
        web_host=settings.alerts.web_host,
        web_port=settings.alerts.web_port,
        web_bind=settings.alerts.web_host,
        consumer_auto_offset_reset="earliest",
        topic_allow_declare=False,
        topic_disable_leader=True,
        producer_partitioner=None,
    )
    source = app.topic(QOE_MINUTE.name, key_serializer="raw", value_serializer="raw")
    sink = app.topic(ALERTS.name, key_serializer="raw", value_serializer="raw")

    async def flush_records() -> None:
        records, service.records_out = service.records_out, []
        for key, value in records:
            await sink.send(key=key, value=value)

    @app.agent(source)
    async def judge(stream: Any) -> None:
        async for events in stream.take_events(5_000, within=0.5):
            for event in events:
                service.add(event.value, event.message.partition)
            service.judge_ready()
            await flush_records()

    @app.timer(interval=2.0)
    async def judge_quiet_windows() -> None:
        service.judge_ready()
        await flush_records()

    @app.page("/alerts")
    async def alerts_json(web: Any, request: Any) -> Any:
        return web.json(service.view())

    @app.page("/")
    async def alerts_html(web: Any, request: Any) -> Any:
        return web.html(_page(service.view()))

    class Outputs(mode.Service):
        async def on_start(self) -> None:
            await service.start()

        async def on_stop(self) -> None:
            await service.stop()

    app.service(Outputs)
    return app


def run_alerts(settings: Settings) -> None:
    """Entry point of `playpulse alerts`: warm up, then run the faust worker until SIGTERM/SIGINT."""
    from playpulse.resources import open_configured_warehouse

    rules = load_rules(settings.alerts.rules_file)
    store = AlertStore(lambda: open_configured_warehouse(settings, attach_lake=False, create=False))
    store.with_warehouse(lambda wh: wh.create_tables())
    service = AlertsService(settings, rules, store)
    log.info("rules: %s from %s", ", ".join(r.name for r in rules.rules), rules.source)
    service.warm_up()
    service.restore()
    app = create_app(settings, service)
    worker = faust.Worker(app, loglevel="info", quiet=True, redirect_stdouts=False)
    worker.execute_from_commandline()
