"""The collector over real HTTP against the real local broker: events land keyed by user, rejects land
in the dead-letter topic with their bytes and reason, limits and access control refuse whole requests,
and the operations endpoints answer. Topics are consumed and counted."""

from __future__ import annotations

import gzip
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from ingest.collector.admin import create_key, revoke_keys
from ingest.collector.signing import SIGNATURE_HEADER, sign
from playpulse.config import Settings
from schemas.topics import DLQ, EVENTS
from tests.support.collector import (
    RunningCollector,
    TopicReader,
    decode_event,
    event,
    metric,
    private_stack,
    running_collector,
)

pytestmark = pytest.mark.integration

MAX_ITEMS = 100


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    with private_stack(
        tmp_path_factory.mktemp("collector-http"),
        max_body_bytes=65_536,
        max_batch_items=MAX_ITEMS,
        burst_per_key=10_000,
        key_refresh_s=0.1,
    ) as (settings, _):
        yield settings


@pytest.fixture(scope="module")
def collector(stack: Settings) -> Iterator[RunningCollector]:
    with running_collector(stack) as running:
        yield running


@pytest.fixture(scope="module")
def key(stack: Settings) -> str:
    return create_key(stack, "http-tests")[1]


@pytest.fixture(scope="module")
def events(stack: Settings) -> Iterator[TopicReader]:
    reader = TopicReader(stack, EVENTS.name, EVENTS.partitions)
    yield reader
    reader.close()


@pytest.fixture(scope="module")
def dead_letters(stack: Settings) -> Iterator[TopicReader]:
    reader = TopicReader(stack, DLQ.name, DLQ.partitions)
    yield reader
    reader.close()


