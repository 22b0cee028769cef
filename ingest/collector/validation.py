"""Validation of beacon items against the `PlaybackEvent` schema and the rules of DESIGN.md, by batch.

Contract of `BatchValidator.validate(items, now_ms)`:
- every item ends either accepted or rejected with exactly one `Rejection`: a machine-readable
  `reason` (one of `REASONS`), the `field` it concerns (a dotted path such as `device.type`, or
  None for the item as a whole) and a `detail` for a person. The first problem in schema field
  order is the one reported; whole-item problems (not an object, unknown field) come first,
  then each field, then the rules that tie fields together (clock skew, required-by-type);
- the accepted items come back as columns, one list per Avro leaf (`encoding.avro_leaves`),
  normalized for `AvroBatchEncoder`: defaults filled, numbers as Python ints (a number with a
  fraction, as browsers' `performance.now()` gives, is rounded to the nearest integer),
  `received_ts_ms` set to the collector's clock (a value sent by the client is ignored);
- nothing here raises on input: any JSON value is data.

Work is done per column, not per item: a column whose values all have the expected Python type
and range passes with a few C-level passes (`set(map(type, column))`, `min`/`max`, a regex over
all values); only a column with a problem is walked item by item to find and name the items at
fault.

Rules beyond the Avro types (limits are in `FIELD_RULES`):

| rule | reason |
|---|---|
| the item is a JSON object | `not_an_object` |
| no field outside the schema (`received_ts_ms` is accepted and overwritten) | `unknown_field` |
| fields without a default are present and not null | `missing_field` |
| JSON type matches (integer for long/int, string, boolean, object for map/record) | `wrong_type` |
| enum values are symbols of the schema (`event_type` UNKNOWN is for readers, not writers) | `invalid_enum` |
| `event_id` is a UUID, `country` is two upper-case letters, strings are not empty | `invalid_format` |
| numbers in range: no negative durations, positions, bitrates; int fits 32 bits | `out_of_range` |
| strings and maps not longer than their limit | `too_long` |
| `event_ts_ms` ≤ `max_clock_skew_s` ahead of the collector clock, ≤ `max_event_age_s` behind | `clock_skew` |
| the field an event type needs (`REQUIRED_BY_TYPE`: PLAY_START → `startup_ms`, …) is set | `missing_field` |
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import repeat
from typing import Any

from ingest.collector.encoding import AvroLeaf, avro_leaves

__all__ = [
    "FIELD_RULES",
    "REASONS",
    "BatchValidator",
    "FieldRule",
    "Rejection",
    "ValidatedBatch",
    "json_type",
]

#: Every reason an item can be rejected for, as it appears in responses, DLQ headers and metrics.
REASONS: tuple[str, ...] = (
    "not_an_object",
    "unknown_field",
    "missing_field",
    "wrong_type",
    "invalid_enum",
    "invalid_format",
    "out_of_range",
    "too_long",
    "clock_skew",
    "invalid_cmcd",
    "malformed_json",
    "not_a_batch",
)

_INT32 = (-(2**31), 2**31 - 1)
_INT64 = (-(2**63), 2**63 - 1)
_DAY_MS = 86_400_000


@dataclass(frozen=True)
class FieldRule:
    """Limits of one leaf beyond its Avro type: number range, string length, a pattern."""

    low: int | None = None
    high: int | None = None
    max_len: int = 256
    pattern: str | None = None
    pattern_name: str = ""
    #: Enum symbols a writer may not send (kept in the schema for readers).
    excluded: tuple[str, ...] = ()
    #: Maps: most entries.
    max_entries: int = 64


_UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"

#: Limits per leaf. Durations are bounded by a day (a stall or a startup longer than that is a
#: broken clock), titles and live positions by 30 days, bitrates by 1 Gbps, throughput by 10 Gbps.
FIELD_RULES: dict[str, FieldRule] = {
    "event_id": FieldRule(pattern=_UUID, pattern_name="a UUID (8-4-4-4-12 hex digits)"),
    "event_type": FieldRule(excluded=("UNKNOWN",)),
    "event_ts_ms": FieldRule(low=0),
    "user_id": FieldRule(max_len=128),
    "session_id": FieldRule(max_len=64),
    "seq": FieldRule(low=0),
    "title_id": FieldRule(max_len=128),
    "device.os": FieldRule(max_len=64),
    "device.app_version": FieldRule(max_len=64),
    "region": FieldRule(max_len=64),
    "country": FieldRule(pattern=r"[A-Z]{2}", pattern_name="an ISO 3166-1 alpha-2 code, e.g. US"),
    "isp": FieldRule(max_len=128),
    "cdn": FieldRule(max_len=128),
    "oca_id": FieldRule(max_len=128),
    "startup_ms": FieldRule(low=0, high=_DAY_MS),
    "rebuffer_ms": FieldRule(low=0, high=_DAY_MS),
    "bitrate_kbps": FieldRule(low=0, high=1_000_000),
    "position_ms": FieldRule(low=0, high=30 * _DAY_MS),
    "buffer_length_ms": FieldRule(low=0, high=_DAY_MS),
    "throughput_kbps": FieldRule(low=0, high=10_000_000),
    "content_duration_ms": FieldRule(low=0, high=30 * _DAY_MS),
    "played_ms": FieldRule(low=0, high=_DAY_MS),
    "error_code": FieldRule(max_len=128),
    "experiments": FieldRule(max_len=64, max_entries=64),
}

#: Event types that need a field the schema leaves optional.
REQUIRED_BY_TYPE: dict[str, str] = {
    "PLAY_START": "startup_ms",
    "REBUFFER_END": "rebuffer_ms",
    "PLAY_END": "end_reason",
    "ERROR": "error_code",
}

#: Set by the collector, never taken from the client.
_SERVER_FIELDS = frozenset({"received_ts_ms"})


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why one item was not accepted."""

    reason: str
    field: str | None
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {"reason": self.reason, "field": self.field, "detail": self.detail}


