"""A broker outage while beacons arrive: 503 with Retry-After once the buffer is full, and after the
broker returns every event the collector accepted is in `playback.events` exactly once.

The outage is made by pausing the Tansu broker process with SIGSTOP and resuming it with SIGCONT,
not by restarting it: Tansu keeps its topics in memory only, so a restarted broker would come back
empty and "exactly once" could not be checked. Paused, the broker keeps its sockets open and
answers nothing, which is how a hung or partitioned broker looks to a client. The topic is then
consumed and counted (never judged from Tansu's high watermark, which is wrong).
"""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import httpx
import pytest

from ingest.collector.admin import create_key
from ingest.collector.client import CollectorClient
from playpulse.config import Settings
from playpulse.stack import LocalStack
from schemas.topics import EVENTS
from tests.support.collector import TopicReader, decode_event, event, metric, running_collector

pytestmark = pytest.mark.integration

BATCH = 50


@contextmanager
def paused(pid: int) -> Iterator[None]:
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


def test_outage_answers_503_when_full_and_loses_or_duplicates_nothing(
    settings: Settings, start_stack: Callable[..., LocalStack]
) -> None:
    stack = start_stack(workers=())
    settings = settings.model_copy(
        update={
            "collector": settings.collector.model_copy(
                update={"buffer_size": 8 * BATCH, "max_batch_items": BATCH, "retry_after_s": 1}
            )
        }
    )
    _, key, _ = create_key(settings, "outage")
    headers = {"Authorization": f"Bearer {key}"}
    accepted: list[str] = []

    def post(client: httpx.Client, url: str, batch: list[dict]) -> httpx.Response:
        response = client.post(f"{url}/v1/events", json=batch, headers=headers)
        if response.status_code == 200:
            answer = response.json()
            assert answer["accepted"] == len(batch)
            accepted.extend(r["event_id"] for r in answer["results"])
        return response

    with running_collector(settings) as collector, httpx.Client(timeout=30) as client:
        url = collector.url
        for _ in range(3):  # the broker is up: taken and delivered
            assert post(client, url, [event() for _ in range(BATCH)]).status_code == 200

        with paused(stack.processes["broker"].pid):
            refused: list[dict] | None = None
            for _ in range(30):
                batch = [event() for _ in range(BATCH)]
                response = post(client, url, batch)
                if response.status_code == 503:
                    refused = batch
                    break
                assert response.status_code == 200
            assert refused is not None, "the collector never pushed back while the broker was paused"
            assert response.headers["Retry-After"] == "1"
            assert response.json()["error"] == "buffer_full"
            before = collector.metrics()
            # Refused only once the buffer could not hold another batch.
            buffered = metric(before, "playpulse_collector_buffered_messages", topic=EVENTS.name)
            assert 8 * BATCH - BATCH < buffered <= 8 * BATCH
            assert post(client, url, [event() for _ in range(BATCH)]).status_code == 503
            after = collector.metrics()
            # A refused request is not received: the counters did not move.
            assert metric(after, "playpulse_collector_events_received_total") == metric(
                before, "playpulse_collector_events_received_total"
            )
            ready = client.get(f"{url}/readyz")
            assert ready.status_code == 503 and ready.json()["ready"] is False

        # The broker is back: a client honouring Retry-After gets its refused batch in.
        with CollectorClient(url, key, max_wait_s=60) as retrying:
            answer = retrying.send(refused)
        assert answer.accepted == BATCH and answer.retries >= 0
        accepted.extend(r["event_id"] for r in answer.results)
        for _ in range(2):
            assert post(client, url, [event() for _ in range(BATCH)]).status_code == 200

        deadline = time.monotonic() + 60
        while client.get(f"{url}/readyz").status_code != 200:
            assert time.monotonic() < deadline, "the collector did not become ready after the outage"
            time.sleep(0.2)
        text = collector.metrics()
        assert metric(text, "playpulse_collector_events_accepted_total") == len(accepted)
        assert metric(text, "playpulse_collector_delivery_failures_total") == 0

    reader = TopicReader(settings, EVENTS.name, EVENTS.partitions)
    try:
        messages = reader.read(len(accepted), timeout_s=60, quiet_s=2.0)
    finally:
        reader.close()
    ids = Counter(decode_event(m.value())["event_id"] for m in messages)
    assert sum(ids.values()) == len(accepted)
    assert set(ids) == set(accepted)
    assert max(ids.values()) == 1
