"""Request bodies of beacons: size-limited gzip decoding, JSON parsing, and each item's original bytes.

- `decode_body(raw, encoding, limit)`: the body as sent, decoded per `Content-Encoding`
  (identity or gzip); a body that expands beyond `limit` raises `BodyTooLarge` before it is
  expanded any further (no zip bombs).
- `parse_items(body)`: a JSON array is a batch, a JSON object one item. The fast parser
  (orjson) is tried first; what it refuses but is still JSON (integers beyond 64 bits, lone
  surrogate escapes) is parsed by the standard library, and the caller is told to check strings
  for valid Unicode. Anything else raises `BadBody` with a machine-readable reason:
  `malformed_json` (not JSON: NaN, truncated, nested deeper than the parser allows, not UTF-8)
  or `not_a_batch` (JSON, but neither an array nor an object).
- `item_bytes(body, count)`: the exact bytes of each item of a top-level array, as sent, so a
  dead letter holds the original item and not a re-serialization. Computed only when something
  was rejected.
"""

from __future__ import annotations

import json
import re
import zlib
from dataclasses import dataclass
from typing import Any

import orjson

__all__ = ["BadBody", "BodyTooLarge", "ParsedBody", "decode_body", "item_bytes", "parse_items"]


class BadBody(ValueError):
    """The body is not a batch of items; `reason` is machine-readable."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason, self.detail = reason, detail


class BodyTooLarge(ValueError):
    """The body, as sent or once decoded, exceeds the limit."""


class UnsupportedEncoding(ValueError):
    """A Content-Encoding other than identity or gzip."""


@dataclass(frozen=True)
class ParsedBody:
    items: list[Any]
    #: True when the body was a JSON array (each item has its own bytes), False for one object.
    is_batch: bool
    #: True when the lenient parser was needed: strings may hold lone surrogates.
    lenient: bool


def decode_body(raw: bytes, content_encoding: str | None, limit: int) -> bytes:
    """Undo `Content-Encoding` (identity or gzip) without ever holding more than `limit` bytes."""
    encoding = (content_encoding or "identity").strip().lower()
    if encoding in ("identity", ""):
        return raw
    if encoding not in ("gzip", "x-gzip"):
        raise UnsupportedEncoding(f"Content-Encoding {encoding!r} is not supported; send identity or gzip")
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        body = inflater.decompress(raw, limit + 1)
    except zlib.error as exc:
        raise BadBody("malformed_json", f"the gzip body does not decompress: {exc}") from exc
    if len(body) > limit or inflater.unconsumed_tail:
        raise BodyTooLarge(f"the body decompresses to more than {limit} bytes")
    if not inflater.eof:
        raise BadBody("malformed_json", "the gzip body is truncated")
    return body


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


_lenient = json.JSONDecoder(parse_constant=_no_constants)


def parse_items(body: bytes) -> ParsedBody:
    lenient = False
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as fast_error:
        try:
            value = _lenient.decode(body.decode("utf-8"))
        except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
            raise BadBody("malformed_json", f"the body is not JSON: {fast_error}") from exc
        lenient = True
    if isinstance(value, list):
        return ParsedBody(value, True, lenient)
    if isinstance(value, dict):
        return ParsedBody([value], False, lenient)
    kind = {str: "a string", bool: "a boolean", type(None): "null"}.get(type(value), "a number")
    raise BadBody("not_a_batch", f"the body is {kind}; send a JSON array of events or one event object")


# Strings (with their escapes) as single tokens, and the structural characters between them.
_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{},]', re.DOTALL)


def item_bytes(body: bytes, items: list[Any]) -> list[bytes]:
    """The original bytes of the items of a JSON array body (whitespace around them trimmed).

    The body is known to be valid JSON (it was parsed), so only strings, brackets and commas
    matter: an item ends at a comma or the closing bracket at depth 1.
    """
    spans: list[bytes] = []
    depth = 0
    start = -1
    for match in _TOKENS.finditer(body):
        token = match.group()
        first = token[0]
        if first == 0x22:  # a string: never structural
            continue
        if first in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth == 1:
                start = match.end()
        elif first in (0x5D, 0x7D):  # ] }
            if depth == 1:
                spans.append(body[start : match.start()].strip())
            depth -= 1
        elif depth == 1:  # a comma between items
            spans.append(body[start : match.start()].strip())
            start = match.end()
    if not items:
        return []
    if len(spans) != len(items):  # pragma: no cover - a body that parsed as this array splits so
        return [_serialize(item) for item in items]
    return spans


def _serialize(item: Any) -> bytes:
    try:
        return orjson.dumps(item)
    except (TypeError, orjson.JSONEncodeError):
        return json.dumps(item).encode("utf-8", "surrogatepass")
