"""The raw-event lake: Parquet files under Hive partitions `events/event_date=YYYY-MM-DD/hour=H/`.

Layout and guarantees:
- Partitions are by event time (UTC) of each event, so late events land in the hour they happened.
- Files hold the columns of `schemas.events.EVENT_SCHEMA` with user ids already pseudonymized; the
  partition columns live only in the path.
- A file appears whole or not at all: it is written to a temporary name, fsynced, renamed and
  the directory fsynced. Readers never see half a file; after a crash only `*.tmp` files remain,
  and `remove_temporary` deletes them.
- File names say who wrote them: `p{kafka partition:02d}-…` by the lander (the deduplication state
  of a Kafka partition is rebuilt from its files), `sim-…` by the simulator's history backfill
  (deterministic names, so a re-run overwrites instead of duplicating).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

__all__ = [
    "EVENTS_DIR",
    "EVENTS_GLOB",
    "hour_dir",
    "iter_hour_groups",
    "list_files",
    "read_event_ids",
    "remove_temporary",
    "write_atomic",
    "write_events",
]

EVENTS_DIR = "events"
#: The event files, relative to the lake root: what readers glob (`warehouse.base.lake_events_glob`).
EVENTS_GLOB = f"{EVENTS_DIR}/event_date=*/hour=*/*.parquet"
_HOUR_MS = 3_600_000


def hour_dir(lake_dir: Path, hour_index: int) -> Path:
    """Directory of the UTC hour `hour_index` (hours since the epoch)."""
    moment = datetime.fromtimestamp(hour_index * 3600, tz=UTC)
    return lake_dir / EVENTS_DIR / f"event_date={moment:%Y-%m-%d}" / f"hour={moment.hour}"


def iter_hour_groups(table: pa.Table) -> Iterator[tuple[int, pa.Table]]:
    """Split events by UTC hour of `event_ts_ms`: yields (hours since epoch, rows of that hour)."""
    if table.num_rows == 0:
        return
    hours = pc.divide(table["event_ts_ms"], _HOUR_MS).to_numpy()
    order = np.argsort(hours, kind="stable")
    sorted_hours = hours[order]
    bounds = np.flatnonzero(np.diff(sorted_hours)) + 1
    starts = np.concatenate(([0], bounds))
    ends = np.concatenate((bounds, [len(order)]))
    for start, end in zip(starts, ends, strict=True):
        yield int(sorted_hours[start]), table.take(pa.array(order[start:end]))


def write_atomic(table: pa.Table, path: Path) -> Path:
    """Write `table` to `path` as Parquet so that the file appears whole or not at all."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    with open(tmp, "wb") as handle:
        pq.write_table(table, handle, compression="zstd")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
    return path


def write_events(lake_dir: Path, table: pa.Table, file_stem: str) -> list[Path]:
    """Write events into their hour partitions as `<file_stem>.parquet`, one file per hour touched."""
    return [
        write_atomic(rows, hour_dir(lake_dir, hour) / f"{file_stem}.parquet")
        for hour, rows in iter_hour_groups(table)
    ]


def list_files(lake_dir: Path, prefix: str = "", hour_index: int | None = None) -> list[Path]:
    """Lake files whose name starts with `prefix`, in one hour or in all of them."""
    if hour_index is not None:
        return sorted(hour_dir(lake_dir, hour_index).glob(f"{prefix}*.parquet"))
    return sorted(lake_dir.glob(EVENTS_GLOB.replace("*.parquet", f"{prefix}*.parquet")))


def read_event_ids(files: list[Path]) -> set[str]:
    ids: set[str] = set()
    for file in files:
        ids.update(pq.read_table(file, columns=["event_id"])["event_id"].to_pylist())
    return ids


def remove_temporary(lake_dir: Path, prefix: str = "") -> int:
    """Delete temporary files a crashed writer left behind; returns how many."""
    removed = 0
    for tmp in (lake_dir / EVENTS_DIR).glob(f"event_date=*/hour=*/.{prefix}*.tmp"):
        tmp.unlink(missing_ok=True)
        removed += 1
    return removed
