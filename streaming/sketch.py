"""DDSketch with 1% relative accuracy, vectorized over NumPy arrays, byte-compatible with `ddsketch`.

Guarantee (Masson, Rim & Lee, VLDB 2019): for any quantile q, `quantile(q)` is within 1% relative
error of the exact q-quantile of the values added, for values ≥ ~1e-300 (0 is counted exactly
in the zero bucket; negative values are rejected — start-up times are never negative). Sketches
merge exactly: the sketch of a union equals the merge of the sketches, so per-partition,
per-minute sketches combine into any coarser slice or longer range.

Index mapping and serialization are `ddsketch`'s own: the library's `LogarithmicMapping` and its
protobuf `DDSketch` message. Bins are written sparse (`binCounts`), which the Java and Go
implementations read; the Python library's reader only reads dense bins, so read stored sketches
with `Sketch.from_bytes` (which reads both). Dense bins would cost 8 bytes for every key between
the smallest and largest value (~300 keys for 10 ms..10 s), sparse ones ~11 bytes per non-empty
bin — most per-minute rows hold a few dozen values. The library's `add` is
one Python call per value: measured here at ~680 ns per value against ~12 ns per value for
`keys_of` on a NumPy batch (printed by tests/streaming/test_sketch.py), so the streaming hot path
computes keys in batch and keeps bins as arrays instead of using `ddsketch.DDSketch`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import ddsketch.pb.ddsketch_pb2 as pb
import numpy as np
import pyarrow as pa
from ddsketch.mapping import LogarithmicMapping
from numba import njit

__all__ = [
    "KEY_MULTIPLIER",
    "KEY_OFFSET",
    "MAPPING",
    "RELATIVE_ACCURACY",
    "ZERO_KEY",
    "Sketch",
    "bins_quantiles",
    "bins_to_bytes",
    "grouped_quantiles",
    "keys_of",
    "values_of",
]

RELATIVE_ACCURACY = 0.01
#: The bin key that stands for the zero bucket where bins are stored as one key array
#: (`qoe_minute.vst_bin_keys`): the smallest int32, so it sorts before every real key.
ZERO_KEY = int(np.iinfo(np.int32).min)
MAPPING = LogarithmicMapping(RELATIVE_ACCURACY)
# LogarithmicMapping: key(v) = ceil(log2(v) * multiplier) + offset.
KEY_MULTIPLIER = MAPPING._multiplier
KEY_OFFSET = MAPPING._offset
_MIN_POSITIVE = MAPPING.min_possible


def keys_of(values: np.ndarray) -> np.ndarray:
    """Bin keys of strictly positive values (vectorized `MAPPING.key`)."""
    return (np.ceil(np.log2(values) * KEY_MULTIPLIER) + KEY_OFFSET).astype(np.int32)


def values_of(keys: np.ndarray) -> np.ndarray:
    """Representative value of each bin key (vectorized `MAPPING.value`)."""
    return np.power(2.0, (keys - KEY_OFFSET) / KEY_MULTIPLIER) * (2.0 / (1 + MAPPING.gamma))


@dataclass
class Sketch:
    """Bins as sorted unique int32 keys with float64 counts, plus the count of zeros."""

    keys: np.ndarray = field(default_factory=lambda: np.empty(0, np.int32))
    counts: np.ndarray = field(default_factory=lambda: np.empty(0, np.float64))
    zero_count: float = 0.0

    @classmethod
    def of(cls, values: np.ndarray) -> Sketch:
        values = np.asarray(values, dtype=np.float64)
        if values.size and values.min() < 0:
            raise ValueError("DDSketch here holds non-negative values only (durations)")
        positive = values[values >= _MIN_POSITIVE]
        keys, counts = np.unique(keys_of(positive), return_counts=True)
        return cls(keys.astype(np.int32), counts.astype(np.float64), float(values.size - positive.size))

    @classmethod
    def from_bins(cls, keys: np.ndarray, counts: np.ndarray, zero_count: float = 0.0) -> Sketch:
        """A sketch from (key, count) pairs in any order, repeated keys added."""
        unique, inverse = np.unique(np.asarray(keys, np.int32), return_inverse=True)
        summed = np.bincount(inverse, weights=np.asarray(counts, np.float64), minlength=unique.size)
        return cls(unique.astype(np.int32), summed, float(zero_count))

    @property
    def count(self) -> float:
        return float(self.counts.sum()) + self.zero_count

    def __add__(self, other: Sketch) -> Sketch:
        return Sketch.from_bins(
            np.concatenate([self.keys, other.keys]),
            np.concatenate([self.counts, other.counts]),
            self.zero_count + other.zero_count,
        )

    def quantile(self, q: float) -> float | None:
        """The q-quantile (0 ≤ q ≤ 1), as `ddsketch.DDSketch.get_quantile_value`; None when empty."""
        total = self.count
        if total == 0:
            return None
        rank = q * (total - 1)
        if rank < self.zero_count:
            return 0.0
        cumulative = np.cumsum(self.counts)
        index = int(np.searchsorted(cumulative, rank - self.zero_count, side="right"))
        index = min(index, self.keys.size - 1)
        return float(values_of(self.keys[index : index + 1])[0])

    def quantiles(self, qs: tuple[float, ...]) -> list[float | None]:
        return [self.quantile(q) for q in qs]

    def to_bytes(self) -> bytes:
        """The `ddsketch` protobuf message, with sparse bins."""
        message = pb.DDSketch(
            mapping=pb.IndexMapping(
                gamma=MAPPING.gamma, indexOffset=KEY_OFFSET, interpolation=pb.IndexMapping.NONE
            ),
            positiveValues=pb.Store(
                binCounts=dict(zip(self.keys.tolist(), self.counts.tolist(), strict=True))
            ),
            negativeValues=pb.Store(),
            zeroCount=self.zero_count,
        )
        return message.SerializeToString()

    @classmethod
    def from_bytes(cls, data: bytes) -> Sketch:
        message = pb.DDSketch.FromString(data)
        if not np.isclose(message.mapping.gamma, MAPPING.gamma) or message.mapping.interpolation != 0:
            raise ValueError(
                f"sketch has mapping gamma={message.mapping.gamma}, interpolation="
                f"{message.mapping.interpolation}; playpulse sketches use gamma={MAPPING.gamma}, logarithmic"
            )
        store = message.positiveValues
        keys = list(store.binCounts.keys())
        counts = [store.binCounts[k] for k in keys]
        if store.contiguousBinCounts:
            start = store.contiguousBinIndexOffset
            keys += range(start, start + len(store.contiguousBinCounts))
            counts += list(store.contiguousBinCounts)
        return cls.from_bins(np.array(keys, np.int32), np.array(counts, np.float64), message.zeroCount)


def grouped_quantiles(
    starts: np.ndarray, keys: np.ndarray, counts: np.ndarray, zero_counts: np.ndarray, qs: tuple[float, ...]
) -> np.ndarray:
    """Quantiles of many sketches at once, exactly as `Sketch.quantile` of each.

    The sketches' bins are concatenated, each sketch's keys ascending; sketch g owns
    `keys[starts[g]:starts[g + 1]]` (`starts` has one more entry than there are sketches).
    Returns a (sketches × len(qs)) array, NaN for empty sketches.
    """
    groups = starts.size - 1
    cumulative = np.cumsum(counts)
    before = np.concatenate(([0.0], cumulative))[starts[:-1]]  # cumulative count before each sketch
    positive = np.diff(np.concatenate(([0.0], cumulative))[starts])
    totals = positive + zero_counts
    out = np.full((groups, len(qs)), np.nan)
    for column, q in enumerate(qs):
        rank = q * (totals - 1)
        target = before + (rank - zero_counts)
        index = np.searchsorted(cumulative, target, side="right")
        last = np.maximum(starts[1:] - 1, starts[:-1])
        index = np.minimum(index, last)
        values = values_of(keys[np.minimum(index, keys.size - 1)]) if keys.size else np.zeros(groups)
        values = np.where(rank < zero_counts, 0.0, values)
        out[:, column] = np.where(totals > 0, values, np.nan)
    return out


def bins_quantiles(
    offsets: np.ndarray, keys: np.ndarray, counts: np.ndarray, qs: tuple[float, ...]
) -> np.ndarray:
    """Quantiles of many sketches stored as bin arrays (the `vst_bin_keys` layout), exactly as
    `Sketch.quantile` of each: sketch r owns `keys[offsets[r]:offsets[r + 1]]`, ascending, with
    the zero bucket as key `ZERO_KEY` (first). Returns (sketches × len(qs)), NaN for empty ones.

    The rank is compared with each sketch's own cumulative counts (exact integers), so no
    rounding of a running total over all sketches can move a quantile to a neighbouring bin.
    """
    offsets = np.asarray(offsets, np.int64)
    rows = offsets.size - 1
    out = np.full((rows, len(qs)), np.nan)
    if keys.size == 0:
        return out
    lengths = np.diff(offsets)
    row_of = np.repeat(np.arange(rows), lengths)
    cumulative = np.cumsum(counts)
    padded = np.concatenate(([0.0], cumulative))
    before = padded[offsets[:-1]]
    totals = padded[offsets[1:]] - before
    local = cumulative - before[row_of]
    nonempty = lengths > 0
    last = np.maximum(offsets[1:] - 1, 0)
    for column, q in enumerate(qs):
        rank = q * (totals - 1)
        below = np.bincount(row_of, weights=local <= rank[row_of], minlength=rows).astype(np.int64)
        index = np.minimum(offsets[:-1] + below, last)
        key = keys[np.minimum(index, keys.size - 1)]
        values = np.where(key == ZERO_KEY, 0.0, values_of(key))
        out[:, column] = np.where(nonempty, values, np.nan)
    return out


def _mapping_prefix() -> bytes:
    """The serialized `mapping` field every playpulse sketch starts with."""
    mapping = pb.IndexMapping(gamma=MAPPING.gamma, indexOffset=KEY_OFFSET, interpolation=pb.IndexMapping.NONE)
    return pb.DDSketch(mapping=mapping).SerializeToString()


_PREFIX = np.frombuffer(_mapping_prefix(), np.uint8)


def bins_to_bytes(offsets: np.ndarray, keys: np.ndarray, counts: np.ndarray) -> pa.BinaryArray:
    """`Sketch.to_bytes()` of many sketches stored as bin arrays (layout of `bins_quantiles`), in
    one compiled pass; NULL for a sketch without bins. The messages are the same `ddsketch`
    protobuf (sparse `binCounts`, written in ascending key order — protobuf leaves map order to the
    writer), so `Sketch.from_bytes` and every DDSketch reader read them unchanged.
    """
    offsets = np.ascontiguousarray(offsets, np.int64)
    keys = np.ascontiguousarray(keys, np.int32)
    counts = np.ascontiguousarray(counts, np.float64)
    rows = offsets.size - 1
    out_offsets, data = _encode_sketches(_PREFIX, offsets, keys, counts.view(np.uint8), ZERO_KEY)
    valid = np.diff(offsets) > 0
    validity = pa.py_buffer(np.packbits(valid, bitorder="little").tobytes())
    return pa.Array.from_buffers(
        pa.binary(),
        rows,
        [validity, pa.py_buffer(out_offsets.astype(np.int32).tobytes()), pa.py_buffer(data.tobytes())],
        null_count=int(rows - valid.sum()),
    )


@njit(cache=True, nogil=True)
def _varint_size(value: int) -> int:
    size = 1
    while value >= 0x80:
        value >>= 7
        size += 1
    return size


@njit(cache=True, nogil=True)
def _put_varint(data: np.ndarray, at: int, value: int) -> int:
    while value >= 0x80:
        data[at] = (value & 0x7F) | 0x80
        value >>= 7
        at += 1
    data[at] = value
    return at + 1


@njit(cache=True, nogil=True)
def _encode_sketches(
    prefix: np.ndarray, offsets: np.ndarray, keys: np.ndarray, count_bytes: np.ndarray, zero_key: int
) -> tuple[np.ndarray, np.ndarray]:
    """DDSketch messages: mapping prefix, positiveValues{binCounts entries}, negativeValues{}, zeroCount."""
    rows = offsets.size - 1
    out = np.zeros(rows + 1, np.int64)
    store = np.zeros(rows, np.int64)
    for r in range(rows):
        if offsets[r + 1] == offsets[r]:
            out[r + 1] = out[r]
            continue
        size = 0
        zero = False
        for i in range(offsets[r], offsets[r + 1]):
            if keys[i] == zero_key:
                zero = True
                continue
            key = np.int64(keys[i])
            zigzag = (key << 1) ^ (key >> 63)
            entry = 1 + _varint_size(zigzag) + 1 + 8
            size += 2 + entry
        store[r] = size
        total = prefix.size + 1 + _varint_size(size) + size + 2 + (9 if zero else 0)
        out[r + 1] = out[r] + total
    data = np.empty(out[rows], np.uint8)
    for r in range(rows):
        if offsets[r + 1] == offsets[r]:
            continue
        at = out[r]
        data[at : at + prefix.size] = prefix
        at += prefix.size
        data[at] = 0x12  # positiveValues, length-delimited
        at = _put_varint(data, at + 1, store[r])
        zero_at = -1
        for i in range(offsets[r], offsets[r + 1]):
            if keys[i] == zero_key:
                zero_at = i
                continue
            key = np.int64(keys[i])
            zigzag = (key << 1) ^ (key >> 63)
            data[at] = 0x0A  # binCounts map entry
            data[at + 1] = 1 + _varint_size(zigzag) + 1 + 8
            data[at + 2] = 0x08  # key: sint32
            at = _put_varint(data, at + 3, zigzag)
            data[at] = 0x11  # value: double
            data[at + 1 : at + 9] = count_bytes[8 * i : 8 * i + 8]
            at += 9
        data[at] = 0x1A  # negativeValues: empty
        data[at + 1] = 0
        at += 2
        if zero_at >= 0:
            data[at] = 0x21  # zeroCount: double
            data[at + 1 : at + 9] = count_bytes[8 * zero_at : 8 * zero_at + 8]
    return out, data
