"""Benchmark: demand forecast accuracy and fill-plan offload against LRU and the oracle, several nights.

`python -m bench.forecast` (`make bench-forecast`) → `bench/results/forecast.json`:

1. simulates `HISTORY_DAYS + COMMISSIONING_NIGHTS + NIGHTS + 1` days (100,000 members and 1,500
   titles at scale 1; both scaled by PLAYPULSE_BENCH_SCALE, titles at least 150), publishes the
   sessions to a private DuckDB warehouse and the world's catalogue beside it;
2. runs the two nightly jobs (demand_forecast, then oca_fill_plan) through the nightly runner
   (staged, validated with their GX suites, published) for `COMMISSIONING_NIGHTS + NIGHTS`
   consecutive nights, timing each job;
3. scores every night's plan on the next day's actual requests against an LRU cache of the same
   disk (no prefetch; its disk carries over from night to night, warmed on every day of the
   history, so it starts in its steady state) and the perfect-foresight oracle under the same disk
   and fill budget, starting from the same holdings. The first night commissions every appliance
   (an initial load: budget = disk, for plan and oracle alike); it is replayed, so LRU stays in
   step, and reported apart (`commissioning_nights`), not in the scored figures: like LRU, the
   plan is scored in its steady state, where the fill window binds.

Sizes, and why. Appliance disks and fill rates are scaled by `DISK_SCALE` (0.05: storage 1.8–6 TB,
flash 0.1–0.4 TB, fill budgets 324 / 81 GB a night) because the simulated catalogue (~20 TB) fits on
every real-sized storage appliance, where every policy would reach ~100%. The members are sized so
each appliance's traffic is in proportion to that disk: with 100,000 members an appliance serves
~900 sessions (~1.5 TB, ~270 distinct titles) a day, a few days' worth fill its disk, and a
night's fill carries about a fifth of a day's traffic. With 5,000 members (the earlier default)
an appliance saw ~46 sessions a day (65 GB: its disk held 55 days of traffic, its fill window 5
days' worth), half of the bytes were titles requested once that day, and the oracle's lead was
mostly which tail titles happened to be asked for. The oracle, offload and the scoring are
unchanged by this choice.

What no forecast can do, measured (`batch.fill_bounds`). Requests of a title on an appliance are
Poisson in the simulator, so part of the oracle's lead is which tail titles a day happens to ask
for. Each night the fill job's planner is also fed the simulator's true mean bytes per appliance ×
title (`ExpectedDemandArm`, its own holdings night to night): oracle − that plan is chance, that
plan − the job's plan is what the forecast costs. Both plans are then also scored on days of
requests drawn from the simulator's means at `TRAFFIC_MULTIPLES` × the simulated traffic, against
the oracle from the same holdings: at 1× a second sample of the day (it checks the draws against
the replayed sessions), above it how the gap closes when each appliance serves more requests than
this machine can simulate (the plans are not refitted on the denser history).

Figures: backtest MASE (median and mean per series) and MAE ÷ seasonal-naive MAE pooled over series
(target < 1); offload of plan, LRU and oracle over all scored days (bytes-weighted) and per day,
with plan − LRU and oracle − plan in points; traffic density (sessions, titles and bytes per
appliance and day), the oracle's lead split into titles requested once and more often that day,
how often disk and fill budget bind; the plan fed the true means and its oracle
(`offload_expected_demand_*`, `expected_plan_minus_plan_pts`, `oracle_minus_expected_plan_pts`) and
both plans at each traffic multiple (`by_traffic_multiple`); mean seconds per night of each job.
"""

from __future__ import annotations

import datetime as dt
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from rich.console import Console

from batch import catalogue as catalogue_mod
from batch.cache_sim import CacheResult, LruCache
from batch.demand import demand_job
from batch.fill_bounds import RequestBytes, draw_bytes, expected_demand, score_static
from batch.fill_evaluation import evaluate_plan, holdings, load_plan, load_requests, warm_lru
from batch.fill_job import FillOptions, fill_job, plan_appliances, plan_candidates, release_dates
from batch.jobs import day_start_ms
from batch.runner import run_date
from bench.common import scaled, write_results
from ingest.simulator import DEFAULT_START_MS, SimulationConfig, World
from ingest.simulator.expected import expected_requests
from ingest.simulator.model import Model
from playpulse.config import load_settings
from playpulse.resources import open_configured_warehouse
from warehouse.tables import SESSIONS

HISTORY_DAYS = 28
NIGHTS = 5
#: Unscored nights before the scored ones: the first commissions every appliance (initial load).
COMMISSIONING_NIGHTS = 1
DISK_SCALE = 0.05
WARMUP_DAYS = HISTORY_DAYS
USERS = 100_000
TITLES = 1_500
#: Multiples of the simulated day's traffic the plans are also scored on (requests drawn from the
#: simulator's means, `batch.fill_bounds`).
TRAFFIC_MULTIPLES = (1, 4, 16)
_DAY_MS = 86_400_000


