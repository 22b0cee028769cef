"""Request bodies: what is a batch and what is not (and why), gzip within limits, item bytes as sent."""

from __future__ import annotations

import gzip
import json
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.collector.payload import (
    BadBody,
    BodyTooLarge,
    UnsupportedEncoding,
    decode_body,
    item_bytes,
    parse_items,
)


@pytest.mark.parametrize(
    ("body", "items", "is_batch", "lenient"),
    [
        (b"[]", [], True, False),
        (b'[{"a": 1}, 2]', [{"a": 1}, 2], True, False),
        (b'  {"a": 1}\n', [{"a": 1}], False, False),
        (b"[123456789012345678901234567890]", [1.2345678901234568e29], True, False),
        (b'["\\ud800"]', ["\ud800"], True, True),  # a lone surrogate: only the lenient parser takes it
        (b"[1e999]", [float("inf")], True, True),
    ],
)
def test_batches(body: bytes, items: list[Any], is_batch: bool, lenient: bool) -> None:
    parsed = parse_items(body)
    assert (parsed.items, parsed.is_batch, parsed.lenient) == (items, is_batch, lenient)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "malformed_json"),
        (b"[1,", "malformed_json"),
        (b"{bad}", "malformed_json"),
        (b"[NaN]", "malformed_json"),
        (b"[Infinity]", "malformed_json"),
        (b"\xff\xfe[]", "malformed_json"),
        (b"[" * 5000 + b"]" * 5000, "malformed_json"),
        (b"1" * 5000, "malformed_json"),  # beyond Python's integer-string limit
        (b'"events"', "not_a_batch"),
        (b"42", "not_a_batch"),
        (b"true", "not_a_batch"),
        (b"null", "not_a_batch"),
    ],
)
def test_not_a_batch(body: bytes, reason: str) -> None:
    with pytest.raises(BadBody) as caught:
        parse_items(body)
    assert caught.value.reason == reason and caught.value.detail


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(json_values, max_size=12),
    st.sampled_from([(",", ":"), (", ", ": "), (" ,\n ", " : ")]),
    st.booleans(),
)
def test_item_bytes_are_each_item_as_sent(
    items: list[Any], separators: tuple[str, str], indent: bool
) -> None:
    body = json.dumps(items, separators=separators, indent=2 if indent else None, ensure_ascii=False).encode()
    spans = item_bytes(body, parse_items(body).items)
    assert len(spans) == len(items)
    for span, item in zip(spans, items, strict=True):
        assert json.loads(span) == item
        assert span in body and span == span.strip()


def test_item_bytes_keep_escapes_and_brackets_inside_strings() -> None:
    body = b'[ {"a": "x,]}\\"[{"} ,\n"\\\\" , [1,[2]] ]'
    assert item_bytes(body, orjson.loads(body)) == [b'{"a": "x,]}\\"[{"}', b'"\\\\"', b"[1,[2]]"]


def test_gzip_is_decoded() -> None:
    assert decode_body(gzip.compress(b"[1, 2]"), "gzip", 100) == b"[1, 2]"
    assert decode_body(b"[1]", None, 100) == b"[1]"
    assert decode_body(b"[1]", "identity", 100) == b"[1]"


def test_a_gzip_bomb_stops_at_the_limit() -> None:
    bomb = gzip.compress(b" " * 50_000_000)
    with pytest.raises(BodyTooLarge):
        decode_body(bomb, "gzip", 1_000_000)


@pytest.mark.parametrize("raw", [b"not gzip", gzip.compress(b"[1, 2, 3]")[:-6]])
def test_broken_gzip_is_a_bad_body(raw: bytes) -> None:
    with pytest.raises(BadBody, match="gzip"):
        decode_body(raw, "gzip", 1000)


def test_unknown_encodings_are_refused() -> None:
    with pytest.raises(UnsupportedEncoding, match="br"):
        decode_body(b"[]", "br", 100)
