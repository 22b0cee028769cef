"""engagement_summary on hand-made member rows: grouping sets, DAU per slice, rolling 7-day retention."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import pyarrow as pa
import pytest
from pyspark.sql import DataFrame, SparkSession

from batch.engagement import build_engagement_summary
from batch.jobs import JobContext
from batch.sources import spark_frame
from playpulse.config import load_settings
from warehouse.quality import engagement_summary, validate
from warehouse.tables import ENGAGEMENT_DAILY, ENGAGEMENT_SUMMARY, Table

DAY = dt.date(2025, 1, 14)
COHORT = DAY - dt.timedelta(days=7)


def _rows(day: dt.date, members: Sequence[tuple[str, str, str, str, int, int, int]]) -> pa.Table:
    keys = ("user_id", "title_id", "region", "device_type", "watch_time_ms", "sessions", "completions")
    data = {k: [m[i] for m in members] for i, k in enumerate(keys)}
    return ENGAGEMENT_DAILY.conform(pa.table({"date": [day] * len(members), **data}))


class _History:
    def __init__(self, spark: SparkSession, rows: pa.Table) -> None:
        self.spark, self.rows = spark, rows

    def published(
        self, table: Table, first: dt.date, last: dt.date, columns: Sequence[str] | None = None
    ) -> DataFrame:
        frame = spark_frame(self.spark, self.rows, table)
        frame = frame.filter((frame["date"] >= first) & (frame["date"] <= last))
        return frame.select(*(columns or table.column_names))


class _NoLake:
    def events(self, first: dt.date, last: dt.date) -> DataFrame:
        raise AssertionError("engagement_summary reads no raw events")


def _summary(spark: SparkSession, today: pa.Table, history: pa.Table) -> dict[tuple[str, ...], dict]:
    ctx = JobContext(spark, DAY, load_settings(), _NoLake(), _History(spark, history))
    ctx.outputs["engagement_daily"] = spark_frame(spark, today, ENGAGEMENT_DAILY)
    output = build_engagement_summary(ctx)
    rows = ENGAGEMENT_SUMMARY.conform(output.data.toArrow())
    report = validate(ENGAGEMENT_SUMMARY, rows, DAY, engagement_summary.expectations(DAY, output.facts))
    assert report.success, [r.describe() for r in report.failed]
    return {(r["slice"], r["title_id"], r["region"], r["device_type"]): r for r in rows.to_pylist()}


@pytest.mark.integration
def test_slices_dau_title_performance_and_rolling_retention(spark: SparkSession) -> None:
    today = _rows(
        DAY,
        [
            ("a", "t1", "eu", "TV", 1000, 2, 1),
            ("a", "t2", "eu", "MOBILE", 500, 1, 0),
            ("b", "t1", "us", "TV", 3000, 1, 1),
        ],
    )
    history = pa.concat_tables(
        [
            # The cohort (active 7 days before): a and c on t1 in eu, d on t3 in us.
            _rows(
                COHORT,
                [
                    ("a", "t1", "eu", "TV", 1, 1, 0),
                    ("c", "t1", "eu", "TV", 1, 1, 0),
                    ("d", "t3", "us", "WEB", 1, 1, 0),
                ],
            ),
            # c comes back in between (any title counts); d never does; a comes back today.
            _rows(COHORT + dt.timedelta(days=3), [("c", "t9", "eu", "WEB", 1, 1, 0)]),
            # Older than the cohort: ignored.
            _rows(COHORT - dt.timedelta(days=1), [("z", "t1", "eu", "TV", 1, 1, 0)]),
        ]
    )
    rows = _summary(spark, today, history)
    total = rows[("all", "*", "*", "*")]
    assert (total["members"], total["sessions"], total["watch_time_ms"], total["completions"]) == (
        2,
        4,
        4500,
        2,
    )
    assert total["completion_rate"] == pytest.approx(0.5)
    assert (total["retention_cohort_7d"], total["retained_7d"]) == (3, 2)
    assert total["retention_7d"] == pytest.approx(2 / 3)
    t1 = rows[("title_id", "t1", "*", "*")]
    assert (t1["members"], t1["sessions"], t1["watch_time_ms"]) == (2, 3, 4000)
    assert (t1["retention_cohort_7d"], t1["retained_7d"]) == (2, 2)
    t3 = rows[("title_id", "t3", "*", "*")]  # watched only by the cohort: a row with no activity today
    assert (t3["members"], t3["retention_cohort_7d"], t3["retained_7d"], t3["retention_7d"]) == (0, 1, 0, 0.0)
    assert rows[("region", "*", "eu", "*")]["members"] == 1
    assert rows[("device_type", "*", "*", "TV")]["members"] == 2
    assert rows[("region,device_type", "*", "eu", "MOBILE")]["members"] == 1
    assert {k[0] for k in rows} == {"all", "region", "device_type", "region,device_type", "title_id"}


@pytest.mark.integration
def test_retention_is_null_when_the_cohort_date_was_never_published(spark: SparkSession) -> None:
    today = _rows(DAY, [("a", "t1", "eu", "TV", 1000, 2, 1)])
    rows = _summary(spark, today, _rows(DAY - dt.timedelta(days=2), [("a", "t1", "eu", "TV", 1, 1, 0)]))
    total = rows[("all", "*", "*", "*")]
    assert total["retention_cohort_7d"] is None and total["retention_7d"] is None