class ExpectedDemandArm:
    """The fill planner fed the simulator's true mean bytes per appliance × title (`batch.fill_bounds`).

    Keeps its own holdings from night to night (its first night is an initial load, like the job's),
    and draws days of requests at multiples of the simulated traffic.
    """

    def __init__(
        self, config: SimulationConfig, catalogue: catalogue_mod.Catalogue, sessions: pa.Table, last: dt.date
    ) -> None:
        world = World(config)
        self.model = Model(config, world)
        self.catalogue = catalogue
        self.oca_ids = list(world.oca_ids)
        self.title_ids = [str(t) for t in world.title_ids.to_pylist()]
        self.regions = dict(zip(catalogue.appliances["oca_id"], catalogue.appliances["region"], strict=True))
        self.sizes = catalogue.sizes
        self.releases = release_dates(catalogue)
        # Bytes of a played request and the share of requests that play, from the history up to `last`.
        served = sessions.filter(
            pc.and_(pc.less_equal(sessions["session_date"], last), pc.is_valid(sessions["oca_id"]))
        )
        played = served.filter(
            pc.and_(pc.greater(served["playing_ms"], 0), pc.is_valid(served["avg_bitrate_kbps"]))
        )
        self.played_share = played.num_rows / served.num_rows
        frame = pd.DataFrame(
            {
                "content_duration_ms": played["content_duration_ms"].to_numpy(),
                "bytes": played["playing_ms"].to_numpy() * played["avg_bitrate_kbps"].to_numpy() / 8,
            }
        )
        durations = catalogue.titles.set_index("title_id").loc[self.title_ids, "duration_ms"].to_numpy()
        self.request_bytes = RequestBytes.fit(frame, durations)
        self.held: pd.DataFrame | None = None

    def means(self, day: dt.date) -> np.ndarray:
        """Expected requests per appliance × title on `day`."""
        start = day_start_ms(day)
        return expected_requests(self.model, start, start + _DAY_MS)

    def plan(self, night: dt.date, means: np.ndarray) -> pd.DataFrame:
        """Tonight's plan rows, planned exactly as the fill job plans, on the true means."""
        served = night + dt.timedelta(days=1)
        demand = expected_demand(
            means, self.played_share, self.request_bytes, self.oca_ids, self.title_ids, self.regions
        )
        due = {t: d.isoformat() for t, d in self.releases.items() if d == served}
        popularity = pd.Series(means.sum(axis=0), index=self.title_ids)
        held = self.held if self.held is not None else pd.DataFrame({"oca_id": [], "title_id": []})
        commissioning = set(self.catalogue.appliances["oca_id"]) if self.held is None else set()
        candidates = plan_candidates(
            demand, held, self.catalogue, due, commissioning, popularity, day_start_ms(served) + _DAY_MS
        )
        rows = plan_appliances(candidates, due)
        self.held = rows[rows["action"].isin(["hold", "fill"])][["oca_id", "title_id"]]
        return rows

    def draws(
        self, means: np.ndarray, plans: dict[str, pd.DataFrame], rng: np.random.Generator
    ) -> dict[int, dict[str, tuple[CacheResult, CacheResult]]]:
        """Per traffic multiple, per plan: (plan, oracle from its holdings) on one drawn day."""
        kept = {name: holdings(rows) for name, rows in plans.items()}
        out: dict[int, dict[str, tuple[CacheResult, CacheResult]]] = {}
        for multiple in TRAFFIC_MULTIPLES:
            day = draw_bytes(means, self.played_share, self.request_bytes, multiple, rng)
            out[multiple] = {
                name: score_static(
                    day, stored, held, self.catalogue.appliances, self.oca_ids, self.title_ids, self.sizes
                )
                for name, (stored, held) in kept.items()
            }
        return out