def post(
    collector: RunningCollector,
    key: str | None,
    body: Any = None,
    *,
    content: bytes | None = None,
    path: str = "/v1/events",
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    all_headers = {"Authorization": f"Bearer {key}"} if key else {}
    all_headers.update(headers or {})
    if content is None:
        return httpx.post(f"{collector.url}{path}", json=body, headers=all_headers, timeout=30)
    return httpx.post(f"{collector.url}{path}", content=content, headers=all_headers, timeout=30)


def headers_of(message: Any) -> dict[str, str]:
    return {k: v.decode() for k, v in message.headers() or []}


def counters(collector: RunningCollector) -> tuple[float, float, float]:
    text = collector.metrics()
    return (
        metric(text, "playpulse_collector_events_received_total"),
        metric(text, "playpulse_collector_events_accepted_total"),
        metric(text, "playpulse_collector_events_rejected_total"),
    )


# -- the happy path --------------------------------------------------------------------------------
def test_a_batch_lands_in_the_topic_keyed_by_user(
    collector: RunningCollector, key: str, events: TopicReader
) -> None:
    items = [
        event(user_id="u0000001", event_type="PLAY_REQUEST", content_duration_ms=7_200_000),
        event(user_id="u0000001", event_type="PLAY_START", startup_ms=812, experiments={"t42": "c2"}),
        event(user_id="u0000002", event_type="REBUFFER_END", rebuffer_ms=1_450),
        event(user_id="u0000003", event_type="ERROR", error_code="DRM_LICENSE", fatal=True),
        event(user_id="u0000003", event_type="PLAY_END", end_reason="PLAYBACK_FAILURE", oca_id=None),
    ]
    before = time.time() * 1000
    response = post(collector, key, items)
    after = time.time() * 1000
    assert response.status_code == 200
    answer = response.json()
    assert (answer["received"], answer["accepted"], answer["rejected"]) == (5, 5, 0)
    assert [r["event_id"] for r in answer["results"]] == [i["event_id"] for i in items]

    messages = events.read(len(items))
    assert len(messages) == len(items)
    by_id = {decode_event(m.value())["event_id"]: m for m in messages}
    for item in items:
        message = by_id[item["event_id"]]
        assert message.key().decode() == item["user_id"]
        record = decode_event(message.value())
        assert before <= record.pop("received_ts_ms") <= after
        expected = {**item, "fatal": item.get("fatal", False), "experiments": item.get("experiments", {})}
        assert {k: v for k, v in record.items() if v is not None} == {
            k: v for k, v in expected.items() if v is not None
        }


def test_one_event_object_is_a_batch_of_one(
    collector: RunningCollector, key: str, events: TopicReader
) -> None:
    item = event()
    response = post(collector, key, item)
    assert response.status_code == 200 and response.json()["accepted"] == 1
    (message,) = events.read(1)
    assert decode_event(message.value())["event_id"] == item["event_id"]


def test_rejects_are_dead_lettered_with_their_original_bytes_and_reason(
    collector: RunningCollector, key: str, events: TopicReader, dead_letters: TopicReader, stack: Settings
) -> None:
    good = event()
    bad_enum = event(event_type="PAUSE")
    import orjson  # the body is written by hand around two serialized events

    first = orjson.dumps(bad_enum, option=orjson.OPT_INDENT_2)
    body = b"[\n  " + first + b" ,\n" + orjson.dumps(good) + b',   42\t, {"user_id": "u7"}\n]'
    before = counters(collector)
    response = post(collector, key, content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["status"] for r in results] == ["rejected", "accepted", "rejected", "rejected"]
    assert [(r.get("reason"), r.get("field")) for r in results] == [
        ("invalid_enum", "event_type"),
        (None, None),
        ("not_an_object", None),
        ("missing_field", "event_id"),
    ]
    after = counters(collector)
    assert (after[0] - before[0], after[1] - before[1], after[2] - before[2]) == (4, 1, 3)

    assert len(events.read(1)) == 1
    letters = sorted(dead_letters.read(3), key=lambda m: int(headers_of(m)["index"]))
    assert [m.value() for m in letters] == [first, b"42", b'{"user_id": "u7"}']
    assert [m.key() for m in letters] == [bad_enum["user_id"].encode(), None, b"u7"]
    first_headers = headers_of(letters[0])
    assert first_headers["reason"] == "invalid_enum" and first_headers["field"] == "event_type"
    assert "PAUSE" in first_headers["detail"]
    assert first_headers["source"] == "collector" and first_headers["format"] == "native"
    assert first_headers["api_key_id"] == key.split("_")[1]
    assert [headers_of(m)["reason"] for m in letters] == ["invalid_enum", "not_an_object", "missing_field"]


def test_a_body_that_is_not_a_batch_is_400_and_dead_lettered_whole(
    collector: RunningCollector, key: str, dead_letters: TopicReader
) -> None:
    for body, reason in [(b"{oops", "malformed_json"), (b'"just a string"', "not_a_batch")]:
        response = post(collector, key, content=body)
        assert response.status_code == 400
        assert response.json() == {
            "error": reason,
            "detail": response.json()["detail"],
            "received": 1,
            "accepted": 0,
            "rejected": 1,
        }
        (letter,) = dead_letters.read(1)
        assert letter.value() == body and headers_of(letter)["reason"] == reason


def test_cmcd_beacons_land_as_playback_events(
    collector: RunningCollector, key: str, events: TopicReader, dead_letters: TopicReader
) -> None:
    beacons = [
        {
            "sid": "6e2fb550-c457-11e9-bb97-0800200c9a66",
            "cid": "t000777",
            "br": 5800,
            "bl": 21_300,
            "mtp": 25_400,
            "msd": 640,
            "ts": int(time.time() * 1000),
            "ot": "v",
            "sf": "d",
        },
        {"sid": "6e2fb550-c457-11e9-bb97-0800200c9a66", "cid": "t000777", "bs": True, "pt": 61_000},
        {"sid": "6e2fb550-c457-11e9-bb97-0800200c9a66", "br": -1, "cid": "t1"},
        {"cid": "t000777"},
    ]
    user_agent = "Mozilla/5.0 (SMART-TV; Linux; Tizen 6.0) AppleWebKit/537.36"
    response = post(collector, key, beacons, path="/v1/cmcd", headers={"User-Agent": user_agent})
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["status"] for r in results] == ["accepted", "accepted", "rejected", "rejected"]
    assert (results[2]["reason"], results[2]["field"]) == ("out_of_range", "br")
    assert (results[3]["reason"], results[3]["field"]) == ("invalid_cmcd", "sid")

    records = sorted((decode_event(m.value()) for m in events.read(2)), key=lambda r: r["event_type"])
    start, rebuffer = (r for r in records if r["event_type"] == "PLAY_START"), None
    start = next(iter(start))
    rebuffer = next(r for r in records if r["event_type"] == "REBUFFER_START")
    assert (
        start["startup_ms"],
        start["bitrate_kbps"],
        start["buffer_length_ms"],
        start["throughput_kbps"],
    ) == (640, 5800, 21_300, 25_400)
    assert start["device"] == {"type": "TV", "os": "tizen", "app_version": "unknown"}
    assert start["user_id"] == "cmcd:6e2fb550-c457-11e9-bb97-0800200c9a66" and start["title_id"] == "t000777"
    assert rebuffer["position_ms"] == 61_000
    letters = dead_letters.read(2)
    assert {headers_of(m)["format"] for m in letters} == {"cmcd"}


