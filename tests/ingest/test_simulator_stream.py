"""The simulator's stream contract: schema, determinism, ordering, ranges, stats, ground truth."""

from __future__ import annotations

import json
import time

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from ingest.simulator import Incident, SimulationConfig, SimulationStats, Simulator
from ingest.simulator.delivery import LATE_THRESHOLD_MS
from schemas.events import END_REASONS, EVENT_SCHEMA, EVENT_TYPES

from .conftest import Run

HOUR = 3_600_000
START = SimulationConfig(seed=0).start_ms


def _by_event_id(table: pa.Table) -> pa.Table:
    return table.take(pc.sort_indices(table, [("event_id", "ascending")]))


def test_batches_have_exactly_the_event_schema(day: Run) -> None:
    assert day.batches
    for batch in day.batches:
        assert batch.schema.equals(EVENT_SCHEMA)
        assert [f.nullable for f in batch.schema] == [f.nullable for f in EVENT_SCHEMA]
        for field in EVENT_SCHEMA:
            if not field.nullable:
                assert batch.column(field.name).null_count == 0, field.name


def test_same_seed_gives_identical_batches_and_another_seed_does_not() -> None:
    config = SimulationConfig(seed=42, users=800, days=0.25)
    first = list(Simulator(config).event_batches(batch_rows=5_000))
    second = list(Simulator(config).event_batches(batch_rows=5_000))
    assert len(first) == len(second) > 1
    assert all(a.equals(b) for a, b in zip(first, second, strict=True))
    other = Simulator(SimulationConfig(seed=43, users=800, days=0.25)).table()
    assert not pa.Table.from_batches(first).equals(other)
    assert set(other["event_id"].to_pylist()).isdisjoint(first[0]["event_id"].to_pylist())


def test_stream_is_globally_ordered_by_time_then_session_then_seq() -> None:
    simulator = Simulator(SimulationConfig(seed=5, users=2_000, days=0.5))
    batches = list(simulator.event_batches(batch_rows=7_000))
    assert [b.num_rows for b in batches[:-1]] == [7_000] * (len(batches) - 1)
    assert 0 < batches[-1].num_rows <= 7_000
    table = pa.Table.from_batches(batches)
    ts = table["event_ts_ms"].to_numpy()
    assert (np.diff(ts) >= 0).all()
    # Within one session, events at one instant keep their seq order.
    sid = table["session_id"].to_numpy(zero_copy_only=False)
    seq = table["seq"].to_numpy()
    same = (sid[1:] == sid[:-1]) & (ts[1:] == ts[:-1])
    assert (seq[1:][same] > seq[:-1][same]).all()


