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
A row exists for every window × slice × partition that holds at least one event (a late event
too: it is counted in `late_events` of its partition's newest window, under its own slice).

`QoeAggregator` folds batches into dense per-grouping-set accumulators with no Python per event:
dimension values become stable integer codes (`streaming.codes`), each open (partition, window)
gets a slot, and every grouping set adds the batch's per-event addends into its (slot, combination)
cells in one compiled pass (`_accumulate`).
VST bins are kept sparse per slot, as packed (slot, combination, bin) keys with counts, merged
with one sort of that slot's pieces when its rows are emitted. Memory is bounded by open
windows × slice values × sketch bins: an emitted-and-dropped window frees its slot.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numba import njit

from streaming.codes import Codes
from streaming.sketch import ZERO_KEY, bins_quantiles, bins_to_bytes, keys_of
from streaming.windows import WINDOW_MS, Assigned
from warehouse.tables import ALL_SLICE, QOE_DIMENSIONS, QOE_MINUTE

__all__ = ["DEFAULT_SLICES", "METRICS", "QUANTILES", "QoeAggregator", "slice_name"]

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
_METRIC_COLUMNS = ("event_type", "end_reason", "played_ms", "bitrate_kbps", "rebuffer_ms", "startup_ms")
_EVENTS = len(METRICS)  # accumulator column counting the events of a cell (does the row exist)
_COLUMNS = len(METRICS) + 1
# A VST bin of one cell, packed in an int64: slot (18 bits) | combination (24) | bin (21).
_SLOT_SHIFT, _COMBO_SHIFT, _BIN_BIAS = 45, 21, 1 << 20
_MAX_SLOTS, _MAX_COMBOS = 1 << 18, 1 << 24
_WINDOW_BIAS = 1 << 43
_DENSE_LOOKUP = 1 << 22  # largest product of dimension cardinalities looked up through a table


def slice_name(dims: Sequence[str]) -> str:
    ordered = [d for d in QOE_DIMENSIONS if d in dims]
    return ",".join(ordered) if ordered else "all"


def _flags(column: pa.ChunkedArray | pa.Array, names: Sequence[str]) -> list[np.ndarray]:
    """For each name, whether each row of a string column equals it (null equals nothing)."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    encoded = pc.dictionary_encode(column)
    local = encoded.dictionary.to_pylist()
    indices = encoded.indices
    rows = indices.to_numpy(zero_copy_only=False) if indices.null_count == 0 else pc.fill_null(
        indices, len(local)
    ).to_numpy()
    out = []
    for name in names:
        lookup = np.zeros(len(local) + 1, bool)
        lookup[: len(local)] = [value == name for value in local]
        out.append(lookup[rows])
    return out


@njit(cache=True, nogil=True)
def _accumulate(sums, slot, combo, addends):  # pragma: no cover - compiled
    """sums[slot[i], combo[i], :] += addends[i, :] for every row i, in one compiled pass: measured
    here on batches of 20k events, 0.04 µs per event for eight grouping sets against 0.10 µs for a
    NumPy `bincount` per metric and set."""
    for i in range(slot.shape[0]):
        s = slot[i]
        c = combo[i]
        for j in range(addends.shape[1]):
            sums[s, c, j] += addends[i, j]


def _int64(column: pa.ChunkedArray) -> np.ndarray:
    return pc.fill_null(column, 0).to_numpy().astype(np.int64, copy=False)


def _grow(array: np.ndarray, axis: int, size: int) -> np.ndarray:
    capacity = max(8, 1 << int(np.ceil(np.log2(max(size, 1)))))
    if array.shape[axis] >= capacity:
        return array
    pad = [(0, 0)] * array.ndim
    pad[axis] = (0, capacity - array.shape[axis])
    return np.pad(array, pad)


@dataclass
class _SetState:
    """Accumulators of one grouping set: sums per (slot, combination) and sparse VST bins."""

    dims: tuple[str, ...]
    sums: np.ndarray = field(default_factory=lambda: np.zeros((8, 8, _COLUMNS), np.int64))
    combos: dict[tuple[int, ...], int] = field(default_factory=dict)
    combo_codes: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.int32))
    lookup: np.ndarray | None = None
    lookup_sizes: tuple[int, ...] = ()
    # Per slot: packed (slot, combination, bin) keys and their counts, merged when emitted.
    bin_keys: dict[int, list[np.ndarray]] = field(default_factory=dict)
    bin_counts: dict[int, list[np.ndarray]] = field(default_factory=dict)

    def combinations(self, codes: dict[str, np.ndarray], sizes: dict[str, int]) -> np.ndarray:
        """The combination number of every row (stable across batches)."""
        if not self.dims:
            return np.zeros(len(next(iter(codes.values()))) if codes else 0, np.int32)
        if len(self.dims) == 1:
            return codes[self.dims[0]]
        radix = tuple(sizes[d] for d in self.dims)
        packed = np.zeros(len(codes[self.dims[0]]), np.int64)
        for d, r in zip(self.dims, radix, strict=True):
            packed = packed * r + codes[d]
        total = int(np.prod(radix, dtype=np.float64))
        if total <= _DENSE_LOOKUP:
            if self.lookup is None or self.lookup_sizes != radix:
                self._rebuild_lookup(radix)
            assert self.lookup is not None
            found = self.lookup[packed]
            missing = found < 0
            if missing.any():
                for value in np.unique(packed[missing]).tolist():
                    self.lookup[value] = self._new_combo(_digits(value, radix))
                found = self.lookup[packed]
            return found
        unique, inverse = np.unique(packed, return_inverse=True)
        ids = np.array([self._new_combo(_digits(v, radix)) for v in unique.tolist()], np.int32)
        return ids[inverse.reshape(-1)]

    def _new_combo(self, digits: tuple[int, ...]) -> int:
        """The number of a combination of codes, numbered on first sight."""
        found = self.combos.get(digits)
        if found is not None:
            return found
        number = len(self.combos)
        if number >= _MAX_COMBOS:
            raise ValueError(f"grouping set {self.dims} has more than {_MAX_COMBOS} value combinations")
        self.combos[digits] = number
        self.combo_codes = np.vstack(
            [self.combo_codes.reshape(-1, len(self.dims)), np.array([digits], np.int32)]
        )
        return number

    def _rebuild_lookup(self, radix: tuple[int, ...]) -> None:
        self.lookup = np.full(int(np.prod(radix)), -1, np.int32)
        self.lookup_sizes = radix
        if self.combos:
            packed = np.zeros(len(self.combos), np.int64)
            for j, r in enumerate(radix):
                packed = packed * r + self.combo_codes[:, j]
            self.lookup[packed] = np.arange(len(self.combos), dtype=np.int32)

    def add_bins(self, slot: int, keys: np.ndarray) -> None:
        keys_of_slot = self.bin_keys.setdefault(slot, [])
        keys_of_slot.append(keys)
        self.bin_counts.setdefault(slot, []).append(np.ones(keys.size, np.int64))
        if len(keys_of_slot) > 64:  # bound the pieces of a long-open window
            self.compact(slot)

    def compact(self, slot: int) -> tuple[np.ndarray, np.ndarray]:
        """The slot's bins merged: packed keys ascending, with their counts."""
        keys = self.bin_keys.get(slot)
        if not keys:
            return np.empty(0, np.int64), np.empty(0, np.int64)
        if len(keys) > 1 or keys[0].size > 1:
            unique, inverse = np.unique(np.concatenate(keys), return_inverse=True)
            weights = np.concatenate(self.bin_counts[slot])
            counts = np.bincount(inverse.reshape(-1), weights=weights, minlength=unique.size).astype(np.int64)
            self.bin_keys[slot], self.bin_counts[slot] = [unique], [counts]
        return self.bin_keys[slot][0], self.bin_counts[slot][0]

    def drop_bins(self, slot: int) -> None:
        self.bin_keys.pop(slot, None)
        self.bin_counts.pop(slot, None)


def _digits(value: int, radix: tuple[int, ...]) -> tuple[int, ...]:
    out = []
    for r in reversed(radix):
        value, digit = divmod(value, r)
        out.append(digit)
    return tuple(reversed(out))


@dataclass
class QoeAggregator:
    """Partial QoE aggregates of open windows, folded batch by batch, emitted on demand."""

    slices: tuple[tuple[str, ...], ...] = DEFAULT_SLICES
    window_ms: int = WINDOW_MS

    def __post_init__(self) -> None:
        unknown = {d for dims in self.slices for d in dims} - set(QOE_DIMENSIONS)
        if unknown:
            raise ValueError(f"unknown slice dimensions {sorted(unknown)}; choose from {QOE_DIMENSIONS}")
        used = {d for dims in self.slices for d in dims}
        self._dims = [d for d in QOE_DIMENSIONS if d in used]
        self._codes = {d: Codes() for d in self._dims}
        self._sets = [_SetState(tuple(d for d in QOE_DIMENSIONS if d in dims)) for dims in self.slices]
        self._slot_of: dict[tuple[int, int], int] = {}
        self._free: list[int] = []
        self._slot_partition = np.zeros(8, np.int32)
        self._slot_window = np.zeros(8, np.int64)

    @staticmethod
    def warm_up() -> None:
        """Load (or compile, in a fresh environment) the compiled accumulation for the types `add`
        passes, so the first batch does not pay for it."""
        _accumulate(
            np.zeros((1, 1, _COLUMNS), np.int64),
            np.zeros(1, np.int64),
            np.zeros(1, np.int32),
            np.zeros((1, _COLUMNS), np.int64),
        )

    @property
    def columns(self) -> tuple[str, ...]:
        """The event columns `add` reads."""
        return (*_METRIC_COLUMNS, *self._dims)

    # -- folding -----------------------------------------------------------------------------------
    def add(self, events: pa.Table, partition: np.ndarray, assigned: Assigned) -> None:
        """Fold the rows of a decoded batch whose `assigned.keep` is set."""
        keep = np.asarray(assigned.keep, bool)
        if not keep.any():
            return
        rows = None if keep.all() else np.flatnonzero(keep)

        def kept(values: np.ndarray) -> np.ndarray:
            return values if rows is None else values[rows]

        late = kept(np.asarray(assigned.late, bool))
        counted = ~late
        kinds = _flags(events["event_type"], ("PLAY_REQUEST", "PLAY_START", "REBUFFER_END"))
        request, start, rebuffer_end = (kept(f) & counted for f in kinds)
        failures = [
            kept(f) & counted
            for f in _flags(events["end_reason"], ("START_FAILURE", "EXIT_BEFORE_START", "PLAYBACK_FAILURE"))
        ]
        played = np.where(counted, kept(_int64(events["played_ms"])), 0)
        bitrate = np.where(played != 0, kept(_int64(events["bitrate_kbps"])), 0) * played
        rebuffered = np.where(rebuffer_end, kept(_int64(events["rebuffer_ms"])), 0)
        n = late.size
        # One row of addends per event, in METRICS order, then 1 for the event count.
        addends = np.empty((n, _COLUMNS), np.int64)
        for j, values in enumerate(
            (request, start, played, rebuffered, rebuffer_end, *failures, bitrate, late)
        ):
            addends[:, j] = values
        addends[:, _EVENTS] = 1
        codes = {d: kept(self._codes[d].encode(events[d])) for d in self._dims}
        sizes = {d: max(len(self._codes[d]), 1) for d in self._dims}
        slot, local, slots = self._slots(kept(np.asarray(partition)), kept(np.asarray(assigned.window_start)))
        vst = kept(_int64(events["startup_ms"]))
        has_vst = start & kept(pc.is_valid(events["startup_ms"]).to_numpy(zero_copy_only=False))
        vst_rows = np.flatnonzero(has_vst)
        vst_values = vst[vst_rows]
        bins = np.zeros(vst_rows.size, np.int64)  # bin 0 = the zero bucket (start-up of 0 ms)
        positive = vst_values > 0
        bins[positive] = keys_of(vst_values[positive].astype(np.float64)).astype(np.int64) + _BIN_BIAS
        # VST rows grouped by slot (the same grouping serves every set).
        vst_order = np.argsort(local[vst_rows], kind="stable")
        vst_rows, bins = vst_rows[vst_order], bins[vst_order]
        vst_slots, vst_starts = np.unique(local[vst_rows], return_index=True)
        vst_bounds = [*vst_starts.tolist(), vst_rows.size]
        for state in self._sets:
            combo = state.combinations(codes, sizes) if state.dims else np.zeros(n, np.int32)
            width = sizes[state.dims[0]] if len(state.dims) == 1 else max(len(state.combos), 1)
            state.sums = _grow(_grow(state.sums, 0, self._slot_partition.size), 1, width)
            _accumulate(state.sums, slot, combo, addends)
            if vst_rows.size:
                packed = (
                    (slot[vst_rows].astype(np.int64) << _SLOT_SHIFT)
                    | (combo[vst_rows].astype(np.int64) << _COMBO_SHIFT)
                    | bins
                )
                for i, where in enumerate(vst_slots.tolist()):
                    state.add_bins(int(slots[where]), packed[vst_bounds[i] : vst_bounds[i + 1]])

    def _slots(self, partition: np.ndarray, window: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per row its window's slot, and its index among the batch's distinct slots (`slots`)."""
        # (partition, window number) in one int64; the bias keeps windows before 1970 non-negative.
        pair = (partition.astype(np.int64) << 44) | (window // self.window_ms + _WINDOW_BIAS)
        unique, inverse = np.unique(pair, return_inverse=True)
        slots = np.empty(unique.size, np.int64)
        for i, value in enumerate(unique.tolist()):
            key = (value >> 44, ((value & ((1 << 44) - 1)) - _WINDOW_BIAS) * self.window_ms)
            found = self._slot_of.get(key)
            if found is None:
                found = self._new_slot(key)
            slots[i] = found
        inverse = inverse.reshape(-1)
        return slots[inverse], inverse, slots

    def _new_slot(self, key: tuple[int, int]) -> int:
        if self._free:
            slot = self._free.pop()
        else:
            slot = len(self._slot_of)
            if slot >= _MAX_SLOTS:
                raise ValueError(f"more than {_MAX_SLOTS} open windows; lower the allowed lateness")
            if slot >= self._slot_partition.size:
                self._slot_partition = _grow(self._slot_partition, 0, slot + 1)
                self._slot_window = _grow(self._slot_window, 0, slot + 1)
        self._slot_of[key] = slot
        self._slot_partition[slot], self._slot_window[slot] = key
        return slot

    def open_keys(self) -> set[tuple[int, int]]:
        """(partition, window_start) of every window holding data."""
        return set(self._slot_of)

    # -- emitting ----------------------------------------------------------------------------------
    def emit(
        self, windows: Iterable[tuple[int, int]], *, provisional: bool, emitted_at_ms: int, drop: bool
    ) -> pa.Table:
        """Rows (qoe_minute schema) of the given (partition, window_start) pairs; `drop` forgets them."""
        slots = np.array(sorted({self._slot_of[w] for w in windows if w in self._slot_of}), np.int64)
        if slots.size == 0:
            return QOE_MINUTE.arrow_schema.empty_table()
        parts = [self._set_rows(index, state, slots, drop) for index, state in enumerate(self._sets)]
        if drop:
            for slot in slots.tolist():
                del self._slot_of[(int(self._slot_partition[slot]), int(self._slot_window[slot]))]
                self._free.append(slot)
        return self._table(parts, provisional, emitted_at_ms)

    def _set_rows(self, index: int, state: _SetState, slots: np.ndarray, drop: bool) -> dict:
        width = state.sums.shape[1]
        block = state.sums[slots]
        picked, combo = np.nonzero(block[:, :, _EVENTS])
        sums = block[picked, combo]
        # Bins of the emitted cells, slot by slot ascending: (slot, combination, bin) = row order.
        merged = [state.compact(slot) for slot in slots.tolist()]
        chosen_keys = np.concatenate([k for k, _ in merged]) if merged else np.empty(0, np.int64)
        chosen_counts = np.concatenate([c for _, c in merged]) if merged else np.empty(0, np.int64)
        row_of_cell = np.full((slots.size, width), -1, np.int64)
        row_of_cell[picked, combo] = np.arange(picked.size)
        entry_row = row_of_cell[
            np.searchsorted(slots, chosen_keys >> _SLOT_SHIFT),
            (chosen_keys >> _COMBO_SHIFT) & (_MAX_COMBOS - 1),
        ]
        offsets = np.searchsorted(entry_row, np.arange(picked.size + 1))
        bin_index = chosen_keys & ((1 << _COMBO_SHIFT) - 1)
        vst_keys = np.where(bin_index == 0, ZERO_KEY, bin_index - _BIN_BIAS).astype(np.int32)
        if drop:
            state.sums[slots] = 0
            for slot in slots.tolist():
                state.drop_bins(slot)
        dims = {}
        for j, d in enumerate(state.dims):
            dims[d] = combo if len(state.dims) == 1 else state.combo_codes[combo, j]
        return {
            "set": np.full(picked.size, index, np.int32),
            "slot": slots[picked],
            "dims": dims,
            "sums": sums,
            "offsets": offsets,
            "keys": vst_keys,
            "counts": chosen_counts.astype(np.float64),
        }

    def _table(self, parts: list[dict], provisional: bool, emitted_at_ms: int) -> pa.Table:
        n = sum(p["set"].size for p in parts)
        slot = np.concatenate([p["slot"] for p in parts])
        sums = np.concatenate([p["sums"] for p in parts])
        # One bin array for all rows: each part's offsets shifted by the bins before it.
        shifted, base = [], 0
        for p in parts:
            shifted.append(p["offsets"][:-1] + base)
            base += p["keys"].size
        offsets = np.concatenate([*shifted, [base]]).astype(np.int64)
        keys = np.concatenate([p["keys"] for p in parts])
        counts = np.concatenate([p["counts"] for p in parts])
        quantiles = bins_quantiles(offsets, keys, counts, QUANTILES)
        names = pa.array([slice_name(s.dims) for s in self._sets], pa.string())
        columns: dict[str, pa.Array] = {
            "window_start": pa.array(self._slot_window[slot], pa.timestamp("ms", tz="UTC")),
            "slice": names.take(pa.array(np.concatenate([p["set"] for p in parts]))),
        }
        for d in QOE_DIMENSIONS:
            if d not in self._codes:
                columns[d] = pa.array(np.full(n, ALL_SLICE, object), pa.string())
                continue
            values = pa.concat_arrays([self._codes[d].values(), pa.array([ALL_SLICE], pa.string())])
            star = len(values) - 1
            index = np.concatenate([p["dims"].get(d, np.full(p["set"].size, star)) for p in parts])
            columns[d] = values.take(pa.array(index.astype(np.int32)))
        columns["source_partition"] = pa.array(self._slot_partition[slot], pa.int32())
        metric = {name: sums[:, j] for j, name in enumerate(METRICS)}
        columns["attempts"] = pa.array(metric["attempts"])
        columns["starts"] = pa.array(metric["starts"])
        columns["vst_sketch"] = bins_to_bytes(offsets, keys, counts)
        for i, q in enumerate(QUANTILES):
            columns[f"vst_p{round(q * 100)}_ms"] = pa.array(quantiles[:, i], pa.float64(), from_pandas=True)
        list_offsets = pa.array(offsets.astype(np.int32))
        columns["vst_bin_keys"] = pa.ListArray.from_arrays(list_offsets, pa.array(keys, pa.int32()))
        columns["vst_bin_counts"] = pa.ListArray.from_arrays(list_offsets, pa.array(counts, pa.float64()))
        playing = metric["playing_ms"].astype(np.float64)
        rebuffer = metric["rebuffer_ms"].astype(np.float64)
        in_playback = playing + rebuffer
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(in_playback > 0, rebuffer / in_playback, np.nan)
            bitrate = np.where(playing > 0, metric["bitrate_kbps_ms"] / playing, np.nan)
        for name in ("playing_ms", "rebuffer_ms", "rebuffers"):
            columns[name] = pa.array(metric[name])
        columns["rebuffer_ratio"] = pa.array(ratio, pa.float64(), from_pandas=True)
        for name in ("start_failures", "ebvs", "playback_failures", "bitrate_kbps_ms"):
            columns[name] = pa.array(metric[name])
        columns["avg_bitrate_kbps"] = pa.array(bitrate, pa.float64(), from_pandas=True)
        columns["concurrent_plays"] = pa.array(in_playback / self.window_ms, pa.float64())
        columns["late_events"] = pa.array(metric["late_events"])
        columns["provisional"] = pa.array(np.full(n, provisional), pa.bool_())
        emitted_at = datetime.fromtimestamp(emitted_at_ms / 1000, tz=UTC)
        columns["emitted_at"] = pa.array([emitted_at], pa.timestamp("ms", tz="UTC")).take(
            pa.array(np.zeros(n, np.int32))
        )
        return QOE_MINUTE.conform(pa.table(columns))
