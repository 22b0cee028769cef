"""Decoding a batch of Confluent wire-format Avro messages into flat Arrow columns in one compiled
pass (numba), validating every message and reporting the bad ones as data.

Avro is variable length, so a record can only be parsed front to back; the loop over records and
fields runs compiled (`@njit(cache=True)`) over the concatenated message bytes and their offsets,
interpreting the plan's leaves as a small op table. It writes into preallocated NumPy columns:
integers, enum indexes, booleans and float bits into one int64 matrix, strings as (start, length)
pairs into the original buffer, map entries into growable pair arrays. A second compiled loop
gathers each string column's bytes into an Arrow data buffer, row by row; UTF-8 is then checked
per gathered column (strictly only where a byte ≥ 0x80 occurs), and the Arrow arrays are built
with `from_buffers`, without touching Python objects per value.

Guarantees:
- A message is decoded only if all of it is valid for the writer schema: the 5-byte header with
  magic byte 0, varints of at most 10 bytes, union branch and enum indexes in range, ints within
  32 bits, non-negative lengths inside the message, strict UTF-8 in strings and map keys and
  values (what Python's decoder accepts: no overlongs, surrogates or code points past U+10FFFF),
  and no byte left after the record. Anything else marks that message bad with a code, the field
  and a detail value; the other messages of the batch are unaffected.
- Booleans follow fastavro: 0 is false, any other byte is true.
- Messages written under another schema id are neither decoded nor bad: they are reported as
  foreign so the caller can resolve them against their writer schema.
- The output rows are the good messages, in input order.

First call in a fresh environment compiles for a few seconds (see `warm_up`); later processes
load the machine code from numba's cache next to this file (or NUMBA_CACHE_DIR).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
from numba import njit

from schemas.columnar_plan import Kind, Leaf

__all__ = ["DecodedColumns", "OpTable", "Status", "decode_messages", "warm_up"]


class Status(enum.IntEnum):
    """Per-message status codes written by the compiled loop."""

    OK = 0
    FOREIGN = 1  # another schema id: for the caller's fallback, not an error
    NULL = 2  # no value at all (a tombstone)
    SHORT = 3  # shorter than the header
    MAGIC = 4  # magic byte is not 0
    TRUNCATED = 5
    VARINT = 6  # longer than 10 bytes
    BRANCH = 7  # union branch index out of range
    ENUM = 8  # enum index out of range
    INT_RANGE = 9  # an int outside 32 bits
    UTF8 = 10
    NEGATIVE_LENGTH = 11
    TRAILING = 12  # bytes left after the record
    BLOCK = 13  # a map block count that cannot fit in the rest of the message


# The same codes as plain ints, which numba freezes into the compiled code.
_OK, _FOREIGN, _NULL, _SHORT, _MAGIC, _TRUNCATED, _VARINT, _BRANCH = 0, 1, 2, 3, 4, 5, 6, 7
_ENUM, _INT_RANGE, _UTF8, _NEGATIVE_LENGTH, _TRAILING, _BLOCK = 8, 9, 10, 11, 12, 13

# Columns of the op table, and its kind codes.
_KIND, _SLOT, _SYMBOLS, _NULL_BRANCH, _PRESENT_SLOT = range(5)
_K_STRING, _K_BYTES, _K_LONG, _K_INT = int(Kind.STRING), int(Kind.BYTES), int(Kind.LONG), int(Kind.INT)
_K_BOOLEAN, _K_FLOAT, _K_DOUBLE, _K_ENUM = (
    int(Kind.BOOLEAN),
    int(Kind.FLOAT),
    int(Kind.DOUBLE),
    int(Kind.ENUM),
)
_HEADER = 5


# Performance notes, measured: numba inlines a helper only when it is small and has a single exit
# (a helper with early returns inside its loop stays a call: the whole decode ran 4× slower);
# indexing with uint64 skips numba's negative-index wraparound (3× faster byte loops); an ASCII
# check per string inside the loop cost half the decode time, so UTF-8 is checked afterwards over
# each gathered column at once, strictly only for columns with a byte ≥ 0x80.


@njit(cache=True, nogil=True)
def _read_long(buf, pos, end):  # pragma: no cover - compiled
    """(value, next position, status) of the zigzag varint at `pos`; int64 arithmetic only."""
    if pos < end:
        byte = np.int64(buf[np.uint64(pos)])
        if byte < 0x80:  # one byte: enum indexes, union branches, short lengths
            return (byte >> 1) ^ -(byte & 1), pos + 1, _OK
    first = pos
    acc = np.int64(0)
    shift = 0
    code = _OK
    byte = np.int64(0)
    while True:
        if pos >= end:
            code = _TRUNCATED
            break
        byte = np.int64(buf[np.uint64(pos)])
        pos += 1
        acc |= (byte & 0x7F) << (shift & 63)
        if byte < 0x80:
            break
        shift += 7
    if pos - first > 10 or (pos - first == 10 and byte > 1):  # the tenth byte carries bit 63 only
        code = _VARINT
    return ((acc >> 1) & 0x7FFFFFFFFFFFFFFF) ^ -(acc & 1), pos, code


@njit(cache=True, nogil=True)
def _utf8_strict(buf, start, stop):  # pragma: no cover - compiled
    """Whether buf[start:stop] is UTF-8 as Python's strict decoder defines it."""
    i = start
    while i < stop:
        c = buf[i]
        if c < 0x80:
            i += 1
            continue
        if c < 0xC2 or c > 0xF4:
            return False
        if c < 0xE0:
            need, low, high = 1, 0x80, 0xBF
        elif c < 0xF0:
            need = 2
            low = 0xA0 if c == 0xE0 else 0x80  # no overlongs
            high = 0x9F if c == 0xED else 0xBF  # no surrogates
        else:
            need = 3
            low = 0x90 if c == 0xF0 else 0x80  # no overlongs
            high = 0x8F if c == 0xF4 else 0xBF  # nothing past U+10FFFF
        if i + need >= stop:  # the sequence would run past the string
            return False
        if buf[i + 1] < low or buf[i + 1] > high:
            return False
        for j in range(2, need + 1):
            if buf[i + j] < 0x80 or buf[i + j] > 0xBF:
                return False
        i += need + 1
    return True


