"""Pure parts of the simulator: ids, seasonality, configuration, incidents, experiments, the world."""

from __future__ import annotations

import dataclasses
import uuid

import numpy as np
import pyarrow.compute as pc
import pytest

from ingest.simulator import (
    MAGNITUDES,
    Cell,
    Experiment,
    Incident,
    SimulationConfig,
    World,
    default_experiments,
    random_incidents,
)
from ingest.simulator.experiments import AllocationCodes
from ingest.simulator.ids import fixed_width_ids, uuid4_bytes, uuid_strings
from ingest.simulator.seasonality import demand_shape, load_factor

HOUR = 3_600_000
DAY = 24 * HOUR
START = SimulationConfig(seed=0).start_ms

# ------------------------------------------------------------------ ids


def test_uuid_strings_match_the_standard_library() -> None:
    raw = uuid4_bytes(np.random.default_rng(0), 500)
    strings = uuid_strings(raw).to_pylist()
    for row, text in zip(raw, strings, strict=True):
        parsed = uuid.UUID(bytes=row.tobytes())
        assert str(parsed) == text and parsed.version == 4 and parsed.variant == uuid.RFC_4122
    assert uuid_strings(raw[:0]).to_pylist() == []


@pytest.mark.parametrize(
    ("prefix", "numbers", "width", "expected"),
    [
        ("u", [1, 1234, 9_999_999], 7, ["u0000001", "u0001234", "u9999999"]),
        ("t", [42], 5, ["t00042"]),
        ("x-", [0, 7], 2, ["x-00", "x-07"]),
    ],
)
def test_fixed_width_ids(prefix: str, numbers: list[int], width: int, expected: list[str]) -> None:
    assert fixed_width_ids(prefix, np.array(numbers), width).to_pylist() == expected


def test_fixed_width_ids_refuse_numbers_that_do_not_fit() -> None:
    with pytest.raises(ValueError, match="fit 3 digits"):
        fixed_width_ids("t", np.array([1000]), 3)


# ------------------------------------------------------------------ seasonality


def test_demand_averages_one_over_a_week_and_never_jumps() -> None:
    minutes = START + np.arange(0, 7 * DAY, 60_000, dtype=np.int64)
    shape = demand_shape(minutes)
    assert shape.mean() == pytest.approx(1.0, abs=1e-9)
    assert np.abs(np.diff(shape)).max() < 0.01  # continuous: no step between neighbouring minutes
    assert load_factor(minutes).min() > 0 and load_factor(minutes).max() == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("earlier", "later"),
    [
        ("Mon 04:00", "Mon 20:30"),  # night trough, evening peak
        ("Tue 12:00", "Sat 12:00"),  # weekday below weekend
        ("Mon 13:00", "Fri 22:00"),
    ],
)
def test_demand_is_higher_in_the_evening_and_at_the_weekend(earlier: str, later: str) -> None:
    def at(label: str) -> np.ndarray:
        day, clock = label.split()
        hours, minutes = map(int, clock.split(":"))
        offset = (
            ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"].index(day) * DAY
            + hours * HOUR
            + minutes * 60_000
        )
        return np.array([START + offset])

    assert demand_shape(at(later))[0] > 1.1 * demand_shape(at(earlier))[0]


# ------------------------------------------------------------------ configuration


