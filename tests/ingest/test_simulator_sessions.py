"""Every session is a valid player sequence and every field follows the PlaybackEvent docs."""

from __future__ import annotations

import re
import uuid

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from ingest.simulator.catalog import LADDER_KBPS
from schemas.events import END_REASONS, EVENT_TYPES

from .session_checks import SessionView

T = {name: i for i, name in enumerate(EVENT_TYPES)}
R = {name: i for i, name in enumerate(END_REASONS)}


def test_every_session_starts_with_a_request_and_ends_with_one_play_end(day_view: SessionView) -> None:
    v = day_view
    assert v.sessions > 5_000
    assert (v.etype[v.first] == T["PLAY_REQUEST"]).all()
    assert (v.etype[v.last] == T["PLAY_END"]).all()
    assert (v.count("PLAY_REQUEST") == 1).all() and (v.count("PLAY_END") == 1).all()
    assert (v.count("PLAY_START") <= 1).all()


def test_seq_is_contiguous_from_zero_and_in_time_order(day_view: SessionView) -> None:
    v = day_view
    assert (v.seq == np.arange(len(v.seq)) - v.first[v.session]).all()
    same = v.session[1:] == v.session[:-1]
    assert (np.diff(v.ts)[same] >= 0).all()


def test_rebuffer_starts_and_ends_alternate_and_balance(day_view: SessionView) -> None:
    v = day_view
    step = np.where(v.etype == T["REBUFFER_START"], 1, np.where(v.etype == T["REBUFFER_END"], -1, 0))
    state = np.cumsum(step)
    assert set(np.unique(state).tolist()) <= {0, 1}
    assert (state[v.last] == 0).all()
    # Alternating and balanced, so the i-th START pairs with the i-th END; rebuffer_ms is their gap.
    starts = np.flatnonzero(v.etype == T["REBUFFER_START"])
    ends = np.flatnonzero(v.etype == T["REBUFFER_END"])
    assert len(starts) == len(ends) > 1_000
    assert (v.session[starts] == v.session[ends]).all()
    assert (v.columns["rebuffer_ms"][ends] == v.ts[ends] - v.ts[starts]).all()


# (end reason, must have PLAY_START, fatal errors, event types allowed besides REQUEST/START/END)
_ENDINGS = [
    ("START_FAILURE", False, 1, {"ERROR"}),
    ("EXIT_BEFORE_START", False, 0, set()),
    (
        "PLAYBACK_FAILURE",
        True,
        1,
        {"HEARTBEAT", "BITRATE_CHANGE", "REBUFFER_START", "REBUFFER_END", "SEEK", "ERROR"},
    ),
    (
        "COMPLETED",
        True,
        0,
        {"HEARTBEAT", "BITRATE_CHANGE", "REBUFFER_START", "REBUFFER_END", "SEEK", "ERROR"},
    ),
    (
        "USER_EXIT",
        True,
        0,
        {"HEARTBEAT", "BITRATE_CHANGE", "REBUFFER_START", "REBUFFER_END", "SEEK", "ERROR"},
    ),
]


@pytest.mark.parametrize(("reason", "started", "fatal_errors", "allowed"), _ENDINGS)
def test_the_end_reason_is_consistent_with_the_events(
    day_view: SessionView, reason: str, started: bool, fatal_errors: int, allowed: set[str]
) -> None:
    v = day_view
    fatal = v.table["fatal"].to_numpy(zero_copy_only=False)
    chosen = v.end_reason[v.last] == R[reason]
    assert chosen.sum() > 0, f"no {reason} session in a default day"
    assert ((v.count("PLAY_START") == 1) == started)[chosen].all()
    assert (v.per_session_sum(fatal.astype(np.int64))[chosen] == fatal_errors).all()
    rows = chosen[v.session]
    present = {EVENT_TYPES[t] for t in np.unique(v.etype[rows])} - {"PLAY_REQUEST", "PLAY_START", "PLAY_END"}
    assert present <= allowed
    if fatal_errors:  # the fatal ERROR comes right before PLAY_END, at the same instant
        assert (fatal[v.last[chosen] - 1]).all()
        assert (v.ts[v.last[chosen] - 1] == v.ts[v.last[chosen]]).all()
    if reason == "EXIT_BEFORE_START":
        assert (v.last[chosen] - v.first[chosen] == 1).all()


