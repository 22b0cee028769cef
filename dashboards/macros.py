"""What Grafana and the ClickHouse plugin do to a panel's SQL before ClickHouse sees it (pure).

Used to run the dashboards' queries on a real ClickHouse engine outside Grafana (the tests, on
chdb). It follows, in order:

1. the plugin's front end: `$__conditionalAll(condition, $var)` becomes `1=1` when `var` is All,
   else `condition`;
2. Grafana's template variables: `${var}`, `$var`, `${var:sqlstring}` (each value quoted with
   `'`, quotes doubled, comma-separated). All expands to the variable's custom all-value as
   written (Grafana does not format a custom all-value), else to every option;
3. the plugin's back-end macros (grafana/clickhouse-datasource `pkg/macros`): `$__timeFilter(c)`
   → `c >= toDateTime(from) AND c <= toDateTime(to)`, `$__timeFilter_ms`, `$__dateFilter(c)`,
   `$__fromTime`, `$__toTime`, `$__fromTime_ms`, `$__toTime_ms`, `$__timeInterval(c)` →
   `toStartOfInterval(toDateTime(c), INTERVAL n second)`, `$__interval_s`.

Anything still starting with `$` afterwards is an unknown macro or variable: ValueError.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

__all__ = ["QueryContext", "Selection", "render"]


@dataclass(frozen=True)
class Selection:
    """A variable's state: the selected values (None = All), its custom all-value and its options."""

    values: tuple[str, ...] | None = None
    all_value: str | None = None
    options: tuple[str, ...] = ()

    @property
    def is_all(self) -> bool:
        return self.values is None


@dataclass(frozen=True)
class QueryContext:
    """The time range, the interval of a time-series bucket and the variables of one panel query."""

    time_from: datetime
    time_to: datetime
    interval_s: int = 60
    variables: Mapping[str, Selection] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.time_from.tzinfo is None or self.time_to.tzinfo is None:
            raise ValueError("time_from and time_to must be timezone-aware (UTC)")


def _args(sql: str, open_paren: int) -> tuple[list[str], int]:
    """The comma-separated arguments of the call whose '(' is at `open_paren`, and the index after ')'."""
    depth, quote, start, args = 0, "", open_paren + 1, []
    for index in range(open_paren, len(sql)):
        char = sql[index]
        if quote:
            if char == quote:
                quote = ""
            continue
        if char in "'\"`":
            quote = char
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                args.append(sql[start:index].strip())
                return args, index + 1
        elif char == "," and depth == 1:
            args.append(sql[start:index].strip())
            start = index + 1
    raise ValueError(f"unbalanced parentheses after position {open_paren} in: {sql}")


def _replace_calls(sql: str, name: str, expand: Callable[[list[str]], str]) -> str:
    marker = f"$__{name}("
    while (at := sql.find(marker)) != -1:
        args, end = _args(sql, at + len(marker) - 1)
        sql = sql[:at] + expand(args) + sql[end:]
    return sql


def _sqlstring(values: Sequence[str]) -> str:
    return ",".join("'" + v.replace("'", "''") + "'" for v in values)


def _variable_text(name: str, fmt: str | None, context: QueryContext) -> str:
    try:
        selection = context.variables[name]
    except KeyError:
        raise ValueError(f"the query uses the variable ${name}, which the context does not define") from None
    if selection.is_all:
        if selection.all_value is not None:
            return selection.all_value
        values: Sequence[str] = selection.options
    else:
        values = selection.values or ()
    if fmt is None:
        return ",".join(values) if len(values) != 1 else values[0]
    if fmt == "sqlstring":
        return _sqlstring(values)
    raise ValueError(f"variable format {fmt!r} of ${name} is not supported here; use sqlstring")


_VARIABLE = re.compile(r"\$\{(?P<braced>[A-Za-z_]\w*)(?::(?P<fmt>\w+))?\}|\$(?P<bare>(?!__)[A-Za-z_]\w*)")


def _seconds(moment: datetime) -> int:
    return int(moment.timestamp())


def render(sql: str, context: QueryContext) -> str:
    """`sql` as ClickHouse receives it from Grafana for `context`."""

    def conditional_all(args: list[str]) -> str:
        if len(args) != 2:
            raise ValueError(f"$__conditionalAll takes (condition, $variable), got {args}")
        name = args[1].strip().lstrip("$").strip("{}").split(":")[0]
        selection = context.variables.get(name)
        if selection is None:
            raise ValueError(f"$__conditionalAll names ${name}, which the context does not define")
        return "1=1" if selection.is_all else args[0]

    sql = _replace_calls(sql, "conditionalAll", conditional_all)
    sql = _VARIABLE.sub(
        lambda m: _variable_text(m.group("braced") or m.group("bare"), m.group("fmt"), context), sql
    )
    start, end = _seconds(context.time_from), _seconds(context.time_to)
    start_ms, end_ms = int(context.time_from.timestamp() * 1000), int(context.time_to.timestamp() * 1000)

    def one(name: str, args: list[str]) -> str:
        if len(args) != 1:
            raise ValueError(f"$__{name} takes one column, got {args}")
        return args[0]

    sql = _replace_calls(
        sql,
        "timeFilter_ms",
        lambda a: (
            f"{one('timeFilter_ms', a)} >= fromUnixTimestamp64Milli({start_ms}) AND "
            f"{a[0]} <= fromUnixTimestamp64Milli({end_ms})"
        ),
    )
    sql = _replace_calls(
        sql,
        "timeFilter",
        lambda a: f"{one('timeFilter', a)} >= toDateTime({start}) AND {a[0]} <= toDateTime({end})",
    )
    sql = _replace_calls(
        sql,
        "dateFilter",
        lambda a: (
            f"{one('dateFilter', a)} >= toDate('{context.time_from:%Y-%m-%d}') AND "
            f"{a[0]} <= toDate('{context.time_to:%Y-%m-%d}')"
        ),
    )
    interval = max(int(context.interval_s), 1)
    sql = _replace_calls(
        sql,
        "timeInterval",
        lambda a: f"toStartOfInterval(toDateTime({one('timeInterval', a)}), INTERVAL {interval} second)",
    )
    for name, text in (
        ("fromTime_ms", f"fromUnixTimestamp64Milli({start_ms})"),
        ("toTime_ms", f"fromUnixTimestamp64Milli({end_ms})"),
        ("fromTime", f"toDateTime({start})"),
        ("toTime", f"toDateTime({end})"),
        ("interval_s", str(interval)),
    ):
        sql = re.sub(rf"\$__{name}\b", text, sql)
    leftover = re.search(r"\$\w+", sql)
    if leftover:
        raise ValueError(f"unknown macro or variable {leftover.group(0)} in: {sql}")
    return sql
