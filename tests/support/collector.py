"""The collector on a real uvicorn server (uvloop, httptools) on a free loopback port, in a thread,
and helpers to count what reached the topics (consume and count: never trust Tansu's lag)."""

from __future__ import annotations

import io
import os
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fastavro
import httpx
import pytest
import uvicorn
from confluent_kafka import Consumer, TopicPartition

from ingest.collector.app import Collector
from ingest.collector.server import server_config
from playpulse.config import Settings, load_settings
from playpulse.net import free_port
from playpulse.stack import LocalStack
from schemas.events import playback_event_schema

__all__ = [
    "RunningCollector",
    "TopicReader",
    "decode_event",
    "event",
    "metric",
    "private_stack",
    "running_collector",
]


@dataclass
class RunningCollector:
    url: str
    server: uvicorn.Server
    app: Any

    @property
    def collector(self) -> Collector:
        return self.app.state.collector["collector"]

    def metrics(self) -> str:
        return httpx.get(f"{self.url}/metrics", timeout=10).text


@contextmanager
def private_stack(tmp_path: Path, **collector: Any) -> Iterator[tuple[Settings, LocalStack]]:
    """Broker and registry for a whole test module (the `settings` fixture is per test), with
    collector settings `collector`; the environment and working directory as the fixture leaves them."""
    with pytest.MonkeyPatch.context() as patch:
        for name in [n for n in os.environ if n.startswith("PLAYPULSE_")]:
            patch.delenv(name)
        patch.chdir(tmp_path)
        settings = load_settings(
            data_dir=tmp_path / "data",
            kafka={"bootstrap_servers": f"127.0.0.1:{free_port()}"},
            registry={"url": f"http://127.0.0.1:{free_port()}"},
            collector={"port": free_port(), **collector},
        )
        with LocalStack(settings, workers=()) as stack:
            yield settings, stack


@contextmanager
def running_collector(settings: Settings) -> Iterator[RunningCollector]:
    port = free_port()
    config = server_config(settings, "127.0.0.1", port, logs=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="collector", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the collector did not start (is the stack up?)")
        time.sleep(0.02)
    try:
        yield RunningCollector(f"http://127.0.0.1:{port}", server, config.app)
    finally:
        server.should_exit = True
        thread.join(60)


def metric(text: str, name: str, **labels: str) -> float:
    """Sum of the samples of `name` whose labels include `labels`, from Prometheus text."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        series, _, value = line.rpartition(" ")
        metric_name = series.split("{", 1)[0]
        if metric_name != name:
            continue
        if all(f'{k}="{v}"' in series for k, v in labels.items()):
            total += float(value)
    return total


class TopicReader:
    """Reads a topic from the beginning of every partition, remembering where it got to."""

    def __init__(self, settings: Settings, topic: str, partitions: int) -> None:
        self.consumer = Consumer(
            {
                **settings.kafka.client_config(),
                "group.id": f"test-{uuid.uuid4()}",
                "enable.auto.commit": False,
                "session.timeout.ms": 6000,
            }
        )
        self.consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])

    def read(self, expected: int, timeout_s: float = 60.0, quiet_s: float = 0.5) -> list[Any]:
        """At least `expected` new messages, then whatever else arrives within `quiet_s` (so that
        a duplicate would be seen)."""
        messages: list[Any] = []
        deadline = time.monotonic() + timeout_s
        while len(messages) < expected and time.monotonic() < deadline:
            messages.extend(m for m in self.consumer.consume(10_000, timeout=0.5) if m.error() is None)
        quiet_until = time.monotonic() + quiet_s
        while time.monotonic() < quiet_until:
            messages.extend(m for m in self.consumer.consume(10_000, timeout=0.2) if m.error() is None)
        return messages

    def close(self) -> None:
        self.consumer.close()


_PARSED = fastavro.parse_schema(playback_event_schema())


def decode_event(value: bytes) -> dict[str, Any]:
    """A `playback.events` message (Confluent wire format) as a record of the current schema."""
    assert value[0] == 0, "not a Confluent wire-format message"
    return fastavro.schemaless_reader(io.BytesIO(value[5:]), _PARSED)  # type: ignore[return-value]


def event(**overrides: Any) -> dict[str, Any]:
    """A valid beacon item (a HEARTBEAT now), with `overrides` applied."""
    item: dict[str, Any] = {
        "event_id": str(uuid.uuid4()),
        "event_type": "HEARTBEAT",
        "event_ts_ms": int(time.time() * 1000),
        "user_id": "u0000042",
        "session_id": str(uuid.uuid4()),
        "seq": 3,
        "title_id": "t000123",
        "device": {"type": "TV", "os": "tizen", "app_version": "8.112.0"},
        "region": "us-east",
        "country": "US",
        "isp": "Comcast",
        "cdn": "oca",
        "oca_id": "oca-us-east-07",
        "bitrate_kbps": 5800,
        "position_ms": 600_000,
        "buffer_length_ms": 24_000,
        "throughput_kbps": 18_000,
        "played_ms": 10_000,
    }
    item.update(overrides)
    return item
