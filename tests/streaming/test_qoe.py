"""QoE aggregation: a pinned hand-made window, then simulated traffic against exact metrics computed
from the raw events (counts exact, percentiles within 1%), whatever the batching."""

from __future__ import annotations

import zlib

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from ingest.simulator import SimulationConfig, Simulator
from schemas.events import EVENT_SCHEMA
from streaming.qoe import DEFAULT_SLICES, QoeAggregator, slice_name
from streaming.windows import WINDOW_MS, PartitionWindows
from tests.support.events import event

T0 = 1_763_726_400_000  # a window boundary


def _event(ts: int, kind: str, **fields) -> dict:
    return event(f"e{ts}{kind}", ts, event_type=kind, **fields)


def _run(table: pa.Table, partitions: int = 1, batch_rows: int = 10_000, slices=DEFAULT_SLICES) -> pa.Table:
    aggregator = QoeAggregator(slices=slices)
    users = table["user_id"].to_pylist()
    partition_of = np.array([zlib.crc32(u.encode()) % partitions for u in users])
    clocks = {p: PartitionWindows(p, lateness_ms=30_000) for p in range(partitions)}
    final = []
    for start in range(0, table.num_rows, batch_rows):
        batch = table.slice(start, batch_rows)
        parts = partition_of[start : start + batch.num_rows]
        for p in range(partitions):
            rows = np.flatnonzero(parts == p)
            if rows.size == 0:
                continue
            events = batch.take(pa.array(rows))
            assigned = clocks[p].assign(events["event_ts_ms"].to_numpy(), start + rows)
            aggregator.add(events, np.full(rows.size, p), assigned)
            closed = clocks[p].close()
            final.append(
                aggregator.emit([(p, w) for w in closed], provisional=False, emitted_at_ms=0, drop=True)
            )
    final.append(
        aggregator.emit(sorted(aggregator.open_keys()), provisional=True, emitted_at_ms=0, drop=True)
    )
    return pa.concat_tables(final)


def test_a_pinned_window() -> None:
    events = pa.Table.from_pylist(
        [
            _event(T0 + 1_000, "PLAY_REQUEST"),
            _event(T0 + 2_000, "PLAY_START", startup_ms=1_000, bitrate_kbps=5_800, played_ms=0),
            _event(T0 + 30_000, "HEARTBEAT", bitrate_kbps=5_800, played_ms=27_500),
            _event(T0 + 31_000, "REBUFFER_START", bitrate_kbps=5_800, played_ms=1_000),
            _event(T0 + 31_500, "REBUFFER_END", rebuffer_ms=500, bitrate_kbps=5_800, played_ms=0),
            _event(T0 + 40_000, "PLAY_REQUEST", session_id="s2"),
            _event(T0 + 45_000, "PLAY_END", session_id="s2", end_reason="EXIT_BEFORE_START"),
            _event(T0 + 50_000, "PLAY_REQUEST", session_id="s3", device_type="MOBILE"),
            _event(T0 + 51_000, "ERROR", session_id="s3", device_type="MOBILE", fatal=True, error_code="DRM"),
            _event(
                T0 + 51_000, "PLAY_END", session_id="s3", device_type="MOBILE", end_reason="START_FAILURE"
            ),
            _event(T0 + 95_000, "HEARTBEAT", bitrate_kbps=2_800, played_ms=60_000),  # closes window 0
            _event(T0 + 20_000, "SEEK", played_ms=1_000),  # late: window 0 is final by now
        ],
        schema=EVENT_SCHEMA,
    )
    rows = _run(events, slices=((), ("device_type",)))
    first = rows.filter(pc.equal(pc.cast(rows["window_start"], pa.int64()), T0))
    by_slice = {(r["slice"], r["device_type"]): r for r in first.to_pylist()}
    total = by_slice[("all", "*")]
    assert (total["attempts"], total["starts"], total["ebvs"], total["start_failures"]) == (3, 1, 1, 1)
    assert (total["playing_ms"], total["rebuffer_ms"], total["rebuffers"]) == (28_500, 500, 1)
    assert total["rebuffer_ratio"] == pytest.approx(500 / 29_000)
    assert total["avg_bitrate_kbps"] == pytest.approx(5_800)
    assert total["concurrent_plays"] == pytest.approx(29_000 / WINDOW_MS)
    assert total["vst_p50_ms"] == pytest.approx(1_000, rel=0.01) and total["provisional"] is False
    assert total["late_events"] == 0
    assert by_slice[("device_type", "MOBILE")]["attempts"] == 1
    assert by_slice[("device_type", "MOBILE")]["vst_sketch"] is None
    second = rows.filter(pc.equal(pc.cast(rows["window_start"], pa.int64()), T0 + WINDOW_MS))
    second_total = [r for r in second.to_pylist() if r["slice"] == "all"][0]
    assert second_total["late_events"] == 1 and second_total["playing_ms"] == 60_000
    assert second_total["provisional"] is True


