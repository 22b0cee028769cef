"""The nightly job interface: what a job is, what it gets, and the ordered registry the runner executes.

A nightly job turns the lake (and outputs of earlier jobs) into the rows of ONE warehouse table
for ONE run date:

    def build_sessions(ctx: JobContext) -> JobOutput:
        events = ctx.events(ctx.run_date, ctx.run_date + timedelta(days=1))
        rows = ...                                   # a Spark DataFrame with the table's columns
        return JobOutput(rows, facts={"raw_sessions": n})

    SESSIONS_JOB = Job("sessions", SESSIONS, build_sessions, warehouse.quality.sessions.expectations)

Contract (enforced by `batch.runner`):

- `build(ctx)` returns the rows of `table` whose partition column equals `ctx.run_date` (a Spark
  DataFrame, or a `JobOutput` holding one plus `facts`); it writes nothing itself. Columns are
  matched by name and cast to the table's types (`Table.conform`); extra columns are an error.
- The runner stages the rows (Parquet under `data_dir/staging/<run date>/<job name>/`), validates
  them with `suite(run_date, facts)` — a list of Great Expectations expectations, on top of the
  ones every table gets from its spec (key unique and not null, NOT NULL columns, partition =
  run date; see `warehouse.quality`) — and, only when every job of the run passed, publishes each
  table with `Warehouse.replace_partition(table, rows, partition_column, run_date)`. So re-running
  a date replaces exactly that date's rows, and a failed validation leaves every published table
  as it was.
- `facts` are numbers the job computed alongside its rows for its suite to check against (e.g.
  the count of distinct sessions in the raw events); they are also printed in the run summary.
- A job may read: the deduplicated raw events of any dates (`ctx.events`), the staged output of an
  EARLIER job of the same run (`ctx.output(name)`), and rows already published in the warehouse
  for other dates (`ctx.published(table, first, last)`), e.g. history for retention or a forecast.
- Jobs run in registry order; a job may only read outputs of jobs before it.

Adding a job: write its build function and its suite module (`warehouse/quality/<table>.py`
exporting `expectations(run_date, facts)`), then append one line to `nightly_jobs()` below.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from playpulse.config import Settings
from warehouse.tables import Table

if TYPE_CHECKING:
    from great_expectations.expectations import Expectation
    from pyspark.sql import DataFrame, SparkSession

__all__ = [
    "Job",
    "JobContext",
    "JobOutput",
    "day_start_ms",
    "LakeReader",
    "PublishedReader",
    "Suite",
    "job_named",
    "nightly_jobs",
]

#: A table's suite: the expectations its rows of `run_date` must meet, given the job's facts.
Suite = Callable[[dt.date, Mapping[str, Any]], "Sequence[Expectation]"]


class LakeReader(Protocol):
    """Raw events of the lake as a Spark DataFrame."""

    def events(self, first: dt.date, last: dt.date) -> DataFrame:
        """Events with `event_date` in [first, last] (UTC), deduplicated on event_id (first received)."""
        ...


class PublishedReader(Protocol):
    """Rows already published in the warehouse, as a Spark DataFrame."""

    def published(
        self, table: Table, first: dt.date, last: dt.date, columns: Sequence[str] | None = None
    ) -> DataFrame:
        """Rows of `table` whose partition column is in [first, last] (only `columns` when given)."""
        ...


@dataclass(frozen=True)
class JobOutput:
    """What a job built: its rows for the run date, and facts its suite checks them against."""

    data: DataFrame
    facts: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class JobContext:
    """Everything a job may use for one run date."""

    spark: SparkSession
    run_date: dt.date
    settings: Settings
    lake: LakeReader
    warehouse: PublishedReader
    #: Staged outputs of the jobs that ran before this one in the same run, by job name.
    outputs: dict[str, DataFrame] = field(default_factory=dict)

    def events(self, first: dt.date, last: dt.date | None = None) -> DataFrame:
        """Deduplicated raw events with event_date in [first, last] (default: just `first`)."""
        return self.lake.events(first, first if last is None else last)

    def output(self, job_name: str) -> DataFrame:
        """The staged output of an earlier job of this run."""
        try:
            return self.outputs[job_name]
        except KeyError:
            so_far = ", ".join(self.outputs) or "none"
            raise LookupError(
                f"no output of job {job_name!r} in this run (outputs so far: {so_far}); a job can only "
                "read jobs registered before it in batch.jobs.nightly_jobs()"
            ) from None

    def published(
        self, table: Table, first: dt.date, last: dt.date, columns: Sequence[str] | None = None
    ) -> DataFrame:
        """Published rows of `table` with partition dates in [first, last] (only `columns` when given)."""
        return self.warehouse.published(table, first, last, columns)


@dataclass(frozen=True)
class Job:
    """One nightly job: a name, the table it fills, how to build its rows, and its quality suite."""

    name: str
    table: Table
    build: Callable[[JobContext], JobOutput | DataFrame]
    suite: Suite

    def __post_init__(self) -> None:
        if not self.table.replaceable_by_date:
            raise ValueError(
                f"job {self.name}: table {self.table.name} has no DATE partition column, so a run date "
                "cannot be replaced; nightly tables are partitioned by a DATE"
            )


def nightly_jobs() -> tuple[Job, ...]:
    """The nightly jobs in the order they run (later jobs may read earlier jobs' outputs)."""
    from batch.ab_readout import AB_READOUT_JOB
    from batch.engagement import ENGAGEMENT_JOB, ENGAGEMENT_SUMMARY_JOB
    from batch.sessions import SESSIONS_JOB

    jobs: list[Job] = [SESSIONS_JOB, ENGAGEMENT_JOB, ENGAGEMENT_SUMMARY_JOB, AB_READOUT_JOB]
    # demand_forecast reads sessions; oca_fill_plan reads demand_forecast and sessions.
    from batch.demand import DEMAND_FORECAST_JOB
    from batch.fill_job import OCA_FILL_PLAN_JOB

    jobs += [DEMAND_FORECAST_JOB, OCA_FILL_PLAN_JOB]
    return tuple(jobs)


def job_named(names: Sequence[str], jobs: Sequence[Job] | None = None) -> tuple[Job, ...]:
    """The registered jobs with these names, in registry order; ValueError naming unknown ones."""
    registry = tuple(jobs) if jobs is not None else nightly_jobs()
    known = [job.name for job in registry]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"unknown nightly job(s) {', '.join(unknown)}; the jobs are {', '.join(known)}")
    return tuple(job for job in registry if job.name in names)


def day_start_ms(day: dt.date) -> int:
    """The start of a UTC day (a run date, a partition) in epoch milliseconds."""
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp() * 1000)