@dataclass
class ValidatedBatch:
    """The outcome for a batch: accepted items as columns, the others with their rejection."""

    size: int
    #: Indices (into the batch) of the accepted items, ascending; `columns` rows follow this order.
    accepted: list[int]
    columns: dict[str, list[Any]]
    rejections: dict[int, Rejection] = field(default_factory=dict)


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "<missing>"


MISSING = _Missing()
_NONE_TYPE = type(None)
_MISSING_TYPE = _Missing

_JSON_TYPES = {
    dict: "object",
    list: "array",
    str: "string",
    int: "integer",
    float: "number",
    bool: "boolean",
    _NONE_TYPE: "null",
}


def json_type(value: Any) -> str:
    """The JSON name of a decoded value's type, for error details."""
    return _JSON_TYPES.get(type(value), type(value).__name__)


@dataclass(frozen=True)
class _Leaf:
    """A schema leaf with its rule, compiled for checking."""

    path: str
    key: str  # the last path element
    parent: str | None  # the record leaf it sits in (`device`), or None at the top
    avro: AvroLeaf
    rule: FieldRule
    required: bool
    default: Any
    symbols: frozenset[str]
    pattern: re.Pattern[str] | None
    low: int
    high: int
    ok_types: frozenset[type]


def _compile(leaf: AvroLeaf) -> _Leaf:
    rule = FIELD_RULES.get(leaf.path, FieldRule())
    parent, _, key = leaf.path.rpartition(".")
    required = not leaf.has_default
    default = leaf.default
    if leaf.kind == "map" and default is None and not leaf.nullable:
        default = {}
    base = {
        "long": (int,),
        "int": (int,),
        "string": (str,),
        "enum": (str,),
        "boolean": (bool,),
        "map": (dict,),
    }
    ok: set[type] = set(base[leaf.kind])
    if leaf.nullable:
        ok.add(_NONE_TYPE)
    if not required:
        ok.add(_MISSING_TYPE)
    bounds = _INT32 if leaf.kind == "int" else _INT64
    low = max(bounds[0], rule.low) if rule.low is not None else bounds[0]
    high = min(bounds[1], rule.high) if rule.high is not None else bounds[1]
    return _Leaf(
        path=leaf.path,
        key=key,
        parent=parent or None,
        avro=leaf,
        rule=rule,
        required=required,
        default=default,
        symbols=frozenset(leaf.symbols) - frozenset(rule.excluded),
        pattern=re.compile(rule.pattern) if rule.pattern else None,
        low=low,
        high=high,
        ok_types=frozenset(ok),
    )


