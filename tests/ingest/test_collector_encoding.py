"""The column-wise Avro encoder writes byte for byte what fastavro writes, for any valid record."""

from __future__ import annotations

import io
from typing import Any

import fastavro
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.collector.encoding import AvroBatchEncoder, avro_leaves
from schemas.events import playback_event_schema

SCHEMA = playback_event_schema()
PARSED = fastavro.parse_schema(SCHEMA)
ENCODER = AvroBatchEncoder(SCHEMA, 1234)
HEADER = b"\x00\x00\x00\x04\xd2"

longs = st.integers(-(2**63), 2**63 - 1)
ints = st.integers(-(2**31), 2**31 - 1)
small = st.integers(-300, 300)  # around the one- and two-byte varint edges
text = st.text(max_size=40)


def enum(name: str) -> st.SearchStrategy[str]:
    leaf = next(leaf for leaf in ENCODER.leaves if leaf.path == name)
    return st.sampled_from(leaf.symbols)


records = st.fixed_dictionaries(
    {
        "event_id": text,
        "event_type": enum("event_type"),
        "event_ts_ms": longs | small,
        "received_ts_ms": longs,
        "user_id": text,
        "session_id": text,
        "seq": ints | small,
        "title_id": text,
        "device": st.fixed_dictionaries({"type": enum("device.type"), "os": text, "app_version": text}),
        "region": text,
        "country": text,
        "isp": text,
        "cdn": text,
        "oca_id": st.none() | text,
        "startup_ms": st.none() | longs | small,
        "rebuffer_ms": st.none() | longs,
        "bitrate_kbps": st.none() | ints,
        "position_ms": st.none() | small,
        "buffer_length_ms": st.none() | longs,
        "throughput_kbps": st.none() | ints,
        "content_duration_ms": st.none() | longs,
        "played_ms": st.none() | small,
        "end_reason": st.none() | enum("end_reason"),
        "error_code": st.none() | text,
        "fatal": st.booleans(),
        "experiments": st.dictionaries(text, text, max_size=4),
    }
)


def columns_of(rows: list[dict[str, Any]]) -> dict[str, list[Any]]:
    def get(row: dict[str, Any], path: str) -> Any:
        for part in path.split("."):
            row = row[part]
        return row

    return {leaf.path: [get(row, leaf.path) for row in rows] for leaf in ENCODER.leaves}


def fastavro_bytes(record: dict[str, Any]) -> bytes:
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, PARSED, record)
    return HEADER + buffer.getvalue()


@settings(max_examples=300, deadline=None)
@given(st.lists(records, min_size=1, max_size=30))
def test_same_bytes_as_fastavro(rows: list[dict[str, Any]]) -> None:
    messages = ENCODER.encode(columns_of(rows), len(rows))
    assert messages == [fastavro_bytes(row) for row in rows]


def test_an_empty_batch_has_no_messages() -> None:
    assert ENCODER.encode({}, 0) == []


def test_the_leaves_of_playback_event() -> None:
    paths = [leaf.path for leaf in avro_leaves(SCHEMA)]
    assert paths[:3] == ["event_id", "event_type", "event_ts_ms"]
    assert "device.type" in paths and "device" not in paths
    nullable = {leaf.path for leaf in avro_leaves(SCHEMA) if leaf.nullable}
    assert nullable == {
        "oca_id",
        "startup_ms",
        "rebuffer_ms",
        "bitrate_kbps",
        "position_ms",
        "buffer_length_ms",
        "throughput_kbps",
        "content_duration_ms",
        "played_ms",
        "end_reason",
        "error_code",
    }


@pytest.mark.parametrize(
    "avro_type",
    [
        ["null", "string", "long"],
        "double",
        {"type": "array", "items": "string"},
        {"type": "map", "values": "long"},
    ],
)
def test_unsupported_types_are_refused_when_built(avro_type: Any) -> None:
    schema = {"type": "record", "name": "R", "fields": [{"name": "x", "type": avro_type}]}
    with pytest.raises(TypeError, match="x"):
        AvroBatchEncoder(schema, 1)
