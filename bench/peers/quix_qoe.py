"""Peer: the QoE aggregation as a Quix Streams job with a 1-minute tumbling window (benchmark only).

Runs in its own virtualenv (Quix Streams pins an older confluent-kafka than playpulse):

    python -m bench.peers.quix_qoe BOOTSTRAP EVENTS SCHEMA_JSON RESULT_JSON
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from quixstreams import Application
from quixstreams.models.serializers import Deserializer

from bench.peers.per_event import PerEventQoe


def main() -> None:
    bootstrap, expected, schema, result = sys.argv[1], int(sys.argv[2]), sys.argv[3], Path(sys.argv[4])
    qoe = PerEventQoe(json.loads(Path(schema).read_text()), expected, result, "quixstreams")

    class AvroBody(Deserializer):
        def __call__(self, value: bytes, ctx: Any) -> Any:
            return qoe.decode(value)

    app = Application(
        broker_address=bootstrap,
        state_dir=tempfile.mkdtemp(prefix="quix-state-"),
        consumer_group="bench-quix-qoe",
        auto_offset_reset="earliest",
        consumer_extra_config={"session.timeout.ms": 6000},
        use_changelog_topics=False,
        loglevel="WARNING",
    )
    topic = app.topic(
        "playback.events",
        value_deserializer=AvroBody(),
        timestamp_extractor=lambda value, headers, ts, ts_type: value["event_ts_ms"],
    )
    sdf = app.dataframe(topic)

    def fold(event: dict[str, Any]) -> dict[str, Any]:
        if qoe.add(event):
            os._exit(0)
        return event

    sdf = sdf.update(fold)
    sdf = sdf.tumbling_window(60_000).reduce(lambda total, event: total + 1, lambda event: 1).final()
    app.run(sdf)


if __name__ == "__main__":
    main()
