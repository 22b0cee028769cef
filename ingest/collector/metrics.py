"""The collector's Prometheus metrics, in a registry of its own, served as text at `GET /metrics`.

The accounting invariant, checked by the tests against the topics themselves:

    playpulse_collector_events_received_total
        = playpulse_collector_events_accepted_total + Σ playpulse_collector_events_rejected_total

(summed over `format`; every accepted event is a message on `playback.events`, every rejected one
a dead letter on `playback.events.dlq`). The three counters move together in one step of the
event loop, so a scrape never sees them apart. Items of a request refused whole (401, 403, 413,
429, 503) are not received: the client still holds them and retries.

| metric | type | labels |
|---|---|---|
| `playpulse_collector_events_received_total` | counter | `format` (native, cmcd) |
| `playpulse_collector_events_accepted_total` | counter | `format` |
| `playpulse_collector_events_rejected_total` | counter | `reason` (see `validation.REASONS`) |
| `playpulse_collector_requests_total` | counter | `status` (HTTP), `error` (the error code, "" on success) |
| `playpulse_collector_request_duration_seconds` | histogram | — |
| `playpulse_collector_produce_latency_seconds` | histogram | — (per event: queued → acknowledged) |
| `playpulse_collector_delivered_total` | counter | `topic` |
| `playpulse_collector_delivery_failures_total` | counter | `topic`, `error` |
| `playpulse_collector_buffered_messages` | gauge | `topic` (waiting for the broker) |
| `playpulse_collector_broker_ready` | gauge | — (1 when the last readiness check reached the broker) |
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence

import numpy as np
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import HistogramMetricFamily
from prometheus_client.registry import Collector

__all__ = ["CONTENT_TYPE", "BulkHistogram", "CollectorMetrics"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# `*_created` series only double the exposition here; process restarts show in `*_total` resets.
disable_created_metrics()

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class BulkHistogram(Collector):
    """A Prometheus histogram fed whole arrays of observations (one NumPy pass per array).

    Observing per message from Python would cost a lock and a bucket search per event on the hot
    path; the collector gathers the latencies of each poll of the producer and adds them at once.
    """

    def __init__(self, name: str, documentation: str, buckets: Sequence[float] = _LATENCY_BUCKETS) -> None:
        self.name, self.documentation = name, documentation
        self._bounds = np.asarray(buckets, dtype=np.float64)
        self._counts = np.zeros(len(buckets) + 1, dtype=np.int64)
        self._sum = 0.0

    def observe_many(self, values: Sequence[float] | np.ndarray) -> None:
        if len(values) == 0:
            return
        array = np.asarray(values, dtype=np.float64)
        # Bucket i counts values <= bound i ("le"); the last one is +Inf.
        self._counts += np.bincount(
            np.searchsorted(self._bounds, array, side="left"), minlength=len(self._counts)
        )
        self._sum += float(array.sum())

    @property
    def count(self) -> int:
        return int(self._counts.sum())

    def collect(self) -> Iterator[HistogramMetricFamily]:
        cumulative = np.cumsum(self._counts).tolist()
        buckets = [(repr(float(b)), c) for b, c in zip(self._bounds.tolist(), cumulative, strict=False)]
        buckets.append(("+Inf", cumulative[-1]))
        yield HistogramMetricFamily(self.name, self.documentation, buckets=buckets, sum_value=self._sum)

    def describe(self) -> Iterable[HistogramMetricFamily]:
        return []


class CollectorMetrics:
    """Every metric of one collector process."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.received = Counter(
            "playpulse_collector_events_received", "Items taken in by the collector.", ["format"], registry=r
        )
        self.accepted = Counter(
            "playpulse_collector_events_accepted",
            "Items validated and queued to playback.events.",
            ["format"],
            registry=r,
        )
        self.rejected = Counter(
            "playpulse_collector_events_rejected",
            "Items rejected and dead-lettered, by reason.",
            ["reason"],
            registry=r,
        )
        self.requests = Counter(
            "playpulse_collector_requests",
            "HTTP responses, by status and error code.",
            ["status", "error"],
            registry=r,
        )
        self.request_duration = Histogram(
            "playpulse_collector_request_duration_seconds",
            "Time to answer a beacon request.",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.produce_latency = BulkHistogram(
            "playpulse_collector_produce_latency_seconds",
            "Time from queueing an event to the broker's acknowledgement.",
        )
        r.register(self.produce_latency)
        self.delivered = Counter(
            "playpulse_collector_delivered", "Messages the broker acknowledged.", ["topic"], registry=r
        )
        self.delivery_failures = Counter(
            "playpulse_collector_delivery_failures",
            "Messages the broker did not take after all retries.",
            ["topic", "error"],
            registry=r,
        )
        self.buffered = Gauge(
            "playpulse_collector_buffered_messages", "Messages waiting for the broker.", ["topic"], registry=r
        )
        self.broker_ready = Gauge(
            "playpulse_collector_broker_ready",
            "1 when the last readiness check reached the broker.",
            registry=r,
        )

    def count_items(self, fmt: str, accepted: int, rejected_by_reason: dict[str, int]) -> None:
        """Count one request's items: received = accepted + rejected, in one step."""
        rejected = sum(rejected_by_reason.values())
        self.received.labels(fmt).inc(accepted + rejected)
        if accepted:
            self.accepted.labels(fmt).inc(accepted)
        for reason, n in rejected_by_reason.items():
            self.rejected.labels(reason).inc(n)

    def track_buffer(self, topic: str, size: Callable[[], float]) -> None:
        self.buffered.labels(topic).set_function(size)

    def render(self) -> bytes:
        return generate_latest(self.registry)
