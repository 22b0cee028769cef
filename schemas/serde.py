"""Avro in the Confluent wire format: magic byte 0, the schema id as 4 big-endian bytes, the Avro body.

`AvroSerde.encode` writes with the schema it was registered under; `decode` reads any body whose
writer schema the registry knows, resolved to the reader schema of this process (Avro schema
resolution), so consumers keep working while producers move to a newer compatible version.

`encode_table` and `decode_batch` do the same for whole batches of flat event rows
(`schemas.events`), through the columnar codec (`schemas.columnar`: 12-15× faster to encode and
19-45× to decode here) when it supports the schema, else through fastavro record by record; the
bytes are the same either way.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import fastavro
import numpy as np
import pyarrow as pa
from fastavro.types import Schema

if TYPE_CHECKING:
    from schemas.columnar import ColumnarCodec, DecodeResult

__all__ = ["MAGIC_BYTE", "AvroSerde", "SerializationError", "split_wire"]

MAGIC_BYTE = 0
_HEADER = struct.Struct(">bI")


class SerializationError(ValueError):
    """A record that cannot be encoded, or bytes that are not a valid Confluent Avro message."""


def split_wire(data: bytes) -> tuple[int, memoryview]:
    """Return (schema id, Avro body) of a Confluent wire-format message."""
    if len(data) < _HEADER.size:
        raise SerializationError(f"message of {len(data)} bytes is shorter than the 5-byte Confluent header")
    magic, schema_id = _HEADER.unpack_from(data)
    if magic != MAGIC_BYTE:
        raise SerializationError(f"unknown magic byte {magic}: not a Confluent Avro message")
    return schema_id, memoryview(data)[_HEADER.size :]


class AvroSerde:
    """Encode and decode records of one Avro schema, registered under `schema_id`.

    `writer_schemas` resolves the id found in a message to its writer schema (the registry) and
    raises `LookupError` for an unknown id; without it only messages written under `schema_id`
    itself can be decoded.
    """

    def __init__(
        self,
        schema: Mapping[str, Any],
        schema_id: int,
        writer_schemas: Callable[[int], Mapping[str, Any]] | None = None,
    ) -> None:
        self.schema_id = schema_id
        self._parsed: Schema = fastavro.parse_schema(dict(schema))
        self._header = _HEADER.pack(MAGIC_BYTE, schema_id)
        self._writer_schemas = writer_schemas
        self._readers: dict[int, tuple[Schema, Schema | None]] = {schema_id: (self._parsed, None)}
        self._schema = dict(schema)
        self._codec: ColumnarCodec | None = None  # built on first use; stays None if not supported
        self._codec_tried = False

    def encode(self, record: Mapping[str, Any]) -> bytes:
        buffer = io.BytesIO()
        buffer.write(self._header)
        try:
            fastavro.schemaless_writer(buffer, self._parsed, record)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise SerializationError(f"record does not match the schema: {exc}") from exc
        return buffer.getvalue()

    def encode_many(self, records: Iterable[Mapping[str, Any]]) -> list[bytes]:
        return [self.encode(record) for record in records]

    def decode(self, data: bytes) -> dict[str, Any]:
        schema_id, body = split_wire(data)
        writer, reader = self._reader_for(schema_id)
        try:
            return fastavro.schemaless_reader(io.BytesIO(body), writer, reader)  # type: ignore[return-value]
        except (ValueError, TypeError, EOFError, IndexError, KeyError, UnicodeDecodeError) as exc:
            raise SerializationError(f"Avro body does not decode with schema id {schema_id}: {exc}") from exc

    def encode_table(self, table: pa.Table | pa.RecordBatch) -> pa.Array | list[bytes]:
        """One message per row of a flat event table, in row order: a binary array from the
        columnar codec, or a list from fastavro when the codec does not support the schema."""
        codec = self._columnar()
        if codec is None:
            from schemas.events import to_avro_records

            return self.encode_many(to_avro_records(table))
        return codec.encode(table, self.schema_id)

    def decode_batch(
        self, values: pa.Array | Sequence[bytes | None], columns: Sequence[str] | None = None
    ) -> DecodeResult:
        """Flat event rows of a batch of messages, and the messages that do not decode (with why).

        Messages of an older writer schema are resolved through `decode`, in order. A bad message
        never affects the others: it is listed in `bad_rows`/`errors` for the dead-letter topic.
        `columns` keeps only those flat columns (the same messages are refused either way).
        """
        codec = self._columnar()
        if codec is not None:
            return codec.decode(values, self.schema_id, fallback=self.decode, columns=columns)
        from schemas.columnar import DecodeResult
        from schemas.events import from_avro_records

        records, rows, bad_rows, errors = [], [], [], []
        for row, value in enumerate(values.to_pylist() if isinstance(values, pa.Array) else values):
            try:
                if value is None:
                    raise SerializationError("message has no value (a tombstone?)")
                records.append(self.decode(value))
                rows.append(row)
            except SerializationError as exc:
                bad_rows.append(row)
                errors.append(str(exc))
        table = from_avro_records(records)
        if columns is not None:
            table = table.select([name for name in table.column_names if name in columns])
        return DecodeResult(table, np.array(rows, np.int64), np.array(bad_rows, np.int64), errors)

    def _columnar(self) -> ColumnarCodec | None:
        """The columnar codec of this schema, built on first use; None when it does not support it."""
        if not self._codec_tried:
            self._codec_tried = True
            # Imported here: it loads numba (~0.4 s), which only the batch paths need.
            from schemas.columnar import EVENT_FLAT_NAMES, ColumnarCodec

            try:
                self._codec = ColumnarCodec(self._schema, EVENT_FLAT_NAMES)
            except NotImplementedError:  # a type the codec does not support: stay on fastavro
                self._codec = None
        return self._codec

    def _reader_for(self, schema_id: int) -> tuple[Schema, Schema | None]:
        found = self._readers.get(schema_id)
        if found is None:
            if self._writer_schemas is None:
                raise SerializationError(
                    f"message has schema id {schema_id}, this reader only knows id {self.schema_id}"
                )
            try:
                writer = fastavro.parse_schema(dict(self._writer_schemas(schema_id)))
            except LookupError as exc:  # the registry does not know the id: bad input, not a bug
                raise SerializationError(f"schema id {schema_id} is not registered") from exc
            found = self._readers[schema_id] = (writer, self._parsed)
        return found
