"""The producer against the real broker, and against no broker at all."""

from __future__ import annotations

import pytest
from confluent_kafka import Consumer

from ingest.producer import Backpressure, BrokerUnavailable, EventProducer, ProduceError
from playpulse.config import KafkaSettings, Settings
from schemas.topics import EVENTS
from tests.support.net import free_port

pytestmark = pytest.mark.integration


def test_unreachable_broker_is_a_clear_error() -> None:
    producer = EventProducer(KafkaSettings(bootstrap_servers=f"127.0.0.1:{free_port()}"))
    with pytest.raises(BrokerUnavailable, match=r"cannot reach Kafka at 127\.0\.0\.1:\d+.*playpulse up"):
        producer.check_broker(timeout_s=1)


def test_full_buffer_pushes_back_instead_of_dropping() -> None:
    producer = EventProducer(
        KafkaSettings(bootstrap_servers=f"127.0.0.1:{free_port()}"),
        max_buffered=50,
        block_timeout_s=0.3,
        delivery_timeout_ms=1_000,
    )
    for i in range(50):
        producer.send(f"u{i}", b"x")
    with pytest.raises(Backpressure, match="buffer full"):
        producer.send("u50", b"x")
    assert producer.stats.sent == 50
    # Undeliverable messages are reported as failed, never forgotten.
    with pytest.raises(ProduceError, match="50 messages were not accepted"):
        producer.flush(timeout_s=10)
    assert producer.stats.failed == 50 and producer.stats.delivered == 0


def test_keys_land_where_java_clients_put_them(settings: Settings, start_stack) -> None:
    """murmur2: the partitions of these keys are the ones Kafka's Java DefaultPartitioner picks."""
    start_stack(workers=())
    producer = EventProducer(settings.kafka)
    keys = ["u0000001", "u0000002", "u0012345", "user-42", "a"]
    for key in keys:
        producer.send(key, key.encode())
    producer.flush()
    consumer = Consumer(
        {**settings.kafka.client_config(), "group.id": "t", "auto.offset.reset": "earliest",
         "session.timeout.ms": 6000}
    )
    consumer.subscribe([EVENTS.name])
    seen: dict[str, int] = {}
    while len(seen) < len(keys):
        for message in consumer.consume(100, timeout=1):
            if message.error() is None:
                seen[message.key().decode()] = message.partition()
    consumer.close()
    assert seen == {key: _java_partition(key.encode(), EVENTS.partitions) for key in keys}


def _java_partition(key: bytes, partitions: int) -> int:
    """Kafka's Utils.murmur2 (seed 0x9747b28c) and toPositive(hash) % partitions, written out."""
    m, r, mask = 0x5BD1E995, 24, 0xFFFFFFFF
    length = len(key)
    h = (0x9747B28C ^ length) & mask
    for i in range(0, length - length % 4, 4):
        k = int.from_bytes(key[i : i + 4], "little")
        k = (k * m) & mask
        k ^= k >> r
        k = (k * m) & mask
        h = (h * m) & mask
        h ^= k
    tail = length % 4
    base = length - tail
    if tail == 3:
        h ^= key[base + 2] << 16
    if tail >= 2:
        h ^= key[base + 1] << 8
    if tail >= 1:
        h ^= key[base]
        h = (h * m) & mask
    h ^= h >> 13
    h = (h * m) & mask
    h ^= h >> 15
    return (h & 0x7FFFFFFF) % partitions
