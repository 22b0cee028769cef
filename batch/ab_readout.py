"""The `ab_readout` job: per running test, cell and metric, the readout an experimenter can trust.

Who is measured. A member is *exposed* to a test from their first session that carries the test in
its `experiments` map; the readout of run date D covers every session of exposed members that
carries the test, from the test's first day (the first date any session carried it, within
`batch.max_test_days`) to D — it is cumulative, like GrowthBook's. A test is *running* on D when a
session of D carries it. Members seen in two cells of one test are left out and counted in the
notes. The unit of analysis is the member.

Metrics (per member over the test; guardrails are the QoE metrics, worse = higher):

| metric | kind | per-member values |
|---|---|---|
| watch_time_ms | mean, CUPED | Σ playing_ms |
| sessions | mean, CUPED | sessions |
| completion_rate | ratio | completions / sessions |
| retention | proportion | active on a later day than the first exposure (members exposed before D) |
| vst_p50_ms, vst_p95_ms | quantile, bootstrap | start-up times of started sessions (guardrail) |
| rebuffer_ratio | ratio | rebuffer_ms / (playing_ms + rebuffer_ms) (guardrail) |
| start_failure_rate | ratio | start failures / attempts (guardrail) |

Spark reduces members to one summary row per test × cell (n, sums, sums of squares and cross
products, CUPED's pre-period sums) and VST to DDSketch-bin histograms per test × cell; the
statistics are the pure functions of `batch.ab_stats` on those rows. The CUPED covariate is the
member's same metric over the `batch.pre_period_days` days before the test's first day (0 for
members without sessions then). The planned split for the SRM check comes from
`batch.experiments` (else an even split over the cells seen).
"""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.pandas.types import from_arrow_schema

from batch.ab_stats import (
    Comparison,
    Cuped,
    Histogram,
    Proportion,
    Ratio,
    SampleMean,
    bootstrap_quantile,
    compare,
    cuped,
    holm,
    srm,
)
from batch.jobs import Job, JobContext, JobOutput
from playpulse.config import BatchSettings
from streaming.sketch import KEY_MULTIPLIER, KEY_OFFSET
from warehouse.quality import ab_readout as readout_quality
from warehouse.tables import AB_READOUT, SESSIONS

__all__ = ["AB_READOUT_JOB", "METRICS", "Metric", "build_ab_readout", "readout_rows"]

LOW_N = 100


@dataclass(frozen=True)
class Metric:
    """A readout metric: its name, kind, whether it is a QoE guardrail, and its per-member columns."""

    name: str
    kind: str  # mean | proportion | ratio | quantile
    guardrail: bool = False
    value: str = ""  # mean/proportion: member column; ratio: numerator column
    denominator: str = ""  # ratio: denominator column
    quantile: float = 0.0
    cuped: bool = False


METRICS: tuple[Metric, ...] = (
    Metric("watch_time_ms", "mean", value="watch_ms", cuped=True),
    Metric("sessions", "mean", value="sessions", cuped=True),
    Metric("completion_rate", "ratio", value="completions", denominator="sessions"),
    Metric("retention", "proportion", value="retained"),
    Metric("vst_p50_ms", "quantile", guardrail=True, quantile=0.5),
    Metric("vst_p95_ms", "quantile", guardrail=True, quantile=0.95),
    Metric("rebuffer_ratio", "ratio", guardrail=True, value="rebuffer_ms", denominator="stream_ms"),
    Metric("start_failure_rate", "ratio", guardrail=True, value="start_failures", denominator="attempts"),
)
_SESSION_COLUMNS = (
    "session_date",
    "user_id",
    "experiments",
    "playing_ms",
    "rebuffer_ms",
    "completed",
    "attempted",
    "started",
    "start_failure",
    "vst_ms",
)


def _member_values(exposed: DataFrame, run_date: dt.date) -> DataFrame:
    """One row per test × cell × member with the per-member values of every metric (integers)."""
    return (
        exposed.groupBy("test_id", "cell", "user_id")
        .agg(
            F.sum("playing_ms").alias("watch_ms"),
            F.count("*").alias("sessions"),
            F.sum(F.col("completed").cast("long")).alias("completions"),
            F.sum("rebuffer_ms").alias("rebuffer_ms"),
            (F.sum("playing_ms") + F.sum("rebuffer_ms")).alias("stream_ms"),
            F.sum(F.col("start_failure").cast("long")).alias("start_failures"),
            F.sum(F.col("attempted").cast("long")).alias("attempts"),
            F.min("session_date").alias("first_day"),
            F.countDistinct("session_date").alias("active_days"),
        )
        .withColumn(
            "retained",
            F.when(F.col("first_day") < F.lit(run_date), (F.col("active_days") > 1).cast("long")),
        )
    )


