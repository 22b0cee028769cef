"""Avro schema compatibility, by the resolution rules of the Avro 1.11 specification.

BACKWARD (the registry default and playpulse's rule for `PlaybackEvent`): a consumer on the new
schema can read everything written with the previous one. `backward_problems(new, old)` lists
every rule the pair breaks, each with the path to the field, so an author knows what to fix
(typically: give a new field a default, or add a symbol instead of renaming one).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["backward_problems", "forward_problems", "reader_problems"]

_PRIMITIVES = {"null", "boolean", "int", "long", "float", "double", "bytes", "string"}
# Writer type -> reader types it may be promoted to (Avro spec, "Schema Resolution").
_PROMOTIONS = {
    "int": {"long", "float", "double"},
    "long": {"float", "double"},
    "float": {"double"},
    "string": {"bytes"},
    "bytes": {"string"},
}

Named = dict[str, Mapping[str, Any]]


def backward_problems(new: Any, old: Any) -> list[str]:
    """What stops a reader on `new` from reading data written with `old` (empty: compatible)."""
    return reader_problems(new, old)


def forward_problems(new: Any, old: Any) -> list[str]:
    """What stops a reader on `old` from reading data written with `new` (empty: compatible)."""
    return reader_problems(old, new)


def reader_problems(reader: Any, writer: Any) -> list[str]:
    """Every way in which data written with `writer` cannot be resolved into `reader`."""
    problems: list[str] = []
    _check(reader, writer, _names(reader), _names(writer), "", problems, set())
    return problems


def _names(schema: Any, namespace: str = "", found: Named | None = None) -> Named:
    """Every named type (record, enum, fixed) in `schema`, by full name."""
    found = {} if found is None else found
    if isinstance(schema, list):
        for branch in schema:
            _names(branch, namespace, found)
    elif isinstance(schema, Mapping):
        kind = schema.get("type")
        if kind in ("record", "error", "enum", "fixed"):
            full = _full_name(schema, namespace)
            found[full] = schema
            namespace = full.rpartition(".")[0]
        if kind in ("record", "error"):
            for field in schema.get("fields", []):
                _names(field["type"], namespace, found)
        elif kind == "array":
            _names(schema["items"], namespace, found)
        elif kind == "map":
            _names(schema["values"], namespace, found)
        elif isinstance(kind, (Mapping, list)):
            _names(kind, namespace, found)
    return found


def _full_name(schema: Mapping[str, Any], namespace: str) -> str:
    name = schema["name"]
    if "." in name:
        return name
    ns = schema.get("namespace", namespace)
    return f"{ns}.{name}" if ns else name


def _resolve(schema: Any, named: Named) -> Any:
    """Replace a reference to a named type by its definition; unwrap `{"type": "long"}`."""
    if isinstance(schema, str):
        if schema in _PRIMITIVES:
            return schema
        for full, definition in named.items():
            if full == schema or full.rpartition(".")[2] == schema:
                return definition
        raise ValueError(f"unknown type name {schema!r}")
    if isinstance(schema, Mapping) and schema.get("type") in _PRIMITIVES and len(schema) == 1:
        return schema["type"]
    if isinstance(schema, Mapping) and schema.get("type") in _PRIMITIVES:
        return schema["type"]  # a primitive with a logical type resolves as the primitive
    return schema


def _kind(schema: Any) -> str:
    if isinstance(schema, str):
        return schema
    if isinstance(schema, list):
        return "union"
    return schema["type"]


def _check(
    reader: Any,
    writer: Any,
    rnames: Named,
    wnames: Named,
    path: str,
    problems: list[str],
    seen: set[tuple[str, str]],
) -> None:
    reader, writer = _resolve(reader, rnames), _resolve(writer, wnames)
    rkind, wkind = _kind(reader), _kind(writer)
    where = path or "<root>"

    if wkind == "union":
        # Every branch the writer may have written must be readable.
        for branch in writer:
            _check(reader, branch, rnames, wnames, path, problems, seen)
        return
    if rkind == "union":
        for branch in reader:
            trial: list[str] = []
            _check(branch, writer, rnames, wnames, path, trial, set(seen))
            if not trial:
                return
        problems.append(f"{where}: the reader's union {_describe(reader)} has no branch for {_describe(writer)}")
        return

    if rkind != wkind:
        if rkind in _PROMOTIONS.get(wkind, ()):
            return
        problems.append(f"{where}: type changed from {wkind} to {rkind}, which Avro cannot promote")
        return

    if rkind in ("record", "error"):
        key = (_full_name(reader, ""), _full_name(writer, ""))
        if key in seen:  # recursive types: checked once
            return
        seen.add(key)
        if reader["name"].rpartition(".")[2] != writer["name"].rpartition(".")[2] and writer[
            "name"
        ] not in reader.get("aliases", []):
            problems.append(f"{where}: record renamed from {writer['name']} to {reader['name']} without an alias")
        wfields = {f["name"]: f for f in writer.get("fields", [])}
        for field in reader.get("fields", []):
            candidates = [field["name"], *field.get("aliases", [])]
            match = next((wfields[name] for name in candidates if name in wfields), None)
            child = f"{path}.{field['name']}" if path else field["name"]
            if match is None:
                if "default" not in field:
                    problems.append(
                        f"{child}: new field without a default; data written before it cannot be read "
                        "(add a default)"
                    )
                continue
            _check(field["type"], match["type"], rnames, wnames, child, problems, seen)
    elif rkind == "enum":
        missing = [s for s in writer["symbols"] if s not in reader["symbols"]]
        if missing and "default" not in reader:
            problems.append(
                f"{where}: enum {reader['name']} lost symbols {missing} and has no default to read them as"
            )
    elif rkind == "array":
        _check(reader["items"], writer["items"], rnames, wnames, f"{path}[]", problems, seen)
    elif rkind == "map":
        _check(reader["values"], writer["values"], rnames, wnames, f"{path}{{}}", problems, seen)
    elif rkind == "fixed" and (reader["size"] != writer["size"] or reader["name"] != writer["name"]):
        problems.append(f"{where}: fixed {writer['name']}({writer['size']}) became {reader['name']}({reader['size']})")


def _describe(schema: Any) -> str:
    if isinstance(schema, list):
        return "[" + ", ".join(_describe(b) for b in schema) + "]"
    if isinstance(schema, Mapping):
        return schema.get("name", schema.get("type", "?"))
    return str(schema)
