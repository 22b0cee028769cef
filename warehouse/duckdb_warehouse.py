"""The embedded default warehouse: one DuckDB file (or `:memory:`) plus the Parquet lake.

Tables get a PRIMARY KEY on their spec key; `upsert` deletes the keys it writes and inserts the
rows in one transaction (faster than `INSERT OR REPLACE`), `replace_partition` a DELETE + INSERT
in one transaction. Tables, views and columns carry `COMMENT ON` comments
from the specs. The session time zone is UTC, so TIMESTAMPTZ values read back as UTC.

The `events` view reads the lake with `read_parquet(..., hive_partitioning = true,
union_by_name = true, allow_empty = true)` under a typed empty relation (`UNION ALL BY NAME`), so
an empty lake gives zero rows with the spec's columns, older files missing a newer column read
it as NULL (or, for a NOT NULL column, its type's zero value, as the Avro reader default does),
and filters on event_date/hour prune files. Redelivered copies of an event in one hour
partition are collapsed to the first received. Cost: binding the view reads the footer of every
lake file (that is what makes `union_by_name` exact), so a query over a lake of thousands of files
spends a fraction of a second before it starts; footers are cached per connection
(`parquet_metadata_cache`). Lakes of many more files belong on ClickHouse, which prunes by path.

One connection per warehouse, serialized by a lock, so one `DuckDBWarehouse` may be shared by
threads. A DuckDB file is opened read-write by one process at a time; other processes can open
it with `read_only=True`.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import duckdb
import pyarrow as pa

from warehouse.base import CatalogColumn, CatalogTable, Params, Warehouse, lake_events_glob
from warehouse.errors import WarehouseError
from warehouse.logical_types import LogicalType
from warehouse.parameters import check_parameters
from warehouse.tables import EVENTS, TABLES, Column, Table

__all__ = ["DuckDBWarehouse"]

_ZERO = {
    LogicalType.STRING: "''",
    LogicalType.INT32: "0",
    LogicalType.INT64: "0",
    LogicalType.FLOAT64: "0",
    LogicalType.BOOL: "false",
    LogicalType.BINARY: "''::BLOB",
    LogicalType.STRING_MAP: "MAP {}",
}


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    """A DuckDB string literal (no backslash escapes in DuckDB); only for spec text and config paths."""
    return "'" + text.replace("'", "''") + "'"


def _column_ddl(column: Column) -> str:
    null = "" if column.nullable else " NOT NULL"
    return f"{_ident(column.name)} {column.type.duckdb}{null}"


def _create_table_sql(spec: Table) -> str:
    columns = [_column_ddl(c) for c in spec.columns]
    columns.append(f"PRIMARY KEY ({', '.join(_ident(k) for k in spec.key)})")
    body = ",\n  ".join(columns)
    return f"CREATE TABLE IF NOT EXISTS {_ident(spec.name)} (\n  {body}\n)"


def _events_view_sql(glob: str) -> str:
    partitions = {EVENTS.partition_column, "hour"}
    empty = ", ".join(f"CAST(NULL AS {c.type.duckdb}) AS {_ident(c.name)}" for c in EVENTS.columns)
    hive_types = ", ".join(
        f"{_literal(c.name)}: {_literal(c.type.duckdb)}" for c in EVENTS.columns if c.name in partitions
    )
    select = []
    for c in EVENTS.columns:
        value = f"CAST({_ident(c.name)} AS {c.type.duckdb})"
        if c.name not in partitions and not c.nullable and c.type in _ZERO:
            value = f"COALESCE({value}, {_ZERO[c.type]})"
        select.append(f"{value} AS {_ident(c.name)}")
    dedup = ", ".join(_ident(k) for k in EVENTS.key)
    return (
        f"CREATE OR REPLACE VIEW {_ident(EVENTS.name)} AS\n"
        f"SELECT {', '.join(select)}\n"
        f"FROM (\n"
        f"  SELECT {empty} WHERE false\n"
        f"  UNION ALL BY NAME\n"
        f"  SELECT * FROM read_parquet({_literal(glob)}, hive_partitioning = true,"
        f" hive_types_autocast = false, hive_types = {{{hive_types}}},"
        f" union_by_name = true, allow_empty = true)\n"
        f")\n"
        f"QUALIFY row_number() OVER (PARTITION BY {dedup} ORDER BY {_ident('received_ts_ms')}) = 1"
    )


class DuckDBWarehouse(Warehouse):
    """The warehouse in a DuckDB file (`path`), or in memory with `":memory:"`."""

    backend = "duckdb"

    def __init__(self, path: str | os.PathLike[str] = ":memory:", *, read_only: bool = False) -> None:
        self.path = os.fspath(path)
        self._lock = threading.RLock()
        with _engine_errors(f"cannot open the DuckDB file {self.path}"):
            self._con: duckdb.DuckDBPyConnection | None = duckdb.connect(self.path, read_only=read_only)
            self._con.execute("SET TimeZone = 'UTC'")
            # Lake file footers are read at every bind of `events` (union_by_name); cache them.
            self._con.execute("SET parquet_metadata_cache = true")

    # -- schema -------------------------------------------------------------------------------

    def create_tables(self) -> None:
        live = {t.name: t for t in self.catalog()}
        with self._lock, _engine_errors("DuckDB could not create the warehouse tables"):
            con = self._connection()
            for spec in TABLES.values():
                if spec.kind != "table":
                    continue
                if spec.name in live:
                    self._check_columns(spec, live[spec.name])
                else:
                    con.execute(_create_table_sql(spec))
                self._comment(spec, "TABLE")

    def attach_lake(self, lake_dir: str | os.PathLike[str]) -> None:
        glob = lake_events_glob(lake_dir)
        with self._lock, _engine_errors(f"DuckDB could not attach the lake at {os.fspath(lake_dir)}"):
            self._connection().execute(_events_view_sql(glob))
            self._comment(EVENTS, "VIEW")

    def _comment(self, spec: Table, kind: str) -> None:
        con = self._connection()
        con.execute(f"COMMENT ON {kind} {_ident(spec.name)} IS {_literal(spec.comment)}")
        for c in spec.columns:
            con.execute(f"COMMENT ON COLUMN {_ident(spec.name)}.{_ident(c.name)} IS {_literal(c.comment)}")

    def table_names(self) -> list[str]:
        return sorted(t.name for t in self.catalog())

    def catalog(self) -> list[CatalogTable]:
        relations = self.query(
            "SELECT table_name AS name, comment FROM duckdb_tables() "
            "WHERE database_name = current_database() AND schema_name = current_schema() AND NOT internal "
            "UNION ALL "
            "SELECT view_name AS name, comment FROM duckdb_views() "
            "WHERE database_name = current_database() AND schema_name = current_schema() AND NOT internal"
        ).to_pylist()
        columns = self.query(
            "SELECT table_name, column_name, data_type, comment FROM duckdb_columns() "
            "WHERE database_name = current_database() AND schema_name = current_schema() "
            "ORDER BY table_name, column_index"
        ).to_pylist()
        by_table: dict[str, list[CatalogColumn]] = {}
        for row in columns:
            by_table.setdefault(row["table_name"], []).append(
                CatalogColumn(row["column_name"], row["data_type"], row["comment"] or "")
            )
        return [
            CatalogTable(r["name"], r["comment"] or "", tuple(by_table.get(r["name"], ())))
            for r in sorted(relations, key=lambda r: r["name"])
            if not r["name"].startswith("_")
        ]

    # -- SQL ----------------------------------------------------------------------------------

    def query(self, sql: str, params: Params | None = None) -> pa.Table:
        check_parameters(sql, params)
        with self._lock, _engine_errors("DuckDB rejected the query", sql):
            relation = self._connection().sql(sql, params=dict(params) if params else None)
            if relation is None:
                return pa.table({})
            return relation.to_arrow_table()

    def execute(self, sql: str, params: Params | None = None) -> None:
        check_parameters(sql, params)
        with self._lock, _engine_errors("DuckDB rejected the statement", sql):
            self._connection().execute(sql, dict(params) if params else None)

    # -- writes -------------------------------------------------------------------------------

    def _insert(self, spec: Table, rows: pa.Table) -> None:
        with self._lock, _engine_errors(f"DuckDB could not insert into {spec.name}"):
            self._insert_rows(spec, rows, "INSERT")

    def _upsert(self, spec: Table, rows: pa.Table) -> None:
        # DELETE the keys present, then INSERT, in one transaction: measured here on 25k qoe_minute
        # rows that all existed, 1.3 s against 3.5-9 s for INSERT OR REPLACE (same result).
        with self._lock, _engine_errors(f"DuckDB could not upsert into {spec.name}"):
            con = self._connection()
            source = f"_playpulse_rows_{uuid.uuid4().hex}"
            columns = ", ".join(_ident(c) for c in spec.column_names)
            same_key = " AND ".join(f"t.{_ident(k)} = s.{_ident(k)}" for k in spec.key)
            con.register(source, rows)
            try:
                con.execute("BEGIN TRANSACTION")
                try:
                    target = _ident(spec.name)
                    con.execute(f"DELETE FROM {target} t USING {_ident(source)} s WHERE {same_key}")
                    con.execute(
                        f"INSERT INTO {_ident(spec.name)} ({columns}) SELECT {columns} FROM {_ident(source)}"
                    )
                    con.execute("COMMIT")
                except BaseException:
                    con.execute("ROLLBACK")
                    raise
            finally:
                con.unregister(source)

    def _replace_partition(self, spec: Table, rows: pa.Table, day: dt.date) -> None:
        assert spec.partition_column is not None
        with self._lock, _engine_errors(f"DuckDB could not replace {spec.name} for {day}"):
            con = self._connection()
            con.execute("BEGIN TRANSACTION")
            try:
                con.execute(
                    f"DELETE FROM {_ident(spec.name)} WHERE {_ident(spec.partition_column)} = $day",
                    {"day": day},
                )
                if rows.num_rows:
                    self._insert_rows(spec, rows, "INSERT")
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise

    def _insert_rows(self, spec: Table, rows: pa.Table, verb: str) -> None:
        con = self._connection()
        source = f"_playpulse_rows_{uuid.uuid4().hex}"
        columns = ", ".join(_ident(c) for c in spec.column_names)
        con.register(source, rows)
        try:
            con.execute(f"{verb} INTO {_ident(spec.name)} ({columns}) SELECT {columns} FROM {_ident(source)}")
        finally:
            con.unregister(source)

    # -- lifecycle ----------------------------------------------------------------------------

    def _connection(self) -> duckdb.DuckDBPyConnection:
        if self._con is None:
            raise WarehouseError("this DuckDB warehouse is closed; open a new one")
        return self._con

    def close(self) -> None:
        with self._lock:
            if self._con is not None:
                self._con.close()
                self._con = None


@contextmanager
def _engine_errors(what: str, sql: str | None = None) -> Iterator[None]:
    try:
        yield
    except duckdb.Error as exc:
        message = str(exc).strip()
        hint = ""
        if "lock" in message.lower() and "conflicting" in message.lower():
            hint = " (another process has the file open for writing: stop it, or open with read_only=True)"
        raise WarehouseError(f"{what}: {message}{hint}", sql=sql) from exc
