"""The full playpulse QoE job (decode → window → sketch → emit to topic and warehouse) in its own
process, until it has consumed EVENTS events; writes its rate, CPU time and peak RSS (benchmark only).

    python -m bench.peers.playpulse_qoe DATA_DIR BOOTSTRAP REGISTRY_URL EVENTS RESULT_JSON
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from playpulse.config import load_settings
from playpulse.resources import open_configured_warehouse
from schemas.registry import RegistryClient, event_serde
from schemas.topics import EVENTS
from streaming.qoe_job import QoeJob, QoeOutput
from streaming.runtime import Runtime


def _peak_rss_mb() -> float:
    """VmHWM of this process. Not getrusage's ru_maxrss: Linux carries a parent's peak across
    fork and exec into it, so a child of a big process would report its parent's peak."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def main() -> None:
    data_dir, bootstrap, registry, expected, result = sys.argv[1:6]
    expected_n = int(expected)
    settings = load_settings(
        data_dir=Path(data_dir), kafka={"bootstrap_servers": bootstrap}, registry={"url": registry}
    )
    with open_configured_warehouse(settings, attach_lake=False):
        pass
    with RegistryClient(settings.registry.url) as client:
        serde = event_serde(client)
    output = QoeOutput(settings, lambda: open_configured_warehouse(settings, attach_lake=False, create=False))
    job = QoeJob(settings, serde, output)
    runtime = Runtime(settings.kafka, "bench-playpulse-qoe", EVENTS.name, job, batch_size=20_000)
    first: list[float] = []
    process = job.process

    def timed_process(messages: list) -> None:  # the clock starts at the first batch, as in the peers
        if not first:
            first.append(time.perf_counter())
            first.append(time.process_time())
        process(messages)

    job.process = timed_process  # type: ignore[method-assign]
    runtime.run(until=lambda: job.stats.events >= expected_n)
    elapsed = time.perf_counter() - first[0]
    cpu = time.process_time() - first[1]  # every thread: consumer, job, writer, librdkafka
    Path(result).write_text(
        json.dumps(
            {
                "peer": "playpulse",
                "events": job.stats.events,
                "seconds": elapsed,
                "cpu_seconds": cpu,
                "rows": output.rows_written,
                "peak_rss_mb": _peak_rss_mb(),
            }
        )
    )


if __name__ == "__main__":
    main()
