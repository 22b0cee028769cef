"""Validation of beacon items: a table of bad items and the reason each gets, the good ones that pass
(normalized), and the batch outcome equal to validating each item alone (column fast paths agree
with the item-by-item checks)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.collector.validation import REASONS, BatchValidator
from schemas.events import playback_event_schema

NOW = 1_800_000_000_000
DAY = 86_400_000
VALIDATOR = BatchValidator(playback_event_schema())


def valid(**overrides: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "event_id": "9f3c1f4e-2b7a-4c5d-8e9f-0a1b2c3d4e5f",
        "event_type": "HEARTBEAT",
        "event_ts_ms": NOW - 1_000,
        "user_id": "u0000042",
        "session_id": "0d4c2b1a-9e8f-4a7b-8c6d-5e4f3a2b1c0d",
        "seq": 7,
        "title_id": "t000123",
        "device": {"type": "TV", "os": "tizen", "app_version": "8.112.0"},
        "region": "us-east",
        "country": "US",
        "isp": "Comcast",
        "cdn": "oca",
        "bitrate_kbps": 5800,
        "position_ms": 600_000,
        "played_ms": 10_000,
    }
    item.update(overrides)
    return item


def without(*fields: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def change(item: dict[str, Any]) -> dict[str, Any]:
        for field in fields:
            if "." in field:
                parent, child = field.split(".")
                del item[parent][child]
            else:
                del item[field]
        return item

    return change


def with_(**values: Any) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def change(item: dict[str, Any]) -> dict[str, Any]:
        for field, value in values.items():
            if "__" in field:
                parent, child = field.split("__")
                item[parent][child] = value
            else:
                item[field] = value
        return item

    return change


REJECTED = [
    # (case, change, reason, field)
    ("a number", lambda item: 5, "not_an_object", None),
    ("an array", lambda item: [item], "not_an_object", None),
    ("a string", lambda item: "event", "not_an_object", None),
    ("unknown field", with_(colour="red"), "unknown_field", "colour"),
    ("unknown device field", with_(device__ram=4), "unknown_field", "device.ram"),
    ("no event_id", without("event_id"), "missing_field", "event_id"),
    ("null user_id", with_(user_id=None), "missing_field", "user_id"),
    ("no device", without("device"), "missing_field", "device"),
    ("device a string", with_(device="TV"), "wrong_type", "device"),
    ("no device.os", without("device.os"), "missing_field", "device.os"),
    ("event_id not a UUID", with_(event_id="evt-1"), "invalid_format", "event_id"),
    (
        "event_id with a newline",
        with_(event_id="9f3c1f4e-2b7a-4c5d-8e9f-0a1b2c3d4e5f\n"),
        "invalid_format",
        "event_id",
    ),
    ("event_type not a symbol", with_(event_type="PAUSE"), "invalid_enum", "event_type"),
    ("event_type UNKNOWN (readers only)", with_(event_type="UNKNOWN"), "invalid_enum", "event_type"),
    ("event_type lower case", with_(event_type="heartbeat"), "invalid_enum", "event_type"),
    ("event_type a number", with_(event_type=3), "wrong_type", "event_type"),
    ("device.type not a symbol", with_(device__type="FRIDGE"), "invalid_enum", "device.type"),
    ("event_ts_ms a string", with_(event_ts_ms=str(NOW)), "wrong_type", "event_ts_ms"),
    ("event_ts_ms a boolean", with_(event_ts_ms=True), "wrong_type", "event_ts_ms"),
    ("event_ts_ms negative", with_(event_ts_ms=-1), "out_of_range", "event_ts_ms"),
    ("event_ts_ms beyond 64 bits", with_(event_ts_ms=2**64), "out_of_range", "event_ts_ms"),
    ("event_ts_ms 301 s ahead", with_(event_ts_ms=NOW + 301_000), "clock_skew", "event_ts_ms"),
    ("event_ts_ms 8 days old", with_(event_ts_ms=NOW - 8 * DAY), "clock_skew", "event_ts_ms"),
    ("seq negative", with_(seq=-1), "out_of_range", "seq"),
    ("seq beyond int32", with_(seq=2**31), "out_of_range", "seq"),
    ("seq null (has a default, not nullable)", with_(seq=None), "wrong_type", "seq"),
    ("negative startup", with_(event_type="PLAY_START", startup_ms=-5), "out_of_range", "startup_ms"),
    (
        "rebuffer over a day",
        with_(event_type="REBUFFER_END", rebuffer_ms=DAY + 1),
        "out_of_range",
        "rebuffer_ms",
    ),
    ("bitrate a string", with_(bitrate_kbps="5800"), "wrong_type", "bitrate_kbps"),
    ("bitrate over 1 Gbps", with_(bitrate_kbps=1_000_001), "out_of_range", "bitrate_kbps"),
    ("position 1e300", with_(position_ms=1e300), "out_of_range", "position_ms"),
    ("negative played", with_(played_ms=-0.6), "out_of_range", "played_ms"),
    ("throughput an object", with_(throughput_kbps={"v": 1}), "wrong_type", "throughput_kbps"),
    ("country lower case", with_(country="us"), "invalid_format", "country"),
    ("country three letters", with_(country="USA"), "invalid_format", "country"),
    ("country not ASCII", with_(country="ÜS"), "invalid_format", "country"),
    ("empty title", with_(title_id=""), "invalid_format", "title_id"),
    ("user_id 129 characters", with_(user_id="u" * 129), "too_long", "user_id"),
    ("session_id 65 characters", with_(session_id="s" * 65), "too_long", "session_id"),
    ("experiments an array", with_(experiments=[]), "wrong_type", "experiments"),
    ("experiments null", with_(experiments=None), "wrong_type", "experiments"),
    ("experiment cell a number", with_(experiments={"t1": 2}), "wrong_type", "experiments.t1"),
    ("experiment cell empty", with_(experiments={"t1": ""}), "invalid_format", "experiments"),
    ("65 experiments", with_(experiments={f"t{i}": "c" for i in range(65)}), "too_long", "experiments"),
    ("fatal a string", with_(fatal="yes"), "wrong_type", "fatal"),
    (
        "end_reason not a symbol",
        with_(event_type="PLAY_END", end_reason="BORED"),
        "invalid_enum",
        "end_reason",
    ),
    ("PLAY_START without startup_ms", with_(event_type="PLAY_START"), "missing_field", "startup_ms"),
    ("REBUFFER_END without rebuffer_ms", with_(event_type="REBUFFER_END"), "missing_field", "rebuffer_ms"),
    ("PLAY_END without end_reason", with_(event_type="PLAY_END"), "missing_field", "end_reason"),
    ("ERROR without error_code", with_(event_type="ERROR", fatal=True), "missing_field", "error_code"),
    (
        "first problem in schema order wins",
        with_(event_type="PAUSE", country="us"),
        "invalid_enum",
        "event_type",
    ),
    ("a field before the device comes first", lambda item: {"device": 1}, "missing_field", "event_id"),
]


@pytest.mark.parametrize(("case", "change", "reason", "field"), REJECTED, ids=[c[0] for c in REJECTED])
def test_rejected_with_reason(case: str, change: Callable, reason: str, field: str | None) -> None:
    item = change(copy.deepcopy(valid()))
    batch = VALIDATOR.validate([valid(), item, valid()], NOW)
    assert batch.accepted == [0, 2]
    rejection = batch.rejections[1]
    assert (rejection.reason, rejection.field) == (reason, field)
    assert rejection.reason in REASONS and rejection.detail
    assert len(batch.columns["event_id"]) == 2


ACCEPTED = [
    # (case, change, field, value in the column)
    ("fractional ms are rounded", with_(event_type="PLAY_START", startup_ms=812.6), "startup_ms", 813),
    ("integral float", with_(bitrate_kbps=5800.0), "bitrate_kbps", 5800),
    ("a client's received_ts_ms is replaced", with_(received_ts_ms="whenever"), "received_ts_ms", NOW),
    ("seq defaults to 0", without("seq"), "seq", 0),
    ("fatal defaults to false", without("played_ms"), "fatal", False),
    ("experiments default to {}", without("played_ms"), "experiments", {}),
    ("null optional field", with_(oca_id=None), "oca_id", None),
    ("missing optional field", without("bitrate_kbps"), "bitrate_kbps", None),
    (
        "upper-case UUID",
        with_(event_id="9F3C1F4E-2B7A-4C5D-8E9F-0A1B2C3D4E5F"),
        "event_id",
        "9F3C1F4E-2B7A-4C5D-8E9F-0A1B2C3D4E5F",
    ),
    ("299 s ahead is within the skew", with_(event_ts_ms=NOW + 299_000), "event_ts_ms", NOW + 299_000),
    (
        "a week old minus a second",
        with_(event_ts_ms=NOW - 7 * DAY + 1_000),
        "event_ts_ms",
        NOW - 7 * DAY + 1_000,
    ),
    (
        "end_reason UNKNOWN is a writer's symbol",
        with_(event_type="PLAY_END", end_reason="UNKNOWN"),
        "end_reason",
        "UNKNOWN",
    ),
    ("unicode strings", with_(isp="Télécom ☎ 𝄞"), "isp", "Télécom ☎ 𝄞"),
    ("experiments", with_(experiments={"artwork-42": "cell-2"}), "experiments", {"artwork-42": "cell-2"}),
    ("largest int32 seq", with_(seq=2**31 - 1), "seq", 2**31 - 1),
]


@pytest.mark.parametrize(("case", "change", "field", "value"), ACCEPTED, ids=[c[0] for c in ACCEPTED])
def test_accepted_and_normalized(case: str, change: Callable, field: str, value: Any) -> None:
    item = change(copy.deepcopy(valid()))
    batch = VALIDATOR.validate([item], NOW)
    assert batch.rejections == {}
    assert batch.accepted == [0]
    assert batch.columns[field] == [value]


def test_columns_follow_the_accepted_items() -> None:
    items = [valid(user_id=f"u{i}", seq=i) for i in range(6)]
    items[1]["seq"] = -1
    items[4] = "junk"
    batch = VALIDATOR.validate(items, NOW)
    assert batch.accepted == [0, 2, 3, 5]
    assert batch.columns["user_id"] == ["u0", "u2", "u3", "u5"]
    assert batch.columns["seq"] == [0, 2, 3, 5]
    assert batch.columns["device.type"] == ["TV"] * 4
    assert set(batch.columns) == {leaf.path for leaf in VALIDATOR.leaves}


def test_empty_batch() -> None:
    batch = VALIDATOR.validate([], NOW)
    assert (batch.size, batch.accepted, batch.rejections) == (0, [], {})


def test_lone_surrogates_are_refused_when_asked() -> None:
    item = valid(isp="bad \ud800 isp")
    assert VALIDATOR.validate([item], NOW, check_unicode=True).rejections[0].reason == "invalid_format"


# -- the batch outcome is the outcome of each item alone ------------------------------------------
_MUTATIONS: list[Callable[[dict[str, Any]], Any]] = [change for _, change, _, _ in REJECTED] + [
    change for _, change, _, _ in ACCEPTED
]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.sampled_from(range(len(_MUTATIONS)))), max_size=25))
def test_batch_outcome_equals_item_by_item(plan: list[tuple[bool, int]]) -> None:
    items = [_MUTATIONS[m](copy.deepcopy(valid())) if mutate else valid() for mutate, m in plan]
    batch = VALIDATOR.validate(items, NOW)
    assert sorted([*batch.accepted, *batch.rejections]) == list(range(len(items)))
    for i, item in enumerate(items):
        alone = VALIDATOR.validate([item], NOW)
        if i in batch.rejections:
            assert alone.rejections[0] == batch.rejections[i]
        else:
            row = batch.accepted.index(i)
            assert {p: c[row] for p, c in batch.columns.items()} == {
                p: c[0] for p, c in alone.columns.items()
            }
