"""Benchmark: demand forecast accuracy and fill-plan offload against LRU and the oracle, several nights.

`python -m bench.forecast` (`make bench-forecast`) → `bench/results/forecast.json`:

1. simulates `HISTORY_DAYS + NIGHTS + 1` days (5,000 members and 1,500 titles at scale 1; both
   scaled by PLAYPULSE_BENCH_SCALE, titles at least 150), publishes the sessions to a private
   DuckDB warehouse and the world's catalogue beside it;
2. runs the two nightly jobs (demand_forecast, then oca_fill_plan) through the nightly runner
   (staged, validated with their GX suites, published) for `NIGHTS` consecutive nights, timing
   each job;
3. scores every night's plan on the next day's actual requests against an LRU cache of the same
   disk (no prefetch; its disk carries over from night to night, warmed on every day of the
   history, so it starts in its steady state) and the perfect-foresight oracle under the same disk
   and fill budget.

Appliance disks and fill rates are scaled by `DISK_SCALE` (0.05: storage 1.8–6 TB, flash
0.1–0.4 TB, fill budgets 324 / 81 GB a night) because the simulated catalogue (~20 TB) fits on
every real-sized storage appliance, where every policy would reach ~100%. Figures: backtest MASE
(median and mean per series) and MAE ÷ seasonal-naive MAE pooled over series (target < 1); offload
of plan, LRU and oracle over all scored days (bytes-weighted) and per day, with plan − LRU and
oracle − plan in points; mean seconds per night of each job.
"""

from __future__ import annotations

import datetime as dt
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.compute as pc
from rich.console import Console

from batch import catalogue as catalogue_mod
from batch.cache_sim import CacheResult, LruCache
from batch.demand import demand_job
from batch.fill_evaluation import evaluate_plan, load_plan, load_requests, warm_lru
from batch.fill_job import FillOptions, fill_job
from batch.runner import run_date
from bench.common import scaled, write_results
from ingest.simulator import DEFAULT_START_MS, SimulationConfig, World
from playpulse.config import load_settings
from playpulse.resources import open_configured_warehouse
from warehouse.tables import SESSIONS

HISTORY_DAYS = 28
NIGHTS = 5
DISK_SCALE = 0.05
WARMUP_DAYS = HISTORY_DAYS


