"""CMCD beacons mapped onto PlaybackEvent: the mapping table, event types, defaults, and what is refused."""

from __future__ import annotations

from typing import Any

import pytest

from ingest.collector.cmcd import CmcdContext, device_from_user_agent, from_cmcd
from ingest.collector.validation import BatchValidator, Rejection
from schemas.events import playback_event_schema

NOW = 1_800_000_000_000
CONTEXT = CmcdContext(received_ms=NOW, key_id="0123456789ab", user_agent="")
SID = "6e2fb550-c457-11e9-bb97-0800200c9a66"


def beacon(**keys: Any) -> dict[str, Any]:
    return {"sid": SID, "cid": "t000123", **keys}


def mapped(item: dict[str, Any]) -> dict[str, Any]:
    result = from_cmcd(item, CONTEXT)
    assert isinstance(result, dict), result
    return result


def test_the_mapping_table() -> None:
    item = mapped(
        beacon(
            br=3200,
            bl=21300,
            mtp=25400,
            ts=NOW - 500,
            pt=61_000,
            cdn="akamai",
            d=4004,
            ot="v",
            sf="d",
            st="v",
            su=True,
            v=2,
            nor="../seg5.m4s",
            tb=6000,
            pr=1,
        )
    )
    assert item == {
        "session_id": SID,
        "title_id": "t000123",
        "bitrate_kbps": 3200,
        "buffer_length_ms": 21300,
        "throughput_kbps": 25400,
        "event_ts_ms": NOW - 500,
        "position_ms": 61_000,
        "cdn": "akamai",
        "event_type": "HEARTBEAT",
        "device": {"type": "OTHER", "os": "unknown", "app_version": "unknown"},
        "user_id": f"cmcd:{SID}",
        "region": "unknown",
        "country": "ZZ",
        "isp": "unknown",
        "event_id": item["event_id"],
    }


@pytest.mark.parametrize(
    ("keys", "event_type", "extra"),
    [
        ({}, "HEARTBEAT", {}),
        ({"bs": True}, "REBUFFER_START", {}),
        ({"bs": False}, "HEARTBEAT", {}),
        ({"sta": "s"}, "PLAY_REQUEST", {}),
        ({"sta": "p"}, "HEARTBEAT", {}),
        ({"sta": "a"}, "HEARTBEAT", {}),
        ({"sta": "k"}, "SEEK", {}),
        ({"sta": "r"}, "REBUFFER_START", {}),
        ({"sta": "e"}, "PLAY_END", {"end_reason": "COMPLETED"}),
        ({"sta": "q"}, "PLAY_END", {"end_reason": "USER_EXIT"}),
        ({"sta": "f"}, "ERROR", {"fatal": True, "error_code": "unknown"}),
        (
            {"sta": "f", "ec": ["DRM_LICENSE", "E42"]},
            "ERROR",
            {"fatal": True, "error_code": "DRM_LICENSE,E42"},
        ),
        ({"ec": "NETWORK_TIMEOUT", "sta": "p"}, "ERROR", {"fatal": False, "error_code": "NETWORK_TIMEOUT"}),
        ({"e": "e"}, "ERROR", {"fatal": False, "error_code": "unknown"}),
        ({"msd": 812, "sta": "p"}, "PLAY_START", {"startup_ms": 812}),
        ({"msd": 812, "bs": True}, "PLAY_START", {"startup_ms": 812}),
        ({"e": "ps", "sta": "k"}, "SEEK", {}),
        ({"bs": True, "sta": "p"}, "HEARTBEAT", {}),
    ],
)
def test_event_type(keys: dict[str, Any], event_type: str, extra: dict[str, Any]) -> None:
    item = mapped(beacon(**keys))
    assert item["event_type"] == event_type
    for field, value in extra.items():
        assert item[field] == value


def test_custom_keys_fill_what_cmcd_lacks() -> None:
    item = mapped(
        beacon(
            **{
                "com.playpulse-uid": "u0000042",
                "com.playpulse-eid": "9f3c1f4e-2b7a-4c5d-8e9f-0a1b2c3d4e5f",
                "com.playpulse-device": "MOBILE",
                "com.playpulse-os": "android",
                "com.playpulse-app": "8.1.0",
                "com.playpulse-region": "eu-west",
                "com.playpulse-country": "DE",
                "com.playpulse-isp": "Telekom",
                "com.playpulse-oca": "oca-eu-west-03",
                "com.playpulse-seq": 4,
                "com.example-other": "ignored",
            }
        )
    )
    assert item["user_id"] == "u0000042"
    assert item["event_id"] == "9f3c1f4e-2b7a-4c5d-8e9f-0a1b2c3d4e5f"
    assert item["device"] == {"type": "MOBILE", "os": "android", "app_version": "8.1.0"}
    assert (item["region"], item["country"], item["isp"], item["oca_id"], item["seq"]) == (
        "eu-west",
        "DE",
        "Telekom",
        "oca-eu-west-03",
        4,
    )