# -- limits ---------------------------------------------------------------------------------------------
def test_gzip_bodies_are_accepted(collector: RunningCollector, key: str, events: TopicReader) -> None:
    items = [event() for _ in range(3)]
    import orjson

    response = post(
        collector, key, content=gzip.compress(orjson.dumps(items)), headers={"Content-Encoding": "gzip"}
    )
    assert response.status_code == 200 and response.json()["accepted"] == 3
    assert len(events.read(3)) == 3


@pytest.mark.parametrize(
    ("content", "headers", "status", "error"),
    [
        (b"[" + b" " * 70_000 + b"]", {}, 413, "body_too_large"),
        (gzip.compress(b"[" + b" " * 5_000_000 + b"]"), {"Content-Encoding": "gzip"}, 413, "body_too_large"),
        (b"[]", {"Content-Encoding": "br"}, 415, "unsupported_encoding"),
        (b"[" + b",".join([b"{}"] * (MAX_ITEMS + 1)) + b"]", {}, 413, "too_many_items"),
    ],
    ids=["body", "gzip bomb", "encoding", "items"],
)
def test_over_a_limit_the_whole_request_is_refused(
    collector: RunningCollector, key: str, content: bytes, headers: dict[str, str], status: int, error: str
) -> None:
    before = counters(collector)
    response = post(collector, key, content=content, headers=headers)
    assert response.status_code == status and response.json()["error"] == error
    assert counters(collector) == before  # nothing of it was received


def test_a_streamed_body_over_the_limit_is_cut_off(collector: RunningCollector, key: str) -> None:
    def chunks() -> Iterator[bytes]:
        yield b"["
        for _ in range(100):
            yield b" " * 1_000
        yield b"]"

    response = httpx.post(
        f"{collector.url}/v1/events", content=chunks(), headers={"X-API-Key": key}, timeout=30
    )
    assert response.status_code == 413 and response.json()["error"] == "body_too_large"


# -- access ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("headers", "status", "error"),
    [
        ({}, 401, "missing_api_key"),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, 401, "missing_api_key"),
        ({"Authorization": "Bearer pp_0123456789ab_" + "x" * 43}, 401, "invalid_api_key"),
        ({"X-API-Key": "letmein"}, 401, "invalid_api_key"),
    ],
    ids=["missing", "not bearer", "unknown", "wrong"],
)
def test_without_a_valid_key(
    collector: RunningCollector, headers: dict[str, str], status: int, error: str
) -> None:
    before = counters(collector)
    response = post(collector, None, [event()], headers=headers)
    assert response.status_code == status
    assert response.json()["error"] == error and "Traceback" not in response.text
    assert counters(collector) == before


def test_a_wrong_secret_for_a_real_key_id(collector: RunningCollector, key: str) -> None:
    wrong = key[:-2] + ("AA" if not key.endswith("AA") else "BB")
    assert post(collector, wrong, [event()]).json()["error"] == "invalid_api_key"


def test_keys_in_a_header_or_the_query(collector: RunningCollector, key: str, events: TopicReader) -> None:
    assert post(collector, None, [event()], headers={"X-API-Key": key}).status_code == 200
    response = httpx.post(f"{collector.url}/v1/events", params={"api_key": key}, json=[event()], timeout=30)
    assert response.status_code == 200  # navigator.sendBeacon cannot set headers
    assert len(events.read(2)) == 2


