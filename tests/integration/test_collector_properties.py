"""Hostile input at the running collector, property-based: thousands of malformed, oversized, wrongly
typed and hostile bodies over real HTTP against the real broker.

Whatever arrives: never a 5xx, never a stack trace, an answer that accounts for every item; and after
each property the topics, consumed and counted, and the counters account for every item as well:
accepted ones on `playback.events`, rejected ones on `playback.events.dlq` with the reason the
answer gave, received = accepted + rejected.
"""

from __future__ import annotations

import gzip
import json
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.collector.admin import create_key
from ingest.collector.validation import REASONS
from playpulse.config import Settings
from schemas.topics import DLQ, EVENTS
from tests.support.collector import (
    RunningCollector,
    TopicReader,
    event,
    metric,
    private_stack,
    running_collector,
)

pytestmark = pytest.mark.integration

MAX_BODY = 32_768
MAX_ITEMS = 64
PROPERTY = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    derandomize=False,
)


@dataclass
class Harness:
    settings: Settings
    collector: RunningCollector
    http: httpx.Client
    key: str
    events: TopicReader
    dead_letters: TopicReader


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    with (
        private_stack(
            tmp_path_factory.mktemp("collector-properties"),
            max_body_bytes=MAX_BODY,
            max_batch_items=MAX_ITEMS,
            burst_per_key=10_000_000,
            rate_per_key=10_000_000,
            access_log=False,
        ) as (config, _),
        running_collector(config) as collector,
        httpx.Client(base_url=collector.url, timeout=30) as http,
    ):
        _, key, _ = create_key(config, "hostile")
        events = TopicReader(config, EVENTS.name, EVENTS.partitions)
        dead_letters = TopicReader(config, DLQ.name, DLQ.partitions)
        try:
            yield Harness(config, collector, http, key, events, dead_letters)
        finally:
            events.close()
            dead_letters.close()


@dataclass
class Tally:
    requests: int = 0
    accepted: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)


def check(response: httpx.Response, tally: Tally) -> None:
    """The answer is sane and accounts for every item; add it to the tally."""
    tally.requests += 1
    tally.statuses[response.status_code] += 1
    assert response.status_code < 500, response.text
    assert "Traceback" not in response.text and 'File "' not in response.text
    assert response.headers["content-type"] == "application/json"
    answer = response.json()
    if response.status_code == 200:
        results = answer["results"]
        assert len(results) == answer["received"] == answer["accepted"] + answer["rejected"]
        assert [r["index"] for r in results] == list(range(len(results)))
        accepted = [r for r in results if r["status"] == "accepted"]
        rejected = [r for r in results if r["status"] == "rejected"]
        assert len(accepted) == answer["accepted"] and len(rejected) == answer["rejected"]
        assert all(r["reason"] in REASONS and r["detail"] for r in rejected)
        tally.accepted += len(accepted)
        tally.rejected.update(r["reason"] for r in rejected)
    elif response.status_code == 400:
        assert (answer["received"], answer["accepted"], answer["rejected"]) == (1, 0, 1)
        assert answer["error"] in ("malformed_json", "not_a_batch")
        tally.rejected[answer["error"]] += 1
    else:
        assert response.status_code in (413, 415), response.text
        assert answer["error"] in ("body_too_large", "too_many_items", "unsupported_encoding")


def account(harness: Harness, tally: Tally, before: str) -> None:
    """The topics and the counters hold exactly what the answers said."""
    rejected = sum(tally.rejected.values())
    events = harness.events.read(tally.accepted, quiet_s=1.0)
    letters = harness.dead_letters.read(rejected, quiet_s=1.0)
    assert len(events) == tally.accepted
    assert len(letters) == rejected
    assert Counter(dict(m.headers())["reason"].decode() for m in letters) == tally.rejected
    after = harness.collector.metrics()

    def delta(name: str, **labels: str) -> float:
        return metric(after, name, **labels) - metric(before, name, **labels)

    assert delta("playpulse_collector_events_accepted_total") == tally.accepted
    assert delta("playpulse_collector_events_rejected_total") == rejected
    assert delta("playpulse_collector_events_received_total") == tally.accepted + rejected
    for reason, n in tally.rejected.items():
        assert delta("playpulse_collector_events_rejected_total", reason=reason) == n
    assert harness.http.get("/healthz").status_code == 200