def test_the_same_beacon_from_the_same_key_gets_the_same_id() -> None:
    first, again = mapped(beacon(br=3200, ts=NOW)), mapped(beacon(br=3200, ts=NOW))
    assert first["event_id"] == again["event_id"]
    other_key = from_cmcd(beacon(br=3200, ts=NOW), CmcdContext(NOW, "ba9876543210"))
    assert isinstance(other_key, dict) and other_key["event_id"] != first["event_id"]
    assert mapped(beacon(br=3201, ts=NOW))["event_id"] != first["event_id"]


@pytest.mark.parametrize(
    ("user_agent", "device", "os"),
    [
        ("Mozilla/5.0 (SMART-TV; Linux; Tizen 6.0) AppleWebKit/537.36", "TV", "tizen"),
        ("Mozilla/5.0 (Web0S; Linux/SmartTV) AppleWebKit/537.36", "TV", "webos"),
        ("AppleTV11,1/11.1", "TV", "tvos"),
        ("Mozilla/5.0 (Linux; Android 9; AFTMM Build/PS7233; wv) AppleWebKit/537.36", "TV", "android"),
        ("Roku/DVP-12.5 (12.5.0.4178)", "TV", "roku"),
        ("Mozilla/5.0 (PlayStation; PlayStation 5/2.26) AppleWebKit/605.1.15", "CONSOLE", "playstation"),
        ("Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X)", "TABLET", "ios"),
        ("Mozilla/5.0 (Linux; Android 14; SM-X910) AppleWebKit/537.36 Safari/537.36", "TABLET", "android"),
        ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148", "MOBILE", "ios"),
        (
            "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Mobile Safari/537.36",
            "MOBILE",
            "android",
        ),
        ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/126.0", "WEB", "windows"),
        ("Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) Safari/605.1.15", "WEB", "macos"),
        ("curl/8.5.0", "OTHER", "unknown"),
        ("", "OTHER", "unknown"),
    ],
)
def test_device_from_user_agent(user_agent: str, device: str, os: str) -> None:
    assert device_from_user_agent(user_agent) == (device, os)


@pytest.mark.parametrize(
    ("item", "field"),
    [
        ({"cid": "t1"}, "sid"),
        ({"sid": SID}, "cid"),
        (beacon(sid=42), "sid"),
        (beacon(br="3200"), "br"),
        (beacon(ts=True), "ts"),
        (beacon(bs="true"), "bs"),
        (beacon(sta="x"), "sta"),
        (beacon(sta=1), "sta"),
        (beacon(ec=[]), "ec"),
        (beacon(ec=[1]), "ec"),
        (beacon(**{"com.playpulse-uid": 42}), "com.playpulse-uid"),
    ],
)
def test_invalid_cmcd(item: dict[str, Any], field: str) -> None:
    result = from_cmcd(item, CONTEXT)
    assert isinstance(result, Rejection)
    assert (result.reason, result.field) == ("invalid_cmcd", field)


def test_a_beacon_is_an_object() -> None:
    result = from_cmcd(["sid"], CONTEXT)
    assert isinstance(result, Rejection) and result.reason == "not_an_object"


def test_mapped_beacons_are_valid_playback_events() -> None:
    context = CmcdContext(NOW, "0123456789ab", "Mozilla/5.0 (SMART-TV; Linux; Tizen 6.0)")
    beacons = [
        beacon(),
        beacon(msd=900, br=5800),
        beacon(sta="e", pt=7_100_000),
        beacon(ec="E1", sta="f"),
        beacon(bs=True, bl=0, mtp=900),
    ]
    items = [from_cmcd(b, context) for b in beacons]
    batch = BatchValidator(playback_event_schema()).validate(items, NOW)
    assert batch.rejections == {}
    assert batch.columns["event_type"] == ["HEARTBEAT", "PLAY_START", "PLAY_END", "ERROR", "REBUFFER_START"]
    assert batch.columns["device.type"] == ["TV"] * 5
    assert batch.columns["event_ts_ms"] == [NOW] * 5
