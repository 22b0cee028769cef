"""Grafana dashboards as code: every panel query on the real ClickHouse engine, JSON round trips,
ids, uids, provisioning, and the committed files being current."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from dashboards.build import DEFAULT_OUT, build, rendered_files
from dashboards.catalog import DASHBOARDS
from dashboards.clickhouse_query import PLUGIN_ID, ClickHouseAnnotationTarget, ClickHouseQuery
from dashboards.grafana import from_json, to_json
from dashboards.macros import QueryContext, Selection, render
from dashboards.specs import DashboardSpec
from streaming.qoe_query import qoe_over
from tests.dashboards.warehouse_data import FIRING_MESSAGE, INCIDENT_REGION
from warehouse import Warehouse

_FILES = rendered_files()
_SPECS = {spec.uid: spec for spec in DASHBOARDS}


def _json(uid: str) -> dict[str, Any]:
    return json.loads(_FILES[f"dashboards/playpulse/{uid}.json"])


def _relative(text: str, now: datetime) -> datetime:
    if text == "now":
        return now
    match = re.fullmatch(r"now([+-])(\d+)([mhd])", text)
    assert match, text
    sign = 1 if match.group(1) == "+" else -1
    unit = {"m": "minutes", "h": "hours", "d": "days"}[match.group(3)]
    return now + sign * timedelta(**{unit: int(match.group(2))})


def _context(board: dict[str, Any], now: datetime, **chosen: str) -> QueryContext:
    variables = {
        v["name"]: Selection(
            values=(chosen[v["name"]],) if v["name"] in chosen else None,
            all_value=v.get("allValue"),
            options=(),
        )
        for v in board["templating"]["list"]
    }
    time = board["time"]
    return QueryContext(_relative(time["from"], now), _relative(time["to"], now), 60, variables)


def _panel(board: dict[str, Any], title: str) -> dict[str, Any]:
    return next(p for p in board["panels"] if p["title"] == title)


@pytest.mark.parametrize("uid", list(_SPECS))
def test_every_panel_query_runs_on_clickhouse_and_returns_its_columns(
    uid: str, clickhouse: Warehouse, now: datetime
) -> None:
    board, spec = _json(uid), _SPECS[uid]
    context = _context(board, now)
    assert len(board["panels"]) == len(spec.panels)
    for panel, panel_spec in zip(board["panels"], spec.panels, strict=True):
        (target,) = panel["targets"]
        result = clickhouse.query(render(target["rawSql"], context))
        assert tuple(result.column_names) == panel_spec.columns, panel["title"]
        assert result.num_rows > 0, f"{panel['title']} returned no rows on the demo data"
        if panel_spec.kind in ("timeseries", "stat"):
            for column in panel_spec.columns[1:] if panel_spec.kind == "timeseries" else panel_spec.columns:
                assert result.column(column).null_count < result.num_rows, f"{panel['title']}.{column}"


@pytest.mark.parametrize("uid", list(_SPECS))
def test_variable_and_annotation_queries_run_on_clickhouse(
    uid: str, clickhouse: Warehouse, now: datetime
) -> None:
    board = _json(uid)
    context = _context(board, now)
    for variable in board["templating"]["list"]:
        values = clickhouse.query(render(variable["query"], context))
        assert values.num_columns == 1 and values.num_rows > 0, variable["name"]
        assert "*" not in values.column(0).to_pylist(), f"{variable['name']} offers the all-slice marker"
    for annotation in board["annotations"].get("list", []):
        rows = clickhouse.query(render(annotation["target"]["rawSql"], context))
        assert tuple(rows.column_names) == ("time", "timeEnd", "title", "text", "tags")
        if uid == "playpulse-operations-qoe":
            assert FIRING_MESSAGE in rows.column("text").to_pylist()


def test_vst_panel_merges_sketches_like_python(clickhouse: Warehouse, now: datetime) -> None:
    """VST p95 of a slice from the Grafana SQL equals the Python merge of the same rows' sketches."""
    board = _json("playpulse-operations-qoe")
    end = now.replace(second=0)
    start = end - timedelta(minutes=60)
    context = _context(board, now, region=INCIDENT_REGION)
    context = QueryContext(start, end - timedelta(seconds=1), 60, context.variables)
    sql = render(_panel(board, "VST p95 (range)")["targets"][0]["rawSql"], context)
    from_sql = clickhouse.query(sql).column("vst_p95_ms")[0].as_py()
    merged = qoe_over(clickhouse, start, end, region=INCIDENT_REGION)
    assert merged.starts > 50
    assert from_sql == pytest.approx(merged.vst_ms[0.95], rel=1e-9)


