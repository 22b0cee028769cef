"""The simulator's expected requests per appliance and title against the requests it draws."""

from __future__ import annotations

import numpy as np
import pyarrow.compute as pc
import pytest

from ingest.simulator import SimulationConfig, Simulator, World
from ingest.simulator.expected import expected_requests
from ingest.simulator.model import Model

_DAY_MS = 86_400_000


@pytest.fixture(scope="module")
def drawn() -> tuple[np.ndarray, np.ndarray, World]:
    config = SimulationConfig(seed=4, users=6_000, titles=200, days=2, releases_per_day=2.0)
    world = World(config)
    events = Simulator(config).table()
    requests = events.filter(
        pc.and_(pc.equal(events["event_type"], "PLAY_REQUEST"), pc.is_valid(events["oca_id"]))
    )
    oca = {o: i for i, o in enumerate(world.oca_ids)}
    title = {str(t): i for i, t in enumerate(world.title_ids.to_pylist())}
    observed = np.zeros((len(oca), len(title)))
    np.add.at(
        observed,
        (
            np.array([oca[o] for o in requests["oca_id"].to_pylist()]),
            np.array([title[t] for t in requests["title_id"].to_pylist()]),
        ),
        1,
    )
    expected = expected_requests(Model(config, world), config.start_ms, config.start_ms + 2 * _DAY_MS)
    return observed, expected, world


def test_totals_match_the_drawn_requests(drawn) -> None:
    observed, expected, _ = drawn
    assert abs(observed.sum() - expected.sum()) < 4 * np.sqrt(expected.sum())
    per_appliance = expected.sum(axis=1)
    z = (observed.sum(axis=1) - per_appliance) / np.sqrt(per_appliance)
    assert np.abs(z).max() < 4.5


def test_counts_per_appliance_and_title_are_poisson_around_the_means(drawn) -> None:
    observed, expected, _ = drawn
    cells = expected > 5
    chi2_per_cell = ((observed - expected) ** 2 / np.where(cells, expected, 1.0))[cells].mean()
    assert cells.sum() > 300
    assert 0.85 < chi2_per_cell < 1.15
    # Titles never drawn where the model gives them nothing (unreleased, or cold on flash).
    assert observed[expected == 0].sum() == 0


def test_flash_appliances_expect_only_hot_titles(drawn) -> None:
    _, expected, world = drawn
    flash = world.oca_kind == 1
    ever_hot = world.title_always_hot | (world.title_release_ms >= world.config.start_ms - 14 * _DAY_MS)
    assert expected[flash][:, ~ever_hot].sum() == 0
    assert expected[flash].sum() > 0


def test_an_empty_range_is_an_error(drawn) -> None:
    config = SimulationConfig(seed=4, users=100, titles=20, days=1)
    with pytest.raises(ValueError, match="empty range"):
        expected_requests(Model(config, World(config)), config.start_ms, config.start_ms)
