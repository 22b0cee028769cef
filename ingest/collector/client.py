"""A client of the collector: batched POSTs with an API key, optional signing, and polite retries.

`CollectorClient.send(items)` posts one batch to `/v1/events` and returns the collector's
answer. A 429 or 503 is retried after the Retry-After the collector asked for (so a batch is
delivered once the collector has room again), as are connection errors; any other refusal
raises `CollectorError` with the collector's error code. `stream_simulation` is what
`playpulse simulate --via http` runs: the player simulator's events, in batches, through it.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pyarrow as pa

from ingest.collector.signing import SIGNATURE_HEADER, sign
from playpulse.config import Settings
from schemas.events import to_avro_records

__all__ = [
    "BatchAnswer",
    "CollectorClient",
    "CollectorError",
    "demo_key_path",
    "event_items",
    "simulate_to_collector",
    "stream_simulation",
]


class CollectorError(RuntimeError):
    """The collector refused a batch for good (not a retryable 429/503), or never answered."""

    def __init__(self, message: str, status: int | None = None, error: str | None = None) -> None:
        super().__init__(message)
        self.status, self.error = status, error


@dataclass(frozen=True)
class BatchAnswer:
    status: int
    received: int
    accepted: int
    rejected: int
    results: list[dict[str, Any]]
    retries: int


def demo_key_path(settings: Settings) -> Path:
    """Where `playpulse up` keeps the API key of the `demo` application."""
    return settings.data_dir / "secrets" / "demo.key"


class CollectorClient:
    def __init__(
        self,
        url: str,
        api_key: str,
        *,
        signing_secret: str | None = None,
        timeout_s: float = 30.0,
        max_wait_s: float = 300.0,
    ) -> None:
        self.url = url.rstrip("/")
        self.api_key = api_key
        self.signing_secret = signing_secret
        self.max_wait_s = max_wait_s
        self._http = httpx.Client(base_url=self.url, timeout=timeout_s)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> CollectorClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(self, items: list[dict[str, Any]], path: str = "/v1/events") -> BatchAnswer:
        body = orjson.dumps(items)
        deadline = time.monotonic() + self.max_wait_s
        retries = 0
        while True:
            headers = {"Authorization": f"Bearer {self.api_key}", "Content-Type": "application/json"}
            if self.signing_secret:
                headers[SIGNATURE_HEADER] = sign(self.signing_secret, body, int(time.time()))
            try:
                response = self._http.post(path, content=body, headers=headers)
            except httpx.TransportError as exc:
                wait, why = 1.0, f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code == 200:
                    answer = response.json()
                    return BatchAnswer(
                        200,
                        answer["received"],
                        answer["accepted"],
                        answer["rejected"],
                        answer["results"],
                        retries,
                    )
                error = _error_of(response)
                if response.status_code not in (429, 503):
                    raise CollectorError(
                        f"the collector at {self.url} refused the batch: {response.status_code} "
                        f"{error.get('error')}: {error.get('detail')}",
                        response.status_code,
                        error.get("error"),
                    )
                wait, why = float(response.headers.get("retry-after", "1")), str(error.get("error"))
            if time.monotonic() + wait > deadline:
                raise CollectorError(
                    f"the collector at {self.url} did not take the batch within "
                    f"{self.max_wait_s:.0f} s (last: {why})"
                )
            retries += 1
            time.sleep(wait)


def _error_of(response: httpx.Response) -> dict[str, Any]:
    try:
        answer = response.json()
    except ValueError:
        return {"error": "not_json", "detail": response.text[:200]}
    return answer if isinstance(answer, dict) else {"error": "unexpected", "detail": str(answer)[:200]}


def event_items(batch: pa.RecordBatch | pa.Table) -> Iterator[dict[str, Any]]:
    """Beacon items (Avro-shaped dicts without `received_ts_ms`, which the collector sets)."""
    for record in to_avro_records(batch):
        record.pop("received_ts_ms", None)
        yield record


def stream_simulation(
    client: CollectorClient,
    batches: Iterable[pa.RecordBatch],
    *,
    batch_items: int = 500,
    rate: float | None = None,
) -> tuple[int, int, int]:
    """POST every event of `batches` in batches of `batch_items`; returns (sent, accepted, rejected)."""
    sent = accepted = rejected = 0
    started = time.monotonic()
    pending: list[dict[str, Any]] = []

    def post() -> None:
        nonlocal sent, accepted, rejected, pending
        if rate:
            time.sleep(max(0.0, started + (sent + len(pending)) / rate - time.monotonic()))
        answer = client.send(pending)
        sent += len(pending)
        accepted += answer.accepted
        rejected += answer.rejected
        pending = []

    for batch in batches:
        for item in event_items(batch):
            pending.append(item)
            if len(pending) >= batch_items:
                post()
    if pending:
        post()
    return sent, accepted, rejected


def simulate_to_collector(
    settings: Settings,
    config: Any,
    *,
    url: str,
    api_key: str,
    signing_secret: str | None = None,
    rate: float | None = None,
    ground_truth: Path | None = None,
    batch_items: int = 500,
) -> Any:
    """`playpulse simulate --via http`: the simulator's events through the collector; a `RunStats`."""
    from ingest.simulation_runs import RunStats
    from ingest.simulator import Simulator

    simulator = Simulator(config)
    if ground_truth is not None:
        simulator.write_ground_truth(ground_truth)
    stats = RunStats(f"collector {url} → playback.events")
    started = time.monotonic()

    def counted(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            stats.add(batch)
            yield batch

    with CollectorClient(url, api_key, signing_secret=signing_secret) as client:
        _, _, rejected = stream_simulation(
            client, counted(simulator.event_batches()), batch_items=batch_items, rate=rate
        )
    stats.seconds = time.monotonic() - started
    if rejected:
        raise CollectorError(
            f"the collector rejected {rejected} of {stats.events} simulated events; "
            "they are in playback.events.dlq with their reasons"
        )
    return stats
