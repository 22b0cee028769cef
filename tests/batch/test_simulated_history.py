"""The simulated `sessions` rows the forecast and fill tests and the benchmark are built on."""

from __future__ import annotations

import pyarrow.compute as pc

from ingest.simulator import SimulationConfig, Simulator
from tests.batch.simulated_history import simulated_sessions


def test_one_row_per_requested_session_whatever_the_cuts() -> None:
    config = SimulationConfig(seed=5, users=400, titles=60, days=1)
    simulator = Simulator(config)
    events = simulator.table()
    requested = pc.count_distinct(events.filter(pc.equal(events["event_type"], "PLAY_REQUEST"))["session_id"])
    played = pc.sum(events["played_ms"]).as_py()
    # Small cuts: many sessions' events straddle two record batches of one cut.
    for rows_per_cut in (5_000, 1_000_000):
        sessions = simulated_sessions(config, rows_per_cut=rows_per_cut)
        assert sessions.num_rows == requested.as_py()
        assert pc.count_distinct(sessions["session_id"]).as_py() == sessions.num_rows
        assert pc.sum(sessions["playing_ms"]).as_py() == played