class BatchValidator:
    """Validate batches of decoded JSON items against one record schema (default `PlaybackEvent`)."""

    def __init__(
        self,
        schema: Mapping[str, Any],
        *,
        max_clock_skew_ms: int = 300_000,
        max_event_age_ms: int = 7 * _DAY_MS,
    ) -> None:
        self.max_clock_skew_ms = max_clock_skew_ms
        self.max_event_age_ms = max_event_age_ms
        self.leaves = [_compile(leaf) for leaf in avro_leaves(schema)]
        self._client_leaves = [leaf for leaf in self.leaves if leaf.path not in _SERVER_FIELDS]
        top = [f["name"] for f in schema["fields"]]
        self._known = frozenset(top)
        self._records = {
            f["name"]: frozenset(sub["name"] for sub in f["type"]["fields"])
            for f in schema["fields"]
            if isinstance(f["type"], dict) and f["type"].get("type") == "record"
        }

    # -- the batch ---------------------------------------------------------------------------
    def validate(self, items: Sequence[Any], now_ms: int, *, check_unicode: bool = False) -> ValidatedBatch:
        """Validate `items`; `check_unicode` also refuses strings that are not valid Unicode
        (lone surrogates, which only a lenient JSON parser lets through)."""
        errors: list[Rejection | None] = [None] * len(items)
        if set(map(type, items)) <= {dict} and all(map(self._known.issuperset, items)):
            rows = list(range(len(items)))  # the usual case, decided without a Python loop
        else:
            rows = self._objects(items, errors)
        objects = [items[i] for i in rows]
        row_errors: list[Rejection | None] = [None] * len(rows)
        columns: dict[str, list[Any]] = {}

        records: dict[str, list[Any]] = {}  # nested records, checked where they sit in field order
        for leaf in self._client_leaves:
            if leaf.parent is None:
                column = list(map(dict.get, objects, repeat(leaf.key), repeat(MISSING)))
            else:
                if leaf.parent not in records:
                    known = self._records[leaf.parent]
                    records[leaf.parent] = self._record_column(leaf.parent, known, objects, row_errors)
                column = [
                    r.get(leaf.key, MISSING) if type(r) is dict else MISSING for r in records[leaf.parent]
                ]
            columns[leaf.path] = self._check_column(leaf, column, row_errors, check_unicode)

        self._check_rules(columns, row_errors, now_ms)

        for j, error in enumerate(row_errors):
            if error is not None:
                errors[rows[j]] = error
        rejections = {i: e for i, e in enumerate(errors) if e is not None}
        if any(e is not None for e in row_errors):
            keep = [j for j, e in enumerate(row_errors) if e is None]
            columns = {path: [column[j] for j in keep] for path, column in columns.items()}
            accepted = [rows[j] for j in keep]
        else:
            accepted = rows
        for path in _SERVER_FIELDS:
            columns[path] = [now_ms] * len(accepted)
        return ValidatedBatch(len(items), accepted, columns, rejections)

    def _objects(self, items: Sequence[Any], errors: list[Rejection | None]) -> list[int]:
        """Indices of the items that are objects with known fields only; the others' errors set."""
        rows = []
        for i, item in enumerate(items):
            if type(item) is not dict:
                errors[i] = Rejection(
                    "not_an_object", None, f"an event is a JSON object, not {json_type(item)}"
                )
            elif not self._known.issuperset(item):
                unknown = sorted(str(k) for k in item if k not in self._known)[0]
                errors[i] = Rejection(
                    "unknown_field", unknown, f"field {unknown!r} is not in the PlaybackEvent schema"
                )
            else:
                rows.append(i)
        return rows

    # -- columns -----------------------------------------------------------------------------
    def _record_column(
        self, name: str, known: frozenset[str], objects: list[dict[str, Any]], errors: list[Rejection | None]
    ) -> list[Any]:
        column = list(map(dict.get, objects, repeat(name), repeat(MISSING)))
        if set(map(type, column)) == {dict} and all(known.issuperset(r) for r in column):
            return column
        for j, value in enumerate(column):
            if errors[j] is not None:
                continue
            if value is MISSING or value is None:
                errors[j] = Rejection("missing_field", name, f"{name} is required")
            elif type(value) is not dict:
                errors[j] = Rejection("wrong_type", name, f"{name} must be an object, not {json_type(value)}")
            elif not known.issuperset(value):
                unknown = sorted(str(k) for k in value if k not in known)[0]
                errors[j] = Rejection(
                    "unknown_field", f"{name}.{unknown}", f"field {name}.{unknown!r} is not in the schema"
                )
        return column

    def _check_column(
        self, leaf: _Leaf, column: list[Any], errors: list[Rejection | None], check_unicode: bool
    ) -> list[Any]:
        """The column normalized; errors of its items recorded (the first error of an item wins)."""
        if not column:
            return column
        types = set(map(type, column))
        if self._column_ok(leaf, column, types, check_unicode):
            if _MISSING_TYPE in types:
                default = leaf.default
                return [default if v is MISSING else v for v in column]
            return column
        out = []
        for j, value in enumerate(column):
            normalized, error = self._check_value(leaf, value, check_unicode)
            if error is not None and errors[j] is None:
                errors[j] = error
            out.append(normalized)
        return out

    def _column_ok(self, leaf: _Leaf, column: list[Any], types: set[type], check_unicode: bool) -> bool:
        """True when every value passes, decided with whole-column operations."""
        if not types <= leaf.ok_types:
            return False
        kind = leaf.avro.kind
        plain = len(types) == 1 and _MISSING_TYPE not in types and _NONE_TYPE not in types
        if kind in ("long", "int"):
            values = column if plain else [v for v in column if type(v) is int]
            return not values or (min(values) >= leaf.low and max(values) <= leaf.high)
        if kind == "string":
            values = column if plain else [v for v in column if type(v) is str]
            if not values:
                return True
            lengths = list(map(len, values))
            if min(lengths) < 1 or max(lengths) > leaf.rule.max_len:
                return False
            if leaf.pattern is not None and not all(map(leaf.pattern.fullmatch, values)):
                return False
            return not check_unicode or _encodes("".join(values))
        if kind == "enum":
            return {v for v in column if type(v) is str} <= leaf.symbols
        if kind == "map":
            maps = [v for v in column if type(v) is dict and v]
            if not maps:
                return True
            if max(map(len, maps)) > leaf.rule.max_entries:
                return False
            keys = [k for m in maps for k in m]
            values = [x for m in maps for x in m.values()]
            if set(map(type, values)) != {str}:
                return False
            lengths = [*map(len, keys), *map(len, values)]
            if min(lengths) < 1 or max(lengths) > leaf.rule.max_len:
                return False
            return not check_unicode or _encodes("".join(keys) + "".join(values))
        return True  # boolean: the type check is all

    def _check_value(self, leaf: _Leaf, value: Any, check_unicode: bool) -> tuple[Any, Rejection | None]:
        path = leaf.path
        if value is MISSING or value is None:
            if value is None and leaf.avro.nullable:
                return None, None
            if not leaf.required:
                if value is MISSING:
                    return leaf.default, None
                return None, Rejection(
                    "wrong_type", path, f"{path} may not be null; leave it out for the default"
                )
            return None, Rejection("missing_field", path, f"{path} is required")
        kind = leaf.avro.kind
        kind_type = type(value)
        if kind in ("long", "int"):
            if kind_type is float:
                if not math.isfinite(value):
                    return None, Rejection("out_of_range", path, f"{path} must be a finite number")
                value = round(value)
            elif kind_type is not int:
                return None, Rejection(
                    "wrong_type", path, f"{path} must be an integer, not {json_type(value)}"
                )
            if value < leaf.low or value > leaf.high:
                return None, Rejection(
                    "out_of_range", path, f"{path} must be between {leaf.low} and {leaf.high}, not {value}"
                )
            return value, None
        if kind in ("string", "enum"):
            if kind_type is not str:
                return None, Rejection("wrong_type", path, f"{path} must be a string, not {json_type(value)}")
            if check_unicode and not _encodes(value):
                return None, Rejection(
                    "invalid_format", path, f"{path} is not valid Unicode (lone surrogate)"
                )
            if kind == "enum":
                if value not in leaf.symbols:
                    allowed = ", ".join(s for s in leaf.avro.symbols if s in leaf.symbols)
                    return None, Rejection(
                        "invalid_enum", path, f"{path} must be one of {allowed}, not {value[:64]!r}"
                    )
                return value, None
            if not value:
                return None, Rejection("invalid_format", path, f"{path} may not be empty")
            if len(value) > leaf.rule.max_len:
                return None, Rejection(
                    "too_long",
                    path,
                    f"{path} is {len(value)} characters, at most {leaf.rule.max_len} allowed",
                )
            if leaf.pattern is not None and not leaf.pattern.fullmatch(value):
                return None, Rejection("invalid_format", path, f"{path} must be {leaf.rule.pattern_name}")
            return value, None
        if kind == "boolean":
            if kind_type is not bool:
                return None, Rejection(
                    "wrong_type", path, f"{path} must be true or false, not {json_type(value)}"
                )
            return value, None
        # map of strings
        if kind_type is not dict:
            return None, Rejection("wrong_type", path, f"{path} must be an object, not {json_type(value)}")
        if len(value) > leaf.rule.max_entries:
            return None, Rejection(
                "too_long", path, f"{path} has {len(value)} entries, at most {leaf.rule.max_entries} allowed"
            )
        for key, item in value.items():
            if type(item) is not str:
                return None, Rejection("wrong_type", f"{path}.{key}"[:200], f"{path} values must be strings")
            if not key or not item:
                return None, Rejection("invalid_format", path, f"{path} keys and values may not be empty")
            if len(key) > leaf.rule.max_len or len(item) > leaf.rule.max_len:
                return None, Rejection(
                    "too_long", path, f"{path} keys and values are at most {leaf.rule.max_len} characters"
                )
            if check_unicode and not (_encodes(key) and _encodes(item)):
                return None, Rejection(
                    "invalid_format", path, f"{path} is not valid Unicode (lone surrogate)"
                )
        return value, None

    # -- rules across fields -------------------------------------------------------------------
    def _check_rules(
        self, columns: dict[str, list[Any]], errors: list[Rejection | None], now_ms: int
    ) -> None:
        if not errors:
            return
        earliest, latest = now_ms - self.max_event_age_ms, now_ms + self.max_clock_skew_ms
        timestamps = columns["event_ts_ms"]
        valid_ts = [t for j, t in enumerate(timestamps) if errors[j] is None]
        if valid_ts and (min(valid_ts) < earliest or max(valid_ts) > latest):
            for j, ts in enumerate(timestamps):
                if errors[j] is None and not earliest <= ts <= latest:
                    when = "ahead of" if ts > latest else "behind"
                    errors[j] = Rejection(
                        "clock_skew",
                        "event_ts_ms",
                        f"event_ts_ms is {abs(ts - now_ms) / 1000:.0f} s {when} the collector clock "
                        f"(allowed: {self.max_clock_skew_ms / 1000:.0f} s ahead, "
                        f"{self.max_event_age_ms / 1000:.0f} s behind)",
                    )
        types = columns["event_type"]
        for event_type, needed in REQUIRED_BY_TYPE.items():
            if event_type not in types:
                continue
            values = columns[needed]
            for j, (t, v) in enumerate(zip(types, values, strict=True)):
                if t == event_type and v is None and errors[j] is None:
                    errors[j] = Rejection("missing_field", needed, f"{needed} is required on {event_type}")


def _encodes(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True
