"""The dead-letter path: rejected input kept whole on `playback.events.dlq`, with its reason.

A dead letter's value is the original bytes exactly as received; its key is the original key.
Headers carry `reason` (a short machine-readable code, e.g. `undecodable`, `invalid_field`),
`detail` (what was wrong, for a person), and where it came from (`source`, and for Kafka input
`source_topic`, `source_partition`, `source_offset`). Nothing is dropped: `flush` raises when
the broker did not take a dead letter.
"""

from __future__ import annotations

from typing import Any

from confluent_kafka import Message

from ingest.producer import EventProducer
from playpulse.config import KafkaSettings
from schemas.topics import DLQ

__all__ = ["DeadLetters"]


class DeadLetters:
    def __init__(self, kafka: KafkaSettings, source: str = "playpulse", **producer_options: Any) -> None:
        """`producer_options` go to the `EventProducer` (e.g. `max_buffered`, `block_timeout_s`)."""
        self.source = source
        self._producer = EventProducer(kafka, topic=DLQ.name, **{"max_buffered": 50_000, **producer_options})

    @property
    def stats(self) -> Any:
        return self._producer.stats

    def send(self, message: Message, reason: str, detail: str) -> None:
        """Dead-letter a Kafka message we consumed and cannot use."""
        self.send_raw(
            message.key(),
            message.value() or b"",
            reason,
            detail,
            extra=[
                ("source_topic", (message.topic() or "").encode()),
                ("source_partition", str(message.partition()).encode()),
                ("source_offset", str(message.offset()).encode()),
            ],
        )

    def send_raw(
        self,
        key: bytes | str | None,
        value: bytes,
        reason: str,
        detail: str,
        extra: list[tuple[str, bytes]] | None = None,
    ) -> None:
        """Dead-letter input received elsewhere (an HTTP beacon item, say)."""
        headers = [
            ("reason", reason.encode()),
            ("detail", detail.encode()[:4096]),
            ("source", self.source.encode()),
            *(extra or []),
        ]
        self._producer.send(key, value, headers=headers)

    def poll(self, timeout_s: float = 0.0) -> int:
        """Serve delivery reports (`send_raw` also does, one at a time)."""
        return self._producer.poll(timeout_s)

    def flush(self, timeout_s: float = 30.0) -> None:
        if self._producer.stats.sent:
            self._producer.flush(timeout_s)