@njit(cache=True, nogil=True)
def _read_string(buf, pos, end):  # pragma: no cover - compiled
    """(start, length, next position, status) of a length-prefixed string or bytes value."""
    length, start, code = _read_long(buf, pos, end)
    if code == _OK:
        if length < 0:
            code = _NEGATIVE_LENGTH
        elif length > end - start:
            code = _TRUNCATED
    return start, length, start + length, code


@njit(cache=True, nogil=True)
def _decode_kernel(
    buf,
    starts,
    stops,
    is_null,
    schema_id,
    ops,
    ints,
    present,
    str_start,
    str_len,
    map_count,
    key_start,
    key_len,
    item_start,
    item_len,
    map_fill,
    status,
    err_op,
    err_aux,
    source_row,
    first_row,
    first_out,
):  # pragma: no cover - compiled
    """Decode rows [first_row, n) into output slots from `first_out`.

    Returns (next row, next output slot): next row < n means a map ran out of entry capacity
    before that row; grow the entry arrays and call again from there.
    """
    n = starts.shape[0]
    out = first_out
    n_ops = ops.shape[0]
    n_maps = map_fill.shape[0]
    saved_fill = np.empty(max(n_maps, 1), dtype=np.int64)
    for row in range(first_row, n):
        pos = starts[row]
        end = stops[row]
        if is_null[row]:
            status[row] = _NULL
            continue
        if end - pos < _HEADER:
            status[row] = _SHORT
            err_aux[row] = end - pos
            continue
        if buf[pos] != 0:
            status[row] = _MAGIC
            err_aux[row] = buf[pos]
            continue
        writer_id = (
            (np.int64(buf[pos + 1]) << 24)
            | (np.int64(buf[pos + 2]) << 16)
            | (np.int64(buf[pos + 3]) << 8)
            | np.int64(buf[pos + 4])
        )
        if writer_id != schema_id:
            status[row] = _FOREIGN
            err_aux[row] = writer_id
            continue
        pos += _HEADER
        for m in range(n_maps):
            saved_fill[m] = map_fill[m]
        code = _OK
        aux = np.int64(0)
        op = 0
        need_room = False
        while op < n_ops:
            kind = ops[op, _KIND]
            slot = ops[op, _SLOT]
            null_branch = ops[op, _NULL_BRANCH]
            if null_branch >= 0:
                branch, pos, code = _read_long(buf, pos, end)
                if code != _OK:
                    break
                if branch != 0 and branch != 1:
                    code = _BRANCH
                    aux = branch
                    break
                if branch == null_branch:
                    present[ops[op, _PRESENT_SLOT], out] = 0
                    if kind in (_K_STRING, _K_BYTES):
                        str_start[slot, out] = 0
                        str_len[slot, out] = 0
                    else:
                        ints[slot, out] = 0
                    op += 1
                    continue
                present[ops[op, _PRESENT_SLOT], out] = 1
            if kind in (_K_STRING, _K_BYTES):
                start, length, pos, code = _read_string(buf, pos, end)
                if code != _OK:
                    aux = length
                    break
                str_start[slot, out] = start
                str_len[slot, out] = length
            elif kind in (_K_LONG, _K_INT, _K_ENUM):
                value, pos, code = _read_long(buf, pos, end)
                if code != _OK:
                    break
                if kind == _K_INT and (value < -2147483648 or value > 2147483647):
                    code = _INT_RANGE
                    aux = value
                    break
                if kind == _K_ENUM and (value < 0 or value >= ops[op, _SYMBOLS]):
                    code = _ENUM
                    aux = value
                    break
                ints[slot, out] = value
            elif kind == _K_BOOLEAN:
                if pos >= end:
                    code = _TRUNCATED
                    break
                ints[slot, out] = 1 if buf[pos] != 0 else 0
                pos += 1
            elif kind in (_K_FLOAT, _K_DOUBLE):  # raw little-endian bits
                width = 4 if kind == _K_FLOAT else 8
                if end - pos < width:
                    code = _TRUNCATED
                    break
                bits = np.int64(0)
                for b in range(width):
                    bits |= np.int64(buf[pos + b]) << (8 * b)
                ints[slot, out] = bits
                pos += width
            else:  # Kind.MAP, of strings
                entries = 0
                fill = map_fill[slot]
                capacity = key_start.shape[1]
                while True:
                    count, pos, code = _read_long(buf, pos, end)
                    if code != _OK or count == 0:
                        break
                    if count < 0:
                        count = -count
                        _, pos, code = _read_long(buf, pos, end)  # block size in bytes: not needed
                        if code != _OK:
                            break
                    if count > (end - pos) // 2:  # every entry takes two bytes at least
                        code = _BLOCK
                        aux = count
                        break
                    if fill + count > capacity:
                        need_room = True
                        break
                    for _ in range(count):
                        start, length, pos, code = _read_string(buf, pos, end)
                        if code != _OK:
                            aux = length
                            break
                        key_start[slot, fill] = start
                        key_len[slot, fill] = length
                        start, length, pos, code = _read_string(buf, pos, end)
                        if code != _OK:
                            aux = length
                            break
                        item_start[slot, fill] = start
                        item_len[slot, fill] = length
                        fill += 1
                        entries += 1
                    if code != _OK:
                        break
                if need_room or code != _OK:
                    break
                map_fill[slot] = fill
                map_count[slot, out] = entries
            op += 1
        if need_room:
            for m in range(n_maps):
                map_fill[m] = saved_fill[m]
            return row, out
        if code == _OK and pos != end:
            code = _TRAILING
            aux = end - pos
        if code != _OK:
            status[row] = code
            err_op[row] = op
            err_aux[row] = aux
            for m in range(n_maps):
                map_fill[m] = saved_fill[m]
            continue
        source_row[out] = row
        out += 1
    return n, out


