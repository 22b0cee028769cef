"""The playpulse warehouse: one `Warehouse` interface over DuckDB (embedded default) and ClickHouse.

    from warehouse import open_warehouse

    with open_warehouse("duckdb", duckdb_path="playpulse.duckdb") as wh:
        wh.create_tables()
        wh.attach_lake("lake/")
        rows = wh.query("SELECT count(*) AS n FROM events WHERE event_date = $day", {"day": day})

SQL values are always written `$name` and passed as parameters (see `warehouse.parameters`).
The tables are specified in `warehouse.tables`; `docs/data-dictionary.md` is generated from them
by `python -m warehouse.dictionary`. The engine modules are imported only when opened, so
importing this package does not load DuckDB or clickhouse-connect.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Literal

from warehouse.base import CatalogColumn, CatalogTable, Warehouse, lake_events_glob
from warehouse.errors import WarehouseError
from warehouse.tables import TABLES, Column, Table, table_spec

if TYPE_CHECKING:
    from warehouse.clickhouse_warehouse import ClickHouseWarehouse
    from warehouse.duckdb_warehouse import DuckDBWarehouse

__all__ = [
    "TABLES",
    "CatalogColumn",
    "CatalogTable",
    "ClickHouseWarehouse",
    "Column",
    "DuckDBWarehouse",
    "Table",
    "Warehouse",
    "WarehouseError",
    "lake_events_glob",
    "open_warehouse",
    "table_spec",
]

Backend = Literal["duckdb", "clickhouse"]


def open_warehouse(
    backend: Backend | str,
    *,
    duckdb_path: str | os.PathLike[str] | None = None,
    read_only: bool = False,
    clickhouse_dsn: str | None = None,
    clickhouse_database: str = "playpulse",
    s3_named_collection: str | None = None,
    **clickhouse_client_kwargs: Any,
) -> Warehouse:
    """Open the warehouse of `backend`.

    duckdb: `duckdb_path` is the database file (":memory:" for a throwaway one); `read_only`
    opens it for reading while another process writes.
    clickhouse: `clickhouse_dsn` is `chdb:///dir` (in-process engine) or
    `clickhouse://user:password@host:8123` (a server), or pass get_client's keyword arguments
    (host=..., port=..., username=..., password=...); tables live in `clickhouse_database`;
    `s3_named_collection` names the server-side credentials for an S3 lake.
    """
    if backend == "duckdb":
        if duckdb_path is None:
            raise ValueError(
                "the duckdb backend needs duckdb_path (use ':memory:' for a throwaway warehouse)"
            )
        if clickhouse_dsn is not None or clickhouse_client_kwargs:
            raise ValueError("ClickHouse settings were given for the duckdb backend")
        from warehouse.duckdb_warehouse import DuckDBWarehouse

        return DuckDBWarehouse(duckdb_path, read_only=read_only)
    if backend == "clickhouse":
        if clickhouse_dsn is None and "host" not in clickhouse_client_kwargs:
            raise ValueError("the clickhouse backend needs clickhouse_dsn (e.g. chdb:///path) or host=...")
        if duckdb_path is not None or read_only:
            raise ValueError("DuckDB settings were given for the clickhouse backend")
        from warehouse.clickhouse_warehouse import ClickHouseWarehouse

        return ClickHouseWarehouse.connect(
            clickhouse_dsn,
            database=clickhouse_database,
            s3_named_collection=s3_named_collection,
            **clickhouse_client_kwargs,
        )
    raise ValueError(f"unknown warehouse backend {backend!r}; use 'duckdb' or 'clickhouse'")


def __getattr__(name: str) -> Any:
    # The engine classes are exported lazily, so `import warehouse` loads neither engine.
    if name == "DuckDBWarehouse":
        from warehouse.duckdb_warehouse import DuckDBWarehouse

        return DuckDBWarehouse
    if name == "ClickHouseWarehouse":
        from warehouse.clickhouse_warehouse import ClickHouseWarehouse

        return ClickHouseWarehouse
    raise AttributeError(f"module 'warehouse' has no attribute {name!r}")
