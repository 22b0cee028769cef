"""Render a query result for `playpulse sql "SELECT ..." --format FORMAT`.

Formats:

- `table`: an aligned text table for people: a header, a rule, one line per row, numbers right
  aligned, NULL shown as `NULL`, binary values as `<N bytes>`, then `(N rows)`.
- `csv`: RFC 4180 CSV with a header row; NULL is an empty field, booleans `true`/`false`,
  maps and lists JSON, binary base64, times ISO 8601.
- `json`: JSON Lines - one JSON object per row, keys in column order; NULL and NaN are `null`,
  maps are objects, binary base64, dates and times ISO 8601 strings (times with their offset).
- `parquet`: the Arrow table as a Parquet file, unchanged; needs a file path (or a binary file).

Text formats write to `out` (a text stream, default stdout). Nothing here touches an engine.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import io
import json
import math
import os
import sys
from collections.abc import Callable
from decimal import Decimal
from typing import IO, Any, Literal

import pyarrow as pa
import pyarrow.parquet as pq

__all__ = ["FORMATS", "Format", "render"]

Format = Literal["table", "csv", "json", "parquet"]
#: The formats `render` accepts, for the CLI's choices.
FORMATS: tuple[Format, ...] = ("table", "csv", "json", "parquet")


def render(
    table: pa.Table, fmt: Format | str, out: IO[str] | IO[bytes] | str | os.PathLike[str] | None = None
) -> None:
    """Write `table` to `out` in format `fmt` (see the module doc)."""
    if fmt == "parquet":
        if out is None or isinstance(out, io.TextIOBase):
            raise ValueError(
                "parquet output needs a file path (e.g. --output result.parquet), not a text stream"
            )
        pq.write_table(table, out)  # type: ignore[arg-type]
        return
    writers: dict[str, Callable[[pa.Table, IO[str]], None]] = {
        "table": _table,
        "csv": _csv,
        "json": _json_lines,
    }
    if fmt not in writers:
        raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    if isinstance(out, (str, os.PathLike)):
        with open(out, "w", encoding="utf-8", newline="") as handle:
            writers[fmt](table, handle)
        return
    writers[fmt](table, out if out is not None else sys.stdout)  # type: ignore[arg-type]


def _rows(table: pa.Table) -> list[dict[str, Any]]:
    return table.to_pylist(maps_as_pydicts="lossy")


def _plain(value: Any) -> Any:
    """A JSON-compatible form of a value from Arrow's to_pylist."""
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return str(value)


def _json_lines(table: pa.Table, out: IO[str]) -> None:
    for row in _rows(table):
        out.write(json.dumps({k: _plain(v) for k, v in row.items()}, ensure_ascii=False))
        out.write("\n")


def _csv_field(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(_plain(value), ensure_ascii=False)
    plain = _plain(value)
    return "" if plain is None else str(plain)


def _csv(table: pa.Table, out: IO[str]) -> None:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(table.column_names)
    for row in _rows(table):
        writer.writerow([_csv_field(v) for v in row.values()])


def _cell(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (bytes, bytearray)):
        return f"<{len(value)} bytes>"
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(_plain(value), ensure_ascii=False)
    return str(value).replace("\n", "\\n")


def _table(table: pa.Table, out: IO[str]) -> None:
    names = table.column_names
    numeric = [
        pa.types.is_integer(f.type) or pa.types.is_floating(f.type) or pa.types.is_decimal(f.type)
        for f in table.schema
    ]
    cells = [[_cell(v) for v in row.values()] for row in _rows(table)]
    widths = [max([len(name), *(len(r[i]) for r in cells)]) for i, name in enumerate(names)]

    def line(values: list[str]) -> str:
        parts = [v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric, strict=True)]
        return " | ".join(parts).rstrip()

    if names:
        out.write(line(list(names)) + "\n")
        out.write("-+-".join("-" * w for w in widths) + "\n")
        for row in cells:
            out.write(line(row) + "\n")
    count = table.num_rows
    out.write(f"({count} row{'' if count == 1 else 's'})\n")
