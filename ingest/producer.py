"""The Kafka producer of playpulse: idempotent, keyed by user, bounded, never silently dropping.

Guarantees:
- Idempotent (`enable.idempotence`): broker-side retries never duplicate or reorder a partition.
- `partitioner=murmur2_random`, so a user's events land in the partition Java clients, faust and
  aiokafka would pick for the same key (DESIGN.md).
- Bounded buffering: at most `max_buffered` messages wait in memory. When it is full, `send`
  blocks, serving delivery reports, for up to `block_timeout_s`, then raises `Backpressure`:
  the caller decides (the collector answers 503 with Retry-After); nothing is dropped here.
- Every message ends counted in `stats` as delivered or failed; `flush` raises `ProduceError`
  when anything failed, naming the broker's reason.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
from confluent_kafka import KafkaError, KafkaException, Message, Producer

from playpulse.config import KafkaSettings
from schemas.serde import AvroSerde
from schemas.topics import EVENTS

__all__ = ["Backpressure", "BrokerUnavailable", "EventProducer", "ProduceError", "ProducerStats"]


class BrokerUnavailable(ConnectionError):
    """Kafka cannot be reached; the message names the servers and what to check."""


class Backpressure(RuntimeError):
    """The bounded buffer stayed full for longer than the caller agreed to wait."""


class ProduceError(RuntimeError):
    """Messages the broker did not accept after all retries."""


@dataclass
class ProducerStats:
    sent: int = 0
    delivered: int = 0
    failed: int = 0
    errors: Counter[str] = field(default_factory=Counter)

    @property
    def in_flight(self) -> int:
        return self.sent - self.delivered - self.failed


class EventProducer:
    """Produce values keyed by user to one topic (default `playback.events`)."""

    def __init__(
        self,
        kafka: KafkaSettings,
        serde: AvroSerde | None = None,
        *,
        topic: str = EVENTS.name,
        max_buffered: int = 100_000,
        block_timeout_s: float = 30.0,
        delivery_timeout_ms: int = 120_000,
        linger_ms: int = 20,
        extra_config: dict[str, Any] | None = None,
        on_delivery: Callable[[KafkaError | None, Message], None] | None = None,
    ) -> None:
        """`on_delivery`, when given, is also called with every delivery report (from `poll`)."""
        self.topic = topic
        self._listener = on_delivery
        self.serde = serde
        self.stats = ProducerStats()
        self.block_timeout_s = block_timeout_s
        self._servers = kafka.bootstrap_servers
        self._producer = Producer(
            {
                **kafka.client_config(),
                "enable.idempotence": True,
                "partitioner": "murmur2_random",
                "queue.buffering.max.messages": max_buffered,
                "linger.ms": linger_ms,
                "compression.type": "lz4",
                "delivery.timeout.ms": delivery_timeout_ms,
                **(extra_config or {}),
            }
        )

    def check_broker(self, timeout_s: float = 5.0) -> None:
        """Raise `BrokerUnavailable` unless the cluster answers metadata for our topic in time."""
        try:
            metadata = self._producer.list_topics(self.topic, timeout=timeout_s)
        except KafkaException as exc:
            raise BrokerUnavailable(
                f"cannot reach Kafka at {self._servers} within {timeout_s:.0f} s ({exc.args[0]}); "
                "start the local stack with `playpulse up`, or set kafka.bootstrap_servers"
            ) from exc
        topic = metadata.topics.get(self.topic)
        if topic is None or topic.error is not None:
            raise BrokerUnavailable(
                f"Kafka at {self._servers} has no topic {self.topic!r}; `playpulse up` creates the topics"
            )

    def _on_delivery(self, err: KafkaError | None, msg: Any) -> None:
        if err is None:
            self.stats.delivered += 1
        else:
            self.stats.failed += 1
            self.stats.errors[err.name()] += 1
        if self._listener is not None:
            self._listener(err, msg)

    def send(self, key: str | bytes | None, value: bytes, headers: list[tuple[str, bytes]] | None = None) -> None:
        """Queue one message; blocks while the buffer is full, `Backpressure` after the timeout."""
        deadline: float | None = None
        while True:
            try:
                self._producer.produce(self.topic, value, key, on_delivery=self._on_delivery, headers=headers)
                break
            except BufferError:
                now = time.monotonic()
                deadline = deadline or now + self.block_timeout_s
                if now >= deadline:
                    raise Backpressure(
                        f"producer buffer full for {self.block_timeout_s:.0f} s "
                        f"({self.stats.in_flight} messages waiting for {self._servers}); retry later"
                    ) from None
                self._producer.poll(0.05)
        self.stats.sent += 1
        self._producer.poll(0)

    def send_many(self, keys: Sequence[str | bytes | None], values: Sequence[bytes]) -> None:
        """Queue many messages like `send`, serving delivery reports once at the end instead of
        after each one; when the buffer fills up, the rest go through `send` (block, `Backpressure`)."""
        produce, topic, report = self._producer.produce, self.topic, self._on_delivery
        queued = 0
        try:
            for key, value in zip(keys, values, strict=True):
                produce(topic, value, key, on_delivery=report)
                queued += 1
        except BufferError:
            self.stats.sent += queued
            for key, value in zip(keys[queued:], values[queued:], strict=True):
                self.send(key, value)
            return
        self.stats.sent += queued
        self._producer.poll(0)

    def send_records(self, records: Iterable[dict[str, Any]]) -> int:
        """Serialize and queue Avro-shaped event dicts, keyed by their user_id."""
        if self.serde is None:
            raise TypeError("EventProducer was created without a serde; pass one to send records")
        count = 0
        for record in records:
            self.send(record["user_id"], self.serde.encode(record))
            count += 1
        return count

    def send_batch(self, batch: pa.RecordBatch | pa.Table, received_ts_ms: int | None = None) -> int:
        """Queue every event of a flat event batch, keyed by user_id; optionally stamp
        `received_ts_ms` now. The whole batch is encoded at once (`AvroSerde.encode_table`)."""
        if self.serde is None:
            raise TypeError("EventProducer was created without a serde; pass one to send records")
        if received_ts_ms is not None:
            stamped = pa.array(np.full(batch.num_rows, received_ts_ms, dtype=np.int64))
            index = batch.schema.get_field_index("received_ts_ms")
            batch = (
                batch.append_column("received_ts_ms", stamped)
                if index < 0
                else batch.set_column(index, batch.schema.field(index), stamped)
            )
        values = self.serde.encode_table(batch)
        keys = batch.column("user_id").to_pylist()
        self.send_many(keys, values if isinstance(values, list) else values.to_pylist())
        return batch.num_rows

    def poll(self, timeout_s: float = 0.0) -> int:
        return self._producer.poll(timeout_s)

    def flush(self, timeout_s: float = 60.0) -> None:
        """Wait until every queued message is delivered or failed; raise if any failed or remain."""
        remaining = self._producer.flush(timeout_s)
        if remaining:
            raise ProduceError(
                f"{remaining} messages still undelivered to {self._servers} after {timeout_s:.0f} s"
            )
        if self.stats.failed:
            reasons = ", ".join(f"{name}×{n}" for name, n in self.stats.errors.most_common())
            raise ProduceError(f"{self.stats.failed} messages were not accepted by Kafka: {reasons}")

    def close(self, timeout_s: float = 60.0) -> None:
        self.flush(timeout_s)
