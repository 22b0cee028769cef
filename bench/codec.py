"""`make bench-codec`: the columnar Avro codec against fastavro per record, in one run on the same events.

On 1M simulated events (PLAYPULSE_BENCH_SCALE scales it), one process, no broker:
- encode: a flat event table to Confluent wire-format messages (Python bytes, what the producer
  hands to librdkafka) — fastavro per record after `to_avro_records`, against `encode_events`;
- decode: a list of message values (what `consumer.consume()` gives) to a flat event table —
  fastavro per record then `from_avro_records`, against `decode_events` on consumer-sized batches
  of 10k messages; plus the columnar decode of the whole batch as one binary array;
- the bare fastavro calls (records in and out, without the table conversions) for reference;
- the numba compile time of a first call in a fresh cache, and the load time from the cache.
The two codecs' outputs are checked equal before any figure is written. The columnar figures are
the median of 3 runs (each ~1 s; fastavro's single run takes ~30 s and averages the noise of this
shared machine by itself).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

import pyarrow as pa

from bench.common import scaled, simulated_events, timed, write_results
from ingest.simulator import SimulationConfig
from schemas.columnar import decode_events, encode_events, warm_up
from schemas.events import EVENT_SCHEMA, from_avro_records, playback_event_schema, to_avro_records
from schemas.serde import AvroSerde

SCHEMA_ID = 1
CONSUMER_BATCH = 10_000
_COMPILE_PROBE = (
    "import time; t = time.perf_counter(); from schemas.columnar import warm_up; "
    "t1 = time.perf_counter(); warm_up(); print(time.perf_counter() - t1)"
)


def _simulate(events: int) -> pa.Table:
    return simulated_events(SimulationConfig(seed=11, users=20_000, days=3.0), events).cast(EVENT_SCHEMA)


def _median_seconds(run: Callable[[], Any], repeat: int = 3) -> tuple[float, Any]:
    """(median wall seconds of `repeat` runs, the last result)."""
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def _consumer_batches(values: list[bytes]) -> list[Any]:
    return [
        decode_events(values[i : i + CONSUMER_BATCH], SCHEMA_ID)
        for i in range(0, len(values), CONSUMER_BATCH)
    ]


def _compile_seconds() -> tuple[float, float]:
    """(first call with an empty numba cache, first call of a second process with that cache)."""
    with tempfile.TemporaryDirectory(prefix="playpulse-numba-") as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        runs = [
            float(subprocess.run([sys.executable, "-c", _COMPILE_PROBE], env=env, check=True,
                                 capture_output=True, text=True).stdout)
            for _ in range(2)
        ]  # fmt: skip
    return runs[0], runs[1]


def main() -> None:
    events = scaled(1_000_000)
    print(f"codec benchmark: {events:,} events")
    with timed() as t_sim:
        table = _simulate(events)
    serde = AvroSerde(playback_event_schema(), SCHEMA_ID)
    warm_up()

    with timed() as t_records:
        records = list(to_avro_records(table))
    with timed() as t_fa_encode:
        expected = [serde.encode(record) for record in records]
    print(f"fastavro encode {t_records['s'] + t_fa_encode['s']:.1f} s")
    encode_s, values = _median_seconds(lambda: encode_events(table, SCHEMA_ID).to_pylist())
    assert values == expected, "the columnar encoding differs from fastavro's"
    del records

    with timed() as t_fa_decode:
        decoded = [serde.decode(value) for value in values]
    with timed() as t_from_records:
        reference = from_avro_records(decoded)
    del decoded
    print(f"fastavro decode {t_fa_decode['s'] + t_from_records['s']:.1f} s")
    decode_s, parts = _median_seconds(lambda: _consumer_batches(values))
    assert pa.concat_tables([p.table for p in parts]).equals(reference), "the columnar decoding differs"
    assert not any(len(p.bad_rows) for p in parts)
    array = pa.array(values, pa.binary())
    decode_array_s, whole = _median_seconds(lambda: decode_events(array, SCHEMA_ID))
    assert whole.table.num_rows == events

    compile_s, cached_s = _compile_seconds()
    figures = {
        "events": events,
        "avg_message_bytes": round(sum(map(len, values)) / events, 1),
        "simulate_s": round(t_sim["s"], 1),
        "fastavro_encode_events_per_s": round(events / (t_records["s"] + t_fa_encode["s"])),
        "fastavro_encode_records_only_events_per_s": round(events / t_fa_encode["s"]),
        "columnar_encode_events_per_s": round(events / encode_s),
        "fastavro_decode_events_per_s": round(events / (t_fa_decode["s"] + t_from_records["s"])),
        "fastavro_decode_records_only_events_per_s": round(events / t_fa_decode["s"]),
        "columnar_decode_events_per_s": round(events / decode_s),
        "columnar_decode_one_array_events_per_s": round(events / decode_array_s),
        "decode_batch_messages": CONSUMER_BATCH,
        "numba_first_call_compile_s": round(compile_s, 2),
        "numba_cached_first_call_s": round(cached_s, 2),
    }
    figures["ratio_encode_vs_fastavro"] = round(
        figures["columnar_encode_events_per_s"] / figures["fastavro_encode_events_per_s"], 1
    )
    figures["ratio_decode_vs_fastavro"] = round(
        figures["columnar_decode_events_per_s"] / figures["fastavro_decode_events_per_s"], 1
    )
    figures["ratio_decode_vs_fastavro_records_only"] = round(
        figures["columnar_decode_events_per_s"] / figures["fastavro_decode_records_only_events_per_s"], 1
    )
    write_results("codec", figures)


if __name__ == "__main__":
    main()