def test_a_revoked_key_is_forbidden_within_the_refresh(
    collector: RunningCollector, stack: Settings, events: TopicReader
) -> None:
    _, revoked_key, _ = create_key(stack, "to-revoke")
    assert post(collector, revoked_key, [event()]).status_code == 200
    assert len(events.read(1)) == 1
    revoke_keys(stack, "to-revoke")
    deadline = time.monotonic() + 5
    while (response := post(collector, revoked_key, [event()])).status_code == 200:
        assert time.monotonic() < deadline, "the revoked key still works after 5 s"
        events.read(1, quiet_s=0)
        time.sleep(0.05)
    assert response.status_code == 403 and response.json()["error"] == "revoked_api_key"


def test_signatures(collector: RunningCollector, stack: Settings, events: TopicReader) -> None:
    _, signed_key, secret = create_key(stack, "signed", require_signature=True)
    import orjson

    body = orjson.dumps([event()])
    now = int(time.time())
    assert post(collector, signed_key, content=body).json()["error"] == "signature_required"
    tampered = body.replace(b"HEARTBEAT", b"SEEK")
    bad = post(collector, signed_key, content=tampered, headers={SIGNATURE_HEADER: sign(secret, body, now)})
    assert bad.status_code == 401 and bad.json()["error"] == "bad_signature"
    stale = post(
        collector, signed_key, content=body, headers={SIGNATURE_HEADER: sign(secret, body, now - 3600)}
    )
    assert stale.status_code == 401 and stale.json()["error"] == "stale_signature"
    good = post(collector, signed_key, content=body, headers={SIGNATURE_HEADER: sign(secret, body, now)})
    assert good.status_code == 200 and good.json()["accepted"] == 1
    assert len(events.read(1)) == 1


def test_over_the_rate_limit(collector: RunningCollector, stack: Settings, events: TopicReader) -> None:
    _, slow_key, _ = create_key(stack, "slow", rate_per_s=2.0, burst=50)
    assert post(collector, slow_key, [event() for _ in range(50)]).status_code == 200
    assert len(events.read(50)) == 50
    before = counters(collector)
    response = post(collector, slow_key, [event() for _ in range(10)])
    assert response.status_code == 429 and response.json()["error"] == "rate_limited"
    assert 1 <= int(response.headers["Retry-After"]) <= 5
    assert counters(collector) == before
    # Another key is not slowed down by it.
    assert post(collector, create_key(stack, "fast")[1], [event()]).status_code == 200
    assert len(events.read(1)) == 1


# -- operations ----------------------------------------------------------------------------------------------
def test_health_readiness_and_metrics(collector: RunningCollector) -> None:
    assert httpx.get(f"{collector.url}/healthz").json() == {"status": "ok"}
    ready = httpx.get(f"{collector.url}/readyz")
    assert (
        ready.status_code == 200 and ready.json()["ready"] is True and ready.json()["broker"] == "reachable"
    )
    response = httpx.get(f"{collector.url}/metrics")
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = response.text
    received, accepted, rejected = (
        metric(text, f"playpulse_collector_events_{name}_total")
        for name in ("received", "accepted", "rejected")
    )
    assert received == accepted + rejected > 0
    for name in (
        "playpulse_collector_requests_total",
        "playpulse_collector_produce_latency_seconds_bucket",
        "playpulse_collector_request_duration_seconds_bucket",
        "playpulse_collector_delivered_total",
        "playpulse_collector_buffered_messages",
        "playpulse_collector_broker_ready",
    ):
        assert name in text
    assert metric(text, "playpulse_collector_requests_total", status="401") > 0


@pytest.mark.parametrize(("method", "path", "status"), [("GET", "/nowhere", 404), ("GET", "/v1/events", 405)])
def test_unknown_routes_answer_json(collector: RunningCollector, method: str, path: str, status: int) -> None:
    response = httpx.request(method, f"{collector.url}{path}")
    assert response.status_code == status and "error" in response.json()