@njit(cache=True, nogil=True)
def _gather(buf, starts, lengths, dests, n_rows, out):  # pragma: no cover - compiled
    """out[dests[k, r]:][:lengths[k, r]] = buf[starts[k, r]:][:lengths[k, r]] for r < n_rows, row by
    row, so each message is read once while it is in cache."""
    n_columns = starts.shape[0]
    for r in range(n_rows):
        for k in range(n_columns):
            source = np.uint64(starts[k, r])
            dest = np.uint64(dests[k, r])
            for j in range(np.uint64(lengths[k, r])):
                out[dest + j] = buf[source + j]


@njit(cache=True, nogil=True)
def _invalid_utf8(data, offsets):  # pragma: no cover - compiled
    """Which of the strings data[offsets[i]:offsets[i + 1]] are not strict UTF-8."""
    n = offsets.shape[0] - 1
    invalid = np.zeros(n, dtype=np.bool_)
    for i in range(n):
        start, stop = offsets[i], offsets[i + 1]
        high = 0
        for j in range(start, stop):
            high |= data[j]
        if high >= 0x80 and not _utf8_strict(data, start, stop):
            invalid[i] = True
    return invalid


@njit(cache=True, nogil=True)
def _invalid_utf8_at(buf, starts, lengths, n_rows):  # pragma: no cover - compiled
    """Which of the strings buf[starts[r]:][:lengths[r]], r < n_rows, are not strict UTF-8: the
    check of a column that is not gathered (left out of a projection), read where it lies."""
    invalid = np.zeros(n_rows, dtype=np.bool_)
    for r in range(n_rows):
        start = starts[r]
        high = 0
        for j in range(np.uint64(start), np.uint64(start + lengths[r])):
            high |= buf[j]
        if high >= 0x80 and not _utf8_strict(buf, start, start + lengths[r]):
            invalid[r] = True
    return invalid


