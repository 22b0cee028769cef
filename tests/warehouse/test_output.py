"""Rendering query results for `playpulse sql`: table, csv, json lines and parquet."""

from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from warehouse.output import FORMATS, render

RESULT = pa.table(
    {
        "region": ["us-east", "eu-west"],
        "plays": [1, 2345],
        "rebuffer_ratio": [0.004, None],
        "vst_sketch": pa.array([b"\xff\x01", None], pa.binary()),
        "experiments": pa.array([[("ab-vst", "b")], []], pa.map_(pa.string(), pa.string())),
        "window_start": pa.array([0, 60_000], pa.timestamp("ms", tz="UTC")),
        "provisional": [True, False],
        "note": ['a, "quoted"\nline', "plain"],
    }
)


def _render(fmt: str, table: pa.Table = RESULT) -> str:
    out = io.StringIO()
    render(table, fmt, out)
    return out.getvalue()


def test_table_is_aligned_for_people() -> None:
    assert _render("table").splitlines() == [
        "region  | plays | rebuffer_ratio | vst_sketch | experiments     | window_start              "
        "| provisional | note",
        "--------+-------+----------------+------------+-----------------+---------------------------"
        "+-------------+------------------",
        'us-east |     1 |          0.004 | <2 bytes>  | {"ab-vst": "b"} | 1970-01-01 00:00:00+00:00 '
        '| true        | a, "quoted"\\nline',
        "eu-west |  2345 |           NULL | NULL       | {}              | 1970-01-01 00:01:00+00:00 "
        "| false       | plain",
        "(2 rows)",
    ]
    assert _render("table", RESULT.slice(0, 1)).splitlines()[-1] == "(1 row)"


def test_csv_quotes_and_encodes_every_type() -> None:
    assert _render("csv").splitlines() == [
        "region,plays,rebuffer_ratio,vst_sketch,experiments,window_start,provisional,note",
        'us-east,1,0.004,/wE=,"{""ab-vst"": ""b""}",1970-01-01T00:00:00+00:00,true,"a, ""quoted""',
        'line"',
        "eu-west,2345,,,{},1970-01-01T00:01:00+00:00,false,plain",
    ]


def test_json_is_one_object_per_line() -> None:
    rows = [json.loads(line) for line in _render("json").splitlines()]
    assert rows[0] == {
        "region": "us-east",
        "plays": 1,
        "rebuffer_ratio": 0.004,
        "vst_sketch": "/wE=",
        "experiments": {"ab-vst": "b"},
        "window_start": "1970-01-01T00:00:00+00:00",
        "provisional": True,
        "note": 'a, "quoted"\nline',
    }
    assert rows[1]["rebuffer_ratio"] is None and rows[1]["experiments"] == {}


def test_json_has_no_nan() -> None:
    text = _render("json", pa.table({"x": [float("nan")], "d": [dt.date(2025, 11, 21)]}))
    assert json.loads(text) == {"x": None, "d": "2025-11-21"}


def test_parquet_needs_a_path_and_keeps_the_table(tmp_path: Path) -> None:
    target = tmp_path / "result.parquet"
    render(RESULT, "parquet", target)
    assert pq.read_table(target).equals(RESULT)
    with pytest.raises(ValueError, match="file path"):
        render(RESULT, "parquet", io.StringIO())
    with pytest.raises(ValueError, match="file path"):
        render(RESULT, "parquet")


def test_text_formats_can_write_to_a_path(tmp_path: Path) -> None:
    target = tmp_path / "result.csv"
    render(RESULT, "csv", target)
    assert target.read_text(encoding="utf-8") == _render("csv")


def test_unknown_format_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match="table, csv, json, parquet"):
        render(RESULT, "xml", io.StringIO())
    assert FORMATS == ("table", "csv", "json", "parquet")


def test_empty_result_renders_headers() -> None:
    empty = RESULT.slice(0, 0)
    assert _render("table", empty).splitlines()[-1] == "(0 rows)"
    assert (
        _render("csv", empty)
        == "region,plays,rebuffer_ratio,vst_sketch,experiments,window_start,provisional,note\n"
    )
    assert _render("json", empty) == ""