def run_property(
    harness: Harness,
    strategy: st.SearchStrategy[Any],
    examples: int,
    send: Callable[[Harness, Any], httpx.Response],
) -> Tally:
    tally = Tally()
    before = harness.collector.metrics()

    @settings(PROPERTY, max_examples=examples)
    @given(strategy)
    def one(value: Any) -> None:
        check(send(harness, value), tally)

    one()
    account(harness, tally, before)
    return tally


def post_bytes(path: str = "/v1/events", **headers: str) -> Callable[[Harness, bytes], httpx.Response]:
    def send(harness: Harness, body: bytes) -> httpx.Response:
        return harness.http.post(path, content=body, headers={"X-API-Key": harness.key, **headers})

    return send


def dumps(value: Any, ascii_only: bool = True) -> bytes:
    """JSON text of `value`, lone surrogates and integers of any size included."""
    return json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")


# -- strategies -------------------------------------------------------------------------------------
any_text = st.text(st.characters(codec=None, categories=None, exclude_categories=[]), max_size=40)
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | any_text
    | st.sampled_from([0, -1, 2**31, 2**63, -(2**63) - 1, 10**30, 1e300, 0.5, "", "NaN", "HEARTBEAT", "US"])
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(any_text, inner, max_size=5),
    max_leaves=20,
)
FIELDS = list(event().keys()) + [
    "startup_ms",
    "rebuffer_ms",
    "end_reason",
    "error_code",
    "fatal",
    "experiments",
    "content_duration_ms",
    "received_ts_ms",
    "device",
]


NOW_MS = int(time.time() * 1000)
EDGES = [
    -1,
    0,
    2**31 - 1,
    2**31,
    2**63,
    -(2**63) - 1,
    1e19,
    0.4,
    -0.6,
    "x" * 65,
    "x" * 129,
    "x" * 300,
    "",
    " ",
    None,
    True,
    [],
    {},
    "UNKNOWN",
    "PLAY_START",
    "us",
    "USA",
    NOW_MS + 400_000,
    NOW_MS - 8 * 86_400_000,
    NOW_MS,
    86_400_001,
    {"t": 1},
    {"": "c"},
]


@st.composite
def hostile_events(draw: st.DrawFn) -> Any:
    """A valid event, then some of: fields removed, replaced by junk or edge values, unknown fields."""
    item: dict[str, Any] = event(
        event_type=draw(st.sampled_from(["HEARTBEAT", "PLAY_START", "REBUFFER_END", "PLAY_END", "ERROR"])),
        startup_ms=draw(st.none() | st.integers(0, 10_000)),
        rebuffer_ms=draw(st.none() | st.integers(0, 10_000)),
        end_reason=draw(st.none() | st.sampled_from(["COMPLETED", "USER_EXIT"])),
        error_code=draw(st.none() | st.just("E1")),
        event_id=str(uuid.uuid4()),
    )
    for _ in range(draw(st.sampled_from([0, 0, 1, 1, 1, 2, 3]))):
        name = draw(st.sampled_from(FIELDS))
        action = draw(st.sampled_from(["drop", "junk", "edge", "edge", "edge", "unknown", "device"]))
        if action == "drop":
            item.pop(name, None)
        elif action == "junk":
            item[name] = draw(json_values)
        elif action == "edge":
            item[name] = draw(st.sampled_from(EDGES))
        elif action == "unknown":
            item[draw(any_text)] = draw(scalars)
        else:
            item["device"] = draw(
                st.dictionaries(st.sampled_from(["type", "os", "app_version", "ram"]), scalars)
            )
    return item


