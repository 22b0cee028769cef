"""What every benchmark shares: sizes scaled by environment, a private stack, and the result file.

`PLAYPULSE_BENCH_SCALE` multiplies the default sizes (e.g. 0.05 for a quick run). Results go to
`bench/results/NAME.json` as one flat JSON object: the figures, plus the command line, the input
size and a timestamp. Ratios are always between figures measured in the same run.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from ingest.simulator import SimulationConfig, Simulator
from playpulse.config import Settings, load_settings
from playpulse.net import free_port
from playpulse.stack import LocalStack

__all__ = ["RESULTS_DIR", "bench_stack", "scaled", "simulated_events", "timed", "write_results"]

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def scaled(default: int) -> int:
    return max(1, int(default * float(os.environ.get("PLAYPULSE_BENCH_SCALE", "1"))))


@contextmanager
def timed() -> Iterator[dict[str, float]]:
    """`with timed() as t: ...` then `t["s"]` holds the wall seconds."""
    box: dict[str, float] = {}
    start = time.perf_counter()
    try:
        yield box
    finally:
        box["s"] = time.perf_counter() - start


@contextmanager
def bench_stack(workers: tuple[str, ...] = ()) -> Iterator[Settings]:
    """A private embedded stack (own data directory, free ports) for one benchmark run."""
    with tempfile.TemporaryDirectory(prefix="playpulse-bench-") as tmp:
        settings = load_settings(
            data_dir=Path(tmp),
            kafka={"bootstrap_servers": f"127.0.0.1:{free_port()}"},
            registry={"url": f"http://127.0.0.1:{free_port()}"},
        )
        with LocalStack(settings, workers=workers):
            yield settings


def simulated_events(config: SimulationConfig, n: int) -> pa.Table:
    """The first `n` events the simulator emits for `config`, as one table."""
    batches, total = [], 0
    for batch in Simulator(config).event_batches():
        batches.append(batch)
        total += batch.num_rows
        if total >= n:
            break
    return pa.Table.from_batches(batches).slice(0, n)


def write_results(name: str, figures: dict[str, Any]) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    document = {
        **figures,
        "command": " ".join([Path(sys.executable).name, "-m", f"bench.{name}", *sys.argv[1:]]),
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()} {os.cpu_count()} cpus, Python {platform.python_version()}",
        "scale": float(os.environ.get("PLAYPULSE_BENCH_SCALE", "1")),
    }
    path.write_text(json.dumps(document, indent=2) + "\n")
    print(json.dumps(document, indent=2))
    return path