def test_defaults_are_complete() -> None:
    config = SimulationConfig(seed=1)
    assert (config.users, config.titles, config.heartbeat_interval_ms) == (5_000, 1_500, 60_000)
    assert config.end_ms == config.start_ms + 7 * DAY
    assert [e.test_id for e in config.experiments] == ["artwork_personalization", "abr_fast_start"]
    assert all(e.start_ms == config.start_ms + 3 * DAY for e in config.experiments)
    assert SimulationConfig(seed=1, end_ms=START + DAY // 2).days == 0.5
    assert SimulationConfig(seed=1, experiments=()).experiments == ()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"seed": -1}, "seed must be a non-negative int"),
        ({"seed": 1.5}, "seed must be a non-negative int"),
        ({"users": 0}, "users must be >= 1"),
        ({"titles": 3}, "titles must be >= 10"),
        ({"days": 0}, "days must be > 0"),
        ({"end_ms": START}, "end_ms .* must be after start_ms"),
        ({"heartbeat_interval_s": 0.5}, "heartbeat_interval_s must be in"),
        ({"sessions_per_user_per_day": 0}, "sessions_per_user_per_day must be in"),
        ({"chunk_ms": 7 * 60_000}, "chunk_ms must be whole minutes that divide an hour"),
        ({"oca_share": 1.5}, "oca_share must be in"),
        ({"third_party_cdns": (), "oca_share": 0.9}, "third_party_cdns must name at least one CDN"),
        ({"third_party_cdns": (("oca", 1.0),)}, "'oca' is the own CDN"),
        ({"late_fraction": 2}, "late_fraction must be in"),
        ({"start_failure_rate": 1.0}, "start_failure_rate must be a probability"),
        ({"experiments": ("x",)}, "experiments must hold Experiment objects"),
        ({"incidents": ("x",)}, "incidents must hold Incident objects"),
        (
            {
                "experiments": default_experiments(START, START + DAY)
                + default_experiments(START, START + DAY)
            },
            "test_ids must be unique",
        ),
    ],
)
def test_bad_configuration_fails_with_a_clear_message(kwargs: dict, message: str) -> None:
    kwargs = {"seed": 1, **kwargs}
    with pytest.raises(ValueError, match=message):
        SimulationConfig(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kind": "latency"}, "kind must be one of"),
        ({"dimension": "title_id"}, "dimension must be one of"),
        ({"value": ""}, "must name the slice"),
        ({"end_ms": START}, "must be after start_ms"),
        ({"kind": "errors", "magnitude": 1.5}, r"added probability in \(0, 1\]"),
        ({"magnitude": 0}, "multiplier > 0"),
    ],
)
def test_bad_incidents_fail_with_a_clear_message(kwargs: dict, message: str) -> None:
    base = {"kind": "startup", "dimension": "isp", "value": "comcast", "magnitude": 2.0}
    base |= {"start_ms": START, "end_ms": START + HOUR}
    with pytest.raises(ValueError, match=message):
        Incident(**(base | kwargs))


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: Experiment("t", (Cell("control"),), START), "at least two cells"),
        (lambda: Experiment("t", (Cell("a"), Cell("a")), START), "duplicate cell names"),
        (lambda: Experiment("", (Cell("a"), Cell("b")), START), "non-empty"),
        (lambda: Experiment("t", (Cell("a"), Cell("b")), START, end_ms=START), "end_ms must be after"),
        (lambda: Experiment("t", (Cell("a"), Cell("b")), START, traffic=0), "traffic must be in"),
        (
            lambda: Experiment("t", (Cell("a"), Cell("b")), START, srm_loss=1.0),
            r"srm_loss must be in \[0, 1\)",
        ),
        (lambda: Experiment("t", (Cell("a"), Cell("b")), START, srm_cell="c"), "srm_cell 'c' is not one of"),
        (lambda: Cell("a", startup=0), "startup must be > 0"),
    ],
)
def test_bad_experiments_fail_with_a_clear_message(build, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build()


def test_allocation_codes_stand_for_their_maps() -> None:
    codes = AllocationCodes(("a", "b"), (("control", "x"), ("control", "y", "z")))
    cells = np.array([[-1, -1], [0, 2], [1, -1], [0, 2], [-1, 1]])
    encoded = codes.encode(cells)
    assert encoded[0] == 0 and encoded[1] == encoded[3] and len(set(encoded.tolist())) == 4
    both = (("a", "b"), ("control", "z"))
    assert [codes.entries(int(c)) for c in encoded] == [
        ((), ()),
        both,
        (("a",), ("x",)),
        both,
        (("b",), ("y",)),
    ]


# ------------------------------------------------------------------ the world


@pytest.fixture(scope="module")
def world() -> World:
    return World(SimulationConfig(seed=4))


def test_the_world_is_deterministic(world: World) -> None:
    again = World(SimulationConfig(seed=4))
    for name in (
        "users",
        "titles",
        "ocas",
        "release_calendar",
        "regions",
        "isps",
        "cdns",
        "title_affinity_table",
    ):
        assert getattr(world, name).equals(getattr(again, name)), name
    assert not World(SimulationConfig(seed=5)).users.equals(world.users)


def test_members_have_a_home_devices_and_persistent_propensities(world: World) -> None:
    users = world.users
    assert users.num_rows == 5_000
    assert pc.all(pc.greater_equal(pc.list_value_length(users["devices"]), 1)).as_py()
    assert pc.all(pc.less_equal(pc.list_value_length(users["devices"]), 3)).as_py()
    assert np.mean(users["activity"].to_numpy()) == pytest.approx(1.0, rel=0.1)
    countries = set(users["country"].to_pylist())
    assert {"US", "DE", "BR", "IN", "JP"} <= countries and all(len(c) == 2 and c.isupper() for c in countries)


def test_appliances_follow_open_connect(world: World) -> None:
    ocas = world.ocas.to_pylist()
    storage = [o for o in ocas if o["kind"] == "storage"]
    flash = [o for o in ocas if o["kind"] == "flash"]
    assert storage and flash
    assert all(36e12 <= o["capacity_bytes"] <= 120e12 and o["fill_rate_bps"] == 1.2e9 for o in storage)
    assert all(1e12 <= o["capacity_bytes"] <= 8e12 and o["fill_rate_bps"] == 0.3e9 for o in flash)
    ixp = [o for o in ocas if o["site_type"] == "ixp"]
    assert len({o["region"] for o in ixp}) == world.regions.num_rows
    assert all(o["isp"] is None and "-ixp-" in o["oca_id"] for o in ixp)
    assert all(o["isp"] is not None for o in ocas if o["site_type"] == "isp_embedded")
    assert len({o["oca_id"] for o in ocas}) == len(ocas)


def test_titles_have_a_release_calendar_around_the_range(world: World) -> None:
    titles = world.titles
    assert set(titles["kind"].to_pylist()) == {"movie", "episode"}
    calendar = world.release_calendar
    in_range = calendar.filter(pc.field("in_range"))
    assert in_range.num_rows == 7  # one launch a day by default
    assert pc.all(pc.less(in_range["release_ms"], world.config.end_ms)).as_py()
    assert calendar.num_rows > in_range.num_rows  # and recent launches still decaying
    rank = titles["popularity_rank"].to_numpy()
    assert sorted(rank.tolist()) == list(range(1, titles.num_rows + 1))


@pytest.mark.parametrize("dimension", ["oca_id", "isp", "region", "cdn", "country", "device_type"])
def test_slice_shares_cover_every_value_and_sum_to_one(world: World, dimension: str) -> None:
    shares = world.slice_shares(dimension)
    assert set(shares) == set(world.dimension_values(dimension))
    assert sum(shares.values()) == pytest.approx(1.0)
    assert all(share >= 0 for share in shares.values())


# ------------------------------------------------------------------ random incidents


def test_random_incidents_are_deterministic_disjoint_and_on_busy_slices(world: World) -> None:
    made = random_incidents(world, seed=3, start_ms=START, end_ms=START + 7 * DAY, count=40)
    assert made == random_incidents(world, seed=3, start_ms=START, end_ms=START + 7 * DAY, count=40)
    assert made != random_incidents(world, seed=4, start_ms=START, end_ms=START + 7 * DAY, count=40)
    assert len(made) == 40 and len({i.incident_id for i in made}) == 40
    for before, after in zip(made, made[1:], strict=False):
        assert before.end_ms <= after.start_ms
    for incident in made:
        assert START <= incident.start_ms < incident.end_ms <= START + 7 * DAY
        assert incident.start_ms % 60_000 == 0 and 10 * 60_000 <= incident.end_ms - incident.start_ms <= HOUR
        assert incident.magnitude == MAGNITUDES[incident.kind][incident.size]
        assert world.slice_shares(incident.dimension)[incident.value] >= 0.02
    assert {i.kind for i in made} == {"startup", "rebuffer", "errors"}
    assert {i.size for i in made} == {"small", "medium", "large"}
    assert len({i.dimension for i in made}) >= 5


def test_random_incidents_can_be_restricted(world: World) -> None:
    made = random_incidents(
        world, seed=1, start_ms=START, end_ms=START + DAY, count=6, kinds=("errors",), sizes=("large",),
        dimensions=("cdn",),
    )  # fmt: skip
    assert {(i.kind, i.size, i.dimension) for i in made} == {("errors", "large", "cdn")}
    with pytest.raises(ValueError, match="unknown incident kind"):
        random_incidents(world, seed=1, start_ms=START, end_ms=START + DAY, count=2, kinds=("lag",))
    with pytest.raises(ValueError, match="at least 5 minutes each"):
        random_incidents(world, seed=1, start_ms=START, end_ms=START + HOUR, count=20)


def test_replace_keeps_the_resolved_range_and_refuses_a_contradiction() -> None:
    config = SimulationConfig(seed=1, days=1)
    assert dataclasses.replace(config, users=10).experiments == config.experiments
    assert dataclasses.replace(config, days=2, end_ms=None).end_ms == START + 2 * DAY
    with pytest.raises(ValueError, match="disagree; give one of them"):
        dataclasses.replace(config, days=2)