hostile_batches = st.one_of(
    st.lists(hostile_events(), max_size=30),
    st.lists(hostile_events() | json_values, max_size=10),
    hostile_events(),
)

cmcd_keys = st.sampled_from(
    [
        "sid",
        "cid",
        "br",
        "bl",
        "bs",
        "mtp",
        "ts",
        "pt",
        "msd",
        "sta",
        "e",
        "ec",
        "cdn",
        "d",
        "ot",
        "su",
        "v",
        "com.playpulse-uid",
        "com.playpulse-device",
        "com.playpulse-seq",
    ]
)
cmcd_values = (
    st.sampled_from(
        [
            "6e2fb550-c457-11e9-bb97-0800200c9a66",
            "t1",
            3200,
            -5,
            0,
            True,
            "p",
            "f",
            "x",
            ["E1"],
            [],
            1.5,
            None,
            2**64,
            "TV",
        ]
    )
    | scalars
)
cmcd_beacons = (
    st.dictionaries(cmcd_keys, cmcd_values, max_size=10).map(
        lambda b: {"sid": "6e2fb550-c457-11e9-bb97-0800200c9a66", "cid": "t000123", **b}
    )
    | st.dictionaries(cmcd_keys | any_text, cmcd_values, max_size=6)
    | json_values
)


# -- the properties -----------------------------------------------------------------------------------
def test_arbitrary_bytes(harness: Harness) -> None:
    tally = run_property(harness, st.binary(max_size=2_000), 400, post_bytes())
    assert tally.statuses[400] > 0


def test_arbitrary_json(harness: Harness) -> None:
    def send(h: Harness, drawn: tuple[Any, bool]) -> httpx.Response:
        value, ascii_only = drawn
        return post_bytes()(h, dumps(value, ascii_only))

    tally = run_property(harness, st.tuples(json_values, st.booleans()), 500, send)
    assert tally.statuses[200] > 0 and tally.statuses[400] > 0


def test_hostile_batches_of_events(harness: Harness) -> None:
    def send(h: Harness, drawn: tuple[Any, bool]) -> httpx.Response:
        value, ascii_only = drawn
        return post_bytes(**{"Content-Type": "application/json"})(h, dumps(value, ascii_only))

    tally = run_property(harness, st.tuples(hostile_batches, st.booleans()), 700, send)
    assert tally.accepted > 0 and len(tally.rejected) >= 5


def test_hostile_cmcd_beacons(harness: Harness) -> None:
    def send(h: Harness, beacons: Any) -> httpx.Response:
        return post_bytes("/v1/cmcd", **{"User-Agent": "Mozilla/5.0 (SMART-TV; Tizen 6.0)"})(
            h, dumps(beacons)
        )

    tally = run_property(harness, st.lists(cmcd_beacons, max_size=10) | cmcd_beacons, 400, send)
    assert tally.accepted > 0 and tally.rejected["invalid_cmcd"] > 0


def test_oversized_and_encoded_bodies(harness: Harness) -> None:
    filler = st.integers(MAX_BODY - 100, MAX_BODY + 2_000).map(lambda n: b"[" + b" " * n + b"]")
    many = st.integers(MAX_ITEMS + 1, MAX_ITEMS + 50).map(lambda n: dumps([{}] * n))
    gzipped = st.one_of(filler, many, st.binary(max_size=500), hostile_batches.map(dumps)).map(gzip.compress)
    bodies = st.tuples(
        st.one_of(filler, many, gzipped, st.binary(max_size=300)),
        st.sampled_from([None, "gzip", "identity", "br", "deflate", "GZIP", ""]),
    )

    def send(h: Harness, drawn: tuple[bytes, str | None]) -> httpx.Response:
        body, encoding = drawn
        headers = {"Content-Encoding": encoding} if encoding is not None else {}
        return post_bytes(**headers)(h, body)

    tally = run_property(harness, bodies, 200, send)
    assert tally.statuses[413] > 0 and tally.statuses[415] > 0