_EXACT = "decimal(38,0)"


def _sum(column: Column) -> Column:
    """An exact sum (DECIMAL): sums of squares overflow BIGINT and lose bits as DOUBLE, order-dependently."""
    return F.sum(column.cast(_EXACT))


def _cell_summaries(members: DataFrame) -> list[dict[str, Any]]:
    """Σ, Σ², cross products per test × cell (one small row each, exact), collected to the driver."""
    c = F.col
    aggs = [F.count("*").alias("n")]
    for column in (
        "watch_ms",
        "sessions",
        "completions",
        "rebuffer_ms",
        "stream_ms",
        "start_failures",
        "attempts",
    ):
        aggs += [_sum(c(column)).alias(f"{column}__s"), _sum(c(column) * c(column)).alias(f"{column}__ss")]
    for m, d in (("completions", "sessions"), ("rebuffer_ms", "stream_ms"), ("start_failures", "attempts")):
        aggs.append(_sum(c(m) * c(d)).alias(f"{m}__x__{d}"))
    for column in ("watch_ms", "sessions"):
        pre = f"pre_{column}"
        aggs += [
            _sum(c(pre)).alias(f"{pre}__s"),
            _sum(c(pre) * c(pre)).alias(f"{pre}__ss"),
            _sum(c(pre) * c(column)).alias(f"{column}__x__{pre}"),
        ]
    aggs += [F.count("retained").alias("retained__n"), _sum(c("retained")).alias("retained__s")]
    rows = members.groupBy("test_id", "cell").agg(*aggs).collect()
    return [
        {k: (float(v) if isinstance(v, decimal.Decimal) else v) for k, v in r.asDict().items()} for r in rows
    ]


def _vst_histograms(exposed: DataFrame) -> dict[tuple[str, str], Histogram]:
    """DDSketch-bin histograms of start-up times of started sessions, per test × cell."""
    vst = F.col("vst_ms").cast("double")
    key = (F.ceil(F.log2(vst) * F.lit(KEY_MULTIPLIER)) + F.lit(KEY_OFFSET)).cast("int")
    rows = (
        exposed.filter(F.col("started") & (F.col("vst_ms") > 0))
        .groupBy("test_id", "cell", key.alias("key"))
        .count()
        .collect()
    )
    by_cell: dict[tuple[str, str], list[tuple[int, int]]] = {}
    for row in rows:
        by_cell.setdefault((row["test_id"], row["cell"]), []).append((row["key"], row["count"]))
    out = {}
    for cell, pairs in by_cell.items():
        pairs.sort()
        out[cell] = Histogram(
            np.array([k for k, _ in pairs]), np.array([c for _, c in pairs], dtype=np.float64)
        )
    return out


def build_ab_readout(ctx: JobContext) -> JobOutput:
    """Readout rows of every test running on the run date."""
    day = ctx.run_date
    batch = ctx.settings.batch
    first = day - dt.timedelta(days=batch.max_test_days + batch.pre_period_days)
    history = ctx.published(SESSIONS, first, day - dt.timedelta(days=1), _SESSION_COLUMNS)
    sessions = history.unionByName(ctx.output("sessions").select(*_SESSION_COLUMNS)).cache()
    exposures = sessions.select("*", F.explode("experiments").alias("test_id", "cell")).drop("experiments")
    spans = exposures.groupBy("test_id").agg(
        F.min("session_date").alias("start_date"), F.max("session_date").alias("last_date")
    )
    start_dates = {r["test_id"]: r["start_date"] for r in spans.collect() if r["last_date"] == day}
    if not start_dates:
        empty = ctx.spark.createDataFrame([], from_arrow_schema(AB_READOUT.arrow_schema))
        return JobOutput(empty, facts={"tests": 0, "metrics": len(METRICS), "expected_rows": 0})
    running = sorted(start_dates)
    exposures = exposures.filter(F.col("test_id").isin(running))
    starts = ctx.spark.createDataFrame(
        [(t, d) for t, d in start_dates.items()], "test_id string, start_date date"
    )
    # Members seen in more than one cell of a test are left out (and counted in the notes).
    cells_per_member = exposures.groupBy("test_id", "user_id").agg(F.countDistinct("cell").alias("cells"))
    mixed = cells_per_member.filter(F.col("cells") > 1).select("test_id", "user_id").cache()
    mixed_counts = {r["test_id"]: r["count"] for r in mixed.groupBy("test_id").count().collect()}
    exposed = exposures.join(mixed, ["test_id", "user_id"], "left_anti").cache()
    members = _member_values(exposed, day)
    pre = (
        sessions.join(F.broadcast(starts), how="cross")
        .filter(
            (F.col("session_date") < F.col("start_date"))
            & (F.col("session_date") >= F.date_sub(F.col("start_date"), batch.pre_period_days))
        )
        .groupBy("test_id", "user_id")
        .agg(F.sum("playing_ms").alias("pre_watch_ms"), F.count("*").alias("pre_sessions"))
    )
    members = members.join(pre, ["test_id", "user_id"], "left").fillna(0, ["pre_watch_ms", "pre_sessions"])
    summaries = _cell_summaries(members)
    histograms = _vst_histograms(exposed)
    # CUPED needs a pre-period: published sessions before the test's first day.
    has_pre = {t: sum(s["pre_sessions__s"] for s in summaries if s["test_id"] == t) > 0 for t in running}
    table = readout_rows(day, summaries, histograms, batch, mixed_counts, start_dates, has_pre)
    facts = {
        "tests": len(running),
        "cells": sum(len({s["cell"] for s in summaries if s["test_id"] == t}) for t in running),
        "metrics": len(METRICS),
        "expected_rows": len(METRICS) * len(summaries),
        "exposed_members": int(sum(s["n"] for s in summaries)),
    }
    return JobOutput(ctx.spark.createDataFrame(table), facts=facts)


