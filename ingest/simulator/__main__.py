"""Measure the simulator: `python -m ingest.simulator [--seed 1] [--users 5000] [--days 1]`.

Generates the range into Arrow batches on one core, then prints one JSON object: events, seconds,
events per second (generation into Arrow only; world building is timed separately) and the QoE
summary of what was generated. Writes nothing.
"""

from __future__ import annotations

import argparse
import json
import time

import pyarrow as pa

from schemas.events import EVENT_SCHEMA

from .config import SimulationConfig
from .simulator import Simulator
from .summary import qoe_summary


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m ingest.simulator", description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--users", type=int, default=5_000)
    parser.add_argument("--days", type=float, default=1.0)
    parser.add_argument("--heartbeat-s", type=float, default=60.0)
    parser.add_argument("--batch-rows", type=int, default=65_536)
    parser.add_argument("--no-summary", action="store_true", help="skip the QoE summary (keeps memory flat)")
    args = parser.parse_args(argv)

    config = SimulationConfig(
        seed=args.seed, users=args.users, days=args.days, heartbeat_interval_s=args.heartbeat_s
    )
    began = time.perf_counter()
    simulator = Simulator(config)
    world_s = time.perf_counter() - began
    batches: list[pa.RecordBatch] = []
    began = time.perf_counter()
    for batch in simulator.event_batches(batch_rows=args.batch_rows):
        if not args.no_summary:
            batches.append(batch)
    seconds = time.perf_counter() - began
    events = simulator.stats.events
    out = {
        "command": f"python -m ingest.simulator --seed {args.seed} --users {args.users} --days {args.days}",
        "events": events,
        "seconds": round(seconds, 3),
        "events_per_s": round(events / seconds),
        "world_build_s": round(world_s, 3),
        "events_per_day": round(events / config.days),
        "stats": simulator.stats.as_dict(),
    }
    if batches:
        out["qoe"] = qoe_summary(pa.Table.from_batches(batches, schema=EVENT_SCHEMA))
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
