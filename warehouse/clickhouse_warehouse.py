"""The scale-out warehouse: ClickHouse through clickhouse-connect.

Production connects to a ClickHouse server (`dsn="clickhouse://user:pass@host:8123"` or
`host=...`); tests and single-machine runs use clickhouse-connect's in-process chdb backend
(`dsn="chdb:///some/dir"`), which runs the real ClickHouse engine.

Guarantees on top of `Warehouse`'s:

- every table lives in one database (default `playpulse`) and is a `ReplacingMergeTree` ordered
  by the spec key, with a hidden `_version` column (MATERIALIZED insert time in ns) as its
  version: the newest write of a key wins, so `upsert` is a plain insert and writing the same
  rows twice changes nothing; tables with a partition column are partitioned by its day;
- every read runs with the setting `final = 1`, so queries (analysts' too) see each key once
  without writing FINAL;
- `replace_partition` writes the rows to a staging table with the same structure and swaps the
  day's partition in with one `ALTER TABLE ... REPLACE PARTITION` (atomic); empty data drops
  the partition;
- `events` is a view over the lake read by the `file()` table function (a local lake) or
  `s3()` (an `s3://` or `https://` lake URL, credentials from the server or a named
  collection), with the Hive partition columns typed by the view's structure;
- String columns come back as Arrow strings, except binary data (a sketch): columns named like
  a BINARY spec column, and any column that is not valid UTF-8, come back as Arrow binary.

chdb hosts one engine per process: every client of a process must use the same path, and a
different path opens only after all clients of the first are closed (the error says so).
"""

from __future__ import annotations

import datetime as dt
import os
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import clickhouse_connect
import pyarrow as pa
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import ClickHouseError

from warehouse.base import CatalogColumn, CatalogTable, Params, Warehouse, lake_events_glob
from warehouse.errors import WarehouseError
from warehouse.logical_types import LogicalType
from warehouse.parameters import to_clickhouse
from warehouse.tables import EVENTS, TABLES, Column, Table

__all__ = ["ClickHouseWarehouse"]

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_VERSION_COLUMN = (
    "`_version` UInt64 MATERIALIZED toUnixTimestamp64Nano(now64(9)) "
    "COMMENT 'Internal: insert time in ns, the ReplacingMergeTree version (the newest row of a key wins).'"
)
_BINARY_COLUMNS = frozenset(
    c.name for t in TABLES.values() for c in t.columns if c.type is LogicalType.BINARY
)
_READ_SETTINGS = {"final": 1}


def _ident(name: str) -> str:
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