def _statistic(metric: Metric, s: Mapping[str, Any]) -> SampleMean | Proportion | Ratio:
    if metric.kind == "mean":
        return SampleMean(int(s["n"]), s[f"{metric.value}__s"], s[f"{metric.value}__ss"])
    if metric.kind == "proportion":
        return Proportion(int(s[f"{metric.value}__n"]), s[f"{metric.value}__s"] or 0.0)
    m, d = metric.value, metric.denominator
    return Ratio(int(s["n"]), s[f"{m}__s"], s[f"{m}__ss"], s[f"{d}__s"], s[f"{d}__ss"], s[f"{m}__x__{d}"])


def _cuped_summary(metric: Metric, s: Mapping[str, Any]) -> Cuped:
    y, x = metric.value, f"pre_{metric.value}"
    return Cuped(int(s["n"]), s[f"{y}__s"], s[f"{y}__ss"], s[f"{x}__s"], s[f"{x}__ss"], s[f"{y}__x__{x}"])


def _control(cells: list[str], planned: Mapping[str, float] | None) -> str:
    if "control" in cells:
        return "control"
    if planned:
        return next(iter(planned))
    return sorted(cells)[0]


def _num(value: float | None) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)


def readout_rows(
    run_date: dt.date,
    summaries: list[dict[str, Any]],
    histograms: Mapping[tuple[str, str], Histogram],
    batch: BatchSettings,
    mixed: Mapping[str, int] | None = None,
    start_dates: Mapping[str, dt.date] | None = None,
    has_pre_period: Mapping[str, bool] | None = None,
) -> pa.Table:
    """The ab_readout rows from per-cell summary rows and VST histograms (pure: no Spark, no I/O)."""
    rows: list[dict[str, Any]] = []
    by_test: dict[str, dict[str, dict[str, Any]]] = {}
    for s in summaries:
        by_test.setdefault(s["test_id"], {})[s["cell"]] = s
    for test_id, cells in sorted(by_test.items()):
        planned = batch.experiments.get(test_id)
        control = _control(list(cells), planned)
        weights = dict(planned) if planned else {c: 1.0 for c in sorted(cells)}
        check = srm({c: int(s["n"]) for c, s in cells.items() if c in weights}, weights, batch.srm_threshold)
        unplanned = [c for c in cells if c not in weights]
        test_notes = []
        if check.flagged:
            test_notes.append(
                f"SRM: members per cell {check.observed} do not match the planned split "
                f"(chi-square p = {check.p_value:.2g} < {batch.srm_threshold}); do not trust this readout"
            )
        if unplanned:
            test_notes.append(f"cells {unplanned} are not in the planned split")
        if mixed and mixed.get(test_id):
            test_notes.append(f"{mixed[test_id]} members seen in more than one cell were left out")
        treatments = [c for c in sorted(cells) if c != control]
        test_rows: list[dict[str, Any]] = []
        for metric in METRICS:
            for cell in [control, *treatments]:
                if cell not in cells:
                    continue
                summary = cells[cell]
                row: dict[str, Any] = {
                    "run_date": run_date,
                    "test_id": test_id,
                    "metric": metric.name,
                    "cell": cell,
                    "is_control": cell == control,
                    "is_guardrail": metric.guardrail,
                    "srm_p_value": check.p_value,
                    "srm_flag": check.flagged,
                    "method": "control",
                }
                notes: list[str] = []
                comparison: Comparison | None = None
                if metric.kind == "quantile":
                    hist = histograms.get((test_id, cell), Histogram(np.array([], int), np.array([])))
                    row.update(
                        n=hist.n, mean=hist.quantile(metric.quantile) if hist.n else None, variance=None
                    )
                    if cell != control:
                        base = histograms.get((test_id, control), Histogram(np.array([], int), np.array([])))
                        if hist.n and base.n:
                            seed = _seed(test_id, metric.name, cell)
                            comparison = bootstrap_quantile(
                                base,
                                hist,
                                metric.quantile,
                                confidence=batch.confidence,
                                replicates=batch.bootstrap_replicates,
                                seed=seed,
                            ).comparison
                    n = hist.n
                else:
                    statistic = _statistic(metric, summary)
                    row.update(n=statistic.n, mean=_num(statistic.mean), variance=_num(statistic.variance))
                    if cell != control:
                        comparison = compare(_statistic(metric, cells[control]), statistic, batch.confidence)
                        if metric.cuped and (has_pre_period or {}).get(test_id, True):
                            adjusted = cuped(
                                _cuped_summary(metric, cells[control]),
                                _cuped_summary(metric, summary),
                                batch.confidence,
                            )
                            if adjusted is not None:
                                row.update(
                                    cuped_delta_abs=adjusted.delta_abs,
                                    cuped_delta_rel=_num(adjusted.delta_rel),
                                    cuped_ci_low_abs=adjusted.ci_low_abs,
                                    cuped_ci_high_abs=adjusted.ci_high_abs,
                                    cuped_p_value=adjusted.p_value,
                                )
                    n = statistic.n
                if n < LOW_N:
                    notes.append(f"low n ({n} < {LOW_N}): wide intervals")
                if comparison is not None:
                    row.update(
                        delta_abs=_num(comparison.delta_abs),
                        delta_rel=_num(comparison.delta_rel),
                        ci_low_abs=_num(comparison.ci_low_abs),
                        ci_high_abs=_num(comparison.ci_high_abs),
                        ci_low_rel=_num(comparison.ci_low_rel),
                        ci_high_rel=_num(comparison.ci_high_rel),
                        p_value=_num(comparison.p_value),
                        method=comparison.method,
                    )
                    if metric.guardrail and comparison.ci_low_abs > 0:
                        notes.append("guardrail breach: significantly worse than control")
                elif cell != control:
                    row["method"] = "insufficient data"
                row["_notes"] = notes
                test_rows.append(row)
        comparisons = [r for r in test_rows if not r["is_control"]]
        adjusted_p = holm(
            [r.get("p_value") if r.get("p_value") is not None else math.nan for r in comparisons]
        )
        significant = sum(1 for r in comparisons if (r.get("p_value") or 1) < 1 - batch.confidence)
        still = sum(1 for p in adjusted_p if not math.isnan(p) and p < 1 - batch.confidence)
        multiple = (
            f"{len(comparisons)} comparisons: {significant} significant at {1 - batch.confidence:.0%} "
            f"before and {still} after Holm adjustment (p_value_adjusted)"
        )
        for r, p in zip(comparisons, adjusted_p, strict=True):
            r["p_value_adjusted"] = _num(p)
        start = (start_dates or {}).get(test_id)
        for r in test_rows:
            notes = [*test_notes, *r.pop("_notes")]
            if not r["is_control"]:
                notes.append(multiple)
            elif start is not None:
                notes.append(f"test data from {start} to {run_date}")
            r["notes"] = "; ".join(notes) if notes else None
            rows.append(r)
    if not rows:
        return AB_READOUT.arrow_schema.empty_table()
    columns = {c.name: [r.get(c.name) for r in rows] for c in AB_READOUT.columns}
    return AB_READOUT.conform(
        pa.table({k: pa.array(v, AB_READOUT.column(k).type.arrow) for k, v in columns.items()})
    )


def _seed(*parts: str) -> int:
    """A bootstrap seed per (test, metric, cell): reproducible across runs and partitionings."""
    return int.from_bytes(hashlib.blake2b(":".join(parts).encode(), digest_size=8).digest(), "big")


AB_READOUT_JOB = Job("ab_readout", AB_READOUT, build_ab_readout, readout_quality.expectations)
