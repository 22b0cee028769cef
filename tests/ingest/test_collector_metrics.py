"""The collector's metrics: a bulk-fed histogram with pinned buckets, and received = accepted + rejected."""

from __future__ import annotations

from ingest.collector.metrics import BulkHistogram, CollectorMetrics
from tests.support.collector import metric


def test_bulk_histogram_counts_le_buckets() -> None:
    histogram = BulkHistogram("h", "test", buckets=(0.01, 0.1, 1.0))
    histogram.observe_many([0.005, 0.01, 0.05, 0.1, 0.5, 2.0])
    histogram.observe_many([])
    (family,) = histogram.collect()
    samples = {(s.name, s.labels.get("le")): s.value for s in family.samples}
    assert samples[("h_bucket", "0.01")] == 2
    assert samples[("h_bucket", "0.1")] == 4
    assert samples[("h_bucket", "1.0")] == 5
    assert samples[("h_bucket", "+Inf")] == 6
    assert samples[("h_count", None)] == 6
    assert samples[("h_sum", None)] == 2.665
    assert histogram.count == 6


def test_items_are_counted_received_accepted_and_rejected_together() -> None:
    metrics = CollectorMetrics()
    metrics.count_items("native", 7, {"wrong_type": 2, "clock_skew": 1})
    metrics.count_items("cmcd", 0, {"invalid_cmcd": 4})
    metrics.count_items("native", 5, {})
    text = metrics.render().decode()
    received = metric(text, "playpulse_collector_events_received_total")
    accepted = metric(text, "playpulse_collector_events_accepted_total")
    rejected = metric(text, "playpulse_collector_events_rejected_total")
    assert (received, accepted, rejected) == (19, 12, 7)
    assert metric(text, "playpulse_collector_events_received_total", format="cmcd") == 4
    assert metric(text, "playpulse_collector_events_rejected_total", reason="wrong_type") == 2
    assert "_created" not in text