def _literal(text: str) -> str:
    """A ClickHouse string literal; only for spec text and configured paths, never for values."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _column_type(column: Column) -> str:
    return f"Nullable({column.type.clickhouse})" if column.nullable else column.type.clickhouse


def _column_ddl(column: Column) -> str:
    return f"{_ident(column.name)} {_column_type(column)} COMMENT {_literal(column.comment)}"


def _checked_identifier(name: str, what: str) -> str:
    if not _IDENTIFIER.match(name):
        raise ValueError(
            f"{what} {name!r} must be letters, digits and underscores, starting with a letter or _"
        )
    return name


class ClickHouseWarehouse(Warehouse):
    """The warehouse in database `database` of the ClickHouse reached by `client`."""

    backend = "clickhouse"

    def __init__(
        self, client: Client, *, database: str = "playpulse", s3_named_collection: str | None = None
    ):
        self._client: Client | None = client
        self.database = _checked_identifier(database, "database")
        self.s3_named_collection = (
            None
            if s3_named_collection is None
            else _checked_identifier(s3_named_collection, "named collection")
        )
        if self._database_exists():
            client.database = self.database

    @classmethod
    def connect(
        cls,
        dsn: str | None = None,
        *,
        database: str = "playpulse",
        s3_named_collection: str | None = None,
        **client_kwargs: Any,
    ) -> ClickHouseWarehouse:
        """Connect with `clickhouse_connect.get_client(dsn=..., **client_kwargs)`.

        `dsn` is `chdb:///dir` for the in-process engine or `clickhouse://user:password@host:port`
        for a server; `client_kwargs` are get_client's (host, port, username, password, secure, ...).
        """
        target = dsn or client_kwargs.get("host") or "localhost"
        what = (
            f"cannot connect to ClickHouse at {_redact(target)} (check the server, host, port, credentials)"
        )
        with _engine_errors(what):
            client = clickhouse_connect.get_client(dsn=dsn, **client_kwargs)
        try:
            return cls(client, database=database, s3_named_collection=s3_named_collection)
        except BaseException:
            client.close()
            raise

    # -- schema -------------------------------------------------------------------------------

    def create_tables(self) -> None:
        client = self._connection()
        with _engine_errors("ClickHouse could not create the warehouse tables"):
            client.command(f"CREATE DATABASE IF NOT EXISTS {_ident(self.database)}")
            client.database = self.database
        live = {t.name: t for t in self.catalog()}
        with _engine_errors("ClickHouse could not create the warehouse tables"):
            for spec in TABLES.values():
                if spec.kind != "table":
                    continue
                if spec.name in live:
                    self._check_columns(spec, live[spec.name])
                    self._sync_comments(spec, live[spec.name])
                else:
                    client.command(self._create_table_sql(spec))

    def _qualified(self, name: str) -> str:
        return f"{_ident(self.database)}.{_ident(name)}"

    def _create_table_sql(self, spec: Table, name: str | None = None) -> str:
        columns = ",\n  ".join([*(_column_ddl(c) for c in spec.columns), _VERSION_COLUMN])
        partition = ""
        if spec.partition_column is not None:
            column = _ident(spec.partition_column)
            by_day = (
                column if spec.column(spec.partition_column).type is LogicalType.DATE else f"toDate({column})"
            )
            partition = f"\nPARTITION BY {by_day}"
        order = ", ".join(_ident(k) for k in spec.key)
        return (
            f"CREATE TABLE IF NOT EXISTS {self._qualified(name or spec.name)} (\n  {columns}\n)\n"
            f"ENGINE = ReplacingMergeTree(`_version`){partition}\n"
            f"ORDER BY ({order})\n"
            f"COMMENT {_literal(spec.comment)}"
        )

    def _sync_comments(self, spec: Table, live: CatalogTable) -> None:
        client = self._connection()
        if live.comment != spec.comment:
            client.command(
                f"ALTER TABLE {self._qualified(spec.name)} MODIFY COMMENT {_literal(spec.comment)}"
            )
        live_comments = {c.name: c.comment for c in live.columns}
        for column in spec.columns:
            if live_comments.get(column.name) != column.comment:
                client.command(
                    f"ALTER TABLE {self._qualified(spec.name)} "
                    f"COMMENT COLUMN {_ident(column.name)} {_literal(column.comment)}"
                )

    def attach_lake(self, lake_dir: str | os.PathLike[str]) -> None:
        client = self._connection()
        with _engine_errors(f"ClickHouse could not attach the lake at {os.fspath(lake_dir)}"):
            client.command(f"CREATE DATABASE IF NOT EXISTS {_ident(self.database)}")
            client.database = self.database
            client.command(self._events_view_sql(lake_events_glob(lake_dir)))

    def _events_view_sql(self, glob: str) -> str:
        structure = _literal(", ".join(f"{c.name} {_column_type(c)}" for c in EVENTS.columns))
        if "://" not in glob:
            source = f"file({_literal(glob)}, 'Parquet', {structure})"
        elif self.s3_named_collection:
            source = (
                f"s3({self.s3_named_collection}, url = {_literal(glob)}, format = 'Parquet', "
                f"structure = {structure})"
            )
        else:
            source = f"s3({_literal(glob)}, 'Parquet', {structure})"
        columns = ",\n  ".join(_column_ddl(c) for c in EVENTS.columns)
        names = ", ".join(_ident(c.name) for c in EVENTS.columns)
        dedup = ", ".join(_ident(k) for k in EVENTS.key)
        return (
            f"CREATE OR REPLACE VIEW {self._qualified(EVENTS.name)} (\n  {columns}\n) AS\n"
            f"SELECT {names} FROM {source}\n"
            f"LIMIT 1 BY {dedup}\n"
            f"SETTINGS use_hive_partitioning = 1\n"
            f"COMMENT {_literal(EVENTS.comment)}"
        )

    def table_names(self) -> list[str]:
        return sorted(t.name for t in self.catalog())

    def catalog(self) -> list[CatalogTable]:
        tables = self.query(
            "SELECT name, comment FROM system.tables WHERE database = $db ORDER BY name",
            {"db": self.database},
        ).to_pylist()
        columns = self.query(
            "SELECT table, name, type, comment FROM system.columns WHERE database = $db "
            "ORDER BY table, position",
            {"db": self.database},
        ).to_pylist()
        by_table: dict[str, list[CatalogColumn]] = {}
        for row in columns:
            if not row["name"].startswith("_"):
                by_table.setdefault(row["table"], []).append(
                    CatalogColumn(row["name"], row["type"], row["comment"])
                )
        return [
            CatalogTable(t["name"], t["comment"], tuple(by_table.get(t["name"], ())))
            for t in tables
            if not t["name"].startswith("_")
        ]

    # -- SQL ----------------------------------------------------------------------------------

    def query(self, sql: str, params: Params | None = None) -> pa.Table:
        bound_sql, values = to_clickhouse(sql, params)
        client = self._connection()
        with _engine_errors("ClickHouse rejected the query", sql):
            table = client.query_arrow(bound_sql, parameters=values or None, settings=_READ_SETTINGS)
        return _binary_where_needed(table)

    def execute(self, sql: str, params: Params | None = None) -> None:
        bound_sql, values = to_clickhouse(sql, params)
        client = self._connection()
        with _engine_errors("ClickHouse rejected the statement", sql):
            client.command(bound_sql, parameters=values or None)

    def _database_exists(self) -> bool:
        client = self._connection()
        with _engine_errors("ClickHouse could not list its databases"):
            rows = client.query(
                "SELECT count() FROM system.databases WHERE name = {db:String}",
                parameters={"db": self.database},
            ).result_rows
        return bool(rows[0][0])

    # -- writes -------------------------------------------------------------------------------

    def _insert(self, spec: Table, rows: pa.Table) -> None:
        with _engine_errors(f"ClickHouse could not insert into {spec.name}"):
            self._connection().insert_arrow(spec.name, rows, database=self.database)

    def _upsert(self, spec: Table, rows: pa.Table) -> None:
        # A ReplacingMergeTree keyed by the spec key: the newest row of a key is the one read.
        self._insert(spec, rows)

    def _replace_partition(self, spec: Table, rows: pa.Table, day: dt.date) -> None:
        client = self._connection()
        target = self._qualified(spec.name)
        if rows.num_rows == 0:
            with _engine_errors(f"ClickHouse could not empty {spec.name} for {day}"):
                client.command(f"ALTER TABLE {target} DROP PARTITION {{day:Date}}", parameters={"day": day})
            return
        staging = f"_stage_{spec.name}_{uuid.uuid4().hex[:12]}"
        with _engine_errors(f"ClickHouse could not replace {spec.name} for {day}"):
            client.command(f"CREATE TABLE {self._qualified(staging)} AS {target}")
            try:
                client.insert_arrow(staging, rows, database=self.database)
                client.command(
                    f"ALTER TABLE {target} REPLACE PARTITION {{day:Date}} FROM {self._qualified(staging)}",
                    parameters={"day": day},
                )
            finally:
                client.command(f"DROP TABLE IF EXISTS {self._qualified(staging)} SYNC")

    # -- lifecycle ----------------------------------------------------------------------------

    def _connection(self) -> Client:
        if self._client is None:
            raise WarehouseError("this ClickHouse warehouse is closed; open a new one")
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def _binary_where_needed(table: pa.Table) -> pa.Table:
    """Return String columns holding binary data (sketches, invalid UTF-8) as Arrow binary."""
    for index, field in enumerate(table.schema):
        if not pa.types.is_string(field.type):
            continue
        column = table.column(index)
        binary = field.name in _BINARY_COLUMNS
        if not binary:
            try:
                column.validate(full=True)
            except pa.ArrowInvalid:
                binary = True
        if binary:
            table = table.set_column(
                index, pa.field(field.name, pa.binary(), field.nullable), column.cast(pa.binary())
            )
    return table


def _redact(target: str) -> str:
    """A DSN without its password, for error messages."""
    return re.sub(r"(//[^:/@]+:)[^@]*@", r"\1***@", target)


@contextmanager
def _engine_errors(what: str, sql: str | None = None) -> Iterator[None]:
    try:
        yield
    except ClickHouseError as exc:
        message = str(exc).strip()
        hint = ""
        if "already initialized with path" in message:
            hint = (
                " (chdb runs one engine per process: open every chdb warehouse of this process on the same "
                "path, with a different database if they must be separate, or close the others first)"
            )
        raise WarehouseError(f"{what}: {message}{hint}", sql=sql) from exc
