"""The columnar plan of an Avro record schema: its leaf fields in wire order, each mapped to one flat
Arrow column, which both halves of the columnar codec (`columnar_encode`, `columnar_decode`) follow.

Supported (anything else raises `NotImplementedError` when the plan is built, so callers can stay
on fastavro): `string`, `bytes`, `long`, `int`, `boolean`, `float`, `double`, `enum`, a nested
`record` (flattened into its parent; never null), a `map` of `string` values, and a two-branch
union of `null` with one of the scalar types above, in either order. Logical types (`uuid`,
`timestamp-millis`, …) are refused too: fastavro turns them into Python objects that the flat
columns do not model.

Arrow types: string → string, bytes → binary, long → int64, int → int32, boolean → bool,
float → float32, double → float64, enum → string (the symbol), map → map<string, string>;
a column is nullable exactly when its Avro type is a union with null.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import fastavro
import pyarrow as pa

__all__ = ["NO_DEFAULT", "Kind", "Leaf", "arrow_schema", "plan"]


class Kind(enum.IntEnum):
    """Leaf kinds; the values are the op codes of the compiled decoder."""

    STRING = 0
    BYTES = 1
    LONG = 2
    INT = 3
    BOOLEAN = 4
    FLOAT = 5
    DOUBLE = 6
    ENUM = 7
    MAP = 8


#: Marks a field without an Avro default.
NO_DEFAULT: Any = object()

_PRIMITIVES = {
    "string": Kind.STRING,
    "bytes": Kind.BYTES,
    "long": Kind.LONG,
    "int": Kind.INT,
    "boolean": Kind.BOOLEAN,
    "float": Kind.FLOAT,
    "double": Kind.DOUBLE,
}
_ARROW_TYPES = {
    Kind.STRING: pa.string(),
    Kind.BYTES: pa.binary(),
    Kind.LONG: pa.int64(),
    Kind.INT: pa.int32(),
    Kind.BOOLEAN: pa.bool_(),
    Kind.FLOAT: pa.float32(),
    Kind.DOUBLE: pa.float64(),
    Kind.ENUM: pa.string(),
    Kind.MAP: pa.map_(pa.string(), pa.string()),
}


@dataclass(frozen=True)
class Leaf:
    """One scalar (or map) field of the record, in wire order.

    `null_branch` is None for a plain type, else the union index of `null` (0 or 1); the value
    branch is the other one. `default` is the Avro default (`NO_DEFAULT` when there is none).
    """

    path: tuple[str, ...]
    column: str
    kind: Kind
    null_branch: int | None = None
    symbols: tuple[str, ...] = ()
    default: Any = NO_DEFAULT

    @property
    def nullable(self) -> bool:
        return self.null_branch is not None

    @property
    def value_branch(self) -> int:
        return 1 - (self.null_branch or 0) if self.nullable else 0

    @property
    def arrow_type(self) -> pa.DataType:
        return _ARROW_TYPES[self.kind]

    @property
    def dotted(self) -> str:
        return ".".join(self.path)


def plan(
    schema: Mapping[str, Any], flat_names: Mapping[tuple[str, ...], str] | None = None
) -> tuple[Leaf, ...]:
    """The leaves of a record schema in wire order.

    A nested field's column is `flat_names[path]` when given, else its path joined by "_".
    Raises `NotImplementedError` naming the first field whose type the codec does not support.
    """
    expanded = fastavro.schema.expand_schema(fastavro.parse_schema(dict(schema)))
    if not isinstance(expanded, dict) or expanded.get("type") != "record":
        raise NotImplementedError("the columnar codec reads records only")
    leaves: list[Leaf] = []
    _walk(expanded, (), dict(flat_names or {}), leaves)
    columns = [leaf.column for leaf in leaves]
    if len(set(columns)) != len(columns):
        raise NotImplementedError(f"two fields flatten to the same column name: {columns}")
    return tuple(leaves)


def arrow_schema(leaves: tuple[Leaf, ...]) -> pa.Schema:
    return pa.schema([pa.field(leaf.column, leaf.arrow_type, nullable=leaf.nullable) for leaf in leaves])


def _walk(
    record: Mapping[str, Any], prefix: tuple[str, ...], names: dict[tuple[str, ...], str], out: list[Leaf]
) -> None:
    for field in record["fields"]:
        path = (*prefix, field["name"])
        ftype = field["type"]
        if isinstance(ftype, dict) and ftype.get("type") == "record":
            _walk(ftype, path, names, out)
            continue
        column = names.get(path, "_".join(path))
        default = field.get("default", NO_DEFAULT)
        if isinstance(ftype, list):
            out.append(_union_leaf(path, column, ftype, default))
        else:
            kind, symbols = _scalar(path, ftype, allow_map=True)
            out.append(Leaf(path, column, kind, None, symbols, default))


def _union_leaf(path: tuple[str, ...], column: str, branches: list[Any], default: Any) -> Leaf:
    nulls = [i for i, branch in enumerate(branches) if branch == "null"]
    if len(branches) != 2 or len(nulls) != 1:
        raise NotImplementedError(
            f"field {'.'.join(path)}: only a union of null and one other type is supported, got {branches}"
        )
    null_branch = nulls[0]
    kind, symbols = _scalar(path, branches[1 - null_branch], allow_map=False)
    return Leaf(path, column, kind, null_branch, symbols, default)


def _scalar(path: tuple[str, ...], avro_type: Any, *, allow_map: bool) -> tuple[Kind, tuple[str, ...]]:
    where = f"field {'.'.join(path)}"
    if isinstance(avro_type, dict):
        if "logicalType" in avro_type:
            raise NotImplementedError(f"{where}: logical type {avro_type['logicalType']!r} is not supported")
        name = avro_type.get("type")
        if name == "enum":
            return Kind.ENUM, tuple(avro_type["symbols"])
        if name == "map" and allow_map:
            if avro_type["values"] != "string" and avro_type["values"] != {"type": "string"}:
                raise NotImplementedError(f"{where}: only maps of string values are supported")
            return Kind.MAP, ()
        if (
            isinstance(name, str) and name in _PRIMITIVES
        ):  # {"type": "string", ...}: extra properties are inert
            return _PRIMITIVES[name], ()
        raise NotImplementedError(f"{where}: Avro type {avro_type!r} is not supported")
    if isinstance(avro_type, str) and avro_type in _PRIMITIVES:
        return _PRIMITIVES[avro_type], ()
    raise NotImplementedError(f"{where}: Avro type {avro_type!r} is not supported")
