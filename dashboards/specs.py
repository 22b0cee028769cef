"""What a playpulse dashboard is, independent of Grafana's JSON: panels, variables, annotations.

A `PanelSpec` holds the panel's SQL for the Grafana ClickHouse data source (with the plugin's
macros such as `$__timeFilter(col)` and Grafana template variables such as
`${region:sqlstring}`) and the columns that SQL returns, in order: the tests run every query on
the real ClickHouse engine and compare its columns with `columns`, so a renamed warehouse column
breaks a test instead of a dashboard. Specs are plain frozen data; `dashboards.grafana` turns
them into typed grafana-foundation-sdk objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

__all__ = ["AnnotationSpec", "DashboardSpec", "PanelKind", "PanelSpec", "VariableSpec"]

PanelKind = Literal["timeseries", "stat", "table", "barchart"]


@dataclass(frozen=True)
class PanelSpec:
    """One panel: title, visualization, SQL (ClickHouse plugin dialect) and the columns it returns."""

    title: str
    kind: PanelKind
    sql: str
    columns: tuple[str, ...]
    unit: str | None = None
    description: str = ""
    #: Grid width (of 24) and height (rows of 30 px).
    width: int = 12
    height: int = 8
    decimals: int | None = None

    def __post_init__(self) -> None:
        if not self.columns:
            raise ValueError(f"panel {self.title!r} declares no columns")
        if self.kind == "timeseries" and self.columns[0] != "time":
            raise ValueError(f"time-series panel {self.title!r} must return `time` as its first column")
        if not 1 <= self.width <= 24:
            raise ValueError(f"panel {self.title!r}: width must be 1..24, got {self.width}")


@dataclass(frozen=True)
class VariableSpec:
    """A query variable: its values come from `sql` (one column) on the ClickHouse data source.

    `all_value` is what the variable expands to when "All" is selected: Grafana inserts a custom
    all-value as is, without formatting, so write it as SQL (e.g. `'*'`).
    """

    name: str
    label: str
    sql: str
    multi: bool = False
    include_all: bool = True
    all_value: str | None = None


@dataclass(frozen=True)
class AnnotationSpec:
    """Annotations from SQL returning `time`, `timeEnd`, `title`, `text` and `tags`."""

    name: str
    sql: str
    color: str = "red"
    columns: tuple[str, ...] = ("time", "timeEnd", "title", "text", "tags")


@dataclass(frozen=True)
class DashboardSpec:
    """One dashboard: identity, default time range and refresh, and its content."""

    uid: str
    title: str
    description: str
    panels: tuple[PanelSpec, ...]
    variables: tuple[VariableSpec, ...] = ()
    annotations: tuple[AnnotationSpec, ...] = ()
    tags: tuple[str, ...] = field(default=("playpulse",))
    time_from: str = "now-6h"
    time_to: str = "now"
    refresh: str = ""

    def __post_init__(self) -> None:
        titles = [p.title for p in self.panels]
        duplicates = {t for t in titles if titles.count(t) > 1}
        if duplicates:
            raise ValueError(f"dashboard {self.uid}: duplicate panel titles {sorted(duplicates)}")
        if not 1 <= len(self.uid) <= 40:
            raise ValueError(f"dashboard uid {self.uid!r} must be 1..40 characters (Grafana's limit)")
