"""Avro in the Confluent wire format: magic byte 0, the schema id as 4 big-endian bytes, the Avro body.

`AvroSerde.encode` writes with the schema it was registered under; `decode` reads any body whose
writer schema the registry knows, resolved to the reader schema of this process (Avro schema
resolution), so consumers keep working while producers move to a newer compatible version.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import fastavro
from fastavro.types import Schema

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
