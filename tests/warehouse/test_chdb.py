"""What clickhouse-connect 1.12's chdb backend (chdb 4.4) allows in one process, pinned as tests.

Found: chdb hosts one embedded engine per process. Any number of clients may share the engine's
path (each with its own session and database); a client on a *different* path fails while any
client of the first path is open, and succeeds once all of them are closed. Data persists in the
path across close and reopen.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from tests.warehouse.conftest import sample_rows
from warehouse import WarehouseError, open_warehouse
from warehouse.tables import ALERTS


def _dsn(path: Path) -> str:
    return f"chdb://{path}"


def test_clients_share_one_engine_path_with_separate_databases(chdb_path: Path) -> None:
    one, two = (f"share_{uuid.uuid4().hex[:8]}" for _ in range(2))
    with (
        open_warehouse("clickhouse", clickhouse_dsn=_dsn(chdb_path), clickhouse_database=one) as a,
        open_warehouse("clickhouse", clickhouse_dsn=_dsn(chdb_path), clickhouse_database=two) as b,
    ):
        a.create_tables()
        b.create_tables()
        a.upsert(ALERTS, sample_rows(ALERTS, 2))
        assert a.query("SELECT count() AS n FROM alerts").column("n").to_pylist() == [2]
        assert b.query("SELECT count() AS n FROM alerts").column("n").to_pylist() == [0]
    with open_warehouse("clickhouse", clickhouse_dsn=_dsn(chdb_path), clickhouse_database=one) as again:
        assert again.query("SELECT count() AS n FROM alerts").column("n").to_pylist() == [2]


def test_a_second_engine_path_fails_while_the_first_is_open(chdb_path: Path, tmp_path: Path) -> None:
    with open_warehouse("clickhouse", clickhouse_dsn=_dsn(chdb_path), clickhouse_database="first") as first:
        first.create_tables()
        with pytest.raises(WarehouseError, match="one engine per process") as raised:
            open_warehouse("clickhouse", clickhouse_dsn=_dsn(tmp_path / "other"))
        assert "cannot connect with different path" in str(raised.value)
    with open_warehouse("clickhouse", clickhouse_dsn=_dsn(tmp_path / "other")) as other:
        assert other.query("SELECT 1 AS x").to_pylist() == [{"x": 1}]


def test_open_warehouse_checks_its_arguments() -> None:
    with pytest.raises(ValueError, match="duckdb_path"):
        open_warehouse("duckdb")
    with pytest.raises(ValueError, match="clickhouse_dsn"):
        open_warehouse("clickhouse")
    with pytest.raises(ValueError, match="unknown warehouse backend 'postgres'"):
        open_warehouse("postgres")
    with pytest.raises(ValueError, match="DuckDB settings"):
        open_warehouse("clickhouse", clickhouse_dsn="chdb:///x", duckdb_path="a.duckdb")
    with pytest.raises(ValueError, match="database"):
        open_warehouse("clickhouse", clickhouse_dsn="chdb:///x", clickhouse_database="x; DROP")
