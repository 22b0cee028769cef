"""Queries of the Grafana ClickHouse data source plugin (`grafana-clickhouse-datasource`) as typed
grafana-foundation-sdk objects.

The SDK ships no model for this plugin, so this module adds one the way the SDK models its own
plugins: a `Dataquery` variant (`ClickHouseQuery`, with `to_json`/`from_json`), a builder
(`ClickHouseQueryBuilder`) and its registration in the SDK runtime, so `Dashboard.from_json`
parses panel targets of this data source back into `ClickHouseQuery` objects instead of
untyped bags. Annotation targets get the same treatment (`ClickHouseAnnotationTarget`): the
SDK's `AnnotationTarget` knows only the built-in Grafana annotation fields, and the plugin
reads its SQL from `target.rawSql`.

The JSON is the plugin's v4 query: `editorType: "sql"`, `rawSql`, `queryType` (table or
time series) and `format` (the backend's frame format: 0 time series, 1 table).
"""

from __future__ import annotations

import typing
from dataclasses import dataclass
from typing import Any, Literal, Self

from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import runtime as cogruntime
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.cog.plugins import register_default_plugins
from grafana_foundation_sdk.models import dashboard

__all__ = [
    "PLUGIN_ID",
    "ClickHouseAnnotationTarget",
    "ClickHouseQuery",
    "ClickHouseQueryBuilder",
    "QueryFormat",
    "register",
]

#: The plugin id of the ClickHouse data source (`grafana-clickhouse-datasource`).
PLUGIN_ID = "grafana-clickhouse-datasource"

QueryFormat = Literal["table", "timeseries"]
_FORMAT_CODE: dict[str, int] = {"timeseries": 0, "table": 1}
_FORMAT_NAME = {code: name for name, code in _FORMAT_CODE.items()}


@dataclass
class ClickHouseQuery(cogvariants.Dataquery):
    """One SQL query of a panel, in the plugin's SQL editor mode."""

    ref_id: str = "A"
    raw_sql: str = ""
    format: QueryFormat = "table"
    datasource: dashboard.DataSourceRef | None = None
    hide: bool | None = None

    def to_json(self) -> dict[str, object]:
        payload: dict[str, object] = {
            "refId": self.ref_id,
            "editorType": "sql",
            "queryType": self.format,
            "format": _FORMAT_CODE[self.format],
            "rawSql": self.raw_sql,
        }
        if self.datasource is not None:
            payload["datasource"] = self.datasource
        if self.hide is not None:
            payload["hide"] = self.hide
        return payload

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Self:
        if data.get("editorType", "sql") != "sql":
            raise ValueError(
                f"query {data.get('refId')!r} uses the plugin's query builder; playpulse dashboards use SQL"
            )
        code = data.get("format")
        query_format = (
            _FORMAT_NAME.get(code, "table") if isinstance(code, int) else data.get("queryType", "table")
        )
        return cls(
            ref_id=data.get("refId", "A"),
            raw_sql=data.get("rawSql", ""),
            format=typing.cast(QueryFormat, query_format),
            datasource=dashboard.DataSourceRef.from_json(data["datasource"])
            if "datasource" in data
            else None,
            hide=data.get("hide"),
        )


class ClickHouseQueryBuilder(cogbuilder.Builder[cogvariants.Dataquery]):
    """Builds a `ClickHouseQuery`: `ClickHouseQueryBuilder("A").sql("SELECT …").timeseries()`."""

    def __init__(self, ref_id: str = "A") -> None:
        self._internal = ClickHouseQuery(ref_id=ref_id)

    def build(self) -> ClickHouseQuery:
        return self._internal

    def sql(self, raw_sql: str) -> Self:
        self._internal.raw_sql = raw_sql
        return self

    def timeseries(self) -> Self:
        self._internal.format = "timeseries"
        return self

    def table(self) -> Self:
        self._internal.format = "table"
        return self

    def datasource(self, ref: dashboard.DataSourceRef) -> Self:
        self._internal.datasource = ref
        return self


class ClickHouseAnnotationTarget(dashboard.AnnotationTarget):
    """An annotation query of the ClickHouse plugin: SQL returning `time`, `timeEnd`, `text`, `tags`."""

    def __init__(self, raw_sql: str = "", ref_id: str = "Anno", **legacy: Any) -> None:
        super().__init__(**legacy)
        self.raw_sql = raw_sql
        self.ref_id = ref_id

    def to_json(self) -> dict[str, object]:
        return {
            **super().to_json(),
            "refId": self.ref_id,
            "editorType": "sql",
            "queryType": "table",
            "format": _FORMAT_CODE["table"],
            "rawSql": self.raw_sql,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Self:
        legacy = dashboard.AnnotationTarget.from_json(data)
        return cls(
            raw_sql=data.get("rawSql", ""),
            ref_id=data.get("refId", "Anno"),
            limit=legacy.limit,
            match_any=legacy.match_any,
            tags=legacy.tags,
            type_val=legacy.type_val,
        )


_registered = False


def register() -> None:
    """Register the SDK's own plugins and this one with the SDK runtime (idempotent)."""
    global _registered
    if _registered:
        return
    register_default_plugins()
    cogruntime.register_dataquery_variant(
        cogruntime.DataqueryConfig(identifier=PLUGIN_ID, from_json_hook=ClickHouseQuery.from_json)
    )
    _registered = True
