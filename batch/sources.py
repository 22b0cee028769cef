"""What nightly jobs read, as Spark DataFrames: the raw-event lake and rows already published.

- `SparkLake.events(first, last)` reads the Parquet files of the lake's `event_date` partitions in
  [first, last] with the columns of `schemas.events.EVENT_SCHEMA` (a file written before a column
  existed reads it as NULL), without deduplication: jobs drop redelivered copies where it matters
  (see `batch.sessions.deduplicated`). Missing partitions read as no rows.
- `WarehouseTables.published(table, first, last)` pulls a table's rows of those partition dates
  out of the warehouse (DuckDB or ClickHouse, through the `Warehouse` interface) as Arrow and
  hands them to Spark; it is for the modest history jobs need (sessions of a test, a week of
  engagement), not for bulk reads.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.pandas.types import from_arrow_schema

from schemas.events import EVENT_SCHEMA
from warehouse.base import Warehouse
from warehouse.lake import EVENTS_DIR
from warehouse.tables import Table

__all__ = ["SparkLake", "WarehouseTables", "spark_frame"]


def spark_frame(spark: SparkSession, data: pa.Table, table: Table) -> DataFrame:
    """An Arrow table conforming to `table` as a Spark DataFrame (with the spec's schema when empty)."""
    rows = table.conform(data)
    if rows.num_rows == 0:
        return spark.createDataFrame([], from_arrow_schema(table.arrow_schema))
    return spark.createDataFrame(rows)


class SparkLake:
    """The raw-event lake rooted at `lake_dir` (a local path or a URL Spark can read)."""

    def __init__(self, spark: SparkSession, lake_dir: str | os.PathLike[str]) -> None:
        self.spark = spark
        self.root = os.fspath(lake_dir).rstrip("/")
        self._schema = from_arrow_schema(EVENT_SCHEMA)

    def events(self, first: dt.date, last: dt.date) -> DataFrame:
        if last < first:
            raise ValueError(f"last ({last}) is before first ({first})")
        base = f"{self.root}/{EVENTS_DIR}"
        days = [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]
        paths = [f"{base}/event_date={day.isoformat()}" for day in days]
        if "://" not in base:
            paths = [p for p in paths if any(Path(p).glob("hour=*/*.parquet"))]
        if not paths:
            return self.spark.createDataFrame([], self._schema)
        frame = self.spark.read.schema(self._schema).option("basePath", base).parquet(*paths)
        return frame.select(*EVENT_SCHEMA.names)


class WarehouseTables:
    """Published rows of the warehouse's tables, for jobs that need history."""

    def __init__(self, spark: SparkSession, warehouse: Warehouse) -> None:
        self.spark = spark
        self.warehouse = warehouse

    def published(
        self, table: Table, first: dt.date, last: dt.date, columns: Sequence[str] | None = None
    ) -> DataFrame:
        column = table.partition_column
        if column is None:
            raise ValueError(f"{table.name} has no partition column to select dates by")
        names = list(columns) if columns is not None else list(table.column_names)
        for name in names:
            table.column(name)  # KeyError naming the table's columns for a typo
        select = ", ".join(f'"{name}"' for name in names)
        rows = self.warehouse.query(
            f'SELECT {select} FROM "{table.name}" WHERE "{column}" BETWEEN $first AND $last',
            {"first": first, "last": last},
        )
        schema = pa.schema([table.column(n).arrow_field for n in names])
        rows = rows.select(names).cast(schema) if rows.num_rows else schema.empty_table()
        if rows.num_rows == 0:
            return self.spark.createDataFrame([], from_arrow_schema(schema))
        return self.spark.createDataFrame(rows)