def test_sessions_overlapping_chunk_boundaries_are_carried_over() -> None:
    table = Simulator(SimulationConfig(seed=5, users=2_000, days=0.25)).table()
    requests = table.filter(pc.equal(table["event_type"], "PLAY_REQUEST"))
    ends = table.filter(pc.equal(table["event_type"], "PLAY_END"))
    req_hour = dict(
        zip(
            requests["session_id"].to_pylist(),
            (requests["event_ts_ms"].to_numpy() // HOUR).tolist(),
            strict=True,
        )
    )
    end_hour = (ends["event_ts_ms"].to_numpy() // HOUR).tolist()
    crossing = sum(req_hour[s] != h for s, h in zip(ends["session_id"].to_pylist(), end_hour, strict=True))
    assert crossing > 0.2 * ends.num_rows
    assert table["event_ts_ms"].to_numpy().max() > START + 6 * HOUR  # sessions run to their end


def test_ranges_split_on_chunk_boundaries_concatenate_to_the_whole_range() -> None:
    simulator = Simulator(SimulationConfig(seed=11, users=1_500, days=1))
    whole = simulator.table(START, START + 6 * HOUR)
    early = simulator.table(START, START + 2 * HOUR)
    early_stats = simulator.stats
    late = simulator.table(START + 2 * HOUR, START + 6 * HOUR)
    assert _by_event_id(whole).equals(_by_event_id(pa.concat_tables([early, late])))
    assert (early_stats + simulator.stats).events == whole.num_rows


def test_an_unaligned_range_keeps_exactly_the_sessions_requested_inside_it() -> None:
    simulator = Simulator(SimulationConfig(seed=11, users=1_500, days=1))
    lo, hi = START + 1_234_567, START + 3 * HOUR + 98_765
    part = simulator.table(lo, hi)
    requests = part.filter(pc.equal(part["event_type"], "PLAY_REQUEST"))["event_ts_ms"].to_numpy()
    assert requests.min() >= lo and requests.max() < hi
    whole = simulator.table(START, START + 4 * HOUR)
    same_sessions = whole.filter(pc.is_in(whole["session_id"], value_set=pc.unique(part["session_id"])))
    assert _by_event_id(part).equals(_by_event_id(same_sessions))


def _counts(table: pa.Table, column: str, names: tuple[str, ...]) -> dict[str, int]:
    found = {
        r["values"]: r["counts"] for r in table[column].value_counts().to_pylist() if r["values"] is not None
    }
    return {name: found.get(name, 0) for name in names}


def test_stats_count_exactly_what_was_emitted(day: Run, day_table: pa.Table) -> None:
    stats = day.stats
    assert stats.events == day_table.num_rows
    assert stats.batches == len(day.batches)
    assert stats.events_by_type == _counts(day_table, "event_type", EVENT_TYPES)
    assert stats.end_reasons == _counts(day_table, "end_reason", END_REASONS)
    assert stats.sessions == stats.attempts == pc.count_distinct(day_table["session_id"]).as_py()
    assert stats.starts == stats.events_by_type["PLAY_START"]
    delay = day_table["received_ts_ms"].to_numpy() - day_table["event_ts_ms"].to_numpy()
    assert stats.late_events == int((delay >= LATE_THRESHOLD_MS).sum()) > 0
    assert stats.first_event_ts_ms == pc.min(day_table["event_ts_ms"]).as_py()
    assert stats.last_event_ts_ms == pc.max(day_table["event_ts_ms"]).as_py()
    assert json.loads(json.dumps(stats.as_dict()))["events"] == stats.events


def test_stats_grow_as_batches_are_handed_over() -> None:
    simulator = Simulator(SimulationConfig(seed=3, users=1_000, days=0.5))
    stream = simulator.event_batches(batch_rows=4_000)
    assert simulator.stats.events == 0
    first = next(stream)
    assert simulator.stats.events == first.num_rows and simulator.stats.batches == 1
    rest = sum(b.num_rows for b in stream)
    assert simulator.stats.events == first.num_rows + rest


def test_stats_add_up() -> None:
    a, b = SimulationStats(), SimulationStats()
    a.count(np.array([0, 1, 8]), np.array([-1, -1, 1]), np.array([10, 20, 30]), late=1)
    b.count(np.array([0, 8]), np.array([-1, 2]), np.array([5, 40]), late=0)
    total = a + b
    assert (total.events, total.batches, total.sessions, total.starts, total.late_events) == (5, 2, 2, 1, 1)
    assert total.end_reasons["USER_EXIT"] == 1 and total.end_reasons["EXIT_BEFORE_START"] == 1
    assert (total.first_event_ts_ms, total.last_event_ts_ms) == (5, 40)


def test_ground_truth_describes_what_was_injected(tmp_path) -> None:
    incident = Incident("rebuffer", "isp", "comcast", START + HOUR, START + 2 * HOUR, 4.0)
    simulator = Simulator(SimulationConfig(seed=2, users=500, days=1, incidents=(incident,)))
    truth = simulator.ground_truth()
    written = json.loads(simulator.write_ground_truth(tmp_path / "truth.json").read_text())
    assert written == json.loads(json.dumps(truth))
    (inc,) = truth["incidents"]
    assert inc | {"traffic_share": 0} == inc | {
        "incident_id": "inc-001", "kind": "rebuffer", "dimension": "isp", "value": "comcast",
        "start_ms": START + HOUR, "end_ms": START + 2 * HOUR, "magnitude": 4.0, "traffic_share": 0,
    }  # fmt: skip
    assert 0 < inc["traffic_share"] < 1
    tests = {e["test_id"]: e for e in truth["experiments"]}
    assert set(tests) == {"artwork_personalization", "abr_fast_start"}
    abr = tests["abr_fast_start"]
    assert abr["cells"][1]["true_effects"]["startup"] == 0.9 and abr["srm"] is None
    assert sum(abr["members"].values()) == 500
    assert truth["config"]["seed"] == 2 and truth["world"]["users"] == 500


# Pinned: a change to any of these numbers is a change of the model (or of NumPy's generators).
@pytest.mark.parametrize(
    ("seed", "users", "hours", "events", "sessions", "starts", "heartbeats"),
    [
        (1, 300, 6, 4_253, 86, 79, 3_007),
        (2, 300, 6, 4_803, 104, 97, 3_514),
        (3, 1_000, 2, 4_086, 112, 109, 3_043),
    ],
)
def test_pinned_small_example(
    seed: int, users: int, hours: int, events: int, sessions: int, starts: int, heartbeats: int
) -> None:
    simulator = Simulator(SimulationConfig(seed=seed, users=users, titles=100, end_ms=START + hours * HOUR))
    table = simulator.table()
    stats = simulator.stats
    assert (stats.events, stats.sessions, stats.starts, stats.events_by_type["HEARTBEAT"]) == (
        events, sessions, starts, heartbeats,
    )  # fmt: skip
    assert table.num_rows == events


_FIRST_EVENTS = [  # seed 1, 300 members, 100 titles, first 6 hours of the default start
    (
        "PLAY_REQUEST",
        259_681,
        "u0000065",
        "t00002",
        "WEB",
        "vodafone",
        "oca-eu-central-vodafone-01",
        0,
        None,
        None,
        0,
    ),
    (
        "PLAY_START",
        260_293,
        "u0000065",
        "t00002",
        "WEB",
        "vodafone",
        "oca-eu-central-vodafone-01",
        1,
        612,
        2800,
        0,
    ),
    (
        "PLAY_REQUEST",
        291_874,
        "u0000113",
        "t00067",
        "CONSOLE",
        "verizon",
        "oca-us-east-verizon-01",
        0,
        None,
        None,
        1_845_573,
    ),
    (
        "PLAY_START",
        292_885,
        "u0000113",
        "t00067",
        "CONSOLE",
        "verizon",
        "oca-us-east-verizon-01",
        1,
        1011,
        2800,
        1_845_573,
    ),
]
_FIRST_SESSION = [  # (type, ms after the range start, played_ms, bitrate_kbps): ABR steps up after a minute
    ("PLAY_REQUEST", 259_681, None, None),
    ("PLAY_START", 260_293, None, 2800),
    ("HEARTBEAT", 320_293, 60_000, 2800),
    ("BITRATE_CHANGE", 320_293, None, 5800),
    ("HEARTBEAT", 380_293, 60_000, 5800),
]


def test_pinned_first_events() -> None:
    table = Simulator(SimulationConfig(seed=1, users=300, titles=100, end_ms=START + 6 * HOUR)).table()
    columns = ["event_type", "event_ts_ms", "user_id", "title_id", "device_type", "isp", "oca_id", "seq",
               "startup_ms", "bitrate_kbps", "position_ms"]  # fmt: skip
    rows = [tuple(r.values()) for r in table.slice(0, 4).select(columns).to_pylist()]
    assert [(r[0], r[1] - START, *r[2:]) for r in rows] == _FIRST_EVENTS
    session = table.filter(pc.equal(table["session_id"], table["session_id"][0])).slice(0, 5).to_pylist()
    assert [
        (r["event_type"], r["event_ts_ms"] - START, r["played_ms"], r["bitrate_kbps"]) for r in session
    ] == (_FIRST_SESSION)


def test_generation_throughput_is_reported(capsys: pytest.CaptureFixture[str]) -> None:
    simulator = Simulator(SimulationConfig(seed=9, days=1))
    began = time.perf_counter()
    events = sum(batch.num_rows for batch in simulator.event_batches())
    seconds = time.perf_counter() - began
    with capsys.disabled():
        print(
            f"\nsimulator throughput: {events} events in {seconds:.2f} s = {events / seconds:,.0f} events/s"
        )
    assert events == simulator.stats.events
