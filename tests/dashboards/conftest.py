"""Shared fixtures: one set of realistic warehouse rows per session, in chdb and in DuckDB."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest

from tests.dashboards.warehouse_data import demo_tables, fill
from warehouse import Warehouse, open_warehouse


@pytest.fixture(scope="session")
def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


@pytest.fixture(scope="session")
def tables(now: datetime) -> dict[str, pa.Table]:
    return demo_tables(now)


@pytest.fixture(scope="module")
def clickhouse(chdb_path: Path, tables: dict[str, pa.Table]) -> Iterator[Warehouse]:
    """The real ClickHouse engine (chdb) holding `tables`, in a database of its own; closed after each
    module, since an open chdb connection pins the process's one engine path (tests/warehouse)."""
    wh = open_warehouse("clickhouse", clickhouse_dsn=f"chdb://{chdb_path}", clickhouse_database="dashboards")
    fill(wh, tables)
    yield wh
    wh.close()
