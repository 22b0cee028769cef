"""The nightly runner: every registered job for a date, staged → validated → published, or nothing.

`run_date(settings, day)` guarantees, for one date:

1. Each job of `batch.jobs.nightly_jobs()` runs in order on Spark; its rows come back to the
   driver as Arrow (a day of a nightly table is small next to the raw events), are conformed to
   the table's schema and written to `data_dir/<batch.staging_dir>/<day>/<job>/` (Parquet); later
   jobs read them from there.
2. Each staged output is validated with its table's Great Expectations suite
   (`warehouse.quality`). The first failure stops the run with `BatchRunError`, whose message names
   the table and every failed expectation with what was observed; nothing is published, so every
   warehouse table keeps exactly the rows it had, and the staging directory stays for inspection.
3. When every job passed, each table's partition of `day` is replaced through the `Warehouse`
   interface (`replace_partition`): re-running a date replaces exactly that date's rows, so runs
   are idempotent. Then the date's staging directory is removed.

`run_range(settings, first, last)` runs the dates in order (a backfill) and stops at the first
failing date. Progress is shown per job; `RunReport.table()` is the per-job summary.
"""

from __future__ import annotations

import datetime as dt
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from rich.console import Console
from rich.table import Table as RichTable

from batch.jobs import Job, JobContext, JobOutput, nightly_jobs
from batch.sources import SparkLake, WarehouseTables
from batch.spark import spark_session
from playpulse.config import Settings
from warehouse.base import Warehouse
from warehouse.quality import QualityError, QualityReport, publish, validate

__all__ = ["BatchRunError", "JobReport", "RunReport", "run_date", "run_range", "staging_dir"]


@dataclass
class JobReport:
    """How one job of a run went."""

    job: str
    table: str
    rows: int = 0
    seconds: float = 0.0
    facts: dict[str, Any] = field(default_factory=dict)
    quality: QualityReport | None = None
    status: str = "pending"  # pending → validated → published | failed


@dataclass
class RunReport:
    """The outcome of one run date: a report per job, and whether the date was published."""

    run_date: dt.date
    jobs: list[JobReport] = field(default_factory=list)
    published: bool = False
    seconds: float = 0.0

    def table(self) -> RichTable:
        out = RichTable(title=f"nightly run {self.run_date} ({self.seconds:.1f} s)")
        for name in ("job", "table", "rows", "seconds", "checks", "status", "facts"):
            out.add_column(name, justify="right" if name in ("rows", "seconds") else "left")
        for r in self.jobs:
            checks = ""
            if r.quality is not None:
                checks = f"{len(r.quality.results) - len(r.quality.failed)}/{len(r.quality.results)}"
            facts = ", ".join(f"{k}={v:,}" if isinstance(v, int) else f"{k}={v}" for k, v in r.facts.items())
            out.add_row(r.job, r.table, f"{r.rows:,}", f"{r.seconds:.1f}", checks, r.status, facts)
        return out


class BatchRunError(Exception):
    """A run date failed (a job raised, or its output failed validation); nothing was published."""

    def __init__(self, message: str, report: RunReport) -> None:
        super().__init__(message)
        self.report = report


def staging_dir(settings: Settings, day: dt.date) -> Path:
    """Where the outputs of `day` are staged before they are published."""
    root = settings.batch.staging_dir
    root = root if root.is_absolute() else settings.data_dir / root
    return root / day.isoformat()


def run_date(
    settings: Settings,
    day: dt.date,
    warehouse: Warehouse,
    *,
    jobs: Sequence[Job] | None = None,
    console: Console | None = None,
) -> RunReport:
    """Run, validate and publish every job for `day` (see the module docstring)."""
    console = console or Console(stderr=True)
    registry = tuple(jobs) if jobs is not None else nightly_jobs()
    spark = spark_session(settings)
    report = RunReport(day, [JobReport(job.name, job.table.name) for job in registry])
    stage_root = staging_dir(settings, day)
    ctx = JobContext(
        spark=spark,
        run_date=day,
        settings=settings,
        lake=SparkLake(spark, settings.lake_dir),
        warehouse=WarehouseTables(spark, warehouse),
    )
    started = time.perf_counter()
    staged: list[tuple[Job, pa.Table]] = []
    with _status(console, f"nightly run {day}") as status:
        for job, job_report in zip(registry, report.jobs, strict=True):
            status(f"{day} · {job.name}: building")
            job_started = time.perf_counter()
            try:
                output = job.build(ctx)
                output = output if isinstance(output, JobOutput) else JobOutput(output)
                target = stage_root / job.name
                rows = job.table.conform(output.data.toArrow())
                _stage(rows, target)
                ctx.outputs[job.name] = spark.read.parquet(str(target))
                job_report.rows = rows.num_rows
                job_report.facts = dict(output.facts)
                status(f"{day} · {job.name}: validating {rows.num_rows:,} rows")
                quality = validate(job.table, rows, day, job.suite(day, output.facts))
            except Exception as exc:
                job_report.status = "failed"
                job_report.seconds = time.perf_counter() - job_started
                report.seconds = time.perf_counter() - started
                raise BatchRunError(
                    f"{day}: job {job.name} failed: {exc}; nothing was published", report
                ) from exc
            finally:
                spark.catalog.clearCache()
            job_report.quality = quality
            job_report.seconds = time.perf_counter() - job_started
            if not quality.success:
                job_report.status = "failed"
                report.seconds = time.perf_counter() - started
                error = QualityError(quality)
                raise BatchRunError(f"{day}: {error}", report) from error
            job_report.status = "validated"
            staged.append((job, rows))
            console.log(f"{job.name}: {rows.num_rows:,} rows, {quality.summary().split(': ', 1)[1]}")
        status(f"{day}: publishing")
        for (job, rows), job_report in zip(staged, report.jobs, strict=True):
            publish(warehouse, job.table, rows, day)
            job_report.status = "published"
    report.published = True
    report.seconds = time.perf_counter() - started
    shutil.rmtree(stage_root, ignore_errors=True)
    return report


def run_range(
    settings: Settings,
    first: dt.date,
    last: dt.date,
    warehouse: Warehouse,
    *,
    jobs: Sequence[Job] | None = None,
    console: Console | None = None,
    on_report: Callable[[RunReport], None] | None = None,
) -> list[RunReport]:
    """Run every date from `first` to `last` in order; stops at the first failing date (raises)."""
    if last < first:
        raise ValueError(f"--to ({last}) is before --from ({first})")
    reports = []
    day = first
    while day <= last:
        report = run_date(settings, day, warehouse, jobs=jobs, console=console)
        reports.append(report)
        if on_report is not None:
            on_report(report)
        day += dt.timedelta(days=1)
    return reports


def _stage(rows: pa.Table, target: Path) -> None:
    """Write a job's rows as the staged Parquet file `<target>/part-0.parquet` (replacing earlier ones)."""
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    pq.write_table(rows, target / "part-0.parquet", compression="zstd")


@contextmanager
def _status(console: Console, text: str) -> Iterator[Callable[[str], None]]:
    with console.status(text) as status:
        yield lambda message: status.update(message)