def main() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.batch.simulated_history import simulated_sessions

    users = scaled(5_000)
    titles = max(150, scaled(1_500))
    days = HISTORY_DAYS + NIGHTS + 1
    first = dt.datetime.fromtimestamp(DEFAULT_START_MS / 1000, dt.UTC).date()
    config = SimulationConfig(seed=11, users=users, titles=titles, days=days)
    console = Console(stderr=True)
    with tempfile.TemporaryDirectory(prefix="playpulse-bench-forecast-") as tmp:
        settings = load_settings(data_dir=Path(tmp))
        started = time.perf_counter()
        sessions = simulated_sessions(config)
        simulate_s = time.perf_counter() - started
        console.log(f"simulated {sessions.num_rows:,} sessions over {days} days in {simulate_s:.0f} s")
        catalogue = catalogue_mod.Catalogue.from_world(World(config))
        catalogue_mod.publish(catalogue_mod.catalogue_dir(settings.data_dir), catalogue)
        scaled_catalogue = catalogue.scaled(DISK_SCALE)
        jobs = [demand_job(), fill_job(FillOptions(disk_scale=DISK_SCALE))]
        figures: dict[str, object] = {}
        with open_configured_warehouse(settings, attach_lake=False) as wh:
            dates = sessions.column("session_date")
            for k in range(days):
                day = first + dt.timedelta(days=k)
                wh.replace_partition(SESSIONS, sessions.filter(pc.equal(dates, day)), "session_date", day)
            nights = [first + dt.timedelta(days=HISTORY_DAYS - 1 + n) for n in range(NIGHTS)]
            lru: dict[str, LruCache] = {}
            for k in range(WARMUP_DAYS, 0, -1):
                warm = load_requests(wh, nights[0] - dt.timedelta(days=k - 1))
                warm_lru(lru, warm, scaled_catalogue)
            timings: dict[str, list[float]] = {"demand_forecast": [], "oca_fill_plan": []}
            totals = {"plan": CacheResult(), "lru": CacheResult(), "oracle": CacheResult()}
            per_day = []
            by_kind: dict[str, dict[str, float]] = {}
            by_model: dict[str, list[float]] = {}
            mase, ratio_num, ratio_den = [], 0.0, 0.0
            for night in nights:
                report = run_date(settings, night, wh, jobs=jobs, console=console)
                for job in report.jobs:
                    timings[job.job].append(job.seconds)
                served = night + dt.timedelta(days=1)
                evaluation = evaluate_plan(
                    load_plan(wh, night), load_requests(wh, served), scaled_catalogue, served, lru=lru
                )
                totals = {
                    "plan": totals["plan"] + evaluation.plan,
                    "lru": totals["lru"] + evaluation.lru,
                    "oracle": totals["oracle"] + evaluation.oracle,
                }
                per_day.append(
                    {
                        "day": served.isoformat(),
                        "plan": round(evaluation.plan.offload, 4),
                        "lru": round(evaluation.lru.offload, 4),
                        "oracle": round(evaluation.oracle.offload, 4),
                    }
                )
                console.log(f"{served}: {per_day[-1]}")
                scored = evaluation.per_appliance
                for kind, group in scored.groupby("kind"):
                    sums = by_kind.setdefault(
                        kind, {"requested": 0.0, "plan": 0.0, "lru": 0.0, "oracle": 0.0}
                    )
                    sums["requested"] += float(group["bytes_requested"].sum())
                    for name in ("plan", "lru", "oracle"):
                        sums[name] += float((group[f"{name}_offload"] * group["bytes_requested"]).sum())
                accuracy = wh.query(
                    "SELECT DISTINCT title_id, region, model, backtest_mase, backtest_mae_hours, "
                    "backtest_snaive_mae_hours FROM demand_forecast "
                    "WHERE run_date = $d AND backtest_mae_hours IS NOT NULL",
                    {"d": night},
                ).to_pandas()
                mase += accuracy["backtest_mase"].dropna().tolist()
                scaled_rows = accuracy.dropna(subset=["backtest_mase"])
                scaled_rows = scaled_rows[scaled_rows["backtest_mase"] > 0]
                for model, group in scaled_rows.groupby("model"):
                    sums = by_model.setdefault(model, [0.0, 0.0, 0])
                    sums[0] += float(group["backtest_mae_hours"].sum())
                    sums[1] += float((group["backtest_mae_hours"] / group["backtest_mase"]).sum())
                    sums[2] += len(group)
                ratio_num += float(accuracy["backtest_mae_hours"].sum())
                ratio_den += float(accuracy["backtest_snaive_mae_hours"].sum())
            figures = {
                "users": users,
                "titles": titles,
                "sessions": sessions.num_rows,
                "history_days": HISTORY_DAYS,
                "nights": NIGHTS,
                "disk_scale": DISK_SCALE,
                "appliances": len(catalogue.appliances),
                "catalogue_tb": round(catalogue.catalogue_bytes / 1e12, 2),
                "mase_median": round(statistics.median(mase), 4) if mase else None,
                "mase_mean": round(statistics.fmean(mase), 4) if mase else None,
                "series_backtested": len(mase),
                # Σ MAE ÷ Σ in-sample seasonal-naive MAE: MASE with every series weighted by its scale.
                "mase_pooled": round(
                    sum(v[0] for v in by_model.values()) / sum(v[1] for v in by_model.values()), 4
                )
                if by_model
                else None,
                "mase_pooled_by_model": {m: round(v[0] / v[1], 4) for m, v in by_model.items() if v[1] > 0},
                "series_by_model": {m: int(v[2]) for m, v in by_model.items()},
                "mae_ratio_vs_seasonal_naive": round(ratio_num / ratio_den, 4) if ratio_den else None,
                "offload_plan": round(totals["plan"].offload, 4),
                "offload_lru": round(totals["lru"].offload, 4),
                "offload_oracle": round(totals["oracle"].offload, 4),
                "plan_minus_lru_pts": round(100 * (totals["plan"].offload - totals["lru"].offload), 2),
                "oracle_minus_plan_pts": round(100 * (totals["oracle"].offload - totals["plan"].offload), 2),
                "ratio_plan_vs_lru": round(totals["plan"].offload / totals["lru"].offload, 3)
                if totals["lru"].offload
                else None,
                "offload_per_day": per_day,
                "offload_by_kind": {
                    kind: {
                        name: round(sums[name] / sums["requested"], 4) for name in ("plan", "lru", "oracle")
                    }
                    for kind, sums in by_kind.items()
                    if sums["requested"] > 0
                },
                "demand_forecast_s": round(statistics.fmean(timings["demand_forecast"]), 1),
                "oca_fill_plan_s": round(statistics.fmean(timings["oca_fill_plan"]), 1),
                "simulate_s": round(simulate_s, 1),
                "spark_master": os.environ.get("PLAYPULSE_BATCH__SPARK_MASTER", "local[*]"),
            }
    write_results("forecast", figures)


if __name__ == "__main__":
    main()
