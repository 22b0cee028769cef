"""The Kafka topics of playpulse: names, partition counts and configs (DESIGN.md, "Data flow").

`playback.events` and its dead-letter topic keep data (time retention, never compacted);
`qoe.minute` is compacted, because each record is the latest value of one idempotent key
(window × slice × source partition).
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["ALERTS", "DLQ", "EVENTS", "QOE_MINUTE", "TOPICS", "TopicSpec"]


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    config: dict[str, str] = field(default_factory=dict)
    doc: str = ""


_SEVEN_DAYS_MS = str(7 * 24 * 3600 * 1000)

EVENTS = TopicSpec(
    "playback.events",
    12,
    {"cleanup.policy": "delete", "retention.ms": _SEVEN_DAYS_MS},
    "PlaybackEvent records, Avro in the Confluent wire format, key = user_id (murmur2).",
)
DLQ = TopicSpec(
    "playback.events.dlq",
    3,
    {"cleanup.policy": "delete", "retention.ms": _SEVEN_DAYS_MS},
    "Rejected input: the original bytes as value, the reason in the headers.",
)
QOE_MINUTE = TopicSpec(
    "qoe.minute",
    12,
    {"cleanup.policy": "compact"},
    "Per-minute QoE aggregates, keyed by window × slice × source partition (idempotent).",
)
ALERTS = TopicSpec(
    "qoe.alerts",
    3,
    {"cleanup.policy": "delete", "retention.ms": _SEVEN_DAYS_MS},
    "Alert lifecycle messages (pending, firing, resolved), keyed by fingerprint.",
)

TOPICS: tuple[TopicSpec, ...] = (EVENTS, DLQ, QOE_MINUTE, ALERTS)
