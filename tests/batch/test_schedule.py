"""The scheduler's calendar: which UTC dates are due and when the next local run is."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from batch.jobs import job_named, nightly_jobs
from batch.schedule import due_dates, next_run_at
from playpulse.config import load_settings

NOW = dt.datetime(2025, 1, 10, 2, 30, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("last", "catch_up", "expected"),
    [
        (None, 7, [dt.date(2025, 1, 9)]),
        (dt.date(2025, 1, 9), 7, []),
        (dt.date(2025, 1, 7), 7, [dt.date(2025, 1, 8), dt.date(2025, 1, 9)]),
        (dt.date(2024, 12, 1), 3, [dt.date(2025, 1, 7), dt.date(2025, 1, 8), dt.date(2025, 1, 9)]),
        (dt.date(2024, 12, 1), 0, [dt.date(2025, 1, 9)]),
    ],
)
def test_due_dates_catch_up_missed_days_oldest_first(
    last: dt.date | None, catch_up: int, expected: list[dt.date]
) -> None:
    assert due_dates(last, NOW, catch_up) == expected


def test_next_run_is_the_next_local_nightly_time() -> None:
    amsterdam = ZoneInfo("Europe/Amsterdam")
    at = dt.time(3, 0)
    # 02:30 UTC is 03:30 in Amsterdam: tonight's run has passed, the next is tomorrow 03:00 local.
    assert next_run_at(NOW, at, amsterdam) == dt.datetime(2025, 1, 11, 3, 0, tzinfo=amsterdam)
    assert next_run_at(NOW, at, dt.UTC) == dt.datetime(2025, 1, 10, 3, 0, tzinfo=dt.UTC)


def test_registry_order_and_lookup_by_name() -> None:
    names = [job.name for job in nightly_jobs()]
    assert names[:4] == ["sessions", "engagement_daily", "engagement_summary", "ab_readout"]
    assert [j.name for j in job_named(["ab_readout", "sessions"])] == ["sessions", "ab_readout"]
    with pytest.raises(ValueError, match="unknown nightly job.*nope"):
        job_named(["nope"])


def test_batch_settings_fail_on_load_with_the_field_named() -> None:
    with pytest.raises(ValueError, match="timezone"):
        load_settings(batch={"timezone": "Mars/Olympus"})
    with pytest.raises(ValueError, match="at least two cells"):
        load_settings(batch={"experiments": {"t": {"control": 1}}})
    assert load_settings().batch.spark_master == "local[*]"