@dataclass
class DecodedColumns:
    """What one decode pass found: the good rows as Arrow columns, and the status of every message."""

    columns: list[pa.Array]
    source_rows: np.ndarray  # int64, input position of each output row
    status: np.ndarray  # int8 per input message (Status)
    err_op: np.ndarray  # int32 per input message: index of the leaf where decoding stopped
    err_aux: np.ndarray  # int64 per input message: detail value (bad index, byte count, schema id, …)


class OpTable:
    """The op table of a plan for the compiled loop, and the output slots it needs."""

    def __init__(self, leaves: tuple[Leaf, ...]) -> None:
        rows = []
        self.slots: list[int] = []
        self.present_slots: list[int] = []
        counts = {"int": 0, "str": 0, "map": 0, "present": 0}
        for leaf in leaves:
            sort = (
                "str" if leaf.kind in (Kind.STRING, Kind.BYTES) else "map" if leaf.kind is Kind.MAP else "int"
            )
            slot = counts[sort]
            counts[sort] += 1
            present = counts["present"] if leaf.nullable else -1
            counts["present"] += leaf.nullable
            null_branch = -1 if leaf.null_branch is None else leaf.null_branch
            rows.append([int(leaf.kind), slot, len(leaf.symbols), null_branch, present])
            self.slots.append(slot)
            self.present_slots.append(present)
        self.table = np.array(rows, dtype=np.int64).reshape(len(rows), 5)
        self.n_int, self.n_str, self.n_map = counts["int"], counts["str"], counts["map"]
        self.n_present = counts["present"]


