"""BACKWARD compatibility: the current PlaybackEvent against its history, and the rules themselves."""

from __future__ import annotations

import copy
import io

import fastavro
import pytest

from schemas.compatibility import backward_problems, forward_problems
from schemas.events import playback_event_schema
from schemas.history import check_history, published_versions


def _with_field(schema: dict, field: dict) -> dict:
    new = copy.deepcopy(schema)
    new["fields"].append(field)
    return new


def _field(schema: dict, name: str) -> dict:
    return next(f for f in schema["fields"] if f["name"] == name)


def test_current_schema_reads_every_published_version() -> None:
    assert [v for v, _ in published_versions()] == [1, 2]
    assert check_history() == []


def test_latest_published_version_is_the_current_schema() -> None:
    # Publishing means copying the current schema into history; a drift means it was forgotten.
    assert published_versions()[-1][1] == playback_event_schema()


def test_adding_a_field_with_a_default_is_compatible() -> None:
    current = playback_event_schema()
    new = _with_field(current, {"name": "cmcd_session_type", "type": ["null", "string"], "default": None})
    assert backward_problems(new, current) == []
    assert check_history(new) == []


def test_adding_a_field_without_a_default_is_rejected_with_a_fix() -> None:
    current = playback_event_schema()
    new = _with_field(current, {"name": "drm_system", "type": "string"})
    problems = check_history(new)
    assert problems and all("drm_system: new field without a default" in p for p in problems)
    assert "add a default" in problems[0]


@pytest.mark.parametrize(
    ("field", "new_type", "compatible"),
    [
        ("seq", "long", True),  # int -> long is an Avro promotion
        ("bitrate_kbps", ["null", "long"], True),
        ("startup_ms", ["null", "int"], False),  # long -> int narrows
        ("title_id", "bytes", True),  # string <-> bytes
        ("fatal", "string", False),
    ],
)
def test_type_changes(field: str, new_type: object, compatible: bool) -> None:
    current = playback_event_schema()
    new = copy.deepcopy(current)
    _field(new, field)["type"] = new_type
    assert (backward_problems(new, current) == []) is compatible


def test_removing_an_enum_symbol_is_tolerated_only_through_the_default() -> None:
    current = playback_event_schema()
    new = copy.deepcopy(current)
    event_type = _field(new, "event_type")["type"]
    event_type["symbols"] = [s for s in event_type["symbols"] if s != "SEEK"]
    assert backward_problems(new, current) == []  # SEEK is read as the default UNKNOWN
    del event_type["default"]
    assert any("lost symbols ['SEEK']" in p for p in backward_problems(new, current))


def test_adding_an_event_type_is_forward_compatible_thanks_to_the_default() -> None:
    current = playback_event_schema()
    new = copy.deepcopy(current)
    _field(new, "event_type")["type"]["symbols"].insert(0, "AD_BREAK_START")
    assert backward_problems(new, current) == []
    assert forward_problems(new, current) == []


def test_the_checker_agrees_with_real_avro_resolution() -> None:
    """What the checker accepts, fastavro can actually read; v1 data through the current schema."""
    v1 = published_versions()[0][1]
    record = {
        "event_id": "7d3c1f6e-6a59-4a8e-9a5c-1f0f4f1d2b3c",
        "event_type": "PLAY_START",
        "event_ts_ms": 1_700_000_000_000,
        "received_ts_ms": 1_700_000_000_120,
        "user_id": "u0000001",
        "session_id": "0b8f3c5e-2a7d-4f4e-8c1b-9d0e6f5a4b3c",
        "title_id": "t00042",
        "device": {"type": "TV", "os": "tizen", "app_version": "8.1.0"},
        "region": "us-east",
        "country": "US",
        "isp": "comcast",
        "cdn": "oca",
        "oca_id": "oca-us-east-comcast-01",
        "startup_ms": 950,
        "rebuffer_ms": None,
        "bitrate_kbps": 5800,
        "position_ms": 0,
        "error_code": None,
        "fatal": False,
        "experiments": {"artwork-v2": "treatment"},
    }
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, fastavro.parse_schema(v1), record)
    buffer.seek(0)
    current = fastavro.parse_schema(copy.deepcopy(playback_event_schema()))
    read = fastavro.schemaless_reader(buffer, fastavro.parse_schema(v1), current)
    assert read["seq"] == 0 and read["played_ms"] is None and read["end_reason"] is None
    assert read["startup_ms"] == 950
