"""The `Warehouse` interface every package uses, whichever engine is behind it.

Guarantees of every implementation (DuckDB and ClickHouse run the same tests):

- `create_tables()` is idempotent: it creates what is missing, refreshes table and column
  comments, and raises WarehouseError when an existing table has other columns than its spec.
- `attach_lake(lake_dir)` (re)creates the `events` view over
  `<lake_dir>/events/event_date=*/hour=*/*.parquet` with Hive partition columns; an empty or
  missing lake gives zero rows with the right columns, and files written later show up without
  attaching again.
- Values are always bound as parameters, written `$name` in the SQL (see `warehouse.parameters`);
  identifiers and comments written into DDL come only from the specs in `warehouse.tables`.
- `insert` appends; `upsert` inserts or replaces rows by the table's key, so writing the same
  rows twice leaves the table as after once; `replace_partition` atomically swaps every row of
  one date for `data` (nightly jobs are idempotent per date). Within one write, the last row of
  a key wins. Every write is first cast to the table's Arrow schema (`Table.conform`).
- Reads see each key once: ClickHouse reads with FINAL semantics (setting `final = 1`).
- Engine failures raise WarehouseError with the engine's message; bad arguments raise
  ValueError/TypeError.
"""

from __future__ import annotations

import datetime as dt
import os
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, ClassVar, Self

import pyarrow as pa

from warehouse.errors import WarehouseError
from warehouse.lake import EVENTS_GLOB
from warehouse.tables import Table, table_spec

__all__ = [
    "LAKE_EVENTS_GLOB",
    "CatalogColumn",
    "CatalogTable",
    "Params",
    "Warehouse",
    "WarehouseError",
    "lake_events_glob",
    "last_per_key",
]

#: Where the lake keeps raw events, relative to the lake root (the lake writer's layout).
LAKE_EVENTS_GLOB = EVENTS_GLOB

Params = Mapping[str, Any]


def lake_events_glob(lake_dir: str | os.PathLike[str]) -> str:
    """The glob of the lake's event files: an absolute local path, or a URL (s3://, https://) as given."""
    text = os.fspath(lake_dir)
    if "://" in text:
        return f"{text.rstrip('/')}/{LAKE_EVENTS_GLOB}"
    return os.path.join(os.path.abspath(text), *LAKE_EVENTS_GLOB.split("/"))


def last_per_key(data: pa.Table, key: tuple[str, ...]) -> pa.Table:
    """`data` with one row per key: the last one, in the original order of those rows."""
    if data.num_rows < 2:
        return data
    indexed = data.append_column("__row", pa.array(range(data.num_rows), pa.int64()))
    last = indexed.group_by(list(key), use_threads=False).aggregate([("__row", "max")])
    if last.num_rows == data.num_rows:
        return data
    keep = sorted(last.column("__row_max").to_pylist())
    return data.take(pa.array(keep, pa.int64()))


@dataclass(frozen=True)
class CatalogColumn:
    """A column as the live engine's catalog describes it."""

    name: str
    type: str
    comment: str


@dataclass(frozen=True)
class CatalogTable:
    """A table or view as the live engine's catalog describes it."""

    name: str
    comment: str
    columns: tuple[CatalogColumn, ...]


