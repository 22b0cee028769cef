"""One closed 1-minute window of every slice, merged over source partitions: what detectors judge.

`WindowFrame` holds, for one window, one entry per slice (`"all"`, `"oca_id=oca-7"`,
`"region=us-east,device_type=TV"`, …) with the additive QoE counts summed over the source
partitions of `qoe.minute` and the VST percentiles of the merged DDSketch. Guarantees:

- counts of a slice equal the sums over its per-partition rows (counts add, DESIGN.md);
- a slice's VST percentiles come from the merge of its rows' sketches (exact merge, 1% accuracy),
  or from the row itself when the slice has a single row;
- slices whose dimension value is empty (e.g. `oca_id` of traffic not served by an OCA) are left
  out: they name no broken component.

`frame_from_table` builds a frame from an Arrow table of `qoe_minute`-shaped rows of one window
(the warehouse table, the aggregator's output, decoded topic records), column-wise;
`frame_from_rows` does the same for a list of row dicts. No I/O.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from streaming.sketch import Sketch, values_of
from warehouse.tables import ALL_SLICE, QOE_DIMENSIONS

__all__ = [
    "COUNT_COLUMNS",
    "QUANTILE_COLUMNS",
    "WindowFrame",
    "check_dimensions",
    "count_above",
    "dimension_of",
    "frame_from_rows",
    "frame_from_table",
    "slice_dimensions",
    "slice_key",
]

#: Additive columns of a qoe_minute row that a frame carries.
COUNT_COLUMNS: tuple[str, ...] = (
    "attempts",
    "starts",
    "playing_ms",
    "rebuffer_ms",
    "rebuffers",
    "start_failures",
    "ebvs",
    "playback_failures",
)
QUANTILE_COLUMNS: tuple[str, ...] = ("vst_p50_ms", "vst_p90_ms", "vst_p95_ms", "vst_p99_ms")
_QS = (0.5, 0.9, 0.95, 0.99)


def slice_key(slice_name: str, values: Mapping[str, Any]) -> str | None:
    """`"dim=value,…"` in qoe_minute dimension order, `"all"`; None when a named value is empty."""
    if slice_name == "all":
        return "all"
    parts = []
    for dim in slice_name.split(","):
        value = values.get(dim)
        if value is None or value == "" or value == ALL_SLICE:
            return None
        parts.append(f"{dim}={value}")
    return ",".join(parts)


def slice_dimensions(key: str) -> dict[str, str]:
    """The dimension → value pairs of a slice key (`{}` for `"all"`)."""
    if key == "all":
        return {}
    return dict(part.split("=", 1) for part in key.split(","))


@dataclass(frozen=True)
class WindowFrame:
    """Every slice of one window: `columns[name][i]` belongs to `slices[i]`."""

    window_start_ms: int
    slices: tuple[str, ...]
    columns: dict[str, np.ndarray] = field(default_factory=dict)
    #: The VST sketch of each slice (None without starts) when the rows carried sketches: a merged
    #: `Sketch`, or the serialized bytes of a slice's only row, decoded on demand by `sketch(i)`.
    sketches: tuple[Sketch | bytes | str | None, ...] | None = None

    def __post_init__(self) -> None:
        for name in (*COUNT_COLUMNS, *QUANTILE_COLUMNS):
            values = self.columns.get(name)
            if values is None or len(values) != len(self.slices):
                raise ValueError(f"WindowFrame column {name} must hold one value per slice")

    def __len__(self) -> int:
        return len(self.slices)

    def __getitem__(self, name: str) -> np.ndarray:
        return self.columns[name]

    @classmethod
    def empty(cls, window_start_ms: int) -> WindowFrame:
        columns = {name: np.zeros(0) for name in (*COUNT_COLUMNS, *QUANTILE_COLUMNS)}
        return cls(window_start_ms, (), columns)

    def sketch(self, i: int) -> Sketch | None:
        if self.sketches is None:
            return None
        return _sketch_of(self.sketches[i])

    def row(self, slice_: str) -> dict[str, float]:
        """One slice's values (tests and messages)."""
        i = self.slices.index(slice_)
        return {name: float(values[i]) for name, values in self.columns.items()}


def _sketch_of(value: Any) -> Sketch | None:
    if value is None or isinstance(value, Sketch):
        return value
    if isinstance(value, str):
        value = base64.b64decode(value)
    return Sketch.from_bytes(value)


def frame_from_rows(window_start_ms: int, rows: Sequence[Mapping[str, Any]]) -> WindowFrame:
    """Merge qoe_minute rows of one window (any source partitions) into one entry per slice.

    Each row needs `slice`, the dimension columns named by its slice, the count columns, and
    `vst_sketch` (bytes or base64 text, may be None) and/or the `vst_p*_ms` columns.
    """
    if not rows:
        return WindowFrame.empty(window_start_ms)
    return frame_from_table(window_start_ms, pa.Table.from_pylist([dict(r) for r in rows]))


