"""Avro encoding of a whole batch at once, column by column, in the Confluent wire format.

`AvroBatchEncoder.encode(columns, n)` returns one message per row: magic byte 0, the 4-byte schema
id, then the Avro binary body of the record, byte for byte what `fastavro.schemaless_writer`
writes for the same record (the tests check this over generated records). The input is one
sequence per leaf of the record (`avro_leaves`), already valid for the schema, as
`BatchValidator` produces it.

Why columns: fastavro spends ~20 µs on one `PlaybackEvent` (union branch probing, a Python call
per field); here each leaf is encoded for all rows with a handful of NumPy operations (zig-zag
varints for every number, string length and union branch, computed as one matrix), the
variable-length parts are joined once, and one scatter assembles every message in a single buffer.

Supported Avro types: records (flattened into their leaves), `string`, `long`, `int`, `boolean`,
`enum`, `map` of `string`, and unions of `null` with one of these. Anything else is refused when
the encoder is built, not while it runs.
"""

from __future__ import annotations

import operator
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import repeat
from typing import Any

import numpy as np

__all__ = ["AvroBatchEncoder", "AvroLeaf", "avro_leaves"]

_HEADER = struct.Struct(">bI")
_SCALARS = ("string", "long", "int", "boolean")


@dataclass(frozen=True)
class AvroLeaf:
    """One scalar position of a record: `path` is dotted through nested records (`device.type`)."""

    path: str
    kind: str  # string | long | int | boolean | enum | map
    nullable: bool = False
    #: For a nullable leaf: the union branch index of null and of the value.
    null_branch: int = 0
    value_branch: int = 1
    symbols: tuple[str, ...] = ()
    has_default: bool = False
    default: Any = None
    doc: str = ""


def _leaf_type(avro_type: Any, path: str) -> tuple[str, tuple[str, ...]]:
    if isinstance(avro_type, str) and avro_type in _SCALARS:
        return avro_type, ()
    if isinstance(avro_type, dict):
        if avro_type.get("type") == "enum":
            return "enum", tuple(avro_type["symbols"])
        if avro_type.get("type") == "map" and avro_type.get("values") == "string":
            return "map", ()
        if avro_type.get("type") in _SCALARS and len(avro_type) == 1:
            return avro_type["type"], ()
    raise TypeError(f"{path}: Avro type {avro_type!r} is not supported by the batch encoder")


def avro_leaves(schema: Mapping[str, Any], prefix: str = "") -> list[AvroLeaf]:
    """The leaves of a record schema in write order, nested records flattened."""
    leaves: list[AvroLeaf] = []
    for field in schema["fields"]:
        path = f"{prefix}{field['name']}"
        avro_type = field["type"]
        defaults = {
            "has_default": "default" in field,
            "default": field.get("default"),
            "doc": field.get("doc", ""),
        }
        if isinstance(avro_type, dict) and avro_type.get("type") == "record":
            leaves.extend(avro_leaves(avro_type, f"{path}."))
        elif isinstance(avro_type, list):
            if len(avro_type) != 2 or "null" not in avro_type:
                raise TypeError(f"{path}: only unions of null and one type are supported, not {avro_type!r}")
            null_branch = avro_type.index("null")
            kind, symbols = _leaf_type(avro_type[1 - null_branch], path)
            leaves.append(AvroLeaf(path, kind, True, null_branch, 1 - null_branch, symbols, **defaults))
        else:
            kind, symbols = _leaf_type(avro_type, path)
            leaves.append(AvroLeaf(path, kind, symbols=symbols, **defaults))
    return leaves


def _zigzag(values: np.ndarray) -> np.ndarray:
    """Avro's zig-zag mapping of int64 to uint64 (0, -1, 1, -2 … → 0, 1, 2, 3 …)."""
    return ((values << 1) ^ (values >> 63)).view(np.uint64)