def test_played_ms_sums_to_playing_time_and_the_wall_clock_adds_up(day_view: SessionView) -> None:
    v = day_view
    played = np.nan_to_num(v.columns["played_ms"]).astype(np.int64)
    rebuffer = np.nan_to_num(v.columns["rebuffer_ms"]).astype(np.int64)
    startup = np.nan_to_num(v.columns["startup_ms"]).astype(np.int64)
    started = v.count("PLAY_START") == 1
    start_ts = v.per_session_sum(np.where(v.etype == T["PLAY_START"], v.ts, 0))
    end_ts = v.ts[v.last]
    per_played = v.per_session_sum(played)
    per_rebuffer = v.per_session_sum(rebuffer)
    # Σ played = time from first frame to end minus stalls, exactly.
    assert (per_played[started] == (end_ts - start_ts - per_rebuffer)[started]).all()
    # Σ played + Σ rebuffer + start-up = wall time of the session, exactly.
    total = per_played + per_rebuffer + v.per_session_sum(startup)
    assert (total[started] == (end_ts - v.ts[v.first])[started]).all()
    assert (per_played[~started] == 0).all()
    # Play time also moves the playhead: without seeks, end position − start position = Σ played.
    no_seek = started & (v.count("SEEK") == 0)
    position = v.columns["position_ms"]
    assert (position[v.last] - position[v.first] == per_played)[no_seek].all()


# Column → event types on which it is set (null on every other type).
_SET_ON = [
    ("startup_ms", {"PLAY_START"}),
    ("rebuffer_ms", {"REBUFFER_END"}),
    ("throughput_kbps", {"PLAY_START", "HEARTBEAT"}),
    ("content_duration_ms", {"PLAY_REQUEST", "PLAY_START"}),
    ("end_reason", {"PLAY_END"}),
    ("error_code", {"ERROR"}),
]


@pytest.mark.parametrize(("column", "types"), _SET_ON)
def test_fields_are_set_exactly_on_their_event_types(
    day_table: pa.Table, column: str, types: set[str]
) -> None:
    on = pc.is_in(day_table["event_type"], value_set=pa.array(sorted(types)))
    valid = pc.is_valid(day_table[column])
    assert pc.all(pc.equal(on, valid)).as_py()


def test_played_ms_is_set_after_the_first_frame_except_on_bitrate_changes(day_view: SessionView) -> None:
    v = day_view
    start_row = np.full(v.sessions, np.iinfo(np.int64).max)
    is_start = v.etype == T["PLAY_START"]
    start_row[v.session[is_start]] = np.flatnonzero(is_start)
    expected = (np.arange(len(v.etype)) > start_row[v.session]) & (v.etype != T["BITRATE_CHANGE"])
    assert (~np.isnan(v.columns["played_ms"]) == expected).all()
    assert (v.columns["played_ms"][expected] >= 0).all()
    # Bitrate: set from the first frame on, never before it.
    has_bitrate = ~np.isnan(v.columns["bitrate_kbps"])
    assert (has_bitrate == (expected | is_start | (v.etype == T["BITRATE_CHANGE"]))).all()


def test_fatal_is_true_only_on_errors(day_table: pa.Table) -> None:
    fatal = day_table.filter(day_table["fatal"])
    assert fatal.num_rows > 0
    assert set(fatal["event_type"].to_pylist()) == {"ERROR"}
    assert pc.all(pc.is_valid(fatal["error_code"])).as_py()


