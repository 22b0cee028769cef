"""`make bench-collector`: the HTTP collector under batched POSTs from a concurrent load generator.

On a private embedded stack (broker + registry), in one run:
1. the producer's raw rate: `EventProducer` sending pre-encoded Avro messages (no HTTP, no
   validation, no encoding), and with fastavro encoding as the producer library does it;
2. the collector (`playpulse collect`, its own process, uvloop + httptools) under load from a
   separate load-generator process: `CONNECTIONS` concurrent keep-alive connections (aiohttp)
   posting JSON batches of `BATCH` events, 1M events in all (PLAYPULSE_BENCH_SCALE scales it).
   PLAYPULSE_BENCH_COLLECTOR_BATCH, _CONNECTIONS and _PROCESSES (collector processes, default 1)
   change the shape. Reported: accepted events/s over the requests, the rate until the broker acknowledged the
   last one (from the collector's own delivery counters, never from consumer lag), and request
   latency p50/p99;
3. the same events' JSON, parsed + validated + encoded in-process without HTTP (the collector's
   CPU ceiling per core).

The machine has 2 cores shared by the broker, the collector and the load generator, so the
ratios (`ratio_collector_vs_producer_raw`, …) are the figures to compare across runs.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import subprocess
import sys
import time
import uuid
from typing import Any

import httpx
import numpy as np
import orjson

from bench.common import bench_stack, scaled, timed, write_results
from ingest.collector.admin import create_key
from ingest.collector.encoding import AvroBatchEncoder
from ingest.collector.validation import BatchValidator
from ingest.producer import EventProducer
from playpulse.config import Settings
from playpulse.net import free_port
from schemas.events import playback_event_schema
from schemas.registry import RegistryClient, event_serde

BATCH = int(os.environ.get("PLAYPULSE_BENCH_COLLECTOR_BATCH", "500"))
CONNECTIONS = int(os.environ.get("PLAYPULSE_BENCH_COLLECTOR_CONNECTIONS", "8"))
#: Collector processes behind the load generator (it spreads its connections over them).
PROCESSES = int(os.environ.get("PLAYPULSE_BENCH_COLLECTOR_PROCESSES", "1"))
DISTINCT_BODIES = 64

_TYPES = ["HEARTBEAT"] * 12 + [
    "PLAY_REQUEST",
    "PLAY_START",
    "BITRATE_CHANGE",
    "REBUFFER_START",
    "REBUFFER_END",
    "SEEK",
    "PLAY_END",
    "ERROR",
]
_DEVICES = [
    ("TV", "tizen"),
    ("TV", "webos"),
    ("MOBILE", "android"),
    ("MOBILE", "ios"),
    ("WEB", "windows"),
    ("TABLET", "ios"),
    ("CONSOLE", "playstation"),
]
_REGIONS = [
    ("us-east", "US", "Comcast"),
    ("us-west", "US", "Charter"),
    ("eu-west", "DE", "Telekom"),
    ("eu-west", "FR", "Orange"),
    ("apac", "JP", "NTT"),
    ("latam", "BR", "Vivo"),
]


def synthetic_events(n: int, seed: int = 3) -> list[dict[str, Any]]:
    """Realistic beacon items (the simulator's field shapes), timestamped around now."""
    rng = np.random.default_rng(seed)
    now = int(time.time() * 1000)
    events = []
    for i in range(n):
        event_type = _TYPES[int(rng.integers(len(_TYPES)))]
        device, os_name = _DEVICES[int(rng.integers(len(_DEVICES)))]
        region, country, isp = _REGIONS[int(rng.integers(len(_REGIONS)))]
        user = int(rng.integers(200_000))
        event: dict[str, Any] = {
            "event_id": str(uuid.UUID(bytes=rng.bytes(16), version=4)),
            "event_type": event_type,
            "event_ts_ms": now - int(rng.integers(60_000)),
            "user_id": f"u{user:07d}",
            "session_id": str(uuid.UUID(bytes=rng.bytes(16), version=4)),
            "seq": i % 40,
            "title_id": f"t{int(rng.integers(5_000)):06d}",
            "device": {"type": device, "os": os_name, "app_version": "8.112.0"},
            "region": region,
            "country": country,
            "isp": isp,
            "cdn": "oca",
            "oca_id": f"oca-{region}-{int(rng.integers(40)):02d}",
            "bitrate_kbps": int(rng.choice([235, 560, 1050, 2800, 5800, 15600])),
            "position_ms": int(rng.integers(7_200_000)),
            "buffer_length_ms": int(rng.integers(60_000)),
            "throughput_kbps": int(rng.integers(500, 80_000)),
            "played_ms": int(rng.integers(10_000)),
            "experiments": {"artwork-42": "cell-2"} if user % 3 == 0 else {},
        }
        if event_type == "PLAY_START":
            event["startup_ms"] = int(rng.lognormal(6.7, 0.5))
            event["content_duration_ms"] = 7_200_000
        elif event_type == "REBUFFER_END":
            event["rebuffer_ms"] = int(rng.lognormal(7.0, 0.8))
        elif event_type == "PLAY_END":
            event["end_reason"] = "COMPLETED"
        elif event_type == "ERROR":
            event["error_code"] = "NETWORK_TIMEOUT"
        events.append(event)
    return events


# -- the load generator (its own process) --------------------------------------------------------
def _load(urls: list[str], key: str, bodies: list[bytes], requests: int, connections: int, out: Any) -> None:
    import aiohttp

    async def run() -> tuple[float, list[float], int, int]:
        latencies: list[float] = []
        accepted = failed = 0
        next_request = 0
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        connector = aiohttp.TCPConnector(limit=connections)
        async with aiohttp.ClientSession(connector=connector) as session:

            async def worker(url: str) -> None:
                nonlocal next_request, accepted, failed
                while next_request < requests:
                    body = bodies[next_request % len(bodies)]
                    next_request += 1
                    started = time.perf_counter()
                    async with session.post(url, data=body, headers=headers) as response:
                        answer = await response.read()
                    latencies.append(time.perf_counter() - started)
                    if response.status == 200:
                        accepted += orjson.loads(answer)["accepted"]
                    else:
                        failed += 1

            started = time.perf_counter()
            await asyncio.gather(*(worker(urls[i % len(urls)]) for i in range(connections)))
            return time.perf_counter() - started, latencies, accepted, failed

    out.put(asyncio.run(run()))


def _delivered(bases: list[str]) -> float:
    return sum(
        _metric(
            httpx.get(f"{base}/metrics").text,
            "playpulse_collector_delivered_total",
            'topic="playback.events"',
        )
        for base in bases
    )


def _metric(text: str, name: str, label: str = "") -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and (not label or label in line):
            total += float(line.rsplit(" ", 1)[1])
    return total


def _start_collector(settings: Settings, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "PLAYPULSE_DATA_DIR": str(settings.data_dir),
        "PLAYPULSE_KAFKA__BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers,
        "PLAYPULSE_REGISTRY__URL": settings.registry.url,
        "PLAYPULSE_COLLECTOR__PORT": str(port),
        "PLAYPULSE_COLLECTOR__ACCESS_LOG": "false",
        "PLAYPULSE_COLLECTOR__BUFFER_SIZE": "500000",
    }
    log = open(settings.data_dir / "collector-bench.log", "wb")  # noqa: SIM115 - the child's stderr
    process = subprocess.Popen(
        [sys.executable, "-m", "playpulse", "collect"], env=env, stdout=log, stderr=log
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"the collector did not start; see {settings.data_dir / 'collector-bench.log'}")


def _producer_rates(settings: Settings, events: list[dict[str, Any]], total: int) -> tuple[float, float]:
    """(raw pre-encoded produce events/s, fastavro encode + produce events/s) on `total` events."""
    with RegistryClient(settings.registry.url) as registry:
        serde = event_serde(registry)
    now = int(time.time() * 1000)
    records = [{**e, "received_ts_ms": now} for e in events]
    encoded = [serde.encode(r) for r in records]
    keys = [r["user_id"] for r in records]
    producer = EventProducer(settings.kafka, serde, max_buffered=500_000)
    producer.check_broker()
    with timed() as raw:
        for i in range(total):
            j = i % len(encoded)
            producer.send(keys[j], encoded[j])
        producer.flush()
    with timed() as with_encode:
        sent = 0
        while sent < total:
            chunk = records[: min(len(records), total - sent)]
            sent += producer.send_records(chunk)
        producer.flush()
    return total / raw["s"], total / with_encode["s"]


def _in_process_ceiling(events: list[dict[str, Any]], bodies: list[bytes]) -> float:
    schema = playback_event_schema()
    validator, encoder = BatchValidator(schema), AvroBatchEncoder(schema, 1)
    now = int(time.time() * 1000)
    with timed() as t:
        for body in bodies:
            batch = validator.validate(orjson.loads(body), now)
            encoder.encode(batch.columns, len(batch.accepted))
    return len(bodies) * BATCH / t["s"]


def main() -> None:
    total = scaled(1_000_000)
    requests = max(1, total // BATCH)
    total = requests * BATCH
    print(
        f"collector benchmark: {total:,} events in {requests:,} POSTs of {BATCH}, {CONNECTIONS} connections"
    )
    events = synthetic_events(DISTINCT_BODIES * BATCH)
    bodies = [orjson.dumps(events[i : i + BATCH]) for i in range(0, len(events), BATCH)]
    with bench_stack() as settings:
        raw_rate, encode_rate = _producer_rates(settings, events, min(total, 500_000))
        print(f"producer raw {raw_rate:,.0f}/s, with fastavro encoding {encode_rate:,.0f}/s")
        _, key, _ = create_key(settings, "bench", rate_per_s=1e9, burst=10**9)
        ports = [free_port() for _ in range(PROCESSES)]
        collectors = [_start_collector(settings, port) for port in ports]
        bases = [f"http://127.0.0.1:{port}" for port in ports]
        try:
            delivered_before = _delivered(bases)
            context = multiprocessing.get_context("spawn")
            queue = context.Queue()
            urls = [f"{base}/v1/events" for base in bases]
            loader = context.Process(target=_load, args=(urls, key, bodies, requests, CONNECTIONS, queue))
            started = time.perf_counter()
            loader.start()
            elapsed, latencies, accepted, failed = queue.get()
            loader.join()
            # Until the broker acknowledged the last accepted event (the collectors' counters).
            while _delivered(bases) - delivered_before < accepted:
                time.sleep(0.05)
            acked = time.perf_counter() - started
            text = httpx.get(f"{bases[0]}/metrics").text
            produce_p = _histogram_quantiles(text, "playpulse_collector_produce_latency_seconds", (0.5, 0.99))
        finally:
            for collector in collectors:
                collector.terminate()
            for collector in collectors:
                collector.wait(30)
    ceiling = _in_process_ceiling(events, bodies)
    lat_ms = np.asarray(latencies) * 1000
    figures = {
        "events": total,
        "batch_events": BATCH,
        "connections": CONNECTIONS,
        "collector_processes": PROCESSES,
        "requests": requests,
        "failed_requests": failed,
        "accepted_events": accepted,
        "collector_events_per_s": round(accepted / elapsed),
        "collector_acked_events_per_s": round(accepted / acked),
        "requests_per_s": round(requests / elapsed, 1),
        "request_p50_ms": round(float(np.percentile(lat_ms, 50)), 2),
        "request_p99_ms": round(float(np.percentile(lat_ms, 99)), 2),
        "produce_latency_p50_ms_le": produce_p[0],
        "produce_latency_p99_ms_le": produce_p[1],
        "producer_raw_events_per_s": round(raw_rate),
        "producer_fastavro_events_per_s": round(encode_rate),
        "parse_validate_encode_events_per_s": round(ceiling),
    }
    figures["ratio_collector_vs_producer_raw"] = round(figures["collector_events_per_s"] / raw_rate, 3)
    figures["ratio_collector_vs_producer_fastavro"] = round(
        figures["collector_events_per_s"] / encode_rate, 3
    )
    write_results("collector", figures)


def _histogram_quantiles(text: str, name: str, quantiles: tuple[float, ...]) -> list[float | None]:
    """Upper bucket bounds (ms) holding each quantile of a Prometheus histogram."""
    buckets = []
    for line in text.splitlines():
        if line.startswith(f"{name}_bucket"):
            bound = line.split('le="', 1)[1].split('"', 1)[0]
            buckets.append((float("inf") if bound == "+Inf" else float(bound), float(line.rsplit(" ", 1)[1])))
    if not buckets or buckets[-1][1] == 0:
        return [None for _ in quantiles]
    total = buckets[-1][1]
    return [next(round(b * 1000, 1) for b, c in buckets if c >= q * total) for q in quantiles]


if __name__ == "__main__":
    main()