def _varints(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Varint bytes of every uint64 in `z`: a (..., m) uint8 cube (m = the longest) and the lengths."""
    longest = max(1, (int(z.max()).bit_length() + 6) // 7)
    nbytes = np.ones(z.shape, dtype=np.int64)
    cube = np.empty((*z.shape, longest), dtype=np.uint8)
    for k in range(longest):
        shift = np.uint64(7 * k)
        if k:
            nbytes += z >= (np.uint64(1) << shift)
        cube[..., k] = (z >> shift) & np.uint64(0x7F)
    for k in range(longest - 1):
        cube[..., k] |= (nbytes > k + 1).astype(np.uint8) << 7  # continuation bit
    return cube, nbytes


def _py_varint(value: int) -> bytes:
    """Zig-zag varint of one Python int (for the rare per-row parts: map block counts)."""
    z = (value << 1) ^ (value >> 63)
    out = bytearray()
    while z > 0x7F:
        out.append((z & 0x7F) | 0x80)
        z >>= 7
    out.append(z)
    return bytes(out)


def _py_string(value: str) -> bytes:
    data = value.encode()
    return _py_varint(len(data)) + data


def _encode_string_map(value: Mapping[str, str]) -> bytes:
    """A map of strings as one block: count, key/value pairs, then the 0 that ends the map."""
    if not value:
        return b"\x00"
    parts = [_py_varint(len(value))]
    for key, item in value.items():
        parts.append(_py_string(key))
        parts.append(_py_string(item))
    parts.append(b"\x00")
    return b"".join(parts)


class _Pieces:
    """The parts of every message, as piece columns: varints (one matrix) and byte runs."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.varints: list[np.ndarray] = []  # uint64 (n,) values, already zig-zagged where due
        self.varint_present: list[np.ndarray | None] = []
        self.runs: list[tuple[np.ndarray, bytes]] = []  # (lengths (n,), the n runs joined)
        self.order: list[tuple[str, int]] = []  # write order: ("v", i) or ("r", i)

    def varint(self, values: np.ndarray, present: np.ndarray | None = None) -> None:
        self.order.append(("v", len(self.varints)))
        self.varints.append(values)
        self.varint_present.append(present)

    def run(self, parts: list[bytes], lengths: np.ndarray | None = None) -> None:
        if lengths is None:
            lengths = np.fromiter(map(len, parts), dtype=np.int64, count=self.n)
        self.order.append(("r", len(self.runs)))
        self.runs.append((lengths, b"".join(parts)))


class AvroBatchEncoder:
    """Encode rows given as columns into Confluent wire-format messages of one schema."""

    def __init__(self, schema: Mapping[str, Any], schema_id: int) -> None:
        self.schema_id = schema_id
        self.leaves = avro_leaves(schema)
        self._header = np.frombuffer(_HEADER.pack(0, schema_id), dtype=np.uint8)
        self._enum_index = {
            leaf.path: {symbol: i for i, symbol in enumerate(leaf.symbols)}
            for leaf in self.leaves
            if leaf.symbols
        }

    def encode(self, columns: Mapping[str, Sequence[Any]], n: int) -> list[bytes]:
        """One message per row; `columns[path]` holds the `n` values of each leaf (None = null)."""
        if n == 0:
            return []
        pieces = _Pieces(n)
        for leaf in self.leaves:
            self._add_leaf(pieces, leaf, columns[leaf.path])
        return self._assemble(pieces)

    def _add_leaf(self, pieces: _Pieces, leaf: AvroLeaf, column: Sequence[Any]) -> None:
        n = pieces.n
        present: np.ndarray | None = None
        if leaf.nullable:
            nulls = column.count(None) if isinstance(column, list) else sum(v is None for v in column)
            if nulls == n:  # only nulls: the branch varint says it all
                pieces.varint(np.full(n, 2 * leaf.null_branch, dtype=np.uint64))
                return
            if nulls == 0:
                pieces.varint(np.full(n, 2 * leaf.value_branch, dtype=np.uint64))
            else:
                present = np.array(list(map(operator.is_not, column, repeat(None))), dtype=bool)
                branch = np.where(present, leaf.value_branch, leaf.null_branch).astype(np.int64)
                pieces.varint(_zigzag(branch))
                filler = leaf.symbols[0] if leaf.symbols else _FILLER[leaf.kind]
                column = [v if v is not None else filler for v in column]
        kind = leaf.kind
        if kind in ("long", "int"):
            pieces.varint(_zigzag(np.array(column, dtype=np.int64)), present)
        elif kind == "string":
            joined = "".join(column).encode()  # nulls were filled with "": zero bytes
            lengths = np.fromiter(map(len, column), dtype=np.int64, count=n)
            if len(joined) != int(lengths.sum()):  # not all ASCII: lengths in bytes, string by string
                encoded = [v.encode() for v in column]
                lengths = np.fromiter(map(len, encoded), dtype=np.int64, count=n)
                joined = b"".join(encoded)
            pieces.varint(_zigzag(lengths), present)
            pieces.order.append(("r", len(pieces.runs)))
            pieces.runs.append((lengths, joined))
        elif kind == "enum":
            index = self._enum_index[leaf.path]
            values = np.array(list(map(index.__getitem__, column)), dtype=np.int64)
            pieces.varint(_zigzag(values), present)
        elif kind == "boolean":
            pieces.varint(np.fromiter(column, dtype=bool, count=n).astype(np.uint64), present)
        elif kind == "map":
            parts = [_encode_string_map(v) if v else b"\x00" for v in column]
            if present is not None:
                parts = [p if keep else b"" for p, keep in zip(parts, present.tolist(), strict=True)]
            pieces.run(parts)
        else:  # pragma: no cover - avro_leaves admits no other kind
            raise TypeError(f"{leaf.path}: unsupported kind {kind}")

    def _assemble(self, pieces: _Pieces) -> list[bytes]:
        n = pieces.n
        # Varints: one byte for most columns (enums, union branches, short lengths), handled as one
        # (K1, n) matrix; the longer ones (timestamps, durations) as a (K2, n, m) byte cube.
        z = np.stack(pieces.varints)
        present = np.stack([np.ones(n, dtype=bool) if p is None else p for p in pieces.varint_present])
        short = z.max(axis=1) < 0x80
        lengths = np.zeros((len(z) + len(pieces.runs), n), dtype=np.int64)
        lengths[: len(z)][short] = present[short]
        blobs = [z[short].astype(np.uint8)[present[short]]]
        long_index = np.flatnonzero(~short)
        if len(long_index):
            cube, nbytes = _varints(z[long_index])
            long_lengths = np.where(present[long_index], nbytes, 0)
            lengths[long_index] = long_lengths
            blobs.append(cube[np.arange(cube.shape[-1]) < long_lengths[..., None]])
        # Byte runs after them, in one source buffer.
        for i, (run_lengths, _) in enumerate(pieces.runs):
            lengths[len(z) + i] = run_lengths
        blobs.append(np.frombuffer(b"".join(blob for _, blob in pieces.runs), np.uint8))
        source = np.concatenate(blobs)
        # Source order is: short varint columns, long varint columns, runs.
        source_order = np.concatenate([np.flatnonzero(short), long_index, np.arange(len(z), len(lengths))])
        lengths_in_source = lengths[source_order]
        # Piece columns in write order, each row's pieces laid end to end after the header.
        offset = {"v": 0, "r": len(z)}
        order = np.array([offset[kind] + i for kind, i in pieces.order])
        in_row = lengths[order]
        header = len(self._header)
        row_len = header + in_row.sum(axis=0)
        row_start = np.zeros(n, dtype=np.int64)
        np.cumsum(row_len[:-1], out=row_start[1:])
        dst = np.empty_like(lengths)
        dst[order] = row_start + header + np.cumsum(in_row, axis=0) - in_row
        flat_len = lengths_in_source.ravel()
        flat_src = np.cumsum(flat_len) - flat_len
        flat_dst = dst[source_order].ravel()
        out = np.empty(int(row_len.sum()), dtype=np.uint8)
        out[np.repeat(flat_dst - flat_src, flat_len) + np.arange(len(source))] = source
        out[row_start[:, None] + np.arange(header)] = self._header
        data = out.tobytes()
        ends = (row_start + row_len).tolist()
        return [data[a:b] for a, b in zip(row_start.tolist(), ends, strict=True)]


#: Stand-in values for nulls inside a column, never written (their pieces have length 0).
_FILLER: dict[str, Any] = {"string": "", "long": 0, "int": 0, "boolean": False, "map": {}}
