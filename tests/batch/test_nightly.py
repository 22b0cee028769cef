"""The nightly run end to end on the real local Spark, DuckDB and ClickHouse (chdb), over simulated history.

One simulated history (module fixture): 2 days from Monday 2025-01-06, three tests starting on the
second day with known truths — personalized artwork (+3% plays per member), a fast-start ABR
profile (start-up time × 0.9), and a test whose variant loses 30% of its members' sessions (an
injected sample-ratio mismatch). Day 1 is the pre-period: its sessions are published first; then
the nightly run publishes every job of day 2, and the tests read what was published.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from pyspark.sql import SparkSession

from batch.jobs import job_named
from batch.readout_report import html_report, load_readout
from batch.runner import BatchRunError, run_date
from batch.sessions_sql import sessionize_duckdb
from ingest.simulation_runs import backfill_lake
from ingest.simulator import SimulationConfig
from ingest.simulator.experiments import Cell, Experiment
from playpulse.config import Settings, load_settings
from playpulse.resources import open_configured_warehouse
from schemas.events import EVENT_SCHEMA
from tests.support.events import event
from warehouse import Warehouse, open_warehouse
from warehouse.tables import AB_READOUT, ENGAGEMENT_DAILY, ENGAGEMENT_SUMMARY, SESSIONS, TABLES

pytestmark = pytest.mark.integration

START_MS = 1_736_121_600_000  # 2025-01-06 00:00 UTC
DAY_MS = 86_400_000
PRE, DAY = dt.date(2025, 1, 6), dt.date(2025, 1, 7)
#: The jobs under test here (the forecast jobs, later in the registry, have their own tests).
JOBS = job_named(["sessions", "engagement_daily", "engagement_summary", "ab_readout"])
NIGHTLY = tuple(job.table for job in JOBS)


@dataclass
class History:
    settings: Settings
    truth: dict[str, Any]


def _settings(data_dir: Path, **overrides: Any) -> Settings:
    return load_settings(data_dir=data_dir, pseudonym_key="nightly-test-key-0123456789", **overrides)


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory, spark: SparkSession) -> Iterator[History]:
    data_dir = tmp_path_factory.mktemp("nightly")
    settings = _settings(data_dir)
    experiments = (
        Experiment("artwork_personalization", (Cell("control"), Cell("personalized", watch_time=1.03)),
                   START_MS + DAY_MS),
        Experiment("abr_fast_start", (Cell("control"), Cell("fast_start", startup=0.9, rebuffer=1.08)),
                   START_MS + DAY_MS),
        Experiment("srm_broken", (Cell("control"), Cell("variant")), START_MS + DAY_MS, srm_loss=0.3),
    )
    config = SimulationConfig(seed=11, users=2_000, start_ms=START_MS, days=2, experiments=experiments)
    truth_path = data_dir / "truth.json"
    backfill_lake(settings, config, ground_truth=truth_path, progress=False)
    with open_configured_warehouse(settings) as wh:
        # The pre-period's sessions (CUPED's covariate), published as the sessions job would: the
        # DuckDB sessionization gives the same rows (test_sessions_match_…), in a fraction of the time.
        wh.replace_partition(SESSIONS, sessionize_duckdb(settings.lake_dir, PRE), "session_date", PRE)
        run_date(settings, DAY, wh, jobs=JOBS)
    yield History(settings, json.loads(truth_path.read_text()))


def _published(wh: Warehouse) -> dict[str, pa.Table]:
    """Every nightly table, sorted by its key (a canonical form to compare runs)."""
    out = {}
    for table in NIGHTLY:
        rows = wh.query(f'SELECT * FROM "{table.name}"')
        out[table.name] = table.conform(rows).sort_by([(k, "ascending") for k in table.key])
    return out


def _readout(wh: Warehouse, test: str) -> dict[tuple[str, str], dict[str, Any]]:
    rows = load_readout(wh, test, DAY)
    return {(r["metric"], r["cell"]): r for r in rows}


def test_sessions_match_the_same_sessionization_in_duckdb_sql(history: History) -> None:
    with open_configured_warehouse(history.settings) as wh:
        spark_rows = wh.query("SELECT * FROM sessions WHERE session_date = $d", {"d": DAY})
    sql_rows = sessionize_duckdb(history.settings.lake_dir, DAY)
    spark_rows = SESSIONS.conform(spark_rows).sort_by("session_id")
    sql_rows = sql_rows.sort_by("session_id")
    assert spark_rows.num_rows > 1_500
    for name in SESSIONS.column_names:
        if name in ("avg_bitrate_kbps",):
            assert pc.max(pc.abs(pc.subtract(spark_rows[name], sql_rows[name]))).as_py() < 1e-6
        else:
            assert spark_rows[name].to_pylist() == sql_rows[name].to_pylist(), name


def test_engagement_adds_up_to_the_sessions(history: History) -> None:
    with open_configured_warehouse(history.settings) as wh:
        sessions = wh.query(
            "SELECT count(*) AS s, sum(playing_ms) AS w, sum(completed::INT) AS c, "
            "count(DISTINCT user_id) AS u FROM sessions WHERE session_date = $d",
            {"d": DAY},
        ).to_pylist()[0]
        daily = wh.query(
            "SELECT sum(sessions) AS s, sum(watch_time_ms) AS w, sum(completions) AS c, "
            "count(DISTINCT user_id) AS u FROM engagement_daily WHERE date = $d",
            {"d": DAY},
        ).to_pylist()[0]
        total = wh.query(
            "SELECT members AS u, sessions AS s, watch_time_ms AS w, completions AS c, retention_7d "
            "FROM engagement_summary WHERE date = $d AND slice = 'all'", {"d": DAY}
        ).to_pylist()
        titles = wh.query(
            "SELECT sum(sessions) AS s FROM engagement_summary WHERE date = $d AND slice = 'title_id'",
            {"d": DAY},
        ).to_pylist()[0]
    assert {k: int(v) for k, v in daily.items()} == {k: int(v) for k, v in sessions.items()}
    assert len(total) == 1
    assert (total[0]["u"], total[0]["s"], total[0]["w"], total[0]["c"]) == (
        sessions["u"], sessions["s"], sessions["w"], sessions["c"]
    )
    assert total[0]["retention_7d"] is None  # 7 days before was never published
    assert titles["s"] == sessions["s"]


def test_readout_ci_covers_the_true_effects_and_srm_stays_quiet(history: History) -> None:
    truth = {e["test_id"]: e for e in history.truth["experiments"]}
    with open_configured_warehouse(history.settings) as wh:
        fast = _readout(wh, "abr_fast_start")
        art = _readout(wh, "artwork_personalization")
    true_vst = truth["abr_fast_start"]["cells"][1]["true_effects"]["startup"] - 1  # -10%
    for metric in ("vst_p50_ms", "vst_p95_ms"):
        row = fast[(metric, "fast_start")]
        assert row["ci_low_rel"] <= true_vst <= row["ci_high_rel"], (metric, row)
        assert row["is_guardrail"] and row["method"].startswith("bootstrap")
    assert fast[("vst_p50_ms", "fast_start")]["ci_high_rel"] < 0  # the faster start is detected
    true_watch = truth["artwork_personalization"]["cells"][1]["true_effects"]["watch_time"] - 1  # +3%
    watch = art[("watch_time_ms", "personalized")]
    assert watch["ci_low_rel"] <= true_watch <= watch["ci_high_rel"]
    assert watch["cuped_delta_abs"] is not None and watch["cuped_ci_low_abs"] <= watch["cuped_delta_abs"]
    for test, rows in (("abr_fast_start", fast), ("artwork_personalization", art)):
        assert {r["srm_flag"] for r in rows.values()} == {False}, test
        assert min(r["srm_p_value"] for r in rows.values()) >= 0.001
        members = truth[test]["members"]
        for (metric, cell), r in rows.items():
            if metric == "watch_time_ms":
                assert 0 < r["n"] <= members[cell]
    assert {metric for metric, _ in fast} == {
        "watch_time_ms", "sessions", "completion_rate", "retention",
        "vst_p50_ms", "vst_p95_ms", "rebuffer_ratio", "start_failure_rate",
    }
    compared = [r for r in fast.values() if not r["is_control"] and r["p_value"] is not None]
    assert len(compared) >= 7  # retention has no comparison on a test's first day
    assert all(r["p_value_adjusted"] >= r["p_value"] for r in compared)


def test_an_injected_assignment_imbalance_fires_srm(history: History) -> None:
    with open_configured_warehouse(history.settings) as wh:
        rows = _readout(wh, "srm_broken")
    flags = {r["srm_flag"] for r in rows.values()}
    assert flags == {True}
    assert max(r["srm_p_value"] for r in rows.values()) < 0.001
    assert all("SRM" in r["notes"] for r in rows.values())
    control, variant = rows[("sessions", "control")]["n"], rows[("sessions", "variant")]["n"]
    assert variant < 0.85 * control


def test_readout_html_report_plots_effects_with_intervals(history: History, tmp_path: Path) -> None:
    with open_configured_warehouse(history.settings) as wh:
        rows = load_readout(wh, "abr_fast_start")
    page = html_report(rows)
    assert "Plotly.newPlot" in page and "<script src=" not in page  # plotly.js inline: works offline
    assert "vst_p50_ms" in page and "error_x" in page and "Allocation matches" in page


def test_rerunning_a_date_gives_identical_tables(history: History) -> None:
    with open_configured_warehouse(history.settings) as wh:
        before = _published(wh)
        run_date(history.settings, DAY, wh, jobs=JOBS)
        after = _published(wh)
    for name, table in before.items():
        assert table.num_rows > 0 or name == "engagement_summary"
        assert after[name].equals(table), name


def test_bad_data_fails_validation_and_keeps_published_tables(history: History) -> None:
    hour = history.settings.lake_dir / "events" / f"event_date={DAY}" / "hour=12"
    bad = hour / f"zz-bad-{uuid.uuid4().hex[:6]}.parquet"
    ts = START_MS + DAY_MS + 12 * 3_600_000
    rows = [
        event("bad-1", ts, event_type="PLAY_REQUEST", session_id="bad-session", experiments=[]),
        event("bad-2", ts + 1000, event_type="HEARTBEAT", session_id="bad-session", seq=1,
              played_ms=-60_000, bitrate_kbps=3000, experiments=[]),
    ]
    pq.write_table(pa.Table.from_pylist(rows, schema=EVENT_SCHEMA), bad)
    try:
        with open_configured_warehouse(history.settings) as wh:
            before = _published(wh)
            with pytest.raises(BatchRunError) as failure:
                run_date(history.settings, DAY, wh, jobs=JOBS)
            after = _published(wh)
    finally:
        bad.unlink()
    message = str(failure.value)
    assert "sessions" in message and "expect_column_values_to_be_between" in message
    assert "playing_ms" in message and "-60000" in message
    assert failure.value.report.published is False
    for name, table in before.items():
        assert after[name].equals(table), name


def test_the_clickhouse_warehouse_gets_the_same_tables(history: History, chdb_path: Path) -> None:
    database = f"nightly_{uuid.uuid4().hex[:8]}"
    dsn = f"chdb://{chdb_path}"
    backend = {"backend": "clickhouse", "clickhouse_dsn": dsn}
    settings = _settings(history.settings.data_dir, warehouse=backend)
    with open_warehouse("clickhouse", clickhouse_dsn=dsn, clickhouse_database=database) as ch:
        ch.create_tables()
        with open_configured_warehouse(history.settings) as wh:
            # The pre-period (CUPED's covariate) as published in DuckDB, through the Warehouse interface.
            pre = wh.query("SELECT * FROM sessions WHERE session_date = $d", {"d": PRE})
            duck = _published(wh)
        ch.replace_partition(SESSIONS, pre, "session_date", PRE)
        run_date(settings, DAY, ch, jobs=JOBS)
        clickhouse = _published(ch)
    for name in (SESSIONS.name, ENGAGEMENT_DAILY.name, ENGAGEMENT_SUMMARY.name, AB_READOUT.name):
        assert clickhouse[name].num_rows == duck[name].num_rows, name
        assert clickhouse[name].equals(duck[name]), name
    assert set(TABLES) >= {t.name for t in NIGHTLY}
    shutil.rmtree(history.settings.data_dir / "staging", ignore_errors=True)


def test_readout_command_prints_the_readout_and_writes_the_report(
    history: History, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from click.testing import CliRunner

    from playpulse.cli import cli

    monkeypatch.setenv("PLAYPULSE_DATA_DIR", str(history.settings.data_dir))
    monkeypatch.setenv("PLAYPULSE_PSEUDONYM_KEY", "nightly-test-key-0123456789")
    monkeypatch.setenv("COLUMNS", "220")
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    result = runner.invoke(cli, ["readout", "srm_broken"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "SAMPLE RATIO MISMATCH" in result.output and "watch_time_ms" in result.output
    report = history.settings.data_dir / "readouts" / f"srm_broken-{DAY}.html"
    assert report.exists() and "Sample ratio mismatch" in report.read_text()
    missing = runner.invoke(cli, ["readout", "no_such_test"])
    assert missing.exit_code != 0 and "tests with readouts: abr_fast_start" in missing.output
    usage = runner.invoke(cli, ["batch", "run", "--from", "2025-01-07"])
    assert usage.exit_code == 2 and "--from and --to go together" in usage.output
