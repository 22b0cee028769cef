"""Confluent wire format: header layout, round trips, resolution across versions, bad bytes."""

from __future__ import annotations

import pytest

from schemas.events import playback_event_schema
from schemas.history import published_versions
from schemas.serde import AvroSerde, SerializationError, split_wire

RECORD = {
    "event_id": "7d3c1f6e-6a59-4a8e-9a5c-1f0f4f1d2b3c",
    "event_type": "REBUFFER_END",
    "event_ts_ms": 1_700_000_000_000,
    "received_ts_ms": 1_700_000_000_250,
    "user_id": "u0000001",
    "session_id": "0b8f3c5e-2a7d-4f4e-8c1b-9d0e6f5a4b3c",
    "seq": 7,
    "title_id": "t00042",
    "device": {"type": "MOBILE", "os": "ios", "app_version": "16.2.1"},
    "region": "eu-west",
    "country": "GB",
    "isp": "bt",
    "cdn": "oca",
    "oca_id": None,
    "startup_ms": None,
    "rebuffer_ms": 1234,
    "bitrate_kbps": 2800,
    "position_ms": 61_000,
    "buffer_length_ms": 0,
    "throughput_kbps": 3100,
    "content_duration_ms": None,
    "played_ms": 0,
    "end_reason": None,
    "error_code": None,
    "fatal": False,
    "experiments": {"abr-fast-start": "control"},
}


def test_wire_format_header_and_round_trip() -> None:
    serde = AvroSerde(playback_event_schema(), schema_id=42)
    data = serde.encode(RECORD)
    assert data[0] == 0 and int.from_bytes(data[1:5], "big") == 42
    schema_id, body = split_wire(data)
    assert schema_id == 42 and len(body) == len(data) - 5
    assert serde.decode(data) == RECORD


def test_old_writer_is_resolved_through_the_registry() -> None:
    v1 = published_versions()[0][1]
    old = AvroSerde(v1, schema_id=1)
    v1_record = {k: v for k, v in RECORD.items() if any(f["name"] == k for f in v1["fields"])}
    new = AvroSerde(playback_event_schema(), schema_id=2, writer_schemas={1: v1}.__getitem__)
    decoded = new.decode(old.encode(v1_record))
    assert decoded["seq"] == 0 and decoded["rebuffer_ms"] == 1234


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "shorter than the 5-byte"),
        (b"\x01\x00\x00\x00\x2a\x00", "unknown magic byte 1"),
        (b"\x00\x00\x00\x00\x07abc", "only knows id 42"),
        (b"\x00\x00\x00\x00\x2a\x02", "does not decode"),
    ],
)
def test_bad_bytes_raise_a_serialization_error(data: bytes, message: str) -> None:
    serde = AvroSerde(playback_event_schema(), schema_id=42)
    with pytest.raises(SerializationError, match=message):
        serde.decode(data)


def test_a_record_that_does_not_match_is_refused() -> None:
    serde = AvroSerde(playback_event_schema(), schema_id=42)
    with pytest.raises(SerializationError, match="does not match"):
        serde.encode({**RECORD, "event_type": "TELEPORT"})
