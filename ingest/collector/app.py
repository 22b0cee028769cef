"""The collector's ASGI app: authentication, limits and operations endpoints around `BeaconPipeline`.

| endpoint | answers |
|---|---|
| `POST /v1/events` | a JSON array of `PlaybackEvent` items (or one object): 200 with a result per item |
| `POST /v1/cmcd` | CMCD JSON beacons, mapped onto `PlaybackEvent` (`cmcd.py`), answered the same way |
| `GET /healthz` | 200 while the process serves (liveness) |
| `GET /readyz` | 200 when the broker answers and the buffer has room, else 503 (readiness) |
| `GET /metrics` | Prometheus text format (`metrics.py`) |

Order of checks on a POST, each refusing the whole request: API key (401 missing or invalid,
403 revoked) → rate limit and buffer (429 / 503, before the body is read) → body size as
declared and as read (413) → signature when present or required (401) → Content-Encoding
(415, or 413 when it expands too far) → the pipeline (400, 413 too many items, 429, 503, or 200).
Every answer is JSON; errors are `{"error": code, "detail": text}`. An unexpected exception is
answered 500 `{"error": "internal_error"}` with its traceback in the log only.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import anyio
import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ingest.collector.encoding import AvroBatchEncoder
from ingest.collector.keys import ApiKey, AuthError, KeyStore, key_store_path
from ingest.collector.metrics import CONTENT_TYPE, CollectorMetrics
from ingest.collector.payload import BadBody, BodyTooLarge, UnsupportedEncoding, decode_body
from ingest.collector.pipeline import BeaconPipeline, Outcome, refusal
from ingest.collector.rate_limit import RateLimiter
from ingest.collector.signing import SIGNATURE_HEADER, check_signature, load_server_key, signing_secret
from ingest.collector.sink import EventSink
from ingest.collector.validation import BatchValidator
from ingest.producer import BrokerUnavailable
from playpulse.config import Settings
from schemas.events import playback_event_schema
from schemas.registry import RegistryClient, RegistryError, event_serde

__all__ = ["Collector", "create_app"]

log = logging.getLogger("playpulse.collector")
access = logging.getLogger("playpulse.collector.access")

_POLL_S = 0.05
_READY_CACHE_S = 1.0
_STATUS_ERRORS = {404: "not_found", 405: "method_not_allowed"}


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    try:
        content = orjson.dumps(body)
    except orjson.JSONEncodeError:  # text with lone surrogates from a lenient parse: escape them
        content = json.dumps(body).encode()
    return Response(content, status, headers, media_type="application/json")


@dataclass
class _Readiness:
    ready: bool = False
    detail: str = "not checked yet"
    checked: float = 0.0


class Collector:
    """Everything one collector process holds, built by the app's lifespan (or by a test)."""

    def __init__(self, settings: Settings, *, schema_id: int | None = None) -> None:
        self.settings = settings
        config = settings.collector
        self.metrics = CollectorMetrics()
        schema = playback_event_schema()
        if schema_id is None:
            schema_id = _register_schema(settings)
        self.keys = KeyStore(key_store_path(settings.data_dir), refresh_s=config.key_refresh_s)
        self.server_key = load_server_key(settings)
        self.sink = EventSink(
            settings.kafka,
            self.metrics,
            buffer_size=config.buffer_size,
            batch_slack=config.max_batch_items,
            linger_ms=config.linger_ms,
        )
        self.pipeline = BeaconPipeline(
            validator=BatchValidator(
                schema,
                max_clock_skew_ms=int(config.max_clock_skew_s * 1000),
                max_event_age_ms=int(config.max_event_age_s * 1000),
            ),
            encoder=AvroBatchEncoder(schema, schema_id),
            sink=self.sink,
            metrics=self.metrics,
            limiter=RateLimiter(config.rate_per_key, config.burst_per_key),
            settings=config,
        )
        self._readiness = _Readiness()
        self._ready_lock = asyncio.Lock()
        self._was_full = False

    # -- lifecycle ------------------------------------------------------------------------------------
    async def run_poller(self) -> None:
        """Serve delivery reports while idle; log when the buffer fills up and drains."""
        while True:
            self.sink.poll()
            full = self.sink.full
            if full != self._was_full:
                self._was_full = full
                if full:
                    log.warning(
                        "buffer full: answering 503 until the broker takes messages again",
                        extra={"fields": {"buffered": self.sink.events.stats.in_flight}},
                    )
                else:
                    log.info(
                        "buffer has room again",
                        extra={"fields": {"buffered": self.sink.events.stats.in_flight}},
                    )
            await asyncio.sleep(_POLL_S)

    async def close(self) -> None:
        left = await anyio.to_thread.run_sync(self.sink.close, 30.0)
        self.keys.close()
        log.info("collector stopped", extra={"fields": {"unflushed": left}})

    # -- endpoints ------------------------------------------------------------------------------------
    async def events(self, request: Request) -> Response:
        return await self._post(request, "native")

    async def cmcd(self, request: Request) -> Response:
        return await self._post(request, "cmcd")

    async def _post(self, request: Request, fmt: str) -> Response:
        started = time.perf_counter()
        key_id = ""
        try:
            presented = _presented_key(request)
            key = self.keys.authenticate(presented)
            key_id = key.key_id
            outcome = self.pipeline.precheck(key) or await self._read_and_ingest(request, key, presented, fmt)
        except AuthError as exc:
            outcome = refusal(exc.status, exc.code, exc.detail)
        headers = {"Retry-After": str(outcome.retry_after)} if outcome.retry_after is not None else None
        response = _json(outcome.body, outcome.status, headers)
        elapsed = time.perf_counter() - started
        self.metrics.requests.labels(str(outcome.status), outcome.error).inc()
        self.metrics.request_duration.observe(elapsed)
        if self.settings.collector.access_log:
            access.info(
                "%s %s %d",
                request.method,
                request.url.path,
                outcome.status,
                extra={
                    "fields": {
                        "status": outcome.status,
                        "error": outcome.error or None,
                        "path": request.url.path,
                        "key_id": key_id or None,
                        "received": outcome.received,
                        "accepted": outcome.accepted,
                        "rejected": outcome.rejected,
                        "reasons": outcome.reasons or None,
                        "duration_ms": round(elapsed * 1000, 2),
                    }
                },
            )
        return response

    async def _read_and_ingest(self, request: Request, key: ApiKey, presented: str, fmt: str) -> Outcome:
        limit = self.settings.collector.max_body_bytes
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            return refusal(
                413, "body_too_large", f"the body is {declared} bytes, at most {limit} are allowed"
            )
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                return refusal(413, "body_too_large", f"the body is more than {limit} bytes")
            chunks.append(chunk)
        raw = b"".join(chunks)
        signature = request.headers.get(SIGNATURE_HEADER)
        if signature is not None or key.require_signature:
            check_signature(
                signing_secret(self.server_key, presented),
                signature,
                raw,
                time.time(),
                self.settings.collector.signature_max_age_s,
            )
        try:
            body = decode_body(raw, request.headers.get("content-encoding"), limit)
        except UnsupportedEncoding as exc:
            return refusal(415, "unsupported_encoding", str(exc))
        except BodyTooLarge as exc:
            return refusal(413, "body_too_large", str(exc))
        except BadBody as exc:
            return self.pipeline.reject_body(raw, exc, fmt, key)
        return self.pipeline.ingest(body, fmt=fmt, key=key, user_agent=request.headers.get("user-agent", ""))

    async def healthz(self, _request: Request) -> Response:
        return _json({"status": "ok"})

    async def readyz(self, _request: Request) -> Response:
        readiness = await self._check_readiness()
        full = self.sink.full
        ready = readiness.ready and not full
        body = {
            "ready": ready,
            "broker": readiness.detail,
            "buffered": self.sink.events.stats.in_flight,
            "buffer_size": self.sink.buffer_size,
        }
        if full:
            body["buffer"] = "full"
        return _json(body, 200 if ready else 503)

    async def _check_readiness(self) -> _Readiness:
        async with self._ready_lock:
            if time.monotonic() - self._readiness.checked < _READY_CACHE_S:
                return self._readiness
            try:
                await anyio.to_thread.run_sync(self.sink.check_broker, 1.0)
            except BrokerUnavailable as exc:
                ready, detail = False, str(exc)
            else:
                ready, detail = True, "reachable"
            if ready != self._readiness.ready:
                if ready:
                    log.info("broker reachable")
                else:
                    log.warning("broker unavailable", extra={"fields": {"detail": detail}})
            self._readiness = _Readiness(ready, detail, time.monotonic())
            self.metrics.broker_ready.set(1 if ready else 0)
            return self._readiness

    async def metrics_text(self, _request: Request) -> Response:
        self.sink.poll()
        return Response(self.metrics.render(), 200, media_type=CONTENT_TYPE)


