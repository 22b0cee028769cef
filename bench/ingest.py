"""`make bench-ingest`: producer, lander and the raw consume ceilings, in one run on one topic.

Steps, on a private embedded stack with 1M simulated events (PLAYPULSE_BENCH_SCALE scales it):
1. simulate the events into memory (Arrow), timed separately;
2. produce them (columnar Avro encode + idempotent produce + flush): producer events/s; and
   encode a 100k sample both with fastavro per record and with the columnar encoder;
3. consume them raw with no decoding (the wire ceiling) and with fastavro decoding per message
   (the consume-and-decode ceiling of a plain Python consumer), each with a fresh consumer group;
4. land them with the lander (decode, dedup, pseudonymize, Parquet, commit): lander events/s,
   from its first consumed message to the last event durable in the lake.
"""

from __future__ import annotations

import time

import pyarrow as pa
from confluent_kafka import Consumer

from bench.common import bench_stack, scaled, simulated_events, timed, write_results
from ingest.producer import EventProducer
from ingest.simulator import SimulationConfig
from playpulse.config import Settings
from schemas.events import to_avro_records
from schemas.registry import RegistryClient, event_serde
from schemas.serde import AvroSerde
from schemas.topics import EVENTS
from streaming.lander import Lander
from streaming.runtime import THROUGHPUT_CONSUMER_CONFIG, Runtime, collector_paused, frozen_heap


def _simulate(events: int) -> pa.Table:
    return simulated_events(SimulationConfig(seed=11, users=20_000, days=3.0), events)


def _consume_all(settings: Settings, group: str, events: int, serde: AvroSerde | None) -> float:
    """Seconds from the first message to the last of `events`, optionally decoding each."""
    consumer = Consumer(
        {
            **settings.kafka.client_config(),
            "group.id": group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "session.timeout.ms": 6000,
            **THROUGHPUT_CONSUMER_CONFIG,  # the same prefetch as the jobs, so ceilings are comparable
        }
    )
    consumer.subscribe([EVENTS.name])
    seen, first = 0, None
    with frozen_heap():  # the collector as the jobs' runtime runs it: between batches
        while seen < events:
            with collector_paused():
                messages = consumer.consume(10_000, timeout=1.0)
                if messages and first is None:
                    first = time.perf_counter()
                if serde is None:
                    seen += sum(1 for m in messages if m.error() is None)
                else:
                    decode = serde.decode
                    for message in messages:
                        if message.error() is None:
                            decode(message.value())
                            seen += 1
    elapsed = time.perf_counter() - (first or time.perf_counter())
    consumer.close()
    return elapsed


def _land(settings: Settings, serde: AvroSerde, events: int) -> tuple[float, int]:
    """Seconds from the lander's first batch to the last event durable in the lake."""
    lander = Lander(settings, serde)
    runtime = Runtime(settings.kafka, settings.lander_group, EVENTS.name, lander, tick_s=0.2)
    started: list[float] = []
    process = lander.process

    def timed_process(messages: list) -> None:
        if not started:
            started.append(time.perf_counter())
        process(messages)

    lander.process = timed_process  # type: ignore[method-assign]
    runtime.run(until=lambda: lander.stats.landed + lander.stats.duplicates >= events)
    return time.perf_counter() - started[0], lander.stats.landed


def main() -> None:
    events = scaled(1_000_000)
    print(f"ingest benchmark: {events:,} events")
    with timed() as t_sim:
        table = _simulate(events)
    with bench_stack() as settings:
        with RegistryClient(settings.registry.url) as registry:
            serde = event_serde(registry)
        producer = EventProducer(settings.kafka, serde, max_buffered=200_000)
        producer.check_broker()
        sample = table.slice(0, min(events, 100_000))
        with timed() as t_encode:
            serde.encode_many(to_avro_records(sample))
        with timed() as t_columnar:
            serde.encode_table(sample)
        with timed() as t_produce:
            for batch in table.to_batches(max_chunksize=50_000):
                producer.send_batch(batch)
            producer.flush()
        print(f"produced {producer.stats.delivered:,} in {t_produce['s']:.1f} s")
        raw_s = _consume_all(settings, "bench-raw", events, None)
        print(f"raw consume {raw_s:.1f} s")
        decode_s = _consume_all(settings, "bench-decode", events, serde)
        print(f"consume + decode {decode_s:.1f} s")
        settings = settings.model_copy(update={"lander_flush_events": 200_000, "lander_flush_s": 5.0})
        land_s, landed = _land(settings, serde, events)
        print(f"landed {landed:,} in {land_s:.1f} s")

    figures = {
        "events": events,
        "simulate_events_per_s": round(events / t_sim["s"]),
        "encode_fastavro_events_per_s": round(sample.num_rows / t_encode["s"]),
        "encode_columnar_events_per_s": round(sample.num_rows / t_columnar["s"]),
        "producer_events_per_s": round(events / t_produce["s"]),
        "consume_raw_events_per_s": round(events / raw_s),
        "consume_decode_events_per_s": round(events / decode_s),
        "lander_events_per_s": round(events / land_s),
        "lander_landed": landed,
    }
    figures["ratio_lander_vs_consume_decode"] = round(
        figures["lander_events_per_s"] / figures["consume_decode_events_per_s"], 3
    )
    figures["ratio_producer_vs_consume_raw"] = round(
        figures["producer_events_per_s"] / figures["consume_raw_events_per_s"], 3
    )
    write_results("ingest", figures)


if __name__ == "__main__":
    main()
