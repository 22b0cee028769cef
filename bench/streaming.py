"""`make bench-streaming`: the QoE job against the raw ceilings and peer runtimes, on one topic.

On a private embedded stack, 1M simulated events (PLAYPULSE_BENCH_SCALE scales it) go to
`playback.events` (12 partitions). Then, each in its own process and consumer group, on the
same topic in the same run:
- the full playpulse QoE job (decode → windows → sketches → rows to qoe.minute and DuckDB);
- a raw confluent-kafka consume loop with no decoding (the wire ceiling);
- a raw consume + fastavro decode loop (the decode ceiling the job must beat);
- a per-event faust-streaming agent doing the same aggregation (bench/peers/per_event.py);
- a Quix Streams job with a 1-minute tumbling window doing the same aggregation, in its own
  virtualenv `bench/.peers-venv` (created on first use), because Quix Streams pins an older
  confluent-kafka than playpulse.
CPU time per event is reported next to the rates (process CPU of every thread, librdkafka's
included, from the first batch): on this shared machine it shows where the time goes even when
other work slows the wall clock. Then freshness, live: events stamped with the wall clock are
produced at a steady rate for `FRESHNESS_S` seconds while the job runs; for every event, the
delay until the first row holding it was written (provisional rows every 5 s), and for every
closed window the delay from the moment it could close (window end + allowed lateness) to its
final row.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

from bench.common import bench_stack, scaled, simulated_events, timed, write_results
from bench.ingest import _consume_all
from ingest.producer import EventProducer
from ingest.simulator import SimulationConfig, Simulator
from playpulse.config import Settings
from schemas.events import playback_event_schema
from schemas.registry import RegistryClient, event_serde

ROOT = Path(__file__).resolve().parent.parent
PEERS_VENV = ROOT / "bench" / ".peers-venv"
QUIX_REQUIREMENTS = ["quixstreams==3.28.1", "fastavro==1.13.1", "ddsketch==3.0.1"]


def _events(n: int) -> pa.Table:
    # Dense traffic (~30k events per minute of event time), as a high-volume topic carries: the job's
    # output is per minute × slice × partition, so sparse traffic would measure emission, not events.
    config = SimulationConfig(seed=17, users=200_000, sessions_per_user_per_day=20, days=0.1)
    return simulated_events(config, n)


def _peer(module: str, args: list[str], python: str = sys.executable, timeout_s: float = 1_800) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        result = Path(tmp) / "result.json"
        started = time.monotonic()
        process = subprocess.run(
            [python, "-m", module, *args, str(result)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        if not result.exists():
            raise RuntimeError(
                f"{module} wrote no result (exit {process.returncode}):\n{process.stderr[-3000:]}"
            )
        figures = json.loads(result.read_text())
        figures["wall_s"] = time.monotonic() - started
        return figures


def _quix_python() -> str:
    python = PEERS_VENV / "bin" / "python"
    if not python.exists():
        print("creating bench/.peers-venv for Quix Streams (once)")
        subprocess.run([sys.executable, "-m", "venv", str(PEERS_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", *QUIX_REQUIREMENTS], check=True)
    return str(python)


def _playpulse_job(settings: Settings, events: int) -> dict:
    with tempfile.TemporaryDirectory() as data_dir:
        return _peer(
            "bench.peers.playpulse_qoe",
            [data_dir, settings.kafka.bootstrap_servers, settings.registry.url, str(events)],
        )


def _freshness(settings: Settings, seconds: float) -> dict:
    """Live run: produce events stamped with the wall clock while the job runs; measure delays."""
    from playpulse.resources import open_configured_warehouse
    from schemas.topics import EVENTS
    from streaming.qoe_job import QoeJob, QoeOutput
    from streaming.runtime import Runtime

    with tempfile.TemporaryDirectory() as tmp:
        job_settings = settings.model_copy(update={"data_dir": Path(tmp)})
        with open_configured_warehouse(job_settings, attach_lake=False):
            pass
        with RegistryClient(settings.registry.url) as client:
            serde = event_serde(client)
        output = QoeOutput(
            job_settings, lambda: open_configured_warehouse(job_settings, attach_lake=False, create=False)
        )
        writes: list[tuple[float, pa.Table]] = []
        write = output.write

        def recording_write(rows: pa.Table, checkpoints: dict | None = None) -> None:
            write(rows, checkpoints)
            if rows.num_rows:
                writes.append(
                    (time.time() * 1000, rows.select(["window_start", "slice", "provisional", "attempts"]))
                )

        output.write = recording_write  # type: ignore[method-assign]
        job = QoeJob(job_settings, serde, output)
        job.columns = (*job.columns, "received_ts_ms")  # the freshness clock
        folded: list[tuple[np.ndarray, float]] = []
        fold = job.fold

        def recording_fold(events: pa.Table, partitions: np.ndarray, offsets: np.ndarray) -> None:
            fold(events, partitions, offsets)
            folded.append((events["received_ts_ms"].to_numpy().copy(), time.time() * 1000))

        job.fold = recording_fold  # type: ignore[method-assign]
        runtime = Runtime(settings.kafka, f"bench-fresh-{time.time_ns()}", EVENTS.name, job)

        import threading

        thread = threading.Thread(target=runtime.run, daemon=True)
        thread.start()
        time.sleep(8)  # group join
        producer = EventProducer(settings.kafka, serde)
        now_ms = live_start_ms = int(time.time() * 1000)
        live = Simulator(
            SimulationConfig(seed=23, users=100_000, start_ms=now_ms, days=seconds / 86_400)
        ).table()
        live = live.filter(pa.compute.less(live["event_ts_ms"], now_ms + int(seconds * 1000)))
        ts = live["event_ts_ms"].to_numpy()
        sent = 0
        while sent < live.num_rows:
            due = np.searchsorted(ts, int(time.time() * 1000), side="right")
            if due > sent:
                chunk = live.slice(sent, due - sent)
                stamped = chunk.set_column(
                    chunk.schema.get_field_index("received_ts_ms"),
                    "received_ts_ms",
                    pa.array(np.full(chunk.num_rows, int(time.time() * 1000)), pa.int64()),
                )
                producer.send_batch(stamped)
                producer.poll(0)
                sent = due
            time.sleep(0.05)
        producer.flush()
        time.sleep(40)  # let the last windows close (lateness 30 s) and be written
        runtime.stop()
        thread.join(60)

    write_times = np.array([t for t, _ in writes])
    delays = []
    for received, folded_at in folded:
        live_rows = received[received >= live_start_ms]  # not the backlog of earlier steps
        after = write_times[write_times >= folded_at]
        if after.size and live_rows.size:
            delays.append(after[0] - live_rows)
    delays_ms = np.concatenate(delays) if delays else np.array([np.nan])
    final_delays = []
    for written_at, rows in writes:
        final = rows.filter(pa.compute.invert(rows["provisional"]))
        for start in set(final["window_start"].to_pylist()):
            if start.timestamp() * 1000 < live_start_ms:
                continue
            closable = start.timestamp() * 1000 + 60_000 + 30_000
            final_delays.append(written_at - closable)
    return {
        "freshness_events": int(len(delays_ms)),
        "freshness_p50_ms": round(float(np.nanpercentile(delays_ms, 50))),
        "freshness_p99_ms": round(float(np.nanpercentile(delays_ms, 99))),
        "final_row_after_close_p50_ms": round(float(np.percentile(final_delays, 50)))
        if final_delays
        else None,
        "final_row_after_close_max_ms": round(float(np.max(final_delays))) if final_delays else None,
    }


def main() -> None:
    events = scaled(1_000_000)
    print(f"streaming benchmark: {events:,} events, 12 partitions")
    with timed() as t_sim:
        table = _events(events)
    print(f"simulated in {t_sim['s']:.1f} s")
    with bench_stack() as settings:
        with RegistryClient(settings.registry.url) as client:
            serde = event_serde(client)
        producer = EventProducer(settings.kafka, serde, max_buffered=500_000)
        with timed() as t_produce:
            for batch in table.to_batches(max_chunksize=50_000):
                producer.send_batch(batch)
            producer.flush(300)
        del table
        print(f"produced in {t_produce['s']:.1f} s")
        schema_file = Path(tempfile.mkstemp(suffix=".json")[1])
        schema_file.write_text(json.dumps(playback_event_schema()))

        job = _playpulse_job(settings, events)
        print(f"playpulse QoE job: {job}")
        cpu = time.process_time()
        raw_s = _consume_all(settings, "bench-stream-raw", events, None)
        raw_cpu = time.process_time() - cpu
        cpu = time.process_time()
        decode_s = _consume_all(settings, "bench-stream-decode", events, serde)
        decode_cpu = time.process_time() - cpu
        print(f"raw {raw_s:.1f} s, consume+fastavro {decode_s:.1f} s")
        faust = _peer(
            "bench.peers.faust_qoe", [settings.kafka.bootstrap_servers, str(events), str(schema_file)]
        )
        print(f"faust: {faust}")
        quix = _peer(
            "bench.peers.quix_qoe",
            [settings.kafka.bootstrap_servers, str(events), str(schema_file)],
            python=_quix_python(),
        )
        print(f"quix: {quix}")
        # 200 s: a window is measurable when it starts after the live traffic does and traffic goes
        # on past its end + lateness; with 120 s that held for one window at most, sometimes none.
        freshness = _freshness(settings, seconds=float(os.environ.get("FRESHNESS_S", "200")))
        print(f"freshness: {freshness}")

    job_rate = events / job["seconds"]
    figures = {
        "events": events,
        "partitions": 12,
        "qoe_job_events_per_s": round(job_rate),
        "qoe_job_rows_written": job["rows"],
        "qoe_job_peak_rss_mb": round(job["peak_rss_mb"]),
        "qoe_job_cpu_us_per_event": round(job["cpu_seconds"] / events * 1e6, 2),
        "consume_raw_events_per_s": round(events / raw_s),
        "consume_raw_cpu_us_per_event": round(raw_cpu / events * 1e6, 2),
        "consume_fastavro_cpu_us_per_event": round(decode_cpu / events * 1e6, 2),
        "consume_fastavro_events_per_s": round(events / decode_s),
        "faust_agent_events_per_s": round(events / faust["seconds"]),
        "quixstreams_events_per_s": round(events / quix["seconds"]),
        **freshness,
    }
    figures["ratio_job_vs_consume_fastavro"] = round(job_rate / figures["consume_fastavro_events_per_s"], 2)
    figures["ratio_job_vs_consume_raw"] = round(job_rate / figures["consume_raw_events_per_s"], 2)
    figures["ratio_job_vs_faust"] = round(job_rate / figures["faust_agent_events_per_s"], 1)
    figures["ratio_job_vs_quixstreams"] = round(job_rate / figures["quixstreams_events_per_s"], 1)
    write_results("streaming", figures)


if __name__ == "__main__":
    main()
