"""Weeks of simulated `sessions` rows, fast: the forecast and fill jobs' input in tests and the benchmark.

The nightly `sessions` job (Spark) is the platform's sessionization and has its own tests; the
forecast and fill jobs only read its output. Sessionizing weeks of history in Spark takes minutes
on two cores, so this builds the same rows from the simulator's events with one Arrow group-by
per session, with DESIGN.md's definitions for the columns the two jobs read: session_date = UTC
date of the first event, playing_ms = Σ played_ms, avg_bitrate_kbps = Σ bitrate × played ÷ Σ
played, and the session's title, region and oca_id. The QoE columns follow the same definitions
(attempt, start, VST, rebuffers, end reason, completion); experiments are left empty.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ingest.simulator import SimulationConfig, Simulator
from warehouse.tables import SESSIONS

__all__ = ["simulated_sessions"]

_DIMENSIONS = (
    "user_id",
    "title_id",
    "region",
    "country",
    "device_type",
    "device_os",
    "app_version",
    "isp",
    "cdn",
)


def simulated_sessions(config: SimulationConfig, rows_per_cut: int = 1_000_000) -> pa.Table:
    """`sessions` rows (conformed to the table) of every session the simulator requests in its range.

    One row per session: events are grouped in tables of about `rows_per_cut` events cut at
    session boundaries.
    """
    parts = [_sessions(table) for table in _session_tables(config, rows_per_cut)]
    return pa.concat_tables(parts) if parts else SESSIONS.arrow_schema.empty_table()


def _session_tables(config: SimulationConfig, rows_per_cut: int):  # noqa: ANN202 - generator of tables
    """Event tables cut at session boundaries: every session's events are in exactly one table."""
    pending: list[pa.RecordBatch] = []
    for batch in Simulator(config).event_batches(batch_rows=min(262_144, rows_per_cut)):
        pending.append(batch)
        if sum(b.num_rows for b in pending) >= rows_per_cut:
            table = pa.Table.from_batches(pending)
            # Sessions whose PLAY_END is in this table are complete; the rest wait for the next one.
            ended = pc.unique(table.filter(pc.equal(table["event_type"], "PLAY_END"))["session_id"])
            done = pc.is_in(table["session_id"], ended)
            yield table.filter(done)
            pending = table.filter(pc.invert(done)).to_batches()
    if pending:
        yield pa.Table.from_batches(pending)


def _sessions(events: pa.Table) -> pa.Table:
    etype = events["event_type"]
    played = pc.fill_null(events["played_ms"], 0).cast(pa.int64())
    bitrate = pc.fill_null(events["bitrate_kbps"], 0).cast(pa.int64())
    is_start = pc.equal(etype, "PLAY_START")
    work = pa.table(
        {
            "session_id": events["session_id"],
            "ts": events["event_ts_ms"],
            **{name: events[name] for name in _DIMENSIONS},
            "oca_id": events["oca_id"],
            "played": played,
            "bitrate_ms": pc.multiply(played, bitrate),
            "request": pc.equal(etype, "PLAY_REQUEST").cast(pa.int64()),
            "start": is_start.cast(pa.int64()),
            "vst": pc.if_else(is_start, events["startup_ms"], pa.scalar(None, events["startup_ms"].type)),
            "rebuffer": pc.fill_null(events["rebuffer_ms"], 0).cast(pa.int64()),
            "rebuffer_end": pc.equal(etype, "REBUFFER_END").cast(pa.int64()),
            "error": pc.equal(etype, "ERROR").cast(pa.int64()),
            "end_reason": events["end_reason"],
            "duration": events["content_duration_ms"],
        }
    )
    grouped = work.group_by("session_id", use_threads=False).aggregate(
        [
            ("ts", "min"),
            ("ts", "max"),
            *[(name, "first") for name in (*_DIMENSIONS, "oca_id")],
            ("played", "sum"),
            ("bitrate_ms", "sum"),
            ("request", "sum"),
            ("start", "sum"),
            ("vst", "max"),
            ("rebuffer", "sum"),
            ("rebuffer_end", "sum"),
            ("error", "sum"),
            ("end_reason", "max"),
            ("duration", "max"),
        ]
    )
    first_ms = grouped["ts_min"].to_numpy()
    playing = grouped["played_sum"].to_numpy()
    bitrate_ms = grouped["bitrate_ms_sum"].to_numpy().astype(np.float64)
    end = grouped["end_reason_max"].to_pylist()
    duration = grouped["duration_max"].to_numpy(zero_copy_only=False)
    started = grouped["start_sum"].to_numpy() > 0
    epoch = dt.date(1970, 1, 1)
    rows = {
        "session_date": pa.array([epoch + dt.timedelta(days=int(d)) for d in first_ms // 86_400_000]),
        "session_id": grouped["session_id"],
        **{name: grouped[f"{name}_first"] for name in (*_DIMENSIONS, "oca_id")},
        "started_at": pa.array(first_ms * 1000, pa.timestamp("us", tz="UTC")),
        "ended_at": pa.array(grouped["ts_max"].to_numpy() * 1000, pa.timestamp("us", tz="UTC")),
        "attempted": pa.array(grouped["request_sum"].to_numpy() > 0),
        "started": pa.array(started),
        "vst_ms": grouped["vst_max"],
        "playing_ms": pa.array(playing, pa.int64()),
        "rebuffer_ms": grouped["rebuffer_sum"],
        "rebuffer_count": grouped["rebuffer_end_sum"],
        "avg_bitrate_kbps": pa.array(
            np.divide(bitrate_ms, playing, out=np.zeros(len(playing)), where=playing > 0),
            mask=playing <= 0,
        ),
        "error_count": grouped["error_sum"],
        "ebvs": pa.array([e == "EXIT_BEFORE_START" for e in end]),
        "start_failure": pa.array([e == "START_FAILURE" for e in end]),
        "playback_failure": pa.array([e == "PLAYBACK_FAILURE" for e in end]),
        "end_reason": grouped["end_reason_max"],
        "content_duration_ms": grouped["duration_max"],
        "completed": pa.array(np.nan_to_num(duration.astype(np.float64), nan=np.inf) * 0.9 <= playing),
        "experiments": pa.array([[] for _ in range(len(playing))], pa.map_(pa.string(), pa.string())),
    }
    return SESSIONS.conform(pa.table(rows))
