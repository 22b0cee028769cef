"""The QoE metrics of DESIGN.md, per 1-minute window × slice × source partition, vectorized.

Each event contributes, by its type (no per-session state is needed, see the .avsc docs):

    attempts           PLAY_REQUEST
    starts, VST        PLAY_START (startup_ms into the DDSketch)
    playing_ms         played_ms of every event (content played since the previous event)
    rebuffer_ms        rebuffer_ms of REBUFFER_END; rebuffers = REBUFFER_END events
    start_failures     PLAY_END with end_reason START_FAILURE
    ebvs               PLAY_END with end_reason EXIT_BEFORE_START
    playback_failures  PLAY_END with end_reason PLAYBACK_FAILURE
    bitrate_kbps_ms    bitrate_kbps * played_ms (time-weighted average bitrate = this / playing_ms)

Derived when a row is emitted: rebuffer_ratio = rebuffer_ms / (playing_ms + rebuffer_ms);
concurrent_plays = (playing_ms + rebuffer_ms) / window length, the average number of sessions in
playback during the minute (additive, unlike a distinct count); VST p50/p90/p95/p99 from the sketch.

`QoeAggregator` folds batches of events into partial sums and sketch bins (Arrow group-bys over
every grouping set at once per batch, no Python per event) and emits rows for any windows asked.
Memory is bounded by open windows × slices × sketch bins: partials are compacted at each emission.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from streaming.sketch import Sketch, grouped_quantiles, keys_of
from streaming.windows import WINDOW_MS, Assigned
from warehouse.tables import ALL_SLICE, QOE_DIMENSIONS, QOE_MINUTE

__all__ = ["DEFAULT_SLICES", "METRICS", "QoeAggregator", "contributions", "slice_name"]

#: The default grouping sets: global, each main dimension, and region × device.
DEFAULT_SLICES: tuple[tuple[str, ...], ...] = (
    (),
    ("region",),
    ("country",),
    ("device_type",),
    ("isp",),
    ("cdn",),
    ("oca_id",),
    ("region", "device_type"),
)
METRICS = (
    "attempts",
    "starts",
    "playing_ms",
    "rebuffer_ms",
    "rebuffers",
    "start_failures",
    "ebvs",
    "playback_failures",
    "bitrate_kbps_ms",
    "late_events",
)
QUANTILES = (0.5, 0.9, 0.95, 0.99)
_KEY = ("source_partition", "window_start", *QOE_DIMENSIONS)
_ZERO_KEY = np.iinfo(np.int32).min  # sketch bin of a start-up time of 0 ms


def slice_name(dims: Sequence[str]) -> str:
    ordered = [d for d in QOE_DIMENSIONS if d in dims]
    return ",".join(ordered) if ordered else "all"


def _is(column: pa.ChunkedArray | pa.Array, value: str) -> pa.Array:
    return pc.fill_null(pc.equal(column, value), False)


def _int(mask: pa.Array) -> pa.Array:
    return pc.cast(mask, pa.int64())


def contributions(events: pa.Table, partition: np.ndarray, assigned: Assigned) -> tuple[pa.Table, pa.Table]:
    """Per-event contributions (metrics table) and VST values (sketch table) of the kept rows."""
    keep = pa.array(assigned.keep)
    late = pa.array(assigned.late)
    counted = pc.invert(late)
    kind = events["event_type"]
    reason = events["end_reason"]
    played = pc.fill_null(events["played_ms"], 0)
    dims = {d: pc.fill_null(events[d], "") for d in QOE_DIMENSIONS}
    metrics = {
        "attempts": _is(kind, "PLAY_REQUEST"),
        "starts": _is(kind, "PLAY_START"),
        "playing_ms": played,
        "rebuffer_ms": pc.if_else(_is(kind, "REBUFFER_END"), pc.fill_null(events["rebuffer_ms"], 0), 0),
        "rebuffers": _is(kind, "REBUFFER_END"),
        "start_failures": _is(reason, "START_FAILURE"),
        "ebvs": _is(reason, "EXIT_BEFORE_START"),
        "playback_failures": _is(reason, "PLAYBACK_FAILURE"),
        "bitrate_kbps_ms": pc.multiply(pc.cast(pc.fill_null(events["bitrate_kbps"], 0), pa.int64()), played),
    }
    columns = {
        "source_partition": pa.array(partition, pa.int32()),
        "window_start": pa.array(assigned.window_start, pa.int64()),
        **dims,
        **{
            name: pc.if_else(counted, _int(value) if value.type == pa.bool_() else value, 0)
            for name, value in metrics.items()
        },
        "late_events": _int(late),
    }
    table = pa.table(columns).filter(keep)
    is_start = pc.and_(pc.and_(_is(kind, "PLAY_START"), counted), pc.is_valid(events["startup_ms"]))
    starts = pa.table(
        {
            "source_partition": columns["source_partition"],
            "window_start": columns["window_start"],
            **dims,
            "vst_ms": events["startup_ms"],
        }
    ).filter(pc.and_(keep, is_start))
    vst = starts["vst_ms"].to_numpy(zero_copy_only=False).astype(np.float64)
    positive = vst > 0
    bins = np.full(vst.size, _ZERO_KEY, np.int32)
    bins[positive] = keys_of(vst[positive])
    sketch = starts.drop_columns(["vst_ms"]).append_column("vst_key", pa.array(bins, pa.int32()))
    return table, sketch


def _group(
    table: pa.Table, slices: Sequence[tuple[str, ...]], values: Sequence[str], extra: Sequence[str] = ()
) -> pa.Table:
    """Sum `values` over every grouping set; dimensions outside a set become '*'."""
    out = []
    for dims in slices:
        keys = ["source_partition", "window_start", *dims, *extra]
        grouped = table.group_by(keys, use_threads=False).aggregate([(v, "sum") for v in values])
        grouped = grouped.rename_columns([c.removesuffix("_sum") for c in grouped.column_names])
        for d in QOE_DIMENSIONS:
            if d not in dims:
                grouped = grouped.append_column(d, pa.array([ALL_SLICE] * grouped.num_rows, pa.string()))
        grouped = grouped.append_column("slice", pa.array([slice_name(dims)] * grouped.num_rows, pa.string()))
        out.append(grouped.select(["slice", *_KEY, *extra, *values]))
    return pa.concat_tables(out)


@dataclass
class QoeAggregator:
    """Partial QoE aggregates of open windows, folded batch by batch, emitted on demand."""

    slices: tuple[tuple[str, ...], ...] = DEFAULT_SLICES
    window_ms: int = WINDOW_MS

    def __post_init__(self) -> None:
        unknown = {d for dims in self.slices for d in dims} - set(QOE_DIMENSIONS)
        if unknown:
            raise ValueError(f"unknown slice dimensions {sorted(unknown)}; choose from {QOE_DIMENSIONS}")
        self._metrics: list[pa.Table] = []
        self._sketches: list[pa.Table] = []

    def add(self, events: pa.Table, partition: np.ndarray, assigned: Assigned) -> None:
        table, sketch = contributions(events, partition, assigned)
        if table.num_rows:
            self._metrics.append(_group(table, self.slices, METRICS))
        if sketch.num_rows:
            counted = sketch.append_column("n", pa.array(np.ones(sketch.num_rows, np.int64)))
            self._sketches.append(_group(counted, self.slices, ["n"], extra=["vst_key"]))

    def _compact(self) -> tuple[pa.Table | None, pa.Table | None]:
        keys = ["slice", *_KEY]
        metrics = sketches = None
        if self._metrics:
            metrics = _sum(pa.concat_tables(self._metrics), keys, METRICS)
            self._metrics = [metrics]
        if self._sketches:
            sketches = _sum(pa.concat_tables(self._sketches), [*keys, "vst_key"], ["n"])
            self._sketches = [sketches]
        return metrics, sketches

    def open_keys(self) -> set[tuple[int, int]]:
        """(partition, window_start) of every window holding data."""
        metrics, _ = self._compact()
        if metrics is None:
            return set()
        pairs = (
            metrics.select(["source_partition", "window_start"])
            .group_by(["source_partition", "window_start"])
            .aggregate([])
        )
        return set(zip(pairs["source_partition"].to_pylist(), pairs["window_start"].to_pylist(), strict=True))

    def emit(
        self, windows: Iterable[tuple[int, int]], *, provisional: bool, emitted_at_ms: int, drop: bool
    ) -> pa.Table:
        """Rows (qoe_minute schema) of the given (partition, window_start) pairs; `drop` forgets them."""
        wanted = list(windows)
        metrics, sketches = self._compact()
        if metrics is None or not wanted:
            return QOE_MINUTE.arrow_schema.empty_table()
        pick = pa.table(
            {
                "source_partition": pa.array([p for p, _ in wanted], pa.int32()),
                "window_start": pa.array([w for _, w in wanted], pa.int64()),
            }
        )
        rows = metrics.join(pick, ["source_partition", "window_start"], join_type="inner")
        bins = (
            sketches.join(pick, ["source_partition", "window_start"], join_type="inner") if sketches else None
        )
        if drop:
            self._metrics = [_anti(metrics, pick)]
            self._sketches = [_anti(sketches, pick)] if sketches is not None else []
        return _rows(rows, bins, provisional, emitted_at_ms, self.window_ms)


def _sum(table: pa.Table, keys: list[str], values: Sequence[str]) -> pa.Table:
    grouped = table.group_by(keys, use_threads=False).aggregate([(v, "sum") for v in values])
    return grouped.rename_columns([c.removesuffix("_sum") for c in grouped.column_names])


def _anti(table: pa.Table, pick: pa.Table) -> pa.Table:
    return table.join(pick, ["source_partition", "window_start"], join_type="left anti")


def _rows(
    rows: pa.Table, bins: pa.Table | None, provisional: bool, emitted_at_ms: int, window_ms: int
) -> pa.Table:
    keys = ["slice", *_KEY]
    rows = rows.sort_by([(k, "ascending") for k in keys])
    n = rows.num_rows
    # Each row's sketch bins: zero start-ups apart, the rest as (row, key) ascending.
    zero_counts = np.zeros(n)
    starts = np.zeros(n + 1, np.int64)
    vst_keys, bin_counts = np.empty(0, np.int32), np.empty(0, np.float64)
    if bins is not None and bins.num_rows:
        numbered = rows.select(keys).append_column("row", pa.array(np.arange(n), pa.int64()))
        bins = bins.join(numbered, keys, join_type="inner").select(["row", "vst_key", "n"])
        zero = pc.equal(bins["vst_key"], _ZERO_KEY)
        zeros = bins.filter(zero)
        np.add.at(zero_counts, zeros["row"].to_numpy(), zeros["n"].to_numpy().astype(np.float64))
        positive = bins.filter(pc.invert(zero)).sort_by([("row", "ascending"), ("vst_key", "ascending")])
        row_of_bin = positive["row"].to_numpy()
        vst_keys = positive["vst_key"].to_numpy()
        bin_counts = positive["n"].to_numpy().astype(np.float64)
        starts = np.searchsorted(row_of_bin, np.arange(n + 1))
    quantiles = grouped_quantiles(starts, vst_keys, bin_counts, zero_counts, QUANTILES)
    has_sketch = (np.diff(starts) > 0) | (zero_counts > 0)
    sketch_bytes = [
        Sketch(
            vst_keys[starts[i] : starts[i + 1]], bin_counts[starts[i] : starts[i + 1]], zero_counts[i]
        ).to_bytes()
        if has_sketch[i]
        else None
        for i in range(n)
    ]
    playing = rows["playing_ms"].to_numpy().astype(np.float64)
    rebuffer = rows["rebuffer_ms"].to_numpy().astype(np.float64)
    in_playback = playing + rebuffer
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(in_playback > 0, rebuffer / in_playback, np.nan)
        bitrate = np.where(playing > 0, rows["bitrate_kbps_ms"].to_numpy() / playing, np.nan)
    emitted_at = datetime.fromtimestamp(emitted_at_ms / 1000, tz=UTC)
    data = {
        "window_start": pc.cast(
            pc.cast(rows["window_start"], pa.timestamp("ms")), pa.timestamp("ms", tz="UTC")
        ),
        "slice": rows["slice"],
        **{d: rows[d] for d in QOE_DIMENSIONS},
        "source_partition": rows["source_partition"],
        "attempts": rows["attempts"],
        "starts": rows["starts"],
        "vst_sketch": pa.array(sketch_bytes, pa.binary()),
        **{
            f"vst_p{round(q * 100)}_ms": pa.array(quantiles[:, i], pa.float64(), from_pandas=True)
            for i, q in enumerate(QUANTILES)
        },
        "playing_ms": rows["playing_ms"],
        "rebuffer_ms": rows["rebuffer_ms"],
        "rebuffers": rows["rebuffers"],
        "rebuffer_ratio": pa.array(ratio, pa.float64(), from_pandas=True),
        "start_failures": rows["start_failures"],
        "ebvs": rows["ebvs"],
        "playback_failures": rows["playback_failures"],
        "bitrate_kbps_ms": rows["bitrate_kbps_ms"],
        "avg_bitrate_kbps": pa.array(bitrate, pa.float64(), from_pandas=True),
        "concurrent_plays": pa.array(in_playback / window_ms, pa.float64()),
        "late_events": rows["late_events"],
        "provisional": pa.array([provisional] * n, pa.bool_()),
        "emitted_at": pa.array([emitted_at] * n, pa.timestamp("ms", tz="UTC")),
    }
    return QOE_MINUTE.conform(pa.table(data))
