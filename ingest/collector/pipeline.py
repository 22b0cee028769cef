"""One beacon request, from its (decoded) body to the topics and back to an answer.

`BeaconPipeline.ingest` is the collector without HTTP: it takes the body of an authenticated
request and returns an `Outcome` (status, JSON body, Retry-After). Its contract:

- A request is taken whole or not at all. Before anything is validated it must fit the batch
  limit (else 413), the key's rate limit (else 429 with Retry-After) and the buffers (room for
  every item, as event or as dead letter; else 503 with Retry-After). Nothing of a refused
  request is produced or counted: the client keeps it and sends it again.
- Of a taken request every item is counted received and exactly one of accepted (produced to
  `playback.events`, keyed by `user_id`, stamped with `received_ts_ms`) or rejected (produced to
  `playback.events.dlq` with its original bytes, the reason and detail in headers). The answer is
  200 with one result per item, in order.
- A body that is not a batch at all (not JSON, or JSON but neither array nor object) is answered
  400 and is itself counted as one received, rejected item and dead-lettered whole, so even
  broken SDKs leave evidence.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ingest.collector.cmcd import CMCD_KEY_OF, CmcdContext, from_cmcd
from ingest.collector.encoding import AvroBatchEncoder
from ingest.collector.keys import ApiKey
from ingest.collector.metrics import CollectorMetrics
from ingest.collector.payload import BadBody, item_bytes, parse_items
from ingest.collector.rate_limit import RateLimiter, retry_after
from ingest.collector.sink import EventSink
from ingest.collector.validation import BatchValidator, Rejection
from playpulse.config import CollectorSettings

__all__ = ["BeaconPipeline", "Outcome"]

FORMATS = ("native", "cmcd")


@dataclass(frozen=True)
class Outcome:
    """What to answer, and what to log about it."""

    status: int
    body: dict[str, Any]
    retry_after: int | None = None
    error: str = ""
    received: int = 0
    accepted: int = 0
    rejected: int = 0
    reasons: dict[str, int] = field(default_factory=dict)


def refusal(status: int, error: str, detail: str, retry_after_s: int | None = None) -> Outcome:
    return Outcome(status, {"error": error, "detail": detail}, retry_after_s, error)


class BeaconPipeline:
    def __init__(
        self,
        *,
        validator: BatchValidator,
        encoder: AvroBatchEncoder,
        sink: EventSink,
        metrics: CollectorMetrics,
        limiter: RateLimiter,
        settings: CollectorSettings,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.validator, self.encoder, self.sink = validator, encoder, sink
        self.metrics, self.limiter, self.settings = metrics, limiter, settings
        self.clock = clock

    # -- before the body is read ------------------------------------------------------------------
    def precheck(self, key: ApiKey) -> Outcome | None:
        """Refuse early, before reading the body, when the key is out of tokens or the buffer is full."""
        wait = self.limiter.wait_for(key.key_id, 1, key.rate_per_s, key.burst)
        if wait > 0:
            return self._rate_limited(key, wait)
        if self.sink.full:
            return self._unavailable()
        return None

    def _rate_limited(self, key: ApiKey, wait_s: float) -> Outcome:
        seconds = retry_after(wait_s)
        return refusal(
            429, "rate_limited", f"API key {key.key_id} is over its rate limit; retry in {seconds} s", seconds
        )

    def _unavailable(self) -> Outcome:
        seconds = self.settings.retry_after_s
        return refusal(
            503,
            "buffer_full",
            f"the broker is slow or unavailable and the collector's buffer is full; retry in {seconds} s",
            seconds,
        )

    # -- the body -------------------------------------------------------------------------------------
    def ingest(self, body: bytes, *, fmt: str, key: ApiKey, user_agent: str = "") -> Outcome:
        now_ms = int(self.clock() * 1000)
        try:
            parsed = parse_items(body)
        except BadBody as exc:
            return self.reject_body(body, exc, fmt, key)
        items = parsed.items
        n = len(items)
        if n > self.settings.max_batch_items:
            return refusal(
                413,
                "too_many_items",
                f"the batch has {n} items, at most {self.settings.max_batch_items} are allowed; split it",
            )
        wait = self.limiter.take(key.key_id, max(n, 1), key.rate_per_s, key.burst)
        if wait > 0:
            return self._rate_limited(key, wait)
        if not self.sink.has_room(n, n):
            return self._unavailable()

        mapped: dict[int, Rejection] = {}
        if fmt == "cmcd":
            context = CmcdContext(now_ms, key.key_id, user_agent)
            native: list[Any] = []
            for i, beacon in enumerate(items):
                item = from_cmcd(beacon, context)
                if isinstance(item, Rejection):
                    mapped[i] = item
                    native.append(None)  # rejected below with the mapping's reason
                else:
                    native.append(item)
            items_to_check = native
        else:
            items_to_check = items
        batch = self.validator.validate(items_to_check, now_ms, check_unicode=parsed.lenient)
        rejections = dict(batch.rejections)
        if fmt == "cmcd":
            rejections = {i: _in_cmcd_terms(r) for i, r in rejections.items()}
            rejections.update(mapped)

        accepted = batch.accepted
        if accepted:
            values = self.encoder.encode(batch.columns, len(accepted))
            self.sink.send_events(batch.columns["user_id"], values)
        reasons: Counter[str] = Counter()
        if rejections:
            originals = item_bytes(body, items) if parsed.is_batch else [body.strip()]
            for i in sorted(rejections):
                rejection = rejections[i]
                reasons[rejection.reason] += 1
                item = items[i]
                user = item.get("user_id") if type(item) is dict else None
                self.sink.send_dead_letter(
                    _text(user) if type(user) is str else None,
                    originals[i],
                    rejection.reason,
                    _text(rejection.detail),
                    _dead_letter_headers(rejection, key, fmt, i, now_ms),
                )
        self.metrics.count_items(fmt, len(accepted), dict(reasons))
        self.sink.poll()

        results: list[dict[str, Any]] = [{} for _ in range(n)]
        for i, event_id in zip(accepted, batch.columns["event_id"], strict=True):
            results[i] = {"index": i, "status": "accepted", "event_id": event_id}
        for i, rejection in rejections.items():
            results[i] = {"index": i, "status": "rejected", **rejection.as_dict()}
        body_out = {"received": n, "accepted": len(accepted), "rejected": len(rejections), "results": results}
        return Outcome(200, body_out, None, "", n, len(accepted), len(rejections), dict(reasons))

    def reject_body(self, body: bytes, exc: BadBody, fmt: str, key: ApiKey) -> Outcome:
        """A body that is not a batch: one rejected item, dead-lettered whole, answered 400."""
        now_ms = int(self.clock() * 1000)
        wait = self.limiter.take(key.key_id, 1, key.rate_per_s, key.burst)
        if wait > 0:
            return self._rate_limited(key, wait)
        if not self.sink.has_room(0, 1):
            return self._unavailable()
        rejection = Rejection(exc.reason, None, exc.detail)
        self.sink.send_dead_letter(
            None, body, exc.reason, exc.detail, _dead_letter_headers(rejection, key, fmt, None, now_ms)
        )
        self.metrics.count_items(fmt, 0, {exc.reason: 1})
        self.sink.poll()
        answer = {"error": exc.reason, "detail": exc.detail, "received": 1, "accepted": 0, "rejected": 1}
        return Outcome(400, answer, None, exc.reason, 1, 0, 1, {exc.reason: 1})


def _text(value: str) -> str:
    """`value` made encodable as UTF-8 (a lenient parse can leave lone surrogates in it)."""
    try:
        value.encode()
    except UnicodeEncodeError:
        return value.encode("utf-8", "backslashreplace").decode()
    return value


def _in_cmcd_terms(rejection: Rejection) -> Rejection:
    """Name the CMCD key an error came from, where the field was filled from one."""
    key = CMCD_KEY_OF.get(rejection.field or "")
    if key is None:
        return rejection
    return Rejection(rejection.reason, key, f"{rejection.detail} (from CMCD {key})")


def _dead_letter_headers(
    rejection: Rejection, key: ApiKey, fmt: str, index: int | None, now_ms: int
) -> list[tuple[str, bytes]]:
    headers = [
        ("field", (rejection.field or "").encode("utf-8", "replace")),
        ("api_key_id", key.key_id.encode()),
        ("format", fmt.encode()),
        ("received_ts_ms", str(now_ms).encode()),
    ]
    if index is not None:
        headers.append(("index", str(index).encode()))
    return headers
