"""A columnar Avro codec: whole batches of Confluent wire-format messages to and from flat Arrow
tables, for the hot paths (producer, lander, streaming jobs) where fastavro's per-record Python
objects are the bottleneck.

    values = encode_events(table, schema_id)          # pa.BinaryArray, one message per row
    result = decode_events(values, schema_id, fallback=serde.decode)
    result.table                                       # flat EVENT_SCHEMA rows, in input order
    result.rows, result.bad_rows, result.errors        # where each came from; what was refused

Guarantees:
- Encoding is byte-identical to `AvroSerde.encode(record)` (fastavro `schemaless_writer`) for
  every row of a flat event table after `to_avro_records` (`columnar_encode` has the rules).
- Decoding yields the flat rows `from_avro_records` builds from fastavro's records, for every
  message written under the codec's schema id. A message that is not valid Avro for that schema
  (bad magic byte, truncated, bad varint, branch or enum index out of range, an int beyond 32
  bits, invalid UTF-8, bytes left after the record) is reported in `bad_rows` with its reason
  and never affects the other messages. Messages of another schema id (an older writer) go
  through `fallback` (fastavro with schema resolution) and are merged back in input order;
  without a fallback they are bad rows. fastavro tolerates trailing bytes; this decoder does not.
- The codec is built from the Avro schema (`columnar_plan`), so a field added to
  `PlaybackEvent` needs no change here; a type the codec does not support raises
  `NotImplementedError` when the codec is built, and `AvroSerde` then stays on fastavro.

Why this design, measured here (`python -m bench.codec`: 1M simulated events, ~194 bytes each,
one process; ratios are within one run on this shared 2-core machine, three runs shown):
- fastavro per record: 25-29k events/s from a flat table to wire bytes (40-49k/s for the
  `schemaless_writer` calls alone; `to_avro_records` is the rest) and 33-38k events/s from wire
  bytes to a flat table (46-51k/s for the `schemaless_reader` calls alone).
- polars 2.1 `read_avro` (Rust) on the batch's bodies wrapped as one object-container block
  does not read this schema: an `int` or `boolean` with a default, the nested record with an enum,
  an enum in a union and the map each fail (`OutOfSpec`) or panic. DuckDB's avro extension
  cannot be installed offline, and no other maintained Avro→Arrow reader is on PyPI.
- So: encode with NumPy/Arrow kernels (no per-row Python, `columnar_encode`): 0.32-0.42M
  events/s, 12-15× fastavro; decode with one compiled numba pass over the concatenated bytes
  (`columnar_decode`): 0.64-1.7M events/s in consumer-sized batches of 10k messages, 19-45×
  fastavro (1.6-2.1M/s as one 1M-message array). numba compiles the decoder on the first call
  in a fresh environment (2.7-4.8 s) and loads it from its cache afterwards (~0.35 s).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
import pyarrow as pa

from schemas.columnar_decode import DecodedColumns, OpTable, Status, decode_messages, warm_up
from schemas.columnar_encode import encode_rows
from schemas.columnar_plan import Kind, Leaf, arrow_schema, plan
from schemas.events import _DEVICE_COLUMNS, playback_event_schema
from schemas.serde import MAGIC_BYTE

__all__ = [
    "EVENT_FLAT_NAMES",
    "ColumnarCodec",
    "DecodeResult",
    "decode_events",
    "encode_events",
    "event_codec",
    "warm_up",
]

#: Where the nested Avro fields of `PlaybackEvent` go in the flat event columns.
EVENT_FLAT_NAMES: dict[tuple[str, ...], str] = {
    ("device", avro): flat for flat, avro in _DEVICE_COLUMNS.items()
}

Messages = pa.Array | pa.ChunkedArray | Sequence[bytes | None]

#: Messages decoded per compiled pass: bounds the scratch columns (~0.4 KB per message) and keeps
#: them in cache; batches from a consumer (~10k) are one block.
DECODE_BLOCK = 65_536


@dataclass(frozen=True)
class DecodeResult:
    """Decoded rows of a batch of messages, and the messages that could not be decoded.

    `table` holds the decoded rows in input order; `rows[i]` is the input position of table row
    i. `bad_rows` are the input positions of the messages that were refused (ascending) and
    `errors[j]` says why `bad_rows[j]` was. Every input position is in exactly one of the two.
    """

    table: pa.Table
    rows: np.ndarray
    bad_rows: np.ndarray
    errors: list[str]


class ColumnarCodec:
    """Encode and decode the records of one Avro record schema as flat Arrow rows.

    `flat_names` names the column of a nested field by its path (default: the path joined by
    "_"). Raises `NotImplementedError` for a schema with a type the codec does not support.
    """

    def __init__(
        self, schema: Mapping[str, Any], flat_names: Mapping[tuple[str, ...], str] | None = None
    ) -> None:
        self.leaves: tuple[Leaf, ...] = plan(schema, flat_names)
        self.arrow_schema: pa.Schema = arrow_schema(self.leaves)
        self._ops = OpTable(self.leaves)
        self._projections: dict[tuple[str, ...] | None, _Projection] = {}

    def encode(self, table: pa.Table | pa.RecordBatch, schema_id: int) -> pa.Array:
        """One Confluent wire-format message per row (a BinaryArray; LargeBinaryArray past 2 GiB).

        Raises `SerializationError` naming the column when the table does not fit the schema (a
        null in a field that is not nullable, a value that is not an enum symbol, a missing column
        without a default).
        """
        return encode_rows(self.leaves, table, _header(schema_id))

    def decode(
        self,
        values: Messages,
        schema_id: int,
        *,
        fallback: Callable[[bytes], dict[str, Any]] | None = None,
        columns: Sequence[str] | None = None,
    ) -> DecodeResult:
        """Decode a batch of wire-format messages (`message.value()`s, or a binary array).

        Messages written under `schema_id` are decoded here; the others are passed to `fallback`
        one by one (a `ValueError` from it, such as `SerializationError`, makes the message bad).
        `columns` (flat names, in schema order in the result) decodes only those: the other
        fields are still parsed and validated, so the same messages are refused, but their values
        are never built (the QoE job reads 14 of the 28 columns).
        """
        projection = self._projection(tuple(columns) if columns is not None else None)
        array = _as_binary(values)
        parts = [
            self._decode_block(array.slice(start, DECODE_BLOCK), start, schema_id, fallback, projection)
            for start in range(0, len(array), DECODE_BLOCK)
        ]
        if not parts:
            return DecodeResult(
                projection.schema.empty_table(), np.zeros(0, np.int64), np.zeros(0, np.int64), []
            )
        if len(parts) == 1:
            return parts[0]
        return DecodeResult(
            pa.concat_tables([part.table for part in parts]),
            np.concatenate([part.rows for part in parts]),
            np.concatenate([part.bad_rows for part in parts]),
            [error for part in parts for error in part.errors],
        )

    def _projection(self, columns: tuple[str, ...] | None) -> _Projection:
        found = self._projections.get(columns)
        if found is not None:
            return found
        if columns is None:
            found = _Projection(None, self.arrow_schema)
        else:
            unknown = sorted(set(columns) - set(self.arrow_schema.names))
            if unknown:
                raise ValueError(f"no such event columns {unknown}; choose from {self.arrow_schema.names}")
            wanted = tuple(leaf.column in columns for leaf in self.leaves)
            schema = pa.schema([f for f, keep in zip(self.arrow_schema, wanted, strict=True) if keep])
            found = _Projection(wanted, schema)
        self._projections[columns] = found
        return found

    def _decode_block(
        self,
        array: pa.Array,
        first: int,
        schema_id: int,
        fallback: Callable[[bytes], dict[str, Any]] | None,
        projection: _Projection,
    ) -> DecodeResult:
        data, starts, stops, is_null = _buffers(array)
        found = decode_messages(
            self.leaves, self._ops, data, starts, stops, is_null, schema_id, projection.wanted
        )
        table = pa.Table.from_arrays(found.columns, schema=projection.schema)
        rows = found.source_rows
        foreign = np.flatnonzero(found.status == Status.FOREIGN)
        bad_rows = np.flatnonzero(found.status > Status.FOREIGN)
        errors = {
            int(row): self._describe(found, int(row), int(stops[row] - starts[row]), schema_id)
            for row in bad_rows
        }
        if len(foreign):
            if fallback is None:
                for row in foreign:
                    writer = int(found.err_aux[row])
                    errors[int(row)] = f"written with schema id {writer}; this decoder reads id {schema_id}"
            else:
                table, rows = self._merge_fallback(
                    array, foreign, fallback, table, rows, errors, projection.schema.names
                )
            bad_rows = np.array(sorted(errors), dtype=np.int64)
        return DecodeResult(table, rows + first, bad_rows + first, [errors[int(row)] for row in bad_rows])

    def records_to_table(self, records: Iterable[Mapping[str, Any]]) -> pa.Table:
        """Flat rows from Avro-shaped records (nested records as dicts, maps as dicts)."""
        rows = list(records)
        columns = []
        for leaf in self.leaves:
            values = [_lookup(record, leaf.path) for record in rows]
            if leaf.kind is Kind.MAP:
                values = [list(value.items()) if value else [] for value in values]
            columns.append(pa.array(values, leaf.arrow_type))
        return pa.Table.from_arrays(columns, schema=self.arrow_schema)

    def _merge_fallback(
        self,
        array: pa.Array,
        foreign: np.ndarray,
        fallback: Callable[[bytes], dict[str, Any]],
        table: pa.Table,
        rows: np.ndarray,
        errors: dict[int, str],
        columns: list[str],
    ) -> tuple[pa.Table, np.ndarray]:
        records, resolved = [], []
        for row in foreign.tolist():
            try:
                records.append(fallback(array[row].as_py()))
            except ValueError as exc:  # SerializationError and friends: bad input, not a bug
                errors[row] = str(exc)
                continue
            resolved.append(row)
        if not records:
            return table, rows
        merged = pa.concat_tables([table, self.records_to_table(records).select(columns)])
        positions = np.concatenate([rows, np.array(resolved, dtype=np.int64)])
        order = np.argsort(positions, kind="stable")
        return merged.take(pa.array(order)), positions[order]

    def _describe(self, found: DecodedColumns, row: int, size: int, schema_id: int) -> str:
        status = Status(int(found.status[row]))
        aux = int(found.err_aux[row])
        op = int(found.err_op[row])
        field = self.leaves[op].dotted if op < len(self.leaves) else "?"
        if status is Status.NULL:
            return "message has no value (a tombstone?)"
        if status is Status.SHORT:
            return f"message of {size} bytes is shorter than the 5-byte Confluent header"
        if status is Status.MAGIC:
            return f"unknown magic byte {aux}: not a Confluent Avro message"
        where = f"Avro body (schema id {schema_id}) does not decode"
        return {
            Status.TRUNCATED: f"{where}: the message ends inside field {field}",
            Status.VARINT: f"{where}: varint longer than 10 bytes in field {field}",
            Status.BRANCH: f"{where}: union branch {aux} out of range in field {field}",
            Status.ENUM: f"{where}: enum index {aux} out of range in field {field}",
            Status.INT_RANGE: f"{where}: {aux} does not fit the 32-bit int field {field}",
            Status.UTF8: f"{where}: invalid UTF-8 in field {field}",
            Status.NEGATIVE_LENGTH: f"{where}: negative length {aux} in field {field}",
            Status.TRAILING: f"{where}: {aux} bytes left after the record",
            Status.BLOCK: f"{where}: map block of {aux} entries cannot fit the message in field {field}",
        }[status]


@dataclass(frozen=True)
class _Projection:
    """Which leaves a decode builds (None: all) and the schema of its table."""

    wanted: tuple[bool, ...] | None
    schema: pa.Schema


@cache
def event_codec() -> ColumnarCodec:
    """The codec of the current `PlaybackEvent` schema, producing `EVENT_SCHEMA` columns."""
    return ColumnarCodec(playback_event_schema(), EVENT_FLAT_NAMES)


def encode_events(table: pa.Table | pa.RecordBatch, schema_id: int) -> pa.Array:
    """Wire-format messages of the current `PlaybackEvent` schema, one per row of a flat event table."""
    return event_codec().encode(table, schema_id)


def decode_events(
    values: Messages,
    schema_id_of_current: int,
    *,
    fallback: Callable[[bytes], dict[str, Any]] | None = None,
) -> DecodeResult:
    """Flat `EVENT_SCHEMA` rows of a batch of messages written with the current `PlaybackEvent`
    schema under `schema_id_of_current`; others through `fallback` (see `ColumnarCodec.decode`)."""
    return event_codec().decode(values, schema_id_of_current, fallback=fallback)


def _header(schema_id: int) -> bytes:
    return bytes([MAGIC_BYTE]) + schema_id.to_bytes(4, "big")


def _as_binary(values: Messages) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks() if values.num_chunks != 1 else values.chunk(0)
    if isinstance(values, pa.Array):
        if pa.types.is_binary(values.type) or pa.types.is_large_binary(values.type):
            return values
        raise TypeError(f"messages must be a binary array, not {values.type}")
    return pa.array(values, pa.binary())


def _buffers(array: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(bytes, start and stop of each message in them, 1 where the message is null)."""
    n = len(array)
    _, offsets_buffer, data_buffer = array.buffers()
    offset_type = np.int64 if pa.types.is_large_binary(array.type) else np.int32
    if offsets_buffer is None:  # an empty array
        offsets = np.zeros(n + 1, dtype=np.int64)
    else:
        offsets = np.frombuffer(offsets_buffer, dtype=offset_type)[
            array.offset : array.offset + n + 1
        ].astype(np.int64)
    data = np.frombuffer(data_buffer, dtype=np.uint8) if data_buffer is not None else np.zeros(0, np.uint8)
    if data.flags.writeable:
        data = data.view()
        data.setflags(write=False)
    is_null = array.is_null().to_numpy(zero_copy_only=False).view(np.uint8)
    return data, offsets[:-1], offsets[1:], is_null


def _lookup(record: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = record
    for key in path:
        value = value.get(key) if value is not None else None
    return value
