"""Serving the collector: uvicorn with uvloop and httptools, JSON logs, graceful shutdown.

`run_collector(settings)` blocks until SIGINT/SIGTERM. On shutdown uvicorn stops accepting
connections and finishes the requests in progress (up to 10 s), then the app's lifespan waits up
to 30 s for the broker to take everything still buffered and logs how much, if anything, was left.

One process serves, on one event loop: parsing, validation and encoding are CPU work on whole
batches, so a process uses about one core. Scale out with more collector processes (each its own
port, or behind a load balancer); each has its own buffer, rate-limit buckets and `/metrics`, so
Prometheus scrapes each one and sums. uvicorn's `--workers` is not used for that: its workers share
one port, and a scrape of `/metrics` would reach a random worker's counters. On the 2-core
benchmark machine, where the broker and the load generator take their share, two collector
processes were not reliably faster than one (1M events: 45k vs 43k events/s; a 300k run: 76k vs
47k; `PLAYPULSE_BENCH_COLLECTOR_PROCESSES=2 make bench-collector`), so one is the default.
"""

from __future__ import annotations

import logging.config

import uvicorn

from ingest.collector.app import create_app
from ingest.collector.logs import log_config
from playpulse.config import Settings

__all__ = ["run_collector", "server_config"]


def server_config(
    settings: Settings, host: str | None = None, port: int | None = None, *, logs: bool = True
) -> uvicorn.Config:
    """The uvicorn configuration; `logs=False` leaves the process's logging alone (tests)."""
    config = settings.collector
    return uvicorn.Config(
        create_app(settings),
        host=host or config.host,
        port=port or config.port,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        access_log=False,  # the app writes its own structured access lines
        log_config=log_config() if logs else None,
        server_header=False,
        timeout_keep_alive=30,
        timeout_graceful_shutdown=10,
        backlog=2048,
    )


def run_collector(settings: Settings, host: str | None = None, port: int | None = None) -> None:
    logging.config.dictConfig(log_config())
    uvicorn.Server(server_config(settings, host, port)).run()