def test_variables_select_the_stored_grouping_set(clickhouse: Warehouse, now: datetime) -> None:
    board = _json("playpulse-operations-qoe")
    sql = _panel(board, "Plays (attempts in range)")["targets"][0]["rawSql"]
    everyone = clickhouse.query(render(sql, _context(board, now))).column(0)[0].as_py()
    region = clickhouse.query(render(sql, _context(board, now, region=INCIDENT_REGION))).column(0)[0].as_py()
    tv = clickhouse.query(render(sql, _context(board, now, region=INCIDENT_REGION, device="TV")))
    assert 0 < tv.column(0)[0].as_py() < region < everyone
    # ISP × device is not a stored grouping set: no data rather than a wrong number.
    missing = clickhouse.query(render(sql, _context(board, now, isp="kddi", device="TV")))
    assert missing.column(0)[0].as_py() is None


def test_incident_shows_in_the_vst_time_series(clickhouse: Warehouse, now: datetime) -> None:
    board = _json("playpulse-operations-qoe")
    sql = _panel(board, "Video start time (VST) p50 / p95 / p99")["targets"][0]["rawSql"]
    rows = clickhouse.query(render(sql, _context(board, now, region=INCIDENT_REGION))).to_pylist()
    p95 = [r["p95"] for r in rows if r["p95"] is not None]
    assert len(p95) >= 40
    assert max(p95) > 2.5 * sorted(p95)[len(p95) // 2], "the injected start-up incident is visible"


@pytest.mark.parametrize("uid", list(_SPECS))
def test_dashboard_json_parses_back_with_the_builder(uid: str) -> None:
    board = _json(uid)
    model = from_json(board)
    assert to_json(model) == board
    for panel in model.panels or []:
        assert all(isinstance(t, ClickHouseQuery) for t in panel.targets or [])
    for annotation in (model.annotations.list_val if model.annotations else None) or []:
        assert isinstance(annotation.target, ClickHouseAnnotationTarget)


def test_ids_and_uids_are_unique() -> None:
    uids = [spec.uid for spec in DASHBOARDS]
    assert len(set(uids)) == len(uids)
    for uid in uids:
        board = _json(uid)
        assert board["uid"] == uid
        ids = [p["id"] for p in board["panels"]]
        assert len(set(ids)) == len(ids) and all(isinstance(i, int) and i > 0 for i in ids)
        names = [v["name"] for v in board["templating"]["list"]]
        assert len(set(names)) == len(names)
        for panel in board["panels"]:
            refs = [t["refId"] for t in panel["targets"]]
            assert len(set(refs)) == len(refs)


def _datasource_refs(node: Any) -> list[dict[str, Any]]:
    found = []
    if isinstance(node, dict):
        if isinstance(node.get("datasource"), dict):
            found.append(node["datasource"])
        for value in node.values():
            found += _datasource_refs(value)
    elif isinstance(node, list):
        for value in node:
            found += _datasource_refs(value)
    return found


def test_every_datasource_uid_is_provisioned() -> None:
    provisioned = yaml.safe_load(_FILES["datasources/playpulse.yaml"])
    sources = {s["uid"]: s for s in provisioned["datasources"]}
    assert all(s["type"] == PLUGIN_ID for s in sources.values())
    # ReplacingMergeTree tables: Grafana reads each key once, as the warehouse layer does.
    for source in sources.values():
        assert {"setting": "final", "value": "1"} in source["jsonData"]["customSettings"]
    for spec in DASHBOARDS:
        refs = _datasource_refs(_json(spec.uid))
        assert refs, spec.uid
        for ref in refs:
            assert ref["uid"] in sources and ref["type"] == sources[ref["uid"]]["type"], (spec.uid, ref)
    (provider,) = yaml.safe_load(_FILES["dashboards/playpulse.yaml"])["providers"]
    assert provider["type"] == "file" and provider["options"]["path"].endswith("/dashboards/playpulse")
    assert "password" not in json.dumps(sources).replace('"password": "$CLICKHOUSE_PASSWORD"', "")


def test_committed_provisioning_is_current() -> None:
    """dashboards/provisioning is generated: after a spec change, run `playpulse dashboards build`."""
    for relative, text in _FILES.items():
        path = DEFAULT_OUT / relative
        assert path.exists(), f"{path} is missing: run `playpulse dashboards build`"
        assert path.read_text() == text, f"{path} is stale: run `playpulse dashboards build`"
    committed = {p.relative_to(DEFAULT_OUT).as_posix() for p in DEFAULT_OUT.rglob("*") if p.is_file()}
    assert committed == set(_FILES), "files in dashboards/provisioning that no spec produces"


def test_build_writes_into_a_given_directory_and_removes_stale_dashboards(tmp_path: Path) -> None:
    stale = tmp_path / "dashboards" / "playpulse" / "gone.json"
    stale.parent.mkdir(parents=True)
    stale.write_text("{}")
    written = build(tmp_path)
    assert {p.relative_to(tmp_path).as_posix() for p in written} == set(_FILES)
    assert not stale.exists()


def test_a_spec_refuses_a_time_series_without_time() -> None:
    from dashboards.specs import PanelSpec

    with pytest.raises(ValueError, match="must return `time`"):
        PanelSpec("bad", "timeseries", "SELECT 1 AS x", ("x",))
    with pytest.raises(ValueError, match="duplicate panel titles"):
        panel = PanelSpec("same", "table", "SELECT 1 AS x", ("x",))
        DashboardSpec("u", "t", "d", (panel, panel))


def test_macros_expand_like_the_plugin(now: datetime) -> None:
    start = datetime.fromtimestamp(1_700_000_000, now.tzinfo)
    context = QueryContext(
        start,
        start + timedelta(hours=1),
        30,
        {"r": Selection(values=("o'brien",)), "d": Selection(all_value="'*'")},
    )
    sql = render(
        "SELECT $__timeInterval(t) FROM x WHERE $__timeFilter(t) "
        "AND $__conditionalAll(a IN (${r:sqlstring}), $r) "
        "AND $__conditionalAll(b IN ($d), $d) AND d = ${d:sqlstring} AND $__dateFilter(day) "
        "AND n < $__interval_s",
        context,
    )
    assert sql == (
        "SELECT toStartOfInterval(toDateTime(t), INTERVAL 30 second) FROM x "
        "WHERE t >= toDateTime(1700000000) "
        "AND t <= toDateTime(1700003600) AND a IN ('o''brien') AND 1=1 AND d = '*' "
        "AND day >= toDate('2023-11-14') AND day <= toDate('2023-11-14') AND n < 30"
    )
    with pytest.raises(ValueError, match="unknown macro"):
        render("SELECT $__nope", context)


def test_the_build_command_writes_the_provisioning_folder(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from playpulse.cli import cli

    result = CliRunner().invoke(
        cli, ["dashboards", "build", "--out", str(tmp_path), "--clickhouse-host", "ch.internal"]
    )
    assert result.exit_code == 0, result.output
    source = yaml.safe_load((tmp_path / "datasources/playpulse.yaml").read_text())["datasources"][0]
    assert source["jsonData"]["host"] == "ch.internal"
    assert len(list((tmp_path / "dashboards/playpulse").glob("*.json"))) == len(DASHBOARDS)


def test_check_runs_every_query_and_reports_failures(
    clickhouse: Warehouse, now: datetime, chdb_path: Path
) -> None:
    from dashboards.check import check_queries
    from warehouse import open_warehouse

    checks = check_queries(clickhouse, now)
    expected = sum(len(s.panels) + len(s.variables) + len(s.annotations) for s in DASHBOARDS)
    assert len(checks) == expected and all(c.ok for c in checks), [c for c in checks if not c.ok]
    assert all(c.rows > 0 for c in checks if c.item == "Video start time (VST) p50 / p95 / p99")
    # A warehouse without most tables: each broken query is named, with the engine's reason.
    clickhouse.execute("CREATE DATABASE IF NOT EXISTS dashboards_bare")
    clickhouse.execute(
        "CREATE TABLE IF NOT EXISTS dashboards_bare.ab_readout (run_date Date) ENGINE = Memory"
    )
    dsn = f"chdb://{chdb_path}"
    with open_warehouse("clickhouse", clickhouse_dsn=dsn, clickhouse_database="dashboards_bare") as wh:
        broken = [c for c in check_queries(wh, now) if not c.ok]
    assert {c.dashboard for c in broken} == {s.title for s in DASHBOARDS}
    assert any("test_id" in (c.problem or "") for c in broken if c.dashboard == "Experiments")
