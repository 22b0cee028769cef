"""The one exception the warehouse raises for engine failures.

DuckDB and ClickHouse errors are converted at the edge (`raise WarehouseError(...) from exc`):
the message is the engine's own, prefixed with which engine refused and, where known, what to
do about it, so an analyst's bad SQL prints as one readable line instead of a traceback. Plain
bad arguments from calling code (an unknown table, data missing a NOT NULL column) are
ValueError / TypeError, not WarehouseError.
"""

from __future__ import annotations

__all__ = ["WarehouseError"]


class WarehouseError(Exception):
    """The engine refused or could not run a statement; `sql` is the statement when there was one."""

    def __init__(self, message: str, *, sql: str | None = None) -> None:
        super().__init__(message)
        self.sql = sql
