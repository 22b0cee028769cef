"""The QoE aggregation written the way a per-event stream processor runs it: one Python call per
event, dict state, `ddsketch.DDSketch.add` per start. The peers (faust, Quix Streams) run this,
so the comparison with playpulse's vectorized job is about the runtime, not about the maths."""

from __future__ import annotations

import io
import json
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import fastavro
from ddsketch import DDSketch

# The grouping sets of streaming.qoe.DEFAULT_SLICES, written out: this module also runs in the peers'
# virtualenv, which has none of playpulse's dependencies.
SLICES = (
    (),
    ("region",),
    ("country",),
    ("device_type",),
    ("isp",),
    ("cdn",),
    ("oca_id",),
    ("region", "device_type"),
)


class PerEventQoe:
    def __init__(self, schema: dict[str, Any], expected: int, result_path: Path, name: str) -> None:
        self.parsed = fastavro.parse_schema(schema)
        self.expected = expected
        self.result_path = result_path
        self.name = name
        self.counts: dict[tuple, list[int]] = defaultdict(lambda: [0] * 6)
        self.sketches: dict[tuple, DDSketch] = {}
        self.seen = 0
        self.started: float | None = None

    def decode(self, value: bytes) -> dict[str, Any]:
        return fastavro.schemaless_reader(io.BytesIO(value[5:]), self.parsed)  # type: ignore[return-value]

    def add(self, event: dict[str, Any]) -> bool:
        """Fold one decoded event; True once every expected event was seen (result written)."""
        if self.started is None:
            self.started = time.perf_counter()
        window = event["event_ts_ms"] // 60_000
        kind = event["event_type"]
        device = event["device"]
        values = {
            "region": event["region"],
            "country": event["country"],
            "device_type": device["type"],
            "isp": event["isp"],
            "cdn": event["cdn"],
            "oca_id": event["oca_id"] or "",
        }
        for dims in SLICES:
            key = (window, dims, *(values[d] for d in dims))
            c = self.counts[key]
            c[0] += kind == "PLAY_REQUEST"
            c[1] += kind == "PLAY_START"
            c[2] += event["played_ms"] or 0
            c[3] += (event["rebuffer_ms"] or 0) if kind == "REBUFFER_END" else 0
            c[4] += event["end_reason"] == "START_FAILURE"
            c[5] += event["end_reason"] == "EXIT_BEFORE_START"
            if kind == "PLAY_START" and event["startup_ms"]:
                sketch = self.sketches.get(key)
                if sketch is None:
                    sketch = self.sketches[key] = DDSketch(0.01)
                sketch.add(event["startup_ms"])
        self.seen += 1
        if self.seen >= self.expected:
            elapsed = time.perf_counter() - self.started
            self.result_path.write_text(
                json.dumps(
                    {"peer": self.name, "events": self.seen, "seconds": elapsed, "groups": len(self.counts)}
                )
            )
            return True
        return False
