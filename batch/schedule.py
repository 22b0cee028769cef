"""`playpulse batch schedule`: run the nightly jobs every night at a local time, catching up missed days.

A run date D (a UTC date) is *due* once it is over (now ≥ D+1 00:00 UTC) and after the last
published date, the newest `session_date` in `sessions` (the first table of every run): every
such date up to yesterday (UTC) is due, oldest first, at most `batch.catch_up_days` of them
(older gaps need an explicit `playpulse batch run --from … --to …`). On start the scheduler
runs what is due, then sleeps until the next `batch.nightly_at` in `batch.timezone` (the
machine's zone when unset) and does it again. A failing date is reported and retried the next
night; the scheduler keeps running.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable
from zoneinfo import ZoneInfo

from batch.runner import BatchRunError, RunReport, run_range
from playpulse.config import Settings
from warehouse.base import Warehouse

__all__ = ["due_dates", "last_published", "next_run_at", "run_schedule"]

log = logging.getLogger(__name__)


def due_dates(last: dt.date | None, now: dt.datetime, catch_up_days: int) -> list[dt.date]:
    """Run dates due at `now` (aware) after the last published date `last`, oldest first."""
    yesterday = now.astimezone(dt.UTC).date() - dt.timedelta(days=1)
    oldest = yesterday - dt.timedelta(days=max(catch_up_days, 1) - 1)
    first = max(oldest, last + dt.timedelta(days=1)) if last is not None else yesterday
    return [first + dt.timedelta(days=i) for i in range((yesterday - first).days + 1)]


def next_run_at(now: dt.datetime, at: dt.time, zone: dt.tzinfo) -> dt.datetime:
    """The first moment after `now` (aware) whose local time in `zone` is `at`."""
    local = now.astimezone(zone)
    candidate = dt.datetime.combine(local.date(), at, tzinfo=zone)
    if candidate <= local:
        candidate = dt.datetime.combine(local.date() + dt.timedelta(days=1), at, tzinfo=zone)
    return candidate


def last_published(warehouse: Warehouse) -> dt.date | None:
    """The newest date of the `sessions` table (the first job of every run), or None."""
    return warehouse.query("SELECT max(session_date) AS d FROM sessions").column(0)[0].as_py()


def _zone(settings: Settings) -> dt.tzinfo:
    if settings.batch.timezone:
        return ZoneInfo(settings.batch.timezone)
    local = dt.datetime.now().astimezone().tzinfo
    assert local is not None
    return local


def run_schedule(
    settings: Settings,
    open_warehouse: Callable[[], Warehouse],
    *,
    stop: threading.Event | None = None,
    now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    on_report: Callable[[RunReport], None] | None = None,
) -> None:
    """Catch up, then run every night at `batch.nightly_at` until `stop` is set."""
    stop = stop or threading.Event()
    zone = _zone(settings)
    while not stop.is_set():
        with open_warehouse() as warehouse:
            due = due_dates(last_published(warehouse), now(), settings.batch.catch_up_days)
            if due:
                log.info("nightly run of %s", ", ".join(str(d) for d in due))
                try:
                    run_range(settings, due[0], due[-1], warehouse, on_report=on_report)
                except BatchRunError as exc:
                    log.error("nightly run failed, retried at the next run: %s", exc)
        wake = next_run_at(now(), settings.batch.nightly_at, zone)
        log.info("next nightly run at %s", wake.isoformat())
        stop.wait(max(0.0, (wake - now()).total_seconds()))
