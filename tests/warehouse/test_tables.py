"""The table specs: documented, keyed, and in step with the event schema and the lake layout."""

from __future__ import annotations

import datetime as dt
import fnmatch
from pathlib import Path

import pyarrow as pa
import pytest

from schemas.events import EVENT_SCHEMA
from tests.warehouse.conftest import sample_rows
from warehouse import TABLES, lake_events_glob, table_spec
from warehouse.base import last_per_key
from warehouse.logical_types import LogicalType
from warehouse.tables import ALERTS, ENGAGEMENT_DAILY, EVENTS, QOE_DIMENSIONS, QOE_MINUTE, Column, Table


def test_every_table_of_the_design_is_specified() -> None:
    assert list(TABLES) == [
        "events",
        "qoe_minute",
        "alerts",
        "sessions",
        "engagement_daily",
        "engagement_summary",
        "ab_readout",
        "demand_forecast",
        "oca_fill_plan",
        "stream_checkpoints",  # operational: where the streaming jobs resume
    ]


@pytest.mark.parametrize("spec", TABLES.values(), ids=lambda t: t.name)
def test_tables_are_documented_and_keyed(spec: Table) -> None:
    assert spec.comment and spec.grain
    assert all(len(c.comment) > 15 for c in spec.columns)
    assert all(not spec.column(k).nullable for k in spec.key)
    assert spec.partition_column is None or spec.partition_column in spec.key
    assert all(not (c.nullable and c.type is LogicalType.STRING_MAP) for c in spec.columns)


def test_events_are_the_event_schema_plus_hive_partitions() -> None:
    assert EVENTS.kind == "view"
    assert EVENTS.column_names == (*EVENT_SCHEMA.names, "event_date", "hour")
    for field in EVENT_SCHEMA:
        column = EVENTS.column(field.name)
        assert column.type.arrow.equals(field.type) and column.nullable == field.nullable
    assert "Pseudonymized" in EVENTS.column("user_id").comment


def test_qoe_minute_can_be_filtered_by_every_dimension_and_merged() -> None:
    for name in QOE_DIMENSIONS:
        assert name in QOE_MINUTE.key
    assert QOE_MINUTE.column("vst_sketch").type is LogicalType.BINARY
    assert {"window_start", "slice", "source_partition"} <= set(QOE_MINUTE.key)


def test_every_arrow_type_of_the_lake_has_a_logical_type() -> None:
    for field in EVENT_SCHEMA:
        assert LogicalType.from_arrow(field.type).arrow.equals(field.type)
    with pytest.raises(ValueError, match="no logical type"):
        LogicalType.from_arrow(pa.float16())


def test_specs_refuse_undocumented_or_unkeyable_columns() -> None:
    with pytest.raises(ValueError, match="no comment"):
        Column("x", LogicalType.STRING, " ")
    with pytest.raises(ValueError, match="cannot be nullable"):
        Column("m", LogicalType.STRING_MAP, "a map", nullable=True)
    nullable_key = Column("k", LogicalType.STRING, "a key", nullable=True)
    with pytest.raises(ValueError, match="NOT NULL"):
        Table("t", (nullable_key,), ("k",), None, "a table")
    day = Column("d", LogicalType.DATE, "a day")
    key = Column("k", LogicalType.STRING, "a key")
    with pytest.raises(ValueError, match="must be in the key"):
        Table("t", (day, key), ("k",), "d", "a table")


def test_conform_orders_casts_and_fills_nullable_columns() -> None:
    data = pa.table(
        {
            "watch_time_ms": pa.array([5], pa.int32()),
            "date": ["2025-11-21"],
            "user_id": ["u"],
            "title_id": ["t"],
            "region": ["r"],
            "device_type": ["TV"],
            "sessions": [1],
            "completions": [0],
        }
    )
    rows = ENGAGEMENT_DAILY.conform(data)
    assert rows.schema == ENGAGEMENT_DAILY.arrow_schema
    assert rows.column("date").to_pylist() == [dt.date(2025, 11, 21)]
    filled = ALERTS.conform(
        pa.table(
            {c.name: [None] for c in ALERTS.columns if c.nullable}
            | {c.name: ["x"] for c in ALERTS.columns if not c.nullable and c.type is LogicalType.STRING}
            | {
                "started_at": pa.array([0], pa.timestamp("ms", tz="UTC")),
                "updated_at": pa.array([0], pa.timestamp("ms", tz="UTC")),
                "observed": [1.0],
            }
        )
    )
    assert filled.column("ended_at").to_pylist() == [None]


def test_conform_names_what_is_wrong() -> None:
    rows = sample_rows(ENGAGEMENT_DAILY, 1)
    with pytest.raises(ValueError, match="engagement_daily.sessions: cannot store string as INT64"):
        ENGAGEMENT_DAILY.conform(rows.set_column(6, "sessions", pa.array(["many"])))
    with pytest.raises(ValueError, match=r"engagement_daily.date is NOT NULL but has 1 NULL"):
        ENGAGEMENT_DAILY.conform(rows.set_column(0, "date", pa.array([None], pa.date32())))


def test_last_row_of_a_key_wins_in_one_write() -> None:
    rows = pa.table({"k": ["a", "b", "a", "c", "b"], "v": [1, 2, 3, 4, 5]})
    assert last_per_key(rows, ("k",)).to_pylist() == [
        {"k": "a", "v": 3},
        {"k": "c", "v": 4},
        {"k": "b", "v": 5},
    ]


def test_table_spec_resolves_names_only_from_the_specs() -> None:
    assert table_spec("alerts") is ALERTS
    with pytest.raises(ValueError, match="unknown table"):
        table_spec("alerts --")


def test_lake_glob_matches_the_lake_writer(tmp_path: Path) -> None:
    from warehouse import lake

    assert lake_events_glob(tmp_path) == str(tmp_path.resolve() / lake.EVENTS_GLOB)
    written = lake.write_events(tmp_path, pa.table({"event_ts_ms": [1_763_683_200_000]}), "p00-x")
    assert [fnmatch.fnmatch(str(f), lake_events_glob(tmp_path)) for f in written] == [True]
    assert lake_events_glob("s3://bucket/lake/") == "s3://bucket/lake/events/event_date=*/hour=*/*.parquet"
