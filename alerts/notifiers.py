"""Notifiers: deliver firing and resolved alerts over HTTP, retried with backoff, never blocking
the evaluation that produced them.

`Notifiers.submit(event)` only puts the notification on each notifier's bounded queue and returns
at once; one asyncio task per notifier sends them in order. A delivery that fails (connection
error, timeout, 5xx, 429) is retried after `backoff_s`, doubling up to 60 s (a `Retry-After`
header is honoured), at most `attempts` times; a 4xx other than 408/429 is a bad request that a
retry cannot fix and is given up at once. Every outcome is counted per notifier (`stats`) and
every give-up and every drop (a full queue drops its oldest notification) is logged at ERROR
with the incident id, so nothing is lost silently.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from alerts import payloads
from alerts.lifecycle import AlertEvent
from playpulse.config import NotifierSettings

__all__ = ["Notifiers", "request_for"]

log = logging.getLogger("playpulse.alerts.notify")
_SEVERITY = {"info": 0, "warning": 1, "critical": 2}


def request_for(notifier: NotifierSettings, event: AlertEvent, generator_url: str = "") -> tuple[str, Any]:
    """The URL and JSON body that tell `notifier` about `event`."""
    if notifier.kind == "webhook":
        return notifier.url, payloads.to_webhook(event)
    if notifier.kind == "slack":
        return notifier.url, payloads.to_slack(event)
    if notifier.kind == "alertmanager":
        return notifier.url.rstrip("/") + "/api/v2/alerts", payloads.to_alertmanager(event, generator_url)
    key = notifier.routing_key.get_secret_value() if notifier.routing_key else ""
    return notifier.url, payloads.to_pagerduty(event, key)


@dataclass
class _Channel:
    settings: NotifierSettings
    queue: asyncio.Queue[tuple[str, Any, str]]
    stats: Counter[str] = field(default_factory=Counter)
    task: asyncio.Task[None] | None = None


class Notifiers:
    """Every configured notifier, each with its own queue and sender task."""

    def __init__(
        self,
        notifiers: list[NotifierSettings],
        *,
        attempts: int = 8,
        backoff_s: float = 0.5,
        queue_size: int = 1_000,
        generator_url: str = "",
        client_factory: Callable[[], httpx.AsyncClient] | None = None,
    ) -> None:
        self.attempts = attempts
        self.backoff_s = backoff_s
        self.generator_url = generator_url
        self._client_factory = client_factory or (lambda: httpx.AsyncClient())
        self._client: httpx.AsyncClient | None = None
        self.channels = [_Channel(n, asyncio.Queue(maxsize=queue_size)) for n in notifiers]

    def stats(self) -> list[dict[str, Any]]:
        return [
            {"kind": c.settings.kind, "url": c.settings.url, "queued": c.queue.qsize(), **dict(c.stats)}
            for c in self.channels
        ]

    async def start(self) -> None:
        self._client = self._client_factory()
        for channel in self.channels:
            channel.task = asyncio.create_task(self._run(channel), name=f"notify-{channel.settings.kind}")

    async def stop(self, drain_s: float = 5.0) -> None:
        """Give queued notifications `drain_s` to go out, then stop the senders."""
        deadline = asyncio.get_running_loop().time() + drain_s
        while any(c.queue.qsize() for c in self.channels) and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)
        for channel in self.channels:
            if channel.task is not None:
                channel.task.cancel()
            if channel.queue.qsize():
                log.error(
                    "stopping with %d undelivered notification(s) for %s %s",
                    channel.queue.qsize(),
                    channel.settings.kind,
                    channel.settings.url,
                )
        if self._client is not None:
            await self._client.aclose()

    def submit(self, event: AlertEvent) -> None:
        """Queue `event` for every notifier that wants it; never waits."""
        if not event.notifies:
            return
        for channel in self.channels:
            if _SEVERITY[event.alert.severity] < _SEVERITY[channel.settings.min_severity]:
                continue
            url, body = request_for(channel.settings, event, self.generator_url)
            if channel.queue.full():
                _, _, dropped = channel.queue.get_nowait()
                channel.stats["dropped"] += 1
                log.error(
                    "notification queue of %s %s is full: dropped the oldest (incident %s)",
                    channel.settings.kind,
                    channel.settings.url,
                    dropped,
                )
            channel.queue.put_nowait((url, body, event.alert.incident_id))
            channel.stats["queued_total"] += 1

    async def _run(self, channel: _Channel) -> None:
        while True:
            url, body, incident = await channel.queue.get()
            try:
                await self._deliver(channel, url, body, incident)
            finally:
                channel.queue.task_done()

    async def _deliver(self, channel: _Channel, url: str, body: Any, incident: str) -> None:
        assert self._client is not None
        delay = self.backoff_s
        for attempt in range(1, self.attempts + 1):
            retry_after: float | None = None
            try:
                response = await self._client.post(url, json=body, timeout=channel.settings.timeout_s)
                if response.status_code < 300:
                    channel.stats["delivered"] += 1
                    return
                problem = f"HTTP {response.status_code}"
                if 400 <= response.status_code < 500 and response.status_code not in (408, 429):
                    channel.stats["rejected"] += 1
                    log.error(
                        "%s %s refused incident %s (%s): %s",
                        channel.settings.kind,
                        url,
                        incident,
                        problem,
                        response.text[:200],
                    )
                    return
                header = response.headers.get("retry-after")
                if header and header.replace(".", "", 1).isdigit():
                    retry_after = float(header)
            except httpx.HTTPError as exc:
                problem = f"{type(exc).__name__}: {exc}"
            channel.stats["retries"] += 1
            if attempt == self.attempts:
                break
            log.warning(
                "%s %s: attempt %d for incident %s failed (%s); retrying",
                channel.settings.kind,
                url,
                attempt,
                incident,
                problem,
            )
            await asyncio.sleep(
                retry_after if retry_after is not None else delay * (0.8 + 0.4 * random.random())
            )
            delay = min(delay * 2, 60.0)
        channel.stats["failed"] += 1
        log.error(
            "gave up notifying %s %s of incident %s after %d attempts (%s)",
            channel.settings.kind,
            url,
            incident,
            self.attempts,
            problem,
        )
