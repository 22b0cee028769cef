"""Where the collector's items go: valid events to `playback.events`, rejects to the dead-letter topic.

Guarantees:
- Bounded and never silently dropping: each topic has a buffer of `buffer_size` messages in
  memory. The collector asks `has_room(events, dead_letters)` before it takes a request and
  answers 503 when the answer is no; messages it took wait in the buffer as long as the broker
  is away (`delivery.timeout.ms` = 0, no expiry) and are retried by the idempotent producer,
  which never duplicates them in the topic. Only the end of the process can lose them:
  `close` waits for them and logs loudly how many were left.
- librdkafka is allowed a batch more than `buffer_size`, so a request that `has_room` admitted
  never meets a full queue half-way through.
- Delivery reports are served by `poll`, which the app calls after each request and from a
  background task; produce latencies are handed to the metrics in bulk.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from confluent_kafka import KafkaError, Message

from ingest.collector.metrics import CollectorMetrics
from ingest.dead_letter import DeadLetters
from ingest.producer import EventProducer, ProduceError
from playpulse.config import KafkaSettings
from schemas.topics import DLQ, EVENTS

__all__ = ["EventSink"]

log = logging.getLogger("playpulse.collector.sink")

_MAX_KBYTES = 2_147_483_647  # librdkafka's ceiling: only the message count bounds the buffer


class EventSink:
    def __init__(
        self,
        kafka: KafkaSettings,
        metrics: CollectorMetrics,
        *,
        buffer_size: int,
        batch_slack: int,
        linger_ms: int = 5,
        source: str = "collector",
    ) -> None:
        self.buffer_size = buffer_size
        self.metrics = metrics
        self._latencies: list[float] = []
        options: dict[str, Any] = {
            "max_buffered": buffer_size + batch_slack,
            "block_timeout_s": 5.0,
            "delivery_timeout_ms": 0,
            "linger_ms": linger_ms,
            "extra_config": {
                "queue.buffering.max.kbytes": _MAX_KBYTES,
                "batch.num.messages": 10_000,
                "logger": logging.getLogger("playpulse.collector.kafka"),  # librdkafka → JSON logs
            },
        }
        self.events = EventProducer(kafka, topic=EVENTS.name, on_delivery=self._event_report, **options)
        self.dead = DeadLetters(kafka, source=source, on_delivery=self._dead_report, **options)
        self._delivered = metrics.delivered.labels(EVENTS.name)
        self._dead_delivered = metrics.delivered.labels(DLQ.name)
        self._counted = (0, 0)  # deliveries already added to the metrics
        metrics.track_buffer(EVENTS.name, lambda: self.events.stats.in_flight)
        metrics.track_buffer(DLQ.name, lambda: self.dead.stats.in_flight)

    # -- capacity ----------------------------------------------------------------------------
    def has_room(self, events: int, dead_letters: int) -> bool:
        return (
            self.events.stats.in_flight + events <= self.buffer_size
            and self.dead.stats.in_flight + dead_letters <= self.buffer_size
        )

    @property
    def full(self) -> bool:
        return not self.has_room(1, 0)

    # -- sending -------------------------------------------------------------------------------
    def send_events(self, keys: list[str], values: list[bytes]) -> None:
        self.events.send_many(keys, values)

    def send_dead_letter(
        self, key: str | None, value: bytes, reason: str, detail: str, extra: list[tuple[str, bytes]]
    ) -> None:
        self.dead.send_raw(key, value, reason, detail, extra)

    # -- delivery reports ----------------------------------------------------------------------
    def _event_report(self, err: KafkaError | None, msg: Message) -> None:
        if err is None:
            latency = msg.latency()
            if latency is not None:
                self._latencies.append(latency)
        else:
            self.metrics.delivery_failures.labels(EVENTS.name, err.name()).inc()
            log.error("event not delivered: %s", err.str())

    def _dead_report(self, err: KafkaError | None, _msg: Message) -> None:
        if err is not None:
            self.metrics.delivery_failures.labels(DLQ.name, err.name()).inc()
            log.error("dead letter not delivered: %s", err.str())

    def poll(self) -> None:
        """Serve pending delivery reports without waiting; feed the metrics."""
        self.events.poll(0)
        self.dead.poll(0)
        events, dead = self.events.stats.delivered, self.dead.stats.delivered
        self._delivered.inc(events - self._counted[0])
        self._dead_delivered.inc(dead - self._counted[1])
        self._counted = (events, dead)
        if self._latencies:
            latencies, self._latencies = self._latencies, []
            self.metrics.produce_latency.observe_many(latencies)

    def check_broker(self, timeout_s: float) -> None:
        """Raise `BrokerUnavailable` unless the broker answers metadata within `timeout_s` (blocking)."""
        self.events.check_broker(timeout_s)

    def close(self, timeout_s: float) -> int:
        """Wait up to `timeout_s` for everything buffered; returns (and logs) how many were left."""
        left = 0
        for name, producer in ((EVENTS.name, self.events), (DLQ.name, self.dead)):
            with contextlib.suppress(ProduceError):  # reported below, with the counts
                producer.flush(timeout_s)
            stats = producer.stats
            if stats.in_flight or stats.failed:
                left += stats.in_flight
                log.error(
                    "collector stopped with %d messages for %s still buffered (lost) and %d failed",
                    stats.in_flight,
                    name,
                    stats.failed,
                )
        self.poll()
        return left
