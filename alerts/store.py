"""The alerts app's warehouse edge: history that warms the baselines, open alerts to resume, and
the `alerts` table the lifecycle writes.

DuckDB admits one writing process per file and the QoE job writes the same file, so every call
opens a short-lived connection and retries while another process holds the lock (as the QoE job
does); ClickHouse has no such limit.

- `history_frames(since_ms, until_ms)`: final `qoe_minute` rows of those windows, merged per
  window and slice into `WindowFrame`s (oldest first), read an hour at a time.
- `open_alerts()`: the incidents that were pending or firing when the app stopped.
- `write(rows)`: upserts alert rows (one per incident, the latest state wins).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any, TypeVar

import numpy as np
import pyarrow as pa

from alerts.frames import WindowFrame, frame_from_table
from warehouse import Warehouse
from warehouse.locking import with_retry
from warehouse.tables import ALERTS, QOE_DIMENSIONS

__all__ = ["AlertStore"]

log = logging.getLogger("playpulse.alerts.store")
T = TypeVar("T")
_HOUR_MS = 3_600_000
_COLUMNS = (
    "window_start, slice, "
    + ", ".join(QOE_DIMENSIONS)
    + ", attempts, starts, playing_ms, rebuffer_ms, rebuffers, "
    "start_failures, ebvs, playback_failures, vst_sketch, vst_p50_ms, vst_p90_ms, vst_p95_ms, vst_p99_ms"
)


def _ts(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


class AlertStore:
    def __init__(self, open_warehouse: Callable[[], Warehouse], *, retry_s: float = 30.0) -> None:
        self._open = open_warehouse
        self._retry_s = retry_s

    def with_warehouse(self, action: Callable[[Warehouse], T]) -> T:
        """Run `action` on a short-lived connection, retrying while another process holds the file."""
        return with_retry(self._open, action, self._retry_s)

    def latest_window_ms(self) -> int | None:
        def latest(wh: Warehouse) -> Any:
            return wh.query("SELECT max(window_start) AS w FROM qoe_minute WHERE NOT provisional")["w"][
                0
            ].as_py()

        value = self.with_warehouse(latest)
        return None if value is None else int(value.timestamp() * 1000)

    def history_frames(self, since_ms: int, until_ms: int) -> Iterator[WindowFrame]:
        """Closed windows in [since_ms, until_ms) from qoe_minute, merged per slice, oldest first."""
        for start in range(since_ms - since_ms % _HOUR_MS, until_ms, _HOUR_MS):
            lo, hi = max(start, since_ms), min(start + _HOUR_MS, until_ms)

            def read(wh: Warehouse, lo: int = lo, hi: int = hi) -> pa.Table:
                return wh.query(
                    f"SELECT {_COLUMNS} FROM qoe_minute WHERE window_start >= $lo AND window_start < $hi "
                    "AND NOT provisional ORDER BY window_start",
                    {"lo": _ts(lo), "hi": _ts(hi)},
                )

            table = self.with_warehouse(read)
            if table.num_rows == 0:
                continue
            column = table["window_start"].combine_chunks()
            starts = column.cast(pa.timestamp("ms", tz="UTC"), safe=False).cast(pa.int64()).to_numpy()
            table = table.drop_columns(["window_start"])
            for window in np.unique(starts).tolist():
                lo_row, hi_row = np.searchsorted(starts, [window, window + 1])
                yield frame_from_table(window, table.slice(int(lo_row), int(hi_row - lo_row)))

    def open_alert_rows(self) -> list[dict[str, Any]]:
        def read(wh: Warehouse) -> pa.Table:
            return wh.query("SELECT * FROM alerts WHERE state IN ('pending', 'firing') ORDER BY started_at")

        return self.with_warehouse(read).to_pylist()

    def recent_rows(self, limit: int = 50) -> list[dict[str, Any]]:
        def read(wh: Warehouse) -> pa.Table:
            return wh.query(
                "SELECT * FROM alerts "
                "ORDER BY (state IN ('pending', 'firing')) DESC, updated_at DESC LIMIT $n",
                {"n": limit},
            )

        return self.with_warehouse(read).to_pylist()

    def write(self, rows: list[dict[str, Any]]) -> int:
        if not rows:
            return 0
        table = ALERTS.conform(pa.Table.from_pylist(rows))
        return self.with_warehouse(lambda wh: wh.upsert(ALERTS, table))
