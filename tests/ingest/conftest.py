"""Shared simulations for the simulator tests: generated once per test session."""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
import pytest

from ingest.simulator import SimulationConfig, SimulationStats, Simulator
from schemas.events import EVENT_SCHEMA

from .session_checks import SessionView, session_view


@dataclass
class Run:
    simulator: Simulator
    batches: list[pa.RecordBatch]
    stats: SimulationStats

    @property
    def table(self) -> pa.Table:
        return pa.Table.from_batches(self.batches, schema=EVENT_SCHEMA)


def run(config: SimulationConfig, **kwargs: int) -> Run:
    simulator = Simulator(config)
    batches = list(simulator.event_batches(**kwargs))
    return Run(simulator, batches, simulator.stats)


@pytest.fixture(scope="session")
def day() -> Run:
    """One default day (5,000 members, default experiments starting at 12:00 UTC)."""
    return run(SimulationConfig(seed=1, days=1))


@pytest.fixture(scope="session")
def day_table(day: Run) -> pa.Table:
    return day.table


@pytest.fixture(scope="session")
def day_view(day_table: pa.Table) -> SessionView:
    return session_view(day_table)