def _presented_key(request: Request) -> str | None:
    authorization = request.headers.get("authorization")
    if authorization:
        scheme, _, value = authorization.partition(" ")
        return value.strip() if scheme.lower() == "bearer" else None
    return request.headers.get("x-api-key") or request.query_params.get("api_key")


def _register_schema(settings: Settings, timeout_s: float = 30.0) -> int:
    """The registry id of the current PlaybackEvent schema, registering it if needed (retries a while)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with RegistryClient(settings.registry.url) as client:
                return event_serde(client).schema_id
        except RegistryError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


async def _http_error(_request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    return _json(
        {"error": _STATUS_ERRORS.get(status, "http_error"), "detail": str(getattr(exc, "detail", ""))}, status
    )


async def _internal_error(_request: Request, exc: Exception) -> Response:
    log.error("unhandled error", exc_info=exc)
    return _json(
        {"error": "internal_error", "detail": "the collector failed on this request; it was logged"}, 500
    )


def create_app(settings: Settings, *, collector_factory: Callable[[], Collector] | None = None) -> Starlette:
    """The ASGI app; the `Collector` (producers, key store, metrics) is built when it starts."""
    holder: dict[str, Collector] = {}

    def current() -> Collector:
        return holder["collector"]

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        collector = (collector_factory or (lambda: Collector(settings)))()
        holder["collector"] = collector
        poller = asyncio.create_task(collector.run_poller())
        log.info(
            "collector started",
            extra={
                "fields": {
                    "kafka": settings.kafka.bootstrap_servers,
                    "buffer_size": collector.sink.buffer_size,
                }
            },
        )
        try:
            yield
        finally:
            poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await poller
            await collector.close()

    async def events(request: Request) -> Response:
        return await current().events(request)

    async def cmcd(request: Request) -> Response:
        return await current().cmcd(request)

    async def healthz(request: Request) -> Response:
        return await current().healthz(request)

    async def readyz(request: Request) -> Response:
        return await current().readyz(request)

    async def metrics(request: Request) -> Response:
        return await current().metrics_text(request)

    app = Starlette(
        routes=[
            Route("/v1/events", events, methods=["POST"]),
            Route("/v1/cmcd", cmcd, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
        ],
        exception_handlers={HTTPException: _http_error, Exception: _internal_error},
        lifespan=lifespan,
    )
    app.state.collector = holder
    return app
