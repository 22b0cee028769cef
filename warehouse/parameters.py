"""Named query parameters: one syntax, `$name`, for every backend.

SQL given to `Warehouse.query` / `Warehouse.execute` marks each value with `$name` (a letter or
underscore, then letters, digits, underscores) and passes the values in a mapping
`{"name": value}`. Values are always bound by the engine, never formatted into the SQL text:

- DuckDB understands `$name` itself; the SQL goes through unchanged.
- ClickHouse binds `{name:Type}` server-side; `to_clickhouse` rewrites each `$name` to
  `{name:Type}` with the ClickHouse type of the Python value (see `clickhouse_type`).

Guarantees: a `$` inside a string literal, a quoted identifier, a comment or a dollar-quoted
string (`$$...$$`, `$tag$...$tag$`) is not a placeholder; every placeholder must have a value
and every value must be used, otherwise `ParameterMismatch` (a `WarehouseError`) says which.
Naive datetimes are taken as UTC.
"""

from __future__ import annotations

import datetime as dt
import numbers
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from warehouse.errors import WarehouseError

__all__ = [
    "ParameterMismatch",
    "Placeholder",
    "check_parameters",
    "clickhouse_type",
    "find_placeholders",
    "to_clickhouse",
]

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_INT64_MAX = 2**63 - 1


class ParameterMismatch(WarehouseError):
    """The SQL's `$name` placeholders and the given parameter names differ."""


@dataclass(frozen=True)
class Placeholder:
    """One `$name` in a SQL text, at `sql[start:end]`."""

    name: str
    start: int
    end: int


def _skip_quoted(sql: str, start: int, quote: str, backslash_escapes: bool) -> int:
    """Index just after the literal or identifier opened at `start`; len(sql) when unterminated."""
    i = start + 1
    n = len(sql)
    while i < n:
        ch = sql[i]
        if backslash_escapes and ch == "\\":
            i += 2
            continue
        if ch == quote:
            if i + 1 < n and sql[i + 1] == quote:  # doubled quote inside the literal
                i += 2
                continue
            return i + 1
        i += 1
    return n


def find_placeholders(sql: str, *, backslash_escapes: bool = False) -> list[Placeholder]:
    """Every `$name` placeholder of `sql`, in order, outside literals, identifiers and comments.

    `backslash_escapes` is True for ClickHouse, where `\\'` inside a string literal is an escaped
    quote; DuckDB string literals have no backslash escapes.
    """
    found: list[Placeholder] = []
    i = 0
    n = len(sql)
    while i < n:
        ch = sql[i]
        if ch in ("'", '"', "`"):
            i = _skip_quoted(sql, i, ch, backslash_escapes)
        elif sql.startswith("--", i):
            newline = sql.find("\n", i)
            i = n if newline < 0 else newline + 1
        elif sql.startswith("/*", i):
            close = sql.find("*/", i + 2)
            i = n if close < 0 else close + 2
        elif ch == "$":
            match = _NAME.match(sql, i + 1)
            tag_end = match.end() if match else i + 1
            if tag_end < n and sql[tag_end] == "$":  # $$ or $tag$: a dollar-quoted string
                tag = sql[i : tag_end + 1]
                close = sql.find(tag, tag_end + 1)
                i = n if close < 0 else close + len(tag)
            elif match:
                found.append(Placeholder(match.group(), i, match.end()))
                i = match.end()
            else:
                i += 1
        else:
            i += 1
    return found


def check_parameters(
    sql: str, params: Mapping[str, Any] | None, *, backslash_escapes: bool = False
) -> list[Placeholder]:
    """The placeholders of `sql`, after checking that they and the names in `params` are the same set."""
    placeholders = find_placeholders(sql, backslash_escapes=backslash_escapes)
    used = {p.name for p in placeholders}
    given = set(params or {})
    missing = sorted(used - given)
    if missing:
        raise ParameterMismatch(
            f"the SQL uses {', '.join('$' + m for m in missing)} but no value was given for it; "
            "pass every $name as a parameter"
        )
    unused = sorted(given - used)
    if unused:
        raise ParameterMismatch(
            f"parameter(s) {', '.join(unused)} are not used in the SQL; write them as "
            f"{', '.join('$' + u for u in unused)} where the value goes"
        )
    return placeholders


def clickhouse_type(value: Any) -> str:
    """The ClickHouse type a Python value is bound as.

    str and bytes: String; bool: Bool; int: Int64 (UInt64 above its range); float: Float64;
    datetime: DateTime64(6, 'UTC') (naive = UTC); date: Date32; None: Nullable(String);
    a list or tuple: Array of its elements' type. Anything else: TypeError.
    """
    if value is None:
        return "Nullable(String)"
    if isinstance(value, bool):
        return "Bool"
    if isinstance(value, numbers.Integral):
        return "UInt64" if int(value) > _INT64_MAX else "Int64"
    if isinstance(value, numbers.Real):
        return "Float64"
    if isinstance(value, (str, bytes, bytearray)):
        return "String"
    if isinstance(value, dt.datetime):
        return "DateTime64(6, 'UTC')"
    if isinstance(value, dt.date):
        return "Date32"
    if isinstance(value, (list, tuple)):
        return f"Array({_element_type(value)})"
    raise TypeError(
        f"cannot bind a {type(value).__name__} as a query parameter; pass str, bytes, int, float, bool, "
        "date, datetime, None or a list of those"
    )


def _element_type(values: Sequence[Any]) -> str:
    types = {clickhouse_type(v) for v in values if v is not None}
    if not types:
        return "Nullable(String)"
    if types == {"Int64", "Float64"}:
        types = {"Float64"}
    if len(types) > 1:
        raise TypeError(f"a list parameter must hold one type of value, got {sorted(types)}")
    (element,) = types
    return f"Nullable({element})" if any(v is None for v in values) else element


def to_clickhouse(sql: str, params: Mapping[str, Any] | None) -> tuple[str, dict[str, Any]]:
    """`sql` with each `$name` rewritten to ClickHouse's `{name:Type}`, and the values to bind."""
    placeholders = check_parameters(sql, params, backslash_escapes=True)
    if not placeholders:
        return sql, {}
    assert params is not None
    values = dict(params)
    for name, value in values.items():
        if isinstance(value, dt.datetime) and value.tzinfo is not None:
            values[name] = value.astimezone(dt.UTC).replace(tzinfo=None)
    parts: list[str] = []
    last = 0
    for p in placeholders:
        parts.append(sql[last : p.start])
        parts.append(f"{{{p.name}:{clickhouse_type(values[p.name])}}}")
        last = p.end
    parts.append(sql[last:])
    return "".join(parts), values