def main() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.batch.simulated_history import simulated_sessions

    users = scaled(USERS)
    titles = max(150, scaled(TITLES))
    days = HISTORY_DAYS + COMMISSIONING_NIGHTS + NIGHTS + 1
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
            nights = [
                first + dt.timedelta(days=HISTORY_DAYS - 1 + n) for n in range(COMMISSIONING_NIGHTS + NIGHTS)
            ]
            expected_arm = ExpectedDemandArm(config, scaled_catalogue, sessions, nights[0])
            expected_totals = {"plan": CacheResult(), "oracle": CacheResult()}
            drawn: dict[int, dict[str, list[CacheResult]]] = {
                k: {name: [CacheResult()] * 2 for name in ("plan", "expected")} for k in TRAFFIC_MULTIPLES
            }
            rng = np.random.default_rng(config.seed)
            lru: dict[str, LruCache] = {}
            for k in range(WARMUP_DAYS, 0, -1):
                warm = load_requests(wh, nights[0] - dt.timedelta(days=k - 1))
                warm_lru(lru, warm, scaled_catalogue)
            timings: dict[str, list[float]] = {"demand_forecast": [], "oca_fill_plan": []}
            totals = {"plan": CacheResult(), "lru": CacheResult(), "oracle": CacheResult()}
            per_day = []
            commissioning: list[dict[str, object]] = []
            by_kind: dict[str, dict[str, float]] = {}
            by_model: dict[str, list[float]] = {}
            scored_rows = []
            mase, ratio_num, ratio_den = [], 0.0, 0.0
            for index, night in enumerate(nights):
                report = run_date(settings, night, wh, jobs=jobs, console=console)
                for job in report.jobs:
                    timings[job.job].append(job.seconds)
                served = night + dt.timedelta(days=1)
                plan_rows, requests = load_plan(wh, night), load_requests(wh, served)
                evaluation = evaluate_plan(plan_rows, requests, scaled_catalogue, served, lru=lru)
                means = expected_arm.means(served)
                expected_rows = expected_arm.plan(night, means)
                if index < COMMISSIONING_NIGHTS:
                    # Replayed so LRU's disk stays in step; reported apart, not in the scored figures.
                    commissioning.append(
                        {
                            "day": served.isoformat(),
                            "plan": round(evaluation.plan.offload, 4),
                            "lru": round(evaluation.lru.offload, 4),
                            "oracle": round(evaluation.oracle.offload, 4),
                        }
                    )
                    console.log(f"{served} (commissioning night, not scored): {commissioning[-1]}")
                    continue
                expected = evaluate_plan(expected_rows, requests, scaled_catalogue, served)
                expected_totals = {
                    "plan": expected_totals["plan"] + expected.plan,
                    "oracle": expected_totals["oracle"] + expected.oracle,
                }
                for k, scores in expected_arm.draws(
                    means, {"plan": plan_rows, "expected": expected_rows}, rng
                ).items():
                    for name, pair in scores.items():
                        drawn[k][name] = [a + b for a, b in zip(drawn[k][name], pair, strict=True)]
                console.log(
                    f"{served}: plan fed the true means {expected.plan.offload:.4f} "
                    f"(its oracle {expected.oracle.offload:.4f})"
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
                scored_rows.append(scored)
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
            gap = _gap_figures(pd.concat(scored_rows, ignore_index=True))
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
                # The plan fed the simulator's true means: the best any forecast can do in expectation.
                "offload_expected_demand_plan": round(expected_totals["plan"].offload, 4),
                "offload_expected_demand_oracle": round(expected_totals["oracle"].offload, 4),
                "expected_plan_minus_plan_pts": round(
                    100 * (expected_totals["plan"].offload - totals["plan"].offload), 2
                ),
                "oracle_minus_expected_plan_pts": round(
                    100 * (expected_totals["oracle"].offload - expected_totals["plan"].offload), 2
                ),
                "by_traffic_multiple": [
                    {
                        "multiple": k,
                        "plan": round(v["plan"][0].offload, 4),
                        "oracle": round(v["plan"][1].offload, 4),
                        "oracle_minus_plan_pts": round(
                            100 * (v["plan"][1].offload - v["plan"][0].offload), 2
                        ),
                        "expected_demand_plan": round(v["expected"][0].offload, 4),
                        "expected_demand_oracle": round(v["expected"][1].offload, 4),
                        "oracle_minus_expected_plan_pts": round(
                            100 * (v["expected"][1].offload - v["expected"][0].offload), 2
                        ),
                    }
                    for k, v in drawn.items()
                ],
                "offload_per_day": per_day,
                "commissioning_nights": commissioning,
                **gap,
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


def _gap_figures(scored: pd.DataFrame) -> dict[str, object]:
    """Traffic density, where the oracle's lead comes from, and what binds, over the scored days.

    Points are of all bytes requested; "binds" = the share of appliance-days whose stored or filled
    bytes reach 95% of the disk or the fill budget.
    """
    requested = float(scored["bytes_requested"].sum())
    active = scored[scored["requests"] > 0]

    def points(column: str) -> float:
        return round(100 * float(scored[column].sum()) / requested, 2) if requested else 0.0

    def binds(used: str, limit: str) -> float:
        return round(float((active[used] >= 0.95 * active[limit]).mean()), 3) if len(active) else 0.0

    return {
        "sessions_per_appliance_day_mean": round(float(active["requests"].mean()), 1),
        "sessions_per_appliance_day_median": float(active["requests"].median()),
        "titles_per_appliance_day_mean": round(float(active["titles_requested"].mean()), 1),
        "bytes_per_appliance_day_gb_mean": round(float(active["bytes_requested"].mean()) / 1e9, 1),
        "oracle_lead_titles_requested_once_pts": points("oracle_only_once_bytes"),
        "oracle_lead_titles_requested_more_pts": points("oracle_only_repeat_bytes"),
        "disk_binds_plan": binds("plan_stored_bytes", "capacity_bytes"),
        "disk_binds_oracle": binds("oracle_stored_bytes", "capacity_bytes"),
        "fill_budget_binds_plan": binds("plan_fill_bytes", "fill_budget_bytes"),
        "fill_budget_binds_oracle": binds("oracle_fill_bytes", "fill_budget_bytes"),
    }


if __name__ == "__main__":
    main()