def count_above(sketch: Sketch, value: float) -> float:
    """How many of the sketch's values lie above `value` (to the sketch's 1% accuracy)."""
    if sketch.keys.size == 0:
        return 0.0
    return float(sketch.counts[values_of(sketch.keys) > value].sum())


def dimension_of(key: str) -> str:
    """The slice name of a key: `"oca_id"`, `"region,device_type"`, `"all"`."""
    if key == "all":
        return "all"
    return ",".join(part.split("=", 1)[0] for part in key.split(","))


def check_dimensions(names: Sequence[str]) -> None:
    unknown = [n for n in names if n != "all" and any(d not in QOE_DIMENSIONS for d in n.split(","))]
    if unknown:
        raise ValueError(f"unknown slice dimension(s) {unknown}; choose from 'all' and {QOE_DIMENSIONS}")


def _keys(table: pa.Table) -> pa.Array:
    """The slice key of every row (null where a named dimension value is empty)."""
    names = table["slice"].combine_chunks()
    keys = pa.nulls(table.num_rows, pa.string())
    for name in pc.unique(names).to_pylist():
        mask = pc.equal(names, name)
        if name == "all":
            part = pa.array(["all"] * table.num_rows, pa.string())
        else:
            pieces = []
            valid = pa.array([True] * table.num_rows)
            for dim in name.split(","):
                column = pc.cast(table[dim], pa.string()).combine_chunks()
                valid = pc.and_(
                    valid,
                    pc.fill_null(pc.and_(pc.not_equal(column, ""), pc.not_equal(column, ALL_SLICE)), False),
                )
                pieces.append(pc.binary_join_element_wise(f"{dim}=", pc.fill_null(column, ""), ""))
            part = pieces[0] if len(pieces) == 1 else pc.binary_join_element_wise(*pieces, ",")
            part = pc.if_else(valid, part, pa.nulls(table.num_rows, pa.string()))
        keys = pc.if_else(mask, part, keys)
    return keys


def frame_from_table(window_start_ms: int, table: pa.Table) -> WindowFrame:
    """`frame_from_rows` for an Arrow table of one window's rows (vectorized; sketches as bytes)."""
    if table.num_rows == 0:
        return WindowFrame.empty(window_start_ms)
    keys = _keys(table)
    keyed = table.append_column("__key", keys).filter(pc.is_valid(keys))
    if keyed.num_rows == 0:
        return WindowFrame.empty(window_start_ms)
    keys = keyed["__key"].to_numpy(zero_copy_only=False)
    slices, inverse, sizes = np.unique(keys, return_inverse=True, return_counts=True)
    columns: dict[str, np.ndarray] = {}
    for name in COUNT_COLUMNS:
        values = pc.fill_null(keyed[name], 0).to_numpy().astype(np.float64)
        columns[name] = np.bincount(inverse, weights=values, minlength=slices.size)
    first = np.full(slices.size, -1, np.int64)
    first[inverse[::-1]] = np.arange(inverse.size)[::-1]
    single = sizes == 1
    has_quantiles = "vst_p95_ms" in keyed.column_names
    for name in QUANTILE_COLUMNS:
        column = np.full(slices.size, np.nan)
        if has_quantiles:
            values = keyed[name].to_numpy(zero_copy_only=False).astype(np.float64)
            column[single] = values[first[single]]
        columns[name] = column
    raw = keyed["vst_sketch"].to_pylist() if "vst_sketch" in keyed.column_names else [None] * keyed.num_rows
    sketches: list[Sketch | bytes | str | None] = [None] * slices.size
    for i in np.flatnonzero(single).tolist():
        sketches[i] = raw[first[i]]
    multiple = np.flatnonzero(~single | (not has_quantiles))
    if multiple.size:
        rows_of = np.argsort(inverse, kind="stable")
        bounds = np.concatenate(([0], np.cumsum(sizes)))
        for i in multiple.tolist():
            merged: Sketch | None = None
            for row in rows_of[bounds[i] : bounds[i + 1]].tolist():
                sketch = _sketch_of(raw[row])
                if sketch is not None:
                    merged = sketch if merged is None else merged + sketch
            sketches[i] = merged
            if merged is not None and merged.count > 0:
                for name, q in zip(QUANTILE_COLUMNS, _QS, strict=True):
                    value = merged.quantile(q)
                    columns[name][i] = np.nan if value is None else value
    return WindowFrame(window_start_ms, tuple(slices.tolist()), columns, tuple(sketches))