def decode_messages(
    leaves: tuple[Leaf, ...],
    ops: OpTable,
    data: np.ndarray,
    starts: np.ndarray,
    stops: np.ndarray,
    is_null: np.ndarray,
    schema_id: int,
    wanted: tuple[bool, ...] | None = None,
) -> DecodedColumns:
    """Decode the messages `data[starts[i]:stops[i]]` (Confluent framing) written under `schema_id`.

    `wanted` (one flag per leaf) projects: `columns` holds only the wanted leaves, and the others
    are parsed and validated (UTF-8 included) but never gathered or built, so a projection
    refuses exactly the messages a full decode refuses.
    """
    n = len(starts)
    # Scratch columns: the compiled loop writes every slot of every good row (np.empty is safe).
    ints = np.empty((ops.n_int, n), dtype=np.int64)
    present = np.empty((ops.n_present, n), dtype=np.uint8)
    str_start = np.empty((ops.n_str, n), dtype=np.int64)
    str_len = np.empty((ops.n_str, n), dtype=np.int64)
    map_count = np.empty((ops.n_map, n), dtype=np.int64)
    capacity = 2 * n + 16
    entries = [np.empty((ops.n_map, capacity), dtype=np.int64) for _ in range(4)]
    map_fill = np.zeros(ops.n_map, dtype=np.int64)
    status = np.zeros(n, dtype=np.int8)
    err_op = np.zeros(n, dtype=np.int32)
    err_aux = np.zeros(n, dtype=np.int64)
    source_row = np.zeros(n, dtype=np.int64)
    row, out = 0, 0
    while True:
        row, out = _decode_kernel(
            data, starts, stops, is_null, schema_id, ops.table,
            ints, present, str_start, str_len,
            map_count, *entries, map_fill,
            status, err_op, err_aux, source_row, row, out,
        )  # fmt: skip
        if row >= n:
            break
        capacity *= 2
        entries = [_grown(array, capacity) for array in entries]
    key_start, key_len, item_start, item_len = entries

    wanted = (True,) * len(leaves) if wanted is None else wanted
    gathered = [
        slot
        for leaf, slot, keep in zip(leaves, ops.slots, wanted, strict=True)
        if keep and leaf.kind in (Kind.STRING, Kind.BYTES)
    ]
    strings = dict(zip(gathered, _gathered(data, str_start[gathered], str_len[gathered], out), strict=True))
    invalid = np.zeros(out, dtype=bool)
    columns: list[pa.Array | None] = []
    for index, (leaf, slot, present_slot, keep) in enumerate(
        zip(leaves, ops.slots, ops.present_slots, wanted, strict=True)
    ):
        validity = present[present_slot, :out] if present_slot >= 0 else None
        if not keep:  # not built, but checked: UTF-8 where it lies (other kinds were checked parsing)
            if leaf.kind is Kind.STRING:
                bad = _invalid_utf8_at(data, str_start[slot], str_len[slot], out)
                _flag(invalid, bad, status, err_op, source_row, index)
            elif leaf.kind is Kind.MAP:
                fill = int(map_fill[slot])
                bad = _invalid_utf8_at(data, key_start[slot], key_len[slot], fill)
                bad |= _invalid_utf8_at(data, item_start[slot], item_len[slot], fill)
                bad = _rows_of_entries(bad, map_count[slot, :out])
                _flag(invalid, bad, status, err_op, source_row, index)
        elif leaf.kind in (Kind.STRING, Kind.BYTES):
            text, offsets = strings[slot]
            if leaf.kind is Kind.STRING:
                _flag(
                    invalid,
                    _invalid_utf8(text, offsets) if _non_ascii(text) else None,
                    status,
                    err_op,
                    source_row,
                    index,
                )
            columns.append(_binary_array(leaf.arrow_type, text, offsets, validity))
        elif leaf.kind is Kind.MAP:
            fill = int(map_fill[slot])
            pairs = _gathered(
                data,
                np.vstack([key_start[slot], item_start[slot]]),
                np.vstack([key_len[slot], item_len[slot]]),
                fill,
            )
            counts = map_count[slot, :out]
            for text, offsets in pairs:
                if _non_ascii(text):
                    bad_rows = _rows_of_entries(_invalid_utf8(text, offsets), counts)
                    _flag(invalid, bad_rows, status, err_op, source_row, index)
            row_offsets = np.zeros(out + 1, dtype=np.int32)
            np.cumsum(counts, out=row_offsets[1:])
            keys, items = (_binary_array(pa.string(), text, offsets, None) for text, offsets in pairs)
            columns.append(pa.MapArray.from_arrays(pa.array(row_offsets), keys, items, type=leaf.arrow_type))
        else:
            columns.append(_scalars(leaf, ints[slot, :out], validity))
    rows = source_row[:out]
    if invalid.any():
        keep = pa.array(~invalid)
        columns = [column.filter(keep) for column in columns]
        rows = rows[~invalid]
    return DecodedColumns(columns, rows, status, err_op, err_aux)


