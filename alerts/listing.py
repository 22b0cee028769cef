"""`playpulse alerts list`: open and recent alerts from the warehouse `alerts` table, as a table.

Reads the table (not the running app), so it works whether or not the app runs: open incidents
(pending, firing) first, then the most recently changed others, newest first.
"""

from __future__ import annotations

import sys
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.table import Table

__all__ = ["render_alerts"]

_STYLE = {"firing": "bold red", "pending": "yellow", "resolved": "green", "cancelled": "dim"}


def _when(value: datetime | None) -> str:
    return "" if value is None else value.strftime("%Y-%m-%d %H:%M")


def _num(value: float | None, metric: str) -> str:
    if value is None:
        return ""
    if metric.endswith("_ms"):
        return f"{value:,.0f} ms"
    if metric.endswith("_pct"):
        return f"{value:.2f}%"
    return f"{value * 100:.2f}%" if metric == "rebuffer_ratio" else f"{value:.4g}"


def render_alerts(rows: list[dict[str, Any]], console: Console | None = None) -> None:
    """Print alert rows (as `AlertStore.recent_rows` returns them)."""
    # Piped or captured output keeps whole slice names: a wide console instead of the 80 default.
    console = console or (Console() if sys.stdout.isatty() else Console(width=220))
    if not rows:
        console.print("no alerts yet")
        return
    table = Table(title="playpulse alerts (open first, then recent)")
    for column in (
        "state",
        "severity",
        "rule",
        "slice",
        "observed",
        "baseline",
        "started (UTC)",
        "ended (UTC)",
        "also affected",
    ):
        table.add_column(column)
    for row in rows:
        affected = [a for a in (row.get("affected") or "").split(",") if a]
        table.add_row(
            f"[{_STYLE.get(row['state'], '')}]{row['state']}[/]",
            row["severity"],
            row["rule"],
            row["slice"],
            _num(row.get("observed"), row["metric"]),
            _num(row.get("baseline"), row["metric"]),
            _when(row.get("started_at")),
            _when(row.get("ended_at")),
            ", ".join(affected[:3]) + (f" +{len(affected) - 3}" if len(affected) > 3 else ""),
        )
    console.print(table)
