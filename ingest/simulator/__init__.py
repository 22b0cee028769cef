"""The player simulator: a seeded, vectorized population of video players emitting playback events.

    from ingest.simulator import SimulationConfig, Simulator

    sim = Simulator(SimulationConfig(seed=1, days=1))
    for batch in sim.event_batches():        # pyarrow.RecordBatch in schemas.events.EVENT_SCHEMA
        ...
    sim.stats                                 # what was emitted, counted as it was emitted
    sim.write_ground_truth("truth.json")      # incidents, experiments, SRM: what to detect

The stream is deterministic for a seed, globally ordered by event time, and realistic in shape
(diurnal and weekly demand, Zipf-like title popularity with launch spikes, device/ISP/CDN-dependent
start-up and rebuffering, ABR on the encoding ladder); see each module's docstring for what it
guarantees.
"""

from .config import DEFAULT_START_MS, SimulationConfig
from .experiments import Cell, Experiment, assign_cells, default_experiments
from .incidents import DIMENSIONS, INCIDENT_KINDS, MAGNITUDES, Incident, random_incidents
from .simulator import Simulator
from .stats import SimulationStats
from .world import World

__all__ = [
    "DEFAULT_START_MS",
    "DIMENSIONS",
    "INCIDENT_KINDS",
    "MAGNITUDES",
    "Cell",
    "Experiment",
    "Incident",
    "SimulationConfig",
    "SimulationStats",
    "Simulator",
    "World",
    "assign_cells",
    "default_experiments",
    "random_incidents",
]