def _rows_of_entries(bad_entries: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Which rows hold a bad map entry, from per-entry flags and each row's entry count."""
    bad_rows = np.zeros(len(counts), dtype=bool)
    if bad_entries.any():
        np.logical_or.at(bad_rows, np.repeat(np.arange(len(counts)), counts), bad_entries)
    return bad_rows


def _gathered(
    data: np.ndarray, starts: np.ndarray, lengths: np.ndarray, n_rows: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per column k: (its bytes, int64 offsets), gathered from data[starts[k, r]:][:lengths[k, r]]
    for the rows r < n_rows."""
    n_columns = starts.shape[0]
    offsets = np.zeros((n_columns, n_rows + 1), dtype=np.int64)
    np.cumsum(lengths[:, :n_rows], axis=1, out=offsets[:, 1:])
    totals = offsets[:, -1]
    bases = np.concatenate([[0], np.cumsum(totals)])
    dests = np.ascontiguousarray(offsets[:, :-1] + bases[:-1, None])
    out = np.empty(int(bases[-1]), dtype=np.uint8)
    _gather(data, starts, lengths, dests, n_rows, out)
    return [(out[bases[k] : bases[k + 1]], offsets[k]) for k in range(n_columns)]


def _non_ascii(text: np.ndarray) -> bool:
    return bool(len(text)) and int(text.max()) >= 0x80


def _flag(
    invalid: np.ndarray,
    bad: np.ndarray | None,
    status: np.ndarray,
    err_op: np.ndarray,
    source_row: np.ndarray,
    op: int,
) -> None:
    """Mark output rows `bad` as invalid UTF-8 in leaf `op` (the first field found bad is reported)."""
    if bad is None or not bad.any():
        return
    new = bad & ~invalid
    rows = source_row[: len(invalid)][new]
    status[rows] = Status.UTF8
    err_op[rows] = op
    invalid |= bad


def _grown(array: np.ndarray, capacity: int) -> np.ndarray:
    grown = np.empty((array.shape[0], capacity), dtype=array.dtype)
    grown[:, : array.shape[1]] = array
    return grown


def _bitmap(validity: np.ndarray | None) -> tuple[pa.Buffer | None, int]:
    if validity is None:
        return None, 0
    nulls = len(validity) - int(np.count_nonzero(validity))
    if nulls == 0:
        return None, 0
    return pa.py_buffer(np.packbits(validity, bitorder="little")), nulls


def _binary_array(
    arrow_type: pa.DataType, data: np.ndarray, offsets: np.ndarray, validity: np.ndarray | None
) -> pa.Array:
    bitmap, nulls = _bitmap(validity)
    buffers = [bitmap, pa.py_buffer(offsets.astype(np.int32)), pa.py_buffer(data)]
    return pa.Array.from_buffers(arrow_type, len(offsets) - 1, buffers, null_count=nulls)


def _scalars(leaf: Leaf, values: np.ndarray, validity: np.ndarray | None) -> pa.Array:
    kind = leaf.kind
    if kind is Kind.ENUM:
        mask = None if validity is None else validity == 0
        return pa.array(leaf.symbols, pa.string()).take(pa.array(values.astype(np.int32), mask=mask))
    if kind is Kind.LONG:
        raw = np.ascontiguousarray(values)
    elif kind is Kind.INT:
        raw = values.astype(np.int32)
    elif kind is Kind.BOOLEAN:
        raw = np.packbits(values.astype(np.uint8), bitorder="little")
    elif kind is Kind.FLOAT:
        raw = values.astype(np.uint32).view(np.float32)
    else:
        raw = np.ascontiguousarray(values).view(np.float64)
    bitmap, nulls = _bitmap(validity)
    return pa.Array.from_buffers(leaf.arrow_type, len(values), [bitmap, pa.py_buffer(raw)], null_count=nulls)


def warm_up() -> None:
    """Compile (or load from numba's cache) the compiled loops, on a tiny input."""
    leaves = (Leaf(("s",), "s", Kind.STRING), Leaf(("m",), "m", Kind.MAP))
    data = np.frombuffer(
        bytes([0, 0, 0, 0, 1, 4, 0xC3, 0xA9, 2, 2, 0x61, 2, 0x62, 0]), dtype=np.uint8
    )  # "é", {"a": "b"}
    one = np.zeros(1, dtype=np.int64)
    for wanted in (None, (False, False)):  # the full decode, and the checks of a projection
        decode_messages(
            leaves, OpTable(leaves), data, one, one + len(data), np.zeros(1, dtype=np.uint8), 1, wanted
        )
