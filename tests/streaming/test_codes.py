"""Stable codes of dimension values: the same value keeps its code across batches; nulls are ''."""

from __future__ import annotations

import pyarrow as pa

from streaming.codes import Codes


def test_codes_are_stable_across_batches_and_decode_back() -> None:
    codes = Codes()
    first = codes.encode(pa.chunked_array([["us-east", "eu-west"], ["us-east"]]))
    second = codes.encode(pa.array(["apac", None, "eu-west", "us-east"]))
    assert first.tolist() == [0, 1, 0]
    assert second.tolist() == [2, 3, 1, 0]
    assert len(codes) == 4
    assert codes.decode(second).to_pylist() == ["apac", "", "eu-west", "us-east"]
    assert codes.values().to_pylist() == ["us-east", "eu-west", "apac", ""]
