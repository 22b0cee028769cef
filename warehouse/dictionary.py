"""The data dictionary: Markdown generated from the table specs, and the same from a live engine.

`render_dictionary()` renders `docs/data-dictionary.md` from `warehouse.tables` (a test keeps the
committed file equal to it); `python -m warehouse.dictionary [PATH]` rewrites the file.
`render_live_dictionary(wh)` renders what a deployed warehouse's catalog says (DESCRIBE /
system.columns), and `catalog_problems(wh)` lists every table, column or comment the deployed
warehouse is missing or has different from the specs - empty when the deployment is documented.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path

from warehouse.base import CatalogTable, Warehouse
from warehouse.logical_types import LogicalType
from warehouse.tables import TABLES, Table

__all__ = [
    "DEFAULT_PATH",
    "catalog_problems",
    "main",
    "render_dictionary",
    "render_live_dictionary",
    "write_dictionary",
]

#: Where the generated dictionary is committed.
DEFAULT_PATH = Path(__file__).resolve().parent.parent / "docs" / "data-dictionary.md"

_HEADER = """\
# playpulse data dictionary

<!-- Generated from warehouse/tables.py by `python -m warehouse.dictionary`; do not edit by hand.
     A test fails when this file and the specs differ. -->

Every table of the playpulse warehouse, the same in DuckDB (the embedded default) and ClickHouse.
Conventions: all times are UTC; `*_ms` columns are milliseconds, `*_bytes` bytes, `*_kbps`
kilobits per second; ratios are fractions 0-1 unless the name ends in `_pct`. User ids are
pseudonymized (a keyed hash) before they reach the warehouse. Query parameters are written
`$name`. In ClickHouse every read deduplicates by the key (setting `final = 1`).
"""


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _type_table() -> list[str]:
    lines = ["## Types", "", "| type | DuckDB | ClickHouse | Arrow |", "|---|---|---|---|"]
    for t in LogicalType:
        lines.append(f"| {t.name} | `{t.duckdb}` | `{t.clickhouse}` | `{t.arrow}` |")
    lines += ["", "A nullable column is `Nullable(...)` in ClickHouse; a column marked *no* is NOT NULL.", ""]
    return lines


def _table_section(spec: Table) -> list[str]:
    kind = "view over the Parquet lake" if spec.kind == "view" else "table"
    partition = f"`{spec.partition_column}`" if spec.partition_column else "none"
    lines = [
        f"## {spec.name}",
        "",
        spec.comment,
        "",
        f"- **Kind:** {kind}",
        f"- **Grain:** {spec.grain or 'one row per key'}",
        f"- **Key:** {', '.join(f'`{k}`' for k in spec.key)}",
        f"- **Partitioned by:** {partition}",
        "",
        "| column | type | nullable | comment |",
        "|---|---|---|---|",
    ]
    for c in spec.columns:
        lines.append(f"| `{c.name}` | {c.type.name} | {'yes' if c.nullable else 'no'} | {_cell(c.comment)} |")
    lines.append("")
    return lines


def render_dictionary(tables: Iterable[Table] | None = None) -> str:
    """The data dictionary of `tables` (default: every warehouse table) as Markdown."""
    specs = list(TABLES.values() if tables is None else tables)
    lines = [_HEADER, "## Tables", ""]
    lines += [f"- [{t.name}](#{t.name}): {t.grain or 'one row per key'}" for t in specs]
    lines.append("")
    lines += _type_table()
    for spec in specs:
        lines += _table_section(spec)
    return "\n".join(lines).rstrip("\n") + "\n"


def write_dictionary(path: Path = DEFAULT_PATH) -> Path:
    """Write the generated dictionary to `path` (creating its folder)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_dictionary(), encoding="utf-8")
    return path


def render_live_dictionary(wh: Warehouse) -> str:
    """The dictionary as the live engine's catalog reports it: engine types and deployed comments."""
    lines = [f"# Deployed warehouse ({wh.backend})", ""]
    for table in wh.catalog():
        lines += [f"## {table.name}", "", table.comment or "*(no comment)*", ""]
        lines += ["| column | engine type | comment |", "|---|---|---|"]
        for c in table.columns:
            lines.append(f"| `{c.name}` | `{c.type}` | {_cell(c.comment) or '*(no comment)*'} |")
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


def catalog_problems(wh: Warehouse, tables: Iterable[Table] | None = None) -> list[str]:
    """What the deployed warehouse lacks against the specs: tables, columns, comments. Empty = documented."""
    live: dict[str, CatalogTable] = {t.name: t for t in wh.catalog()}
    problems: list[str] = []
    for spec in TABLES.values() if tables is None else tables:
        deployed = live.get(spec.name)
        if deployed is None:
            hint = "attach_lake()" if spec.kind == "view" else "create_tables()"
            problems.append(f"{spec.name}: missing (run {hint})")
            continue
        if deployed.comment != spec.comment:
            problems.append(f"{spec.name}: table comment differs from the spec")
        columns = {c.name: c for c in deployed.columns}
        for column in spec.columns:
            found = columns.get(column.name)
            if found is None:
                problems.append(f"{spec.name}.{column.name}: missing")
            elif found.comment != column.comment:
                problems.append(f"{spec.name}.{column.name}: comment differs from the spec")
        for name in columns.keys() - set(spec.column_names):
            problems.append(f"{spec.name}.{name}: not in the spec")
    return problems


def main(argv: list[str] | None = None) -> int:
    """`python -m warehouse.dictionary [PATH]`: write the generated dictionary."""
    args = sys.argv[1:] if argv is None else argv
    path = write_dictionary(Path(args[0]) if args else DEFAULT_PATH)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
