"""The HTTP beacon collector: the public edge where players and SDKs send playback telemetry.

Guarantees (DESIGN.md, "Bad input and faults"):
- Every item of a request the collector takes is counted received and ends exactly one of
  accepted (Avro on `playback.events`, key = `user_id`, `received_ts_ms` stamped) or rejected
  (its original bytes on `playback.events.dlq`, reason and detail in headers); the answer says
  which for each item, and `/metrics` proves received = accepted + rejected.
- A request is taken whole or refused whole: without a valid key (401/403), over its key's rate
  (429 + Retry-After), too large (413), or when the bounded buffer cannot hold it because the
  broker is slow or away (503 + Retry-After). Nothing is dropped silently; no answer carries a
  stack trace.

One idea per module:

| module | what it is |
|---|---|
| `app.py` | the ASGI app: endpoints, key and signature checks, body limits |
| `pipeline.py` | one request from body to topics and back to an answer, counted |
| `payload.py` | body decoding (gzip), JSON parsing, each item's original bytes |
| `validation.py` | column-wise validation against the Avro schema and DESIGN.md rules, with reasons |
| `encoding.py` | column-wise Avro encoding of a batch (Confluent wire format) |
| `cmcd.py` | CMCD (CTA-5004) JSON beacons mapped onto `PlaybackEvent`, with the mapping table |
| `keys.py` | API keys, stored only as salted hashes |
| `signing.py` | optional HMAC-SHA256 body signatures |
| `rate_limit.py` | per-key token buckets |
| `sink.py` | the producers of events and dead letters, bounded, with delivery metrics |
| `metrics.py` | Prometheus metrics |
| `logs.py` | JSON log lines |
| `server.py` | uvicorn, production settings |
| `client.py` | a client with retries, and `playpulse simulate --via http` |
"""

from ingest.collector.app import Collector, create_app
from ingest.collector.server import run_collector

__all__ = ["Collector", "create_app", "run_collector"]
