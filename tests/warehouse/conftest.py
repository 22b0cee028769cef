"""Fixtures: a real DuckDB file per test and the real ClickHouse engine (chdb) with a database per test.

chdb hosts one engine per process and refuses a second path while a client of the first is
open (see test_chdb.py). So every ClickHouse warehouse of the test session opens the one engine
path of the suite-wide `chdb_path` fixture (tests/conftest.py), isolated by its own database,
and is closed after its test.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from schemas.events import EVENT_SCHEMA
from tests.support.events import event  # noqa: F401 - re-exported for the warehouse tests
from warehouse import Table, Warehouse, open_warehouse
from warehouse.logical_types import LogicalType

BACKENDS = ("duckdb", "clickhouse")


@pytest.fixture
def open_wh(tmp_path: Path, chdb_path: Path) -> Iterator[Callable[[str], Warehouse]]:
    """Opens a fresh, empty warehouse of a backend; every one is closed after the test.

    A ClickHouse warehouse gets a database of its own in the session's engine directory, which
    pytest removes with its other temporary directories.
    """
    opened: list[Warehouse] = []

    def open_(backend: str) -> Warehouse:
        if backend == "duckdb":
            wh = open_warehouse("duckdb", duckdb_path=tmp_path / f"wh-{len(opened)}.duckdb")
        else:
            database = f"test_{uuid.uuid4().hex[:12]}"
            wh = open_warehouse(
                "clickhouse", clickhouse_dsn=f"chdb://{chdb_path}", clickhouse_database=database
            )
        opened.append(wh)
        return wh

    yield open_
    for wh in opened:
        wh.close()


@pytest.fixture(params=BACKENDS)
def wh(request: pytest.FixtureRequest, open_wh: Callable[[str], Warehouse]) -> Warehouse:
    """A fresh warehouse of each backend, with its tables created."""
    warehouse = open_wh(request.param)
    warehouse.create_tables()
    return warehouse


def sample_value(column_type: LogicalType, name: str, i: int) -> Any:
    """A deterministic value of a logical type (binary values are not valid UTF-8 on purpose)."""
    return {
        LogicalType.STRING: f"{name}-{i}",
        LogicalType.INT32: i,
        LogicalType.INT64: 1_000_000_000_000 + i,
        LogicalType.FLOAT64: i + 0.25,
        LogicalType.BOOL: i % 2 == 0,
        LogicalType.DATE: dt.date(2025, 11, 21),
        LogicalType.TIMESTAMP: dt.datetime(2025, 11, 21, 10, i % 60, 7, 123000, tzinfo=dt.UTC),
        LogicalType.BINARY: bytes([0xFF, 0x00, i % 256, 0x81]),
        LogicalType.STRING_MAP: [("ab-vst", f"cell-{i}")],
        LogicalType.INT32_ARRAY: [i, i + 7, -3],
        LogicalType.FLOAT64_ARRAY: [i + 0.5, 2.0, 1e9],
    }[column_type]


def sample_rows(spec: Table, n: int, **fixed: Any) -> pa.Table:
    """`n` rows of every column of `spec`; `fixed` sets a column to one value in every row."""
    data = {
        c.name: [fixed[c.name] if c.name in fixed else sample_value(c.type, c.name, i) for i in range(n)]
        for c in spec.columns
    }
    return pa.Table.from_pydict(data, schema=spec.arrow_schema)


def write_lake_file(
    lake_dir: Path, day: str, hour: int, rows: list[dict[str, Any]], name: str = "part-0"
) -> Path:
    """Write events as one Parquet file of the lake's Hive layout."""
    path = lake_dir / "events" / f"event_date={day}" / f"hour={hour}" / f"{name}.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=EVENT_SCHEMA), path)
    return path