def test_a_bitrate_change_follows_its_heartbeat_at_the_same_instant(day_view: SessionView) -> None:
    v = day_view
    change = np.flatnonzero(v.etype == T["BITRATE_CHANGE"])
    assert len(change) > 1_000
    before = change - 1
    assert (v.etype[before] == T["HEARTBEAT"]).all()
    assert (v.ts[before] == v.ts[change]).all()
    old, new = v.columns["bitrate_kbps"][before], v.columns["bitrate_kbps"][change]
    rung = {kbps: i for i, kbps in enumerate(LADDER_KBPS)}
    steps = np.array([rung[int(b)] - rung[int(a)] for a, b in zip(old, new, strict=True)])
    assert set(np.unique(steps).tolist()) <= {-1, 1}  # ABR moves one rung at a time
    assert (steps == 1).any() and (steps == -1).any()


def test_bitrates_are_ladder_rungs_within_the_device_cap(day_table: pa.Table, day) -> None:
    bitrate = day_table["bitrate_kbps"].drop_null().to_numpy()
    assert set(np.unique(bitrate).tolist()) <= set(LADDER_KBPS)
    caps = day.simulator.world.users.select(["user_id", "devices"]).to_pylist()
    cap_of = {u["user_id"]: max(d["max_bitrate_kbps"] for d in u["devices"]) for u in caps}
    per_user = day_table.group_by("user_id").aggregate([("bitrate_kbps", "max")]).to_pylist()
    assert all(
        r["bitrate_kbps_max"] is None or r["bitrate_kbps_max"] <= cap_of[r["user_id"]] for r in per_user
    )
    mobile = day_table.filter(pc.equal(day_table["device_type"], "MOBILE"))
    assert pc.max(mobile["bitrate_kbps"]).as_py() <= 5_800


def test_positions_stay_inside_the_title_and_completed_sessions_reach_its_end(day_view: SessionView) -> None:
    v = day_view
    position = v.columns["position_ms"]
    duration = v.per_session_sum(
        np.where(v.etype == T["PLAY_REQUEST"], np.nan_to_num(v.columns["content_duration_ms"]), 0)
    )
    assert not np.isnan(position).any()
    assert (position >= 0).all() and (position <= duration[v.session]).all()
    completed = v.end_reason[v.last] == R["COMPLETED"]
    assert (position[v.last][completed] == duration[completed]).all()
    assert (position[v.last][~completed] < duration[~completed]).all()


def test_events_are_received_after_they_happen_with_a_few_late(day_view: SessionView) -> None:
    delay = day_view.received - day_view.ts
    assert (delay >= 0).all()
    assert 50 <= np.median(delay) <= 400
    assert 0 < (delay >= 60_000).mean() < 0.01


def test_ids_are_well_formed(day_table: pa.Table) -> None:
    sample = day_table.slice(0, 2_000)
    for column in ("event_id", "session_id"):
        for value in sample[column].to_pylist():
            parsed = uuid.UUID(value)
            assert parsed.version == 4 and str(parsed) == value
    assert pc.count_distinct(day_table["event_id"]).as_py() == day_table.num_rows
    patterns = {"user_id": r"u\d{7}", "title_id": r"t\d{5}", "oca_id": r"oca-[a-z]+-[a-z]+-[a-z0-9-]+-\d{2}"}
    for column, pattern in patterns.items():
        values = pc.unique(day_table[column]).drop_null().to_pylist()
        assert all(re.fullmatch(pattern, v) for v in values), column
    ixp = [v for v in pc.unique(day_table["oca_id"]).drop_null().to_pylist() if "-ixp-" in v]
    assert ixp and all(re.fullmatch(r"oca-[a-z]+-[a-z]+-ixp-\d{2}", v) for v in ixp)
    # The OCA is set exactly when the CDN is the own one.
    assert pc.all(pc.equal(pc.equal(day_table["cdn"], "oca"), pc.is_valid(day_table["oca_id"]))).as_py()
