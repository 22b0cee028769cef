"""The model is realistic and its injections are measurable: levels, seasonality, incidents, tests."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from ingest.simulator import Cell, Experiment, Incident, SimulationConfig, Simulator, assign_cells
from ingest.simulator.summary import qoe_summary
from ingest.simulator.world import LAUNCH_REFERENCE_RANK

from .conftest import Run, run

HOUR = 3_600_000
DAY = 24 * HOUR
START = SimulationConfig(seed=0).start_ms  # Monday 00:00 UTC

# Metric → (low, high) for a default day: the Appendix targets and common industry levels.
_LEVELS = [
    ("vst_p50_ms", 800, 1_300),
    ("vst_p95_ms", 1_800, 4_000),
    ("rebuffer_ratio_pct", 0.3, 1.0),
    ("start_failure_pct", 0.3, 1.0),
    ("ebvs_pct", 2.0, 4.0),
    ("playback_failure_pct", 0.1, 0.7),
    ("events_per_session", 30, 70),
    ("avg_bitrate_kbps", 3_000, 8_000),
]


@pytest.fixture(scope="module")
def summary(day_table: pa.Table) -> dict[str, float]:
    return qoe_summary(day_table)


@pytest.mark.parametrize(("metric", "low", "high"), _LEVELS)
def test_default_levels_are_realistic(
    summary: dict[str, float], metric: str, low: float, high: float
) -> None:
    assert low <= summary[metric] <= high


def _requests(table: pa.Table) -> pd.DataFrame:
    req = table.filter(pc.equal(table["event_type"], "PLAY_REQUEST"))
    return req.select(
        ["event_ts_ms", "user_id", "region", "title_id", "experiments", "session_id"]
    ).to_pandas()


def test_requests_follow_the_member_rate(day: Run, day_table: pa.Table) -> None:
    per_member_day = day.stats.sessions / day.simulator.config.users
    assert 0.9 < per_member_day < 1.5  # 1.2 configured, Monday is a little below the weekly mean


@pytest.fixture(scope="module")
def week() -> Run:
    """A week of 3,000 members with 10-minute heartbeats (fewer events, same sessions)."""
    return run(SimulationConfig(seed=21, users=3_000, days=7, heartbeat_interval_s=600))


def test_requests_follow_the_local_day_and_the_week(week: Run) -> None:
    req = _requests(week.table)
    offsets = dict(
        zip(
            week.simulator.world.regions["region"].to_pylist(),
            week.simulator.world.regions["utc_offset_min"].to_pylist(),
            strict=True,
        )
    )
    local = req["event_ts_ms"].to_numpy() + req["region"].map(offsets).to_numpy() * 60_000
    hour = (local // HOUR) % 24
    by_hour = np.bincount(hour, minlength=24)
    assert by_hour[19:23].mean() > 4 * by_hour[2:6].mean()  # evening peak, night trough
    assert np.argmax(by_hour) in (19, 20, 21, 22)
    weekday = ((local // DAY) + 3) % 7  # Monday = 0
    by_day = np.bincount(weekday, minlength=7)
    assert by_day[5:7].mean() > 1.12 * by_day[0:4].mean()  # weekend above Monday–Thursday


def test_activity_persists_so_the_pre_period_predicts_the_test_period(week: Run) -> None:
    req = _requests(week.table)
    users = week.simulator.world.users["user_id"].to_pylist()
    early = req[req["event_ts_ms"] < START + 3 * DAY].groupby("user_id").size().reindex(users, fill_value=0)
    late = req[req["event_ts_ms"] >= START + 4 * DAY].groupby("user_id").size().reindex(users, fill_value=0)
    assert np.corrcoef(early, late)[0, 1] > 0.5


def test_popularity_has_a_long_tail_and_launches_spike(week: Run) -> None:
    req = _requests(week.table)
    plays = req["title_id"].value_counts()
    titles = week.simulator.world.titles.num_rows
    top = plays.iloc[: titles // 100].sum() / plays.sum()
    assert 0.1 < top < 0.6  # the top 1% of titles draw a large share
    every = np.sort(
        plays.reindex(week.simulator.world.titles["title_id"].to_pylist(), fill_value=0).to_numpy()
    )
    assert every[: titles // 2].sum() / every.sum() < 0.12  # ... and the less popular half very little
    calendar = week.simulator.world.release_calendar.filter(pc.field("in_range")).to_pylist()
    assert len(calendar) == 7
    for launch in calendar:
        ts = req.loc[req["title_id"] == launch["title_id"], "event_ts_ms"]
        assert (ts >= launch["release_ms"]).all()  # nobody plays a title before it launches
    # A launch draws many times an average title's plays in its first two days.
    average_two_days = len(req) / titles / 7 * 2
    launched = [t for t in calendar if t["release_ms"] < START + 5 * DAY]
    first_two_days = [
        ((req["title_id"] == t["title_id"]) & (req["event_ts_ms"] < t["release_ms"] + 2 * DAY)).sum()
        for t in launched
    ]
    assert np.median(first_two_days) > 5 * average_two_days


def test_launch_weight_is_zero_before_release_then_spikes_and_decays(day: Run) -> None:
    world = day.simulator.world
    title = int(np.flatnonzero(world.title_new_in_range)[0])
    release = int(world.title_release_ms[title])
    weight = [
        world.title_weights(release + offset)[:, title].sum()
        for offset in (-HOUR, 0, DAY, 10 * DAY, 400 * DAY)
    ]
    assert weight[0] == 0
    assert weight[1] > weight[2] > weight[3] > weight[4] > 0
    unit = LAUNCH_REFERENCE_RANK**-day.simulator.config.zipf_exponent
    expected = 1 + world.title_launch_boost[title] * unit / world.title_popularity[title]
    assert weight[1] / weight[4] == pytest.approx(expected, rel=1e-6)


def test_completion_depends_on_the_title_duration(day_table: pa.Table) -> None:
    ends = day_table.filter(pc.equal(day_table["event_type"], "PLAY_END"))
    starts = day_table.filter(pc.equal(day_table["event_type"], "PLAY_START"))
    joined = starts.select(["session_id", "content_duration_ms"]).join(
        ends.select(["session_id", "position_ms"]), "session_id"
    )
    frame = joined.to_pandas()
    frame["completed"] = frame["position_ms"] >= 0.9 * frame["content_duration_ms"]  # DESIGN: ≥ 90% watched
    short = frame.loc[frame["content_duration_ms"] < 35 * 60_000, "completed"].mean()
    long = frame.loc[frame["content_duration_ms"] > 90 * 60_000, "completed"].mean()
    assert short > 1.4 * long


# ------------------------------------------------------------------ incidents

_PEAK = START + 19 * HOUR  # 19:00 UTC = 20:00 in eu-central: the slice has traffic


@pytest.fixture(scope="module")
def incidents_run() -> Run:
    incidents = (
        Incident("startup", "oca_id", "oca-eu-central-ixp-01", _PEAK, _PEAK + 2 * HOUR, 3.0),
        Incident("rebuffer", "isp", "comcast", START + 1 * HOUR, START + 3 * HOUR, 4.0),
        Incident("errors", "region", "eu-central", START + 20 * HOUR, START + 21 * HOUR, 0.15),
    )
    return run(SimulationConfig(seed=8, users=20_000, days=1, incidents=incidents, heartbeat_interval_s=600))


def _window(frame: pd.DataFrame, lo: int, hi: int) -> pd.Series:
    return (frame["event_ts_ms"] >= lo) & (frame["event_ts_ms"] < hi)


def test_a_startup_incident_slows_only_its_appliance_during_its_window(incidents_run: Run) -> None:
    t = incidents_run.table
    starts = (
        t.filter(pc.equal(t["event_type"], "PLAY_START"))
        .select(["event_ts_ms", "oca_id", "startup_ms"])
        .to_pandas()
    )
    inside = _window(starts, _PEAK, _PEAK + 2 * HOUR)
    on = starts["oca_id"] == "oca-eu-central-ixp-01"
    assert (inside & on).sum() >= 20
    hit = starts.loc[inside & on, "startup_ms"].median()
    assert hit > 2.3 * starts.loc[~inside & on, "startup_ms"].median()  # 3× asked; slow starts are abandoned
    assert hit > 2.0 * starts.loc[inside & ~on, "startup_ms"].median()
    baseline = starts.loc[~inside & ~on, "startup_ms"].median()
    assert abs(starts.loc[inside & ~on, "startup_ms"].median() / baseline - 1) < 0.15


def _rebuffer_ratio(frame: pd.DataFrame) -> float:
    return frame["rebuffer_ms"].sum() / (frame["played_ms"].sum() + frame["rebuffer_ms"].sum())


def test_a_rebuffer_incident_raises_only_its_isp_during_its_window(incidents_run: Run) -> None:
    t = incidents_run.table
    frame = t.select(["event_ts_ms", "isp", "played_ms", "rebuffer_ms"]).to_pandas()
    inside = _window(frame, START + 1 * HOUR, START + 3 * HOUR)
    on = frame["isp"] == "comcast"
    # Stalls 4× as often and 4× as long: about 16× the slice's own ratio outside the window.
    assert _rebuffer_ratio(frame[inside & on]) > 8 * _rebuffer_ratio(frame[~inside & on])
    assert 0.6 < _rebuffer_ratio(frame[inside & ~on]) / _rebuffer_ratio(frame[~inside & ~on]) < 1.6


def test_an_errors_incident_raises_failures_only_in_its_region_and_window(incidents_run: Run) -> None:
    t = incidents_run.table
    frame = t.filter(
        pc.is_in(t["event_type"], value_set=pa.array(["PLAY_REQUEST", "PLAY_START", "PLAY_END"]))
    )
    frame = frame.select(["event_type", "event_ts_ms", "region", "end_reason"]).to_pandas()
    inside = _window(frame, START + 20 * HOUR, START + 21 * HOUR)
    on = frame["region"] == "eu-central"

    def start_failure_pct(mask: pd.Series) -> float:
        attempts = (mask & (frame["event_type"] == "PLAY_REQUEST")).sum()
        return 100 * (mask & (frame["end_reason"] == "START_FAILURE")).sum() / attempts

    def playback_failure_pct(mask: pd.Series) -> float:
        starts = (mask & (frame["event_type"] == "PLAY_START")).sum()
        return 100 * (mask & (frame["end_reason"] == "PLAYBACK_FAILURE")).sum() / starts

    assert start_failure_pct(inside & on) > 8
    assert start_failure_pct(~inside & on) < 1.5 and start_failure_pct(inside & ~on) < 1.5
    assert playback_failure_pct(inside & on) > 5
    assert playback_failure_pct(inside & ~on) < 1.5


def test_an_incident_on_an_unknown_slice_is_rejected_by_name() -> None:
    bad = Incident("startup", "isp", "no-such-isp", START, START + HOUR, 2.0)
    with pytest.raises(ValueError, match="no isp 'no-such-isp'.*known values: comcast"):
        Simulator(SimulationConfig(seed=1, users=10, days=1, incidents=(bad,)))


# ------------------------------------------------------------------ experiments


def test_assignment_is_a_stable_blake2b_hash_and_balanced(day: Run) -> None:
    users = day.simulator.world.users["user_id"].to_pylist()
    test = day.simulator.config.experiments[0]
    cells = assign_cells(users, test)
    assert (cells == assign_cells(users, test)).all()
    for user, cell in list(zip(users, cells, strict=True))[:200]:
        digest = hashlib.blake2b(f"{test.test_id}:{user}".encode(), digest_size=8).digest()
        assert cell == (0 if int.from_bytes(digest, "big") / 2**64 < 0.5 else 1)
    share = (cells == 1).mean()
    assert abs(share - 0.5) < 4 * np.sqrt(0.25 / len(users))


def test_unequal_weights_and_partial_traffic_allocate_as_asked() -> None:
    users = [f"u{i:07d}" for i in range(20_000)]
    test = Experiment("w", (Cell("control", weight=3), Cell("a"), Cell("b")), START, traffic=0.5)
    cells = assign_cells(users, test)
    shares = np.array([(cells == k).mean() for k in (-1, 0, 1, 2)])
    assert np.allclose(shares, [0.5, 0.3, 0.1, 0.1], atol=0.015)


def test_members_carry_their_cell_only_from_the_test_start(day_table: pa.Table, day: Run) -> None:
    req = _requests(day_table)
    test = day.simulator.config.experiments[1]
    cell = req["experiments"].map(lambda pairs: dict(pairs).get(test.test_id))
    before = req["event_ts_ms"] < test.start_ms
    assert cell[before].isna().all() and cell[~before].notna().all()
    assert before.sum() > 1_000 and (~before).sum() > 1_000
    assert (req[~before].assign(cell=cell[~before]).groupby("user_id")["cell"].nunique() == 1).all()
    expected = dict(
        zip(
            day.simulator.world.users["user_id"].to_pylist(),
            assign_cells(day.simulator.world.users["user_id"].to_pylist(), test),
            strict=True,
        )
    )
    names = [c.name for c in test.cells]
    assert all(
        names[expected[u]] == c for u, c in zip(req.loc[~before, "user_id"], cell[~before], strict=True)
    )


def test_the_default_abr_test_lowers_start_up_time_about_ten_percent(day_table: pa.Table, day: Run) -> None:
    starts = day_table.filter(pc.equal(day_table["event_type"], "PLAY_START"))
    frame = starts.select(["startup_ms", "experiments"]).to_pandas()
    cell = frame["experiments"].map(lambda pairs: dict(pairs).get("abr_fast_start"))
    ratio = (
        frame.loc[cell == "fast_start", "startup_ms"].median()
        / frame.loc[cell == "control", "startup_ms"].median()
    )
    assert 0.84 < ratio < 0.96


@pytest.fixture(scope="module")
def experiment_run() -> Run:
    tests = (
        Experiment("plays", (Cell("control"), Cell("more", watch_time=1.4)), START + 2 * DAY),
        Experiment("broken_logging", (Cell("control"), Cell("treatment")), START + 2 * DAY, srm_loss=0.3),
    )
    return run(SimulationConfig(seed=13, users=4_000, days=4, experiments=tests, heartbeat_interval_s=600))


def _cells(frame: pd.DataFrame, test_id: str) -> pd.Series:
    return frame["experiments"].map(lambda pairs: dict(pairs).get(test_id))


def test_a_watch_time_effect_shows_in_plays_per_member(experiment_run: Run) -> None:
    req = _requests(experiment_run.table)
    req = req[req["event_ts_ms"] >= START + 2 * DAY]
    members = experiment_run.simulator.ground_truth()["experiments"][0]["members"]
    plays = req.groupby(_cells(req, "plays")).size()
    ratio = (plays["more"] / members["more"]) / (plays["control"] / members["control"])
    assert 1.25 < ratio < 1.55


def test_srm_loss_drops_sessions_of_one_cell(experiment_run: Run) -> None:
    req = _requests(experiment_run.table)
    post = req[req["event_ts_ms"] >= START + 2 * DAY]
    seen = post.groupby(_cells(post, "broken_logging"))["user_id"].nunique()
    assert seen["treatment"] < 0.85 * seen["control"]
    truth = experiment_run.simulator.ground_truth()["experiments"][1]
    assert truth["srm"]["cell"] == "treatment" and truth["srm"]["loss"] == 0.3
    assert abs(truth["srm"]["members_lost"] / truth["members"]["treatment"] - 0.3) < 0.05
    assert experiment_run.stats.sessions_lost_to_srm > 0
    # Before the test starts nobody is lost: members of both cells play at the same rate.
    pre = req[req["event_ts_ms"] < START + 2 * DAY]
    cells = dict(
        zip(
            experiment_run.simulator.world.users["user_id"].to_pylist(),
            assign_cells(
                experiment_run.simulator.world.users["user_id"].to_pylist(),
                experiment_run.simulator.config.experiments[1],
            ),
            strict=True,
        )
    )
    pre_cells = pre["user_id"].map(cells)
    assert 0.85 < (pre_cells == 1).sum() / (pre_cells == 0).sum() < 1.15