@pytest.fixture(scope="module")
def simulated() -> pa.Table:
    return Simulator(
        SimulationConfig(seed=4, users=3_000, start_ms=T0, days=1 / 12, late_fraction=0.0)
    ).table()


def _exact(table: pa.Table) -> dict:
    """Exact per window × region metrics, straight from the raw events."""
    out: dict = {}
    for row in table.to_pylist():
        w = row["event_ts_ms"] // WINDOW_MS * WINDOW_MS
        m = out.setdefault((w, row["region"]), {"attempts": 0, "starts": 0, "playing_ms": 0, "vst": []})
        m["attempts"] += row["event_type"] == "PLAY_REQUEST"
        if row["event_type"] == "PLAY_START":
            m["starts"] += 1
            m["vst"].append(row["startup_ms"])
        m["playing_ms"] += row["played_ms"] or 0
    return out


@pytest.mark.parametrize(("partitions", "batch_rows"), [(1, 100_000), (4, 7_001)])
def test_simulated_traffic_matches_exact_metrics(
    simulated: pa.Table, partitions: int, batch_rows: int
) -> None:
    rows = _run(simulated, partitions=partitions, batch_rows=batch_rows)
    assert pc.sum(rows["late_events"]).as_py() == 0
    region = rows.filter(pc.equal(rows["slice"], "region")).to_pandas()
    merged = region.groupby(["window_start", "region"]).agg(
        attempts=("attempts", "sum"),
        starts=("starts", "sum"),
        playing_ms=("playing_ms", "sum"),
        sketches=("vst_sketch", list),
    )
    exact = _exact(simulated)
    assert len(merged) == len(exact)
    from streaming.sketch import Sketch

    checked = 0
    for (window, name), row in merged.iterrows():
        want = exact[(int(window.timestamp() * 1000), name)]
        assert (row.attempts, row.starts, row.playing_ms) == (
            want["attempts"],
            want["starts"],
            want["playing_ms"],
        )
        sketches = [Sketch.from_bytes(b) for b in row.sketches if b is not None]
        if want["vst"]:
            merged_sketch = sum(sketches[1:], sketches[0])
            ordered = np.sort(want["vst"])
            for q in (0.5, 0.9, 0.95, 0.99):
                exact_q = ordered[int(np.floor(q * (len(ordered) - 1)))]
                assert abs(merged_sketch.quantile(q) - exact_q) <= 0.01 * exact_q
            checked += 1
    assert checked > 100


def test_every_default_slice_is_emitted(simulated: pa.Table) -> None:
    rows = _run(simulated.slice(0, 20_000))
    assert set(rows["slice"].to_pylist()) == {slice_name(s) for s in DEFAULT_SLICES}
    totals = rows.filter(pc.equal(rows["slice"], "all"))
    for dims in DEFAULT_SLICES[1:]:
        part = rows.filter(pc.equal(rows["slice"], slice_name(dims)))
        assert pc.sum(part["attempts"]).as_py() == pc.sum(totals["attempts"]).as_py()


def test_topic_records_are_keyed_and_plain_json() -> None:
    import base64
    import json

    from streaming.qoe_job import topic_records
    from streaming.sketch import Sketch

    events = pa.Table.from_pylist(
        [
            _event(T0 + 1_000, "PLAY_REQUEST"),
            _event(T0 + 2_000, "PLAY_START", startup_ms=1_000, bitrate_kbps=5_800, played_ms=0),
            _event(T0 + 3_000, "PLAY_REQUEST", session_id="s2", device_type="MOBILE"),
        ],
        schema=EVENT_SCHEMA,
    )
    rows = _run(events, slices=((), ("device_type",)))
    keys, values = topic_records(rows)
    records = {key: json.loads(value) for key, value in zip(keys, values, strict=True)}
    assert f"{T0}|all|*|*|*|*|*|*|*|0" in records
    mobile = records[f"{T0}|device_type|*|*|MOBILE|*|*|*|*|0"]
    assert mobile["window_start"] == T0 and mobile["attempts"] == 1
    assert mobile["vst_p50_ms"] is None and mobile["vst_sketch"] is None and mobile["rebuffer_ratio"] is None
    tv = records[f"{T0}|device_type|*|*|TV|*|*|*|*|0"]
    sketch = Sketch.from_bytes(base64.b64decode(tv["vst_sketch"]))
    assert sketch.quantile(0.5) == pytest.approx(1_000, rel=0.01) == tv["vst_p50_ms"]
