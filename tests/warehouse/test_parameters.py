"""`$name` placeholders: found outside literals and comments, checked, and typed for ClickHouse."""

from __future__ import annotations

import datetime as dt

import pytest

from warehouse.parameters import (
    ParameterMismatch,
    check_parameters,
    clickhouse_type,
    find_placeholders,
    to_clickhouse,
)


@pytest.mark.parametrize(
    ("sql", "names"),
    [
        ("SELECT $a, $b_2 FROM t WHERE x = $a", ["a", "b_2", "a"]),
        ("SELECT '$in_string', \"$in_ident\", `$in_backticks`, $real", ["real"]),
        ("SELECT 'it''s $quoted', $after", ["after"]),
        ("SELECT 1 -- $in_line_comment\n, $after", ["after"]),
        ("SELECT /* $in /* nested-looking */ $after", ["after"]),
        ("SELECT $$ $in_dollar_quote $$, $tag$ $also $tag$, $after", ["after"]),
        ("SELECT $1, 5$, $", []),
        ("SELECT 'unterminated $x", []),
    ],
)
def test_placeholders_outside_literals_and_comments(sql: str, names: list[str]) -> None:
    assert [p.name for p in find_placeholders(sql)] == names


def test_backslash_escapes_only_count_in_clickhouse() -> None:
    sql = r"SELECT 'a\' , $x"
    # DuckDB: the literal is 'a\' and $x is a placeholder; ClickHouse: \' is an escaped quote.
    assert [p.name for p in find_placeholders(sql)] == ["x"]
    assert find_placeholders(sql, backslash_escapes=True) == []


def test_missing_and_unused_parameters_are_named() -> None:
    with pytest.raises(ParameterMismatch, match=r"\$a, \$b"):
        check_parameters("SELECT $a, $b", {})
    with pytest.raises(ParameterMismatch, match="c are not used"):
        check_parameters("SELECT $a", {"a": 1, "c": 2})
    assert [p.name for p in check_parameters("SELECT $a", {"a": 1})] == ["a"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("x", "String"),
        (b"\x00", "String"),
        (True, "Bool"),
        (3, "Int64"),
        (2**63, "UInt64"),
        (1.5, "Float64"),
        (dt.date(2025, 1, 1), "Date32"),
        (dt.datetime(2025, 1, 1, 12), "DateTime64(6, 'UTC')"),
        (None, "Nullable(String)"),
        (["a", "b"], "Array(String)"),
        ([1, None], "Array(Nullable(Int64))"),
        ([1, 2.5], "Array(Float64)"),
    ],
)
def test_clickhouse_types_of_python_values(value: object, expected: str) -> None:
    assert clickhouse_type(value) == expected


def test_unbindable_values_are_a_type_error() -> None:
    with pytest.raises(TypeError, match="cannot bind a dict"):
        clickhouse_type({"a": 1})
    with pytest.raises(TypeError, match="one type"):
        clickhouse_type([1, "a"])


def test_clickhouse_rewrite_keeps_the_values_out_of_the_sql() -> None:
    value = "x'); DROP TABLE t; --"
    eastern = dt.timezone(dt.timedelta(hours=-5))
    sql, values = to_clickhouse(
        "SELECT * FROM t WHERE a = $a AND b >= $b AND c = '$a'",
        {"a": value, "b": dt.datetime(2025, 1, 1, 7, tzinfo=eastern)},
    )
    assert sql == "SELECT * FROM t WHERE a = {a:String} AND b >= {b:DateTime64(6, 'UTC')} AND c = '$a'"
    assert value not in sql
    assert values == {"a": value, "b": dt.datetime(2025, 1, 1, 12)}  # aware times converted to UTC
