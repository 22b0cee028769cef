"""Simulate → produce → land, against the real broker, registry, lander, DuckDB and chdb.

What analysts rely on: the lake holds every simulated event exactly once, with the simulator's
per-type counts, pseudonymized — also when the lander is SIGKILLed mid-run and restarted, and
when the same events are sent twice.
"""

from __future__ import annotations

import time
from collections import Counter

import pyarrow as pa
import pyarrow.dataset as ds
import pytest
from confluent_kafka import Consumer

from ingest.producer import EventProducer
from ingest.simulation_runs import RunStats, simulation_config, stream_to_kafka
from playpulse.config import Settings
from playpulse.stack import LocalStack
from schemas.registry import RegistryClient, event_serde
from schemas.topics import DLQ
from warehouse import lake, open_warehouse

pytestmark = pytest.mark.integration

START_MS = 1_763_726_400_000  # 2025-11-21T12:00:00Z, busy hours


def _config(users: int = 1_000, hours: float = 6.0):
    return simulation_config(seed=3, users=users, start_ms=START_MS, days=hours / 24)


def _lander_rows(settings: Settings) -> pa.Table:
    files = lake.list_files(settings.lake_dir, prefix="p")
    if not files:
        return pa.table({"event_id": pa.array([], pa.string())})
    return ds.dataset(files, format="parquet").to_table(columns=["event_id", "event_type", "user_id"])


def _wait_landed(settings: Settings, stack: LocalStack, expected: int, timeout_s: float = 180) -> pa.Table:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        stack.check()
        rows = _lander_rows(settings)
        if rows.num_rows >= expected:
            time.sleep(2 * settings.lander_flush_s)  # anything more would be a duplicate: let it show
            return _lander_rows(settings)
        time.sleep(0.2)
    raise AssertionError(f"landed {_lander_rows(settings).num_rows} of {expected} within {timeout_s} s")


def _assert_exactly_once(rows: pa.Table, stats: RunStats) -> None:
    assert rows.num_rows == stats.events
    assert len(set(rows["event_id"].to_pylist())) == stats.events
    assert Counter(rows["event_type"].to_pylist()) == stats.by_type
    assert not any(u.startswith("u") for u in set(rows["user_id"].to_pylist()))


def test_simulated_events_land_exactly_once(settings: Settings, start_stack, chdb_path) -> None:
    stack = start_stack()
    stats = stream_to_kafka(settings, _config(), progress=False)
    assert stats.events > 10_000
    assert {"PLAY_REQUEST", "PLAY_START", "HEARTBEAT", "PLAY_END"} <= set(stats.by_type)
    rows = _wait_landed(settings, stack, stats.events)
    _assert_exactly_once(rows, stats)

    # The same lake through both warehouse engines.
    for backend, kwargs in (
        ("duckdb", {"duckdb_path": settings.data_dir / "wh.duckdb"}),
        ("clickhouse", {"clickhouse_dsn": f"chdb://{chdb_path}", "clickhouse_database": "ingest_test"}),
    ):
        with open_warehouse(backend, **kwargs) as wh:
            wh.attach_lake(settings.lake_dir)
            result = wh.query("SELECT count(*) AS n, count(DISTINCT event_id) AS d FROM events").to_pylist()
            assert result == [{"n": stats.events, "d": stats.events}], backend


def test_sigkill_of_the_lander_mid_run_loses_and_duplicates_nothing(settings: Settings, start_stack) -> None:
    settings = settings.model_copy(update={"lander_flush_events": 2_000, "lander_flush_s": 0.5})
    stack = LocalStack(settings, workers=())
    stack.start()
    try:
        stats = stream_to_kafka(settings, _config(users=1_500), progress=False)
        stack.workers = ("lander",)
        stack._start(stack._python("lander", "land"))
        deadline = time.monotonic() + 120
        while _lander_rows(settings).num_rows < stats.events // 4:
            assert time.monotonic() < deadline, "the lander made no progress"
            time.sleep(0.02)
        landed_before_kill = _lander_rows(settings).num_rows
        stack.restart("lander", kill=True)
        assert landed_before_kill < stats.events, "the kill came too late to test anything"
        rows = _wait_landed(settings, stack, stats.events)
        _assert_exactly_once(rows, stats)
    finally:
        stack.stop()


def test_events_sent_twice_land_once(settings: Settings, start_stack) -> None:
    stack = start_stack()
    config = _config(users=500, hours=3)
    with RegistryClient(settings.registry.url) as registry:
        producer = EventProducer(settings.kafka, event_serde(registry))
    first = stream_to_kafka(settings, config, progress=False, producer=producer)
    stream_to_kafka(settings, config, progress=False, producer=producer)  # a client retrying everything
    producer.flush()
    rows = _wait_landed(settings, stack, first.events)
    _assert_exactly_once(rows, first)


def test_undecodable_messages_are_dead_lettered_with_a_reason(settings: Settings, start_stack) -> None:
    stack = start_stack()
    producer = EventProducer(settings.kafka)
    producer.send("u1", b"not avro at all")
    producer.send("u2", b"\x00\x00\x00\x03\xe7garbage")  # schema id 999 does not exist
    producer.flush()
    consumer = Consumer(
        {**settings.kafka.client_config(), "group.id": "dlq-reader", "auto.offset.reset": "earliest",
         "session.timeout.ms": 6000}
    )
    consumer.subscribe([DLQ.name])
    letters = []
    deadline = time.monotonic() + 60
    while len(letters) < 2 and time.monotonic() < deadline:
        stack.check()
        letters += [m for m in consumer.consume(10, timeout=0.5) if m.error() is None]
    consumer.close()
    assert sorted(m.value() for m in letters) == sorted([b"not avro at all", b"\x00\x00\x00\x03\xe7garbage"])
    for message in letters:
        headers = dict(message.headers())
        assert headers["reason"] == b"undecodable"
        assert headers["source_topic"] == b"playback.events"
        assert headers["detail"]
