"""Short-lived warehouse connections that wait while another process holds the DuckDB file.

DuckDB admits one writing process per file, and the stream jobs, the alerts app and the nightly
run all write to the same one. Each opens a connection per unit of work with `with_retry`, which
retries with backoff (50 ms doubling to 1 s) while the file is locked and gives up after
`retry_s`; any other error is raised at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from warehouse.base import Warehouse
from warehouse.errors import WarehouseError

__all__ = ["with_retry"]

T = TypeVar("T")


def with_retry(
    open_warehouse: Callable[[], Warehouse], action: Callable[[Warehouse], T], retry_s: float
) -> T:
    """`action` on a fresh connection from `open_warehouse`, retried while the file is locked."""
    deadline = time.monotonic() + retry_s
    delay = 0.05
    while True:
        try:
            with open_warehouse() as wh:
                return action(wh)
        except WarehouseError as exc:
            if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 1.0)
