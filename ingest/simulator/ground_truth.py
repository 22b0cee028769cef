"""The ground truth of a simulation: what was injected, so detectors and readouts can be scored.

`ground_truth(config, world, model)` is JSON-serializable: the config's knobs, the world's sizes,
every incident (kind, target dimension and value, expected traffic share of that slice, magnitude,
window), every experiment (cells, intended allocation, true effects, members enrolled per cell
and the injected SRM with the members it drops), and the metric definitions the effects refer to.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .config import SimulationConfig
from .incidents import ERROR_HAZARD_MINUTES
from .model import Model
from .world import World

__all__ = ["ground_truth"]

_EFFECT_NOTES = {
    "watch_time": "multiplies the member's play rate: plays and watch time per member scale by it",
    "startup": "multiplies start-up time (VST) of the cell's requests",
    "rebuffer": "multiplies the rebuffer rate (stalls per hour of play)",
    "start_failure": "multiplies the start-failure probability",
}
_INCIDENT_NOTES = {
    "startup": "start-up time of requests in the window is multiplied by magnitude",
    "rebuffer": "stall rate and stall duration inside the window are multiplied by magnitude",
    "errors": (
        "requests in the window fail to start with magnitude added probability; playing sessions fail"
        f" with an added hazard of magnitude per {ERROR_HAZARD_MINUTES:g} play minutes"
    ),
}


def ground_truth(config: SimulationConfig, world: World, model: Model) -> dict[str, Any]:
    """Everything injected into this simulation, as plain JSON-ready values."""
    incidents = []
    shares: dict[str, dict[str, float]] = {}
    for i, resolved in enumerate(model.incidents):
        inc = resolved.incident
        share = shares.setdefault(inc.dimension, world.slice_shares(inc.dimension)).get(inc.value, 0.0)
        entry = inc.to_dict()
        entry["incident_id"] = inc.incident_id or f"inc-{i + 1:03d}"
        entry["traffic_share"] = share
        entry["effect"] = _INCIDENT_NOTES[inc.kind]
        incidents.append(entry)
    experiments = []
    for j, exp in enumerate(model.experiments):
        entry = exp.to_dict()
        cells = model.exp_cells[:, j]
        lost = model.exp_lost[:, j]
        entry["members"] = {c.name: int((cells == k).sum()) for k, c in enumerate(exp.cells)}
        entry["members_not_enrolled"] = int((cells < 0).sum())
        if exp.srm_loss:
            entry["srm"]["members_lost"] = int(lost.sum())
        entry["effect_notes"] = _EFFECT_NOTES
        experiments.append(entry)
    return {
        "generator": "playpulse.ingest.simulator",
        "config": config.summary(),
        "world": world.summary(),
        "incidents": incidents,
        "experiments": experiments,
        "assignment": "bucket = blake2b(b'<test_id>:<user_id>', digest_size=8) / 2**64; cell by cum. weight",
        "heartbeat_interval_ms": config.heartbeat_interval_ms,
        "title_releases_in_range": [
            {"title_id": t, "release_ms": int(r)}
            for t, r in zip(
                world.title_ids.take(np.flatnonzero(world.title_new_in_range)).to_pylist(),
                world.title_release_ms[world.title_new_in_range].tolist(),
                strict=True,
            )
        ],
    }
