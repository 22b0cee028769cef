"""demand_forecast and oca_fill_plan end to end on a small simulated history, through the nightly runner.

Three weeks of simulated sessions (`simulated_history`, published to a DuckDB warehouse) → the two
jobs for two consecutive nights (staged, validated with their GX suites, published) → the plan
scored on the next day's actual requests.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from rich.console import Console

from batch import catalogue as catalogue_mod
from batch.demand import demand_job
from batch.fill_evaluation import evaluate_plan, load_plan, load_requests
from batch.fill_job import FillOptions, fill_job
from batch.runner import run_date
from ingest.simulator import SimulationConfig, World
from playpulse.config import Settings, load_settings
from playpulse.resources import open_configured_warehouse
from tests.batch.simulated_history import simulated_sessions
from warehouse.base import Warehouse
from warehouse.quality import demand_forecast as demand_quality
from warehouse.quality import oca_fill_plan as fill_quality
from warehouse.quality import validate
from warehouse.tables import DEMAND_FORECAST, OCA_FILL_PLAN, SESSIONS

pytestmark = pytest.mark.integration

DAYS = 26
FIRST = dt.date(2025, 1, 6)
NIGHT = FIRST + dt.timedelta(days=20)  # three weeks of history
DISK_SCALE = 0.005  # 80 titles (~1.1 TB) against appliances scaled to 0.18-0.6 TB storage


@dataclass
class History:
    settings: Settings
    warehouse: Warehouse
    catalogue: catalogue_mod.Catalogue


@pytest.fixture(scope="module")
def history(spark, tmp_path_factory: pytest.TempPathFactory) -> Iterator[History]:
    settings = load_settings(data_dir=tmp_path_factory.mktemp("fill"))
    config = SimulationConfig(seed=3, users=250, titles=80, days=DAYS, releases_per_day=1.0)
    catalogue = catalogue_mod.Catalogue.from_world(World(config))
    catalogue_mod.publish(catalogue_mod.catalogue_dir(settings.data_dir), catalogue)
    rows = simulated_sessions(config)
    warehouse = open_configured_warehouse(settings, attach_lake=False)
    dates = rows.column("session_date")
    for k in range(DAYS):
        day = FIRST + dt.timedelta(days=k)
        warehouse.replace_partition(SESSIONS, rows.filter(pc.equal(dates, day)), "session_date", day)
    yield History(settings, warehouse, catalogue.scaled(DISK_SCALE))
    warehouse.close()


@pytest.fixture(scope="module")
def nights(history: History) -> list[dt.date]:
    jobs = [demand_job(), fill_job(FillOptions(disk_scale=DISK_SCALE))]
    quiet = Console(quiet=True)
    for night in (NIGHT, NIGHT + dt.timedelta(days=1)):
        report = run_date(history.settings, night, history.warehouse, jobs=jobs, console=quiet)
        assert report.published
        assert [j.status for j in report.jobs] == ["published", "published"]
    return [NIGHT, NIGHT + dt.timedelta(days=1)]


def _table(wh: Warehouse, sql: str, **params) -> pd.DataFrame:
    return wh.query(sql, params).to_pandas()


def test_demand_forecast_covers_every_series_with_accuracy(history: History, nights) -> None:
    wh = history.warehouse
    rows = _table(wh, "SELECT * FROM demand_forecast WHERE run_date = $d", d=NIGHT)
    series = rows.groupby(["title_id", "region"]).size()
    assert (series == 14).all()
    assert set(rows["target_date"]) == {NIGHT + dt.timedelta(days=h) for h in range(1, 15)}
    assert {"ets", "ses"} <= set(rows["model"])
    assert (rows["lower_hours"] <= rows["forecast_hours"]).all()
    assert (rows["forecast_hours"] <= rows["upper_hours"]).all()
    # Accuracy is stored beside the forecasts; pooled over the run the model beats seasonal naive.
    backtested = rows.dropna(subset=["backtest_mae_hours"]).drop_duplicates(["title_id", "region"])
    assert len(backtested) > 0.5 * len(series)
    assert backtested["backtest_mae_hours"].sum() < backtested["backtest_snaive_mae_hours"].sum()
    # Releases due inside the horizon are forecast from the launch prior in every region.
    releases = history.catalogue.titles
    due = releases[
        (releases["release_ms"] >= _ms(NIGHT + dt.timedelta(days=1)))
        & (releases["release_ms"] < _ms(NIGHT + dt.timedelta(days=15)))
    ]["title_id"]
    assert len(due) > 0
    launched = rows[rows["title_id"].isin(due)]
    assert set(launched["model"]) == {"launch_prior"}
    assert launched["forecast_hours"].sum() > 0


def test_fill_plans_respect_disk_and_budget_and_carry_holdings(history: History, nights) -> None:
    wh = history.warehouse
    apps = history.catalogue.appliances.set_index("oca_id")
    first = load_plan(wh, nights[0])
    second = load_plan(wh, nights[1])
    for plan, limit in ((first, "capacity_bytes"), (second, "fill_budget_bytes")):
        stored = plan[plan["action"].isin(["hold", "fill"])].groupby("oca_id")["size_bytes"].sum()
        filled = plan[plan["action"] == "fill"].groupby("oca_id")["size_bytes"].sum()
        assert (stored <= apps.loc[stored.index, "capacity_bytes"]).all()
        # The first night is each appliance's initial load (up to its disk); then the fill budget binds.
        assert (filled <= apps.loc[filled.index, limit]).all()
        assert set(plan["action"]) <= {"hold", "fill", "evict", "defer", "skip"}
    assert set(first["action"]) <= {"fill", "defer", "skip"}  # the first night starts empty
    assert (second["action"] == "defer").any() or (second["action"] == "fill").any()
    before = first[first["action"].isin(["hold", "fill"])][["oca_id", "title_id"]]
    after = second[second["action"].isin(["hold", "evict"])][["oca_id", "title_id"]]
    assert set(map(tuple, before.to_numpy())) == set(map(tuple, after.to_numpy()))
    assert (second["action"] == "hold").any()
    # A release due the day the plan serves is pre-positioned somewhere.
    served = nights[0] + dt.timedelta(days=1)
    titles = history.catalogue.titles
    due = titles[
        (titles["release_ms"] >= _ms(served)) & (titles["release_ms"] < _ms(served + dt.timedelta(days=1)))
    ]["title_id"]
    if len(due):
        pre = first[first["title_id"].isin(due) & (first["action"] == "fill")]
        assert pre["reason"].str.startswith("new release due").all() and len(pre) > 0


def test_plan_scored_against_lru_and_oracle(history: History, nights) -> None:
    wh = history.warehouse
    served = nights[0] + dt.timedelta(days=1)
    requests = load_requests(wh, served)
    evaluation = evaluate_plan(
        load_plan(wh, nights[0]), requests, history.catalogue, served, warmup=load_requests(wh, nights[0])
    )
    assert evaluation.plan.requests == len(
        requests[requests["oca_id"].isin(history.catalogue.appliances["oca_id"])]
    )
    for value in (evaluation.plan.offload, evaluation.lru.offload, evaluation.oracle.offload):
        assert 0 <= value <= 1
    assert evaluation.oracle.bytes_hit >= evaluation.plan.bytes_hit - 1e-6
    assert evaluation.plan.offload > 0


def test_gx_suites_reject_bad_rows(history: History, nights) -> None:
    wh = history.warehouse
    forecast = wh.query("SELECT * FROM demand_forecast WHERE run_date = $d", {"d": NIGHT})
    facts = {"series": forecast.num_rows // 14, "horizon_days": 14}
    assert validate(DEMAND_FORECAST, forecast, NIGHT, demand_quality.expectations(NIGHT, facts)).success
    bad = forecast.to_pandas()
    bad.loc[0, "forecast_hours"] = -1.0
    report = validate(
        DEMAND_FORECAST,
        pa.Table.from_pandas(bad, preserve_index=False),
        NIGHT,
        demand_quality.expectations(NIGHT, facts),
    )
    assert not report.success
    assert any(r.kwargs.get("column") == "forecast_hours" for r in report.failed)

    plan = wh.query("SELECT * FROM oca_fill_plan WHERE run_date = $d", {"d": NIGHT})
    facts = {"appliances": len(set(plan.column("oca_id").to_pylist()))}
    assert validate(OCA_FILL_PLAN, plan, NIGHT, fill_quality.expectations(NIGHT, facts)).success
    bad = plan.to_pandas()
    bad.loc[0, "action"] = "delete"
    bad.loc[1, "predicted_offload_bytes"] = bad.loc[1, "predicted_demand_bytes"] + 1e9
    report = validate(
        OCA_FILL_PLAN,
        pa.Table.from_pandas(bad, preserve_index=False),
        NIGHT,
        fill_quality.expectations(NIGHT, facts),
    )
    failed = {r.expectation for r in report.failed}
    assert "expect_column_values_to_be_in_set" in failed
    assert "expect_column_pair_values_a_to_be_greater_than_b" in failed


def _ms(day: dt.date) -> int:
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp() * 1000)


def test_fill_plan_command_prints_the_summary_and_writes_the_report(
    history: History, nights, monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    from click.testing import CliRunner

    from batch.fill_report import console_summary, load_report
    from playpulse.cli import cli

    # The command reads the plan the nightly run published (appliances at their real size).
    monkeypatch.setenv("PLAYPULSE_DATA_DIR", str(history.settings.data_dir))
    output = tmp_path / "plan.html"
    result = CliRunner().invoke(cli, ["fill-plan", "--date", str(NIGHT), "--output", str(output)])
    assert result.exit_code == 0, result.output
    assert f"fill plan {NIGHT}" in result.output and "oracle" in result.output
    page = output.read_text(encoding="utf-8")
    assert "plotly" in page and "<script src=" not in page  # plotly.js inline, no CDN
    assert "Offload on" in page and "Backtest MASE" in page
    missing = CliRunner().invoke(cli, ["fill-plan", "--date", "2020-01-01"])
    assert missing.exit_code != 0 and "batch run --date 2020-01-01" in missing.output
    # With the disks the plan was made for, the summary's total is the evaluation's.
    report = load_report(history.warehouse, history.catalogue, NIGHT)
    assert report.evaluation is not None
    table = console_summary(report)
    assert table.row_count == len(set(report.plan["region"])) + 1
