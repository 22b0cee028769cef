"""Peer: the QoE aggregation as a per-event faust-streaming agent (benchmark only).

python -m bench.peers.faust_qoe BOOTSTRAP EVENTS SCHEMA_JSON RESULT_JSON
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import faust

from bench.peers.per_event import PerEventQoe


def main() -> None:
    bootstrap, expected, schema, result = sys.argv[1], int(sys.argv[2]), sys.argv[3], Path(sys.argv[4])
    qoe = PerEventQoe(json.loads(Path(schema).read_text()), expected, result, "faust")
    app = faust.App(
        "bench-faust-qoe",
        broker=f"kafka://{bootstrap}",
        broker_session_timeout=6,
        consumer_auto_offset_reset="earliest",
        topic_partitions=12,
        web_enabled=False,
        store="memory://",
        producer_partitioner=None,
    )
    topic = app.topic("playback.events", value_serializer="raw", key_serializer="raw")

    @app.agent(topic)
    async def aggregate(stream):  # noqa: ANN001, ANN202 - faust's agent signature
        async for value in stream:
            if qoe.add(qoe.decode(value)):
                os._exit(0)  # the result is written; nothing else to wait for

    worker = faust.Worker(app, loglevel="warning", quiet=True)
    worker.execute_from_commandline()


if __name__ == "__main__":
    main()
