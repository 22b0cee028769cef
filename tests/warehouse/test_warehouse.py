"""The Warehouse contract, run against a real DuckDB file and the real ClickHouse engine (chdb)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pytest

from tests.warehouse.conftest import BACKENDS, event, sample_rows, write_lake_file
from warehouse import TABLES, Warehouse, WarehouseError, open_warehouse
from warehouse.dictionary import catalog_problems
from warehouse.tables import ALERTS, ENGAGEMENT_DAILY, EVENTS, QOE_MINUTE, SESSIONS, Table

WRITABLE = [t for t in TABLES.values() if t.kind == "table"]
DAY = dt.date(2025, 11, 21)
T0 = 1_763_683_200_000  # 2025-11-21T00:00:00Z
HOUR = 3_600_000


def _sorted(wh: Warehouse, spec: Table) -> list[dict]:
    order = ", ".join(spec.key)
    return wh.query(f"SELECT * FROM {spec.name} ORDER BY {order}").to_pylist()


def test_create_tables_is_idempotent_and_keeps_data(wh: Warehouse) -> None:
    wh.upsert(ALERTS, sample_rows(ALERTS, 2))
    wh.create_tables()
    wh.create_tables()
    assert set(wh.table_names()) == {t.name for t in WRITABLE}
    assert wh.query("SELECT count(*) AS n FROM alerts").column("n").to_pylist() == [2]


def test_every_table_and_column_carries_its_comment(wh: Warehouse, tmp_path: Path) -> None:
    wh.attach_lake(tmp_path / "lake")
    assert catalog_problems(wh) == []
    for table in wh.catalog():
        assert table.comment == TABLES[table.name].comment
        assert [c.name for c in table.columns] == list(TABLES[table.name].column_names)
        assert all(c.comment for c in table.columns)


@pytest.mark.parametrize("spec", WRITABLE, ids=lambda t: t.name)
def test_every_table_round_trips_every_type(wh: Warehouse, spec: Table) -> None:
    rows = sample_rows(spec, 3)
    assert wh.insert(spec, rows) == 3
    assert _sorted(wh, spec) == rows.to_pylist()


@pytest.mark.parametrize("spec", [QOE_MINUTE, ALERTS, SESSIONS], ids=lambda t: t.name)
def test_upsert_twice_changes_nothing(wh: Warehouse, spec: Table) -> None:
    rows = sample_rows(spec, 4)
    wh.upsert(spec, rows)
    once = _sorted(wh, spec)
    wh.upsert(spec, rows)
    assert _sorted(wh, spec) == once == rows.to_pylist()


def test_upsert_replaces_by_key_and_the_last_row_of_a_key_wins(wh: Warehouse) -> None:
    first = sample_rows(ALERTS, 2, state="pending")
    wh.upsert(ALERTS, first)
    update = pa.concat_tables(
        [sample_rows(ALERTS, 1, state="firing"), sample_rows(ALERTS, 1, state="resolved")]
    )
    assert wh.upsert(ALERTS, update) == 1
    states = wh.query("SELECT fingerprint, state FROM alerts ORDER BY fingerprint").to_pylist()
    assert states == [
        {"fingerprint": "fingerprint-0", "state": "resolved"},
        {"fingerprint": "fingerprint-1", "state": "pending"},
    ]


def test_a_final_qoe_row_replaces_the_provisional_one(wh: Warehouse) -> None:
    wh.upsert(QOE_MINUTE, sample_rows(QOE_MINUTE, 1, provisional=True, attempts=3))
    wh.upsert(QOE_MINUTE, sample_rows(QOE_MINUTE, 1, provisional=False, attempts=5))
    rows = wh.query("SELECT provisional, attempts FROM qoe_minute").to_pylist()
    assert rows == [{"provisional": False, "attempts": 5}]


def test_replace_partition_replaces_exactly_one_date(wh: Warehouse) -> None:
    day1, day2 = DAY, DAY + dt.timedelta(days=1)
    wh.insert(ENGAGEMENT_DAILY, sample_rows(ENGAGEMENT_DAILY, 3, date=day1))
    wh.insert(ENGAGEMENT_DAILY, sample_rows(ENGAGEMENT_DAILY, 2, date=day2))
    rerun = sample_rows(ENGAGEMENT_DAILY, 1, date=day1, watch_time_ms=42)

    assert wh.replace_partition(ENGAGEMENT_DAILY, rerun, "date", day1) == 1
    assert wh.replace_partition(ENGAGEMENT_DAILY, rerun, "date", day1.isoformat()) == 1  # idempotent

    rows = wh.query("SELECT date, watch_time_ms FROM engagement_daily ORDER BY date, user_id").to_pylist()
    assert [(r["date"], r["watch_time_ms"]) for r in rows] == [
        (day1, 42),
        (day2, 1_000_000_000_000),
        (day2, 1_000_000_000_001),
    ]
    wh.replace_partition(ENGAGEMENT_DAILY, rerun.slice(0, 0), "date", day1)
    counts = wh.query(
        "SELECT date, count(*) AS n FROM engagement_daily GROUP BY date ORDER BY date"
    ).to_pylist()
    assert counts == [{"date": day2, "n": 2}]


def test_replace_partition_refuses_rows_of_other_dates_and_other_columns(wh: Warehouse) -> None:
    rows = sample_rows(ENGAGEMENT_DAILY, 2, date=DAY)
    with pytest.raises(ValueError, match="other than 2025-11-22"):
        wh.replace_partition(ENGAGEMENT_DAILY, rows, "date", DAY + dt.timedelta(days=1))
    with pytest.raises(ValueError, match="replaced per date"):
        wh.replace_partition(ENGAGEMENT_DAILY, rows, "region", "us-east")
    with pytest.raises(ValueError, match="upsert"):
        wh.replace_partition(QOE_MINUTE, sample_rows(QOE_MINUTE, 1), "window_start", DAY)
    assert wh.query("SELECT count(*) AS n FROM engagement_daily").column("n").to_pylist() == [0]


HOSTILE = [
    "O'Reilly",
    "'); DROP TABLE alerts; --",
    "x' OR '1'='1",
    "back\\slash\\' still one value",
    "$name and {name:String} and %(name)s and ? are text",
    '"double" `back` -- not a comment',
]


@pytest.mark.parametrize("value", HOSTILE)
def test_values_are_bound_never_formatted_into_sql(wh: Warehouse, value: str) -> None:
    wh.upsert(ALERTS, sample_rows(ALERTS, 1, message=value))
    found = wh.query("SELECT message FROM alerts WHERE message = $m", {"m": value}).to_pylist()
    assert found == [{"message": value}]
    assert wh.query("SELECT $v AS v", {"v": value}).to_pylist() == [{"v": value}]
    assert "alerts" in wh.table_names()


def test_parameters_of_every_kind_round_trip(wh: Warehouse) -> None:
    ts = dt.datetime(2025, 11, 21, 10, 30, tzinfo=dt.UTC)
    values = {"s": "text", "i": 7, "f": 0.5, "b": True, "d": DAY, "t": ts, "n": None}
    sql = "SELECT $s AS s, $i AS i, $f AS f, $b AS b, $d AS d, $t AS t, $n AS n"
    assert wh.query(sql, values).to_pylist() == [values]


def test_dollar_signs_in_literals_and_comments_are_not_parameters(wh: Warehouse) -> None:
    sql = "SELECT '$not_a_param' AS s, $p AS p -- $nor_this\n"
    assert wh.query(sql, {"p": 1}).to_pylist() == [{"s": "$not_a_param", "p": 1}]


def test_parameters_and_placeholders_must_match(wh: Warehouse) -> None:
    with pytest.raises(WarehouseError, match=r"uses \$day but no value"):
        wh.query("SELECT count(*) FROM alerts WHERE updated_at > $day")
    with pytest.raises(WarehouseError, match="not used"):
        wh.query("SELECT 1 AS x", {"day": DAY})


def test_filter_by_timestamp_parameter(wh: Warehouse) -> None:
    wh.upsert(ALERTS, sample_rows(ALERTS, 3))
    since = dt.datetime(2025, 11, 21, 10, 1, tzinfo=dt.UTC)
    rows = wh.query(
        "SELECT fingerprint FROM alerts WHERE started_at >= $since ORDER BY fingerprint", {"since": since}
    )
    assert rows.column("fingerprint").to_pylist() == ["fingerprint-1", "fingerprint-2"]


def test_bad_sql_raises_warehouse_error_with_the_engine_message(wh: Warehouse) -> None:
    with pytest.raises(WarehouseError) as raised:
        wh.query("SELECT no_such_column FROM alerts")
    assert "no_such_column" in str(raised.value)
    assert raised.value.sql == "SELECT no_such_column FROM alerts"
    assert raised.value.__cause__ is not None
    with pytest.raises(WarehouseError, match="(?i)syntax"):
        wh.execute("DELETE alerts WHERE")


def test_writes_are_checked_against_the_spec(wh: Warehouse) -> None:
    rows = sample_rows(ALERTS, 1)
    with pytest.raises(ValueError, match="alerts.rule is NOT NULL but missing"):
        wh.insert(ALERTS, rows.drop_columns(["rule"]))
    with pytest.raises(ValueError, match="no column"):
        wh.insert(ALERTS, rows.append_column("surprise", pa.array([1])))
    with pytest.raises(ValueError, match="unknown table"):
        wh.insert("alerts; DROP TABLE sessions", rows)
    with pytest.raises(ValueError, match="view"):
        wh.insert(EVENTS, rows)
    nullable_missing = rows.drop_columns(["ended_at", "baseline"])
    assert wh.insert(ALERTS, nullable_missing) == 1
    assert wh.query("SELECT ended_at, baseline FROM alerts").to_pylist() == [
        {"ended_at": None, "baseline": None}
    ]


def test_events_view_reads_the_lake_with_partition_columns(wh: Warehouse, tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    write_lake_file(
        lake,
        "2025-11-21",
        0,
        [
            event("e1", T0 + 5, event_type="PLAY_REQUEST", content_duration_ms=3_600_000),
            event("e2", T0 + 900, event_type="PLAY_START", startup_ms=850, bitrate_kbps=5800, oca_id=None),
        ],
    )
    # A redelivered copy of e2 in another file of the same hour is collapsed.
    write_lake_file(
        lake,
        "2025-11-21",
        0,
        [event("e2", T0 + 900, event_type="PLAY_START", startup_ms=850, bitrate_kbps=5800, oca_id=None)],
        name="part-1",
    )
    write_lake_file(lake, "2025-11-22", 13, [event("e3", T0 + 37 * HOUR, experiments=[])])
    wh.attach_lake(lake)

    rows = wh.query("SELECT * FROM events ORDER BY event_id")
    assert rows.column_names == list(EVENTS.column_names)
    got = rows.to_pylist()
    assert [(r["event_id"], r["event_date"], r["hour"]) for r in got] == [
        ("e1", DAY, 0),
        ("e2", DAY, 0),
        ("e3", DAY + dt.timedelta(days=1), 13),
    ]
    assert got[1]["startup_ms"] == 850 and got[1]["oca_id"] is None and got[1]["bitrate_kbps"] == 5800
    assert got[0]["experiments"] == [("ab-vst", "cell-b")] and got[2]["experiments"] == []

    day = wh.query("SELECT event_id FROM events WHERE event_date = $d ORDER BY event_id", {"d": DAY})
    assert day.column("event_id").to_pylist() == ["e1", "e2"]


def test_events_view_over_an_empty_lake_then_new_files_show_up(wh: Warehouse, tmp_path: Path) -> None:
    lake = tmp_path / "empty-lake"
    wh.attach_lake(lake)
    empty = wh.query("SELECT * FROM events")
    assert empty.num_rows == 0
    assert empty.column_names == list(EVENTS.column_names)

    write_lake_file(lake, "2025-11-21", 3, [event("late", T0 + 3 * HOUR)])
    assert wh.query("SELECT event_id, hour FROM events").to_pylist() == [{"event_id": "late", "hour": 3}]
    wh.attach_lake(lake)  # attaching again is harmless
    assert wh.query("SELECT count(*) AS n FROM events").column("n").to_pylist() == [1]


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_closed_warehouse_says_so(open_wh: Callable[[str], Warehouse], backend: str) -> None:
    with open_wh(backend) as warehouse:
        warehouse.create_tables()
    with pytest.raises(WarehouseError, match="closed"):
        warehouse.query("SELECT 1 AS x")
    warehouse.close()  # twice is fine


def test_a_duckdb_file_keeps_its_data_and_opens_read_only(tmp_path: Path) -> None:
    path = tmp_path / "persist.duckdb"
    with open_warehouse("duckdb", duckdb_path=path) as first:
        first.create_tables()
        first.upsert(ALERTS, sample_rows(ALERTS, 2))
    with open_warehouse("duckdb", duckdb_path=path, read_only=True) as again:
        assert again.query("SELECT count(*) AS n FROM alerts").column("n").to_pylist() == [2]
        with pytest.raises(WarehouseError, match="read-only"):
            again.upsert(ALERTS, sample_rows(ALERTS, 1))