class Warehouse(ABC):
    """A warehouse: the tables of `warehouse.tables` in one engine, plus the `events` view of the lake.

    Use it as a context manager, or call `close()`. SQL values are written `$name` and passed in
    `params`; results are Arrow tables.
    """

    #: "duckdb" or "clickhouse".
    backend: ClassVar[str]

    # -- schema -------------------------------------------------------------------------------

    @abstractmethod
    def create_tables(self) -> None:
        """Create every table of the specs that is missing and refresh all comments (idempotent)."""

    @abstractmethod
    def attach_lake(self, lake_dir: str | os.PathLike[str]) -> None:
        """Create or refresh the `events` view over the lake rooted at `lake_dir` (a path or URL)."""

    @abstractmethod
    def table_names(self) -> list[str]:
        """Names of the tables and views in the warehouse, sorted."""

    @abstractmethod
    def catalog(self) -> list[CatalogTable]:
        """The tables, views, columns, engine types and comments as the live engine reports them."""

    # -- SQL ----------------------------------------------------------------------------------

    @abstractmethod
    def query(self, sql: str, params: Params | None = None) -> pa.Table:
        """Run a query and return its rows; `$name` placeholders are bound from `params`."""

    @abstractmethod
    def execute(self, sql: str, params: Params | None = None) -> None:
        """Run a statement that returns no rows (DDL, DML); `$name` placeholders are bound from `params`."""

    # -- writes -------------------------------------------------------------------------------

    def insert(self, table: str | Table, data: pa.Table) -> int:
        """Append `data` to `table`; returns the rows written.

        For rows whose key may already exist use `upsert`: a repeated key is an error in DuckDB
        and replaces the old row in ClickHouse.
        """
        spec = self._writable(table)
        rows = spec.conform(data)
        if rows.num_rows:
            self._insert(spec, rows)
        return rows.num_rows

    def upsert(self, table: str | Table, data: pa.Table) -> int:
        """Insert `data`, replacing rows with the same key; returns the rows written (after dedup)."""
        spec = self._writable(table)
        rows = last_per_key(spec.conform(data), spec.key)
        if rows.num_rows:
            self._upsert(spec, rows)
        return rows.num_rows

    def replace_partition(self, table: str | Table, data: pa.Table, column: str, value: dt.date | str) -> int:
        """Atomically delete the rows of `table` where `column = value` and insert `data`.

        `column` must be the table's DATE partition column and every row of `data` must have
        `column = value`; `value` is a date or an ISO date string. Empty `data` empties the
        partition. Returns the rows written.
        """
        spec = self._writable(table)
        if not spec.replaceable_by_date:
            raise ValueError(f"{spec.name} has no date partition to replace; write it with upsert")
        if column != spec.partition_column:
            raise ValueError(f"{spec.name} is replaced per {spec.partition_column}, not per {column}")
        day = dt.date.fromisoformat(value) if isinstance(value, str) else value
        if isinstance(day, dt.datetime) or not isinstance(day, dt.date):
            raise TypeError(f"value must be a date or an ISO date string, got {value!r}")
        rows = last_per_key(spec.conform(data), spec.key)
        outside = spec.rows_outside(rows, column, day)
        if outside:
            raise ValueError(f"{outside} row(s) of the data have {column} other than {day.isoformat()}")
        self._replace_partition(spec, rows, day)
        return rows.num_rows

    @abstractmethod
    def _insert(self, spec: Table, rows: pa.Table) -> None: ...

    @abstractmethod
    def _upsert(self, spec: Table, rows: pa.Table) -> None: ...

    @abstractmethod
    def _replace_partition(self, spec: Table, rows: pa.Table, day: dt.date) -> None: ...

    @staticmethod
    def _writable(table: str | Table) -> Table:
        spec = table_spec(table)
        if spec.kind != "table":
            raise ValueError(f"{spec.name} is a {spec.kind} and cannot be written")
        return spec

    # -- lifecycle ----------------------------------------------------------------------------

    @abstractmethod
    def close(self) -> None:
        """Release the connection; the warehouse cannot be used afterwards. Safe to call twice."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- shared by implementations ------------------------------------------------------------

    def _check_columns(self, spec: Table, live: CatalogTable) -> None:
        """WarehouseError when a live table's columns differ from its spec (no silent drift)."""
        live_names = tuple(c.name for c in live.columns)
        if live_names != spec.column_names:
            raise WarehouseError(
                f"table {spec.name} exists with columns ({', '.join(live_names)}) but the spec has "
                f"({', '.join(spec.column_names)}); migrate the table (ALTER TABLE) or drop it and rebuild it"
            )
