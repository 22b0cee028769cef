"""One logical type system for every warehouse column, mapped to DuckDB, ClickHouse and Arrow.

A table spec names a `LogicalType`; each backend writes the matching engine type, and every write
is cast to the matching Arrow type first, so both engines store the same values. Guarantees:

- every logical type has exactly one DuckDB, one ClickHouse and one Arrow spelling;
- times are UTC: `TIMESTAMP` is DuckDB `TIMESTAMPTZ` (the DuckDB session runs in UTC) and
  ClickHouse `DateTime64(3, 'UTC')`, millisecond precision on write;
- nullability is not part of the logical type: a column adds `NOT NULL` (DuckDB) or
  `Nullable(...)` (ClickHouse) itself. ClickHouse cannot make a `Map` nullable, so
  `STRING_MAP` columns are never nullable (an empty map stands for "none"); nor can it make an
  `Array` nullable, so array columns are never nullable either (an empty array stands for "none").
"""

from __future__ import annotations

from enum import Enum

import pyarrow as pa

__all__ = ["LogicalType"]


class LogicalType(Enum):
    """A column type, with its DuckDB, ClickHouse and Arrow spellings."""

    STRING = ("VARCHAR", "String", pa.string())
    INT32 = ("INTEGER", "Int32", pa.int32())
    INT64 = ("BIGINT", "Int64", pa.int64())
    FLOAT64 = ("DOUBLE", "Float64", pa.float64())
    BOOL = ("BOOLEAN", "Bool", pa.bool_())
    DATE = ("DATE", "Date", pa.date32())
    TIMESTAMP = ("TIMESTAMPTZ", "DateTime64(3, 'UTC')", pa.timestamp("ms", tz="UTC"))
    BINARY = ("BLOB", "String", pa.binary())
    STRING_MAP = ("MAP(VARCHAR, VARCHAR)", "Map(String, String)", pa.map_(pa.string(), pa.string()))
    INT32_ARRAY = ("INTEGER[]", "Array(Int32)", pa.list_(pa.int32()))
    FLOAT64_ARRAY = ("DOUBLE[]", "Array(Float64)", pa.list_(pa.float64()))

    def __init__(self, duckdb: str, clickhouse: str, arrow: pa.DataType) -> None:
        self.duckdb = duckdb
        self.clickhouse = clickhouse
        self.arrow = arrow

    @classmethod
    def from_arrow(cls, arrow_type: pa.DataType) -> LogicalType:
        """The logical type spelled `arrow_type` in Arrow (derives `events` from the lake schema)."""
        for member in cls:
            if member.arrow.equals(arrow_type):
                return member
        raise ValueError(f"no logical type for Arrow type {arrow_type}; add one to warehouse.logical_types")
