"""Dashboard specs → typed Grafana dashboards (grafana-foundation-sdk, Grafana 11 schema) and back.

`build_dashboard(spec)` builds a `Dashboard` model with the SDK's builders; `to_json` gives the
JSON Grafana stores and `from_json` parses such JSON back into the SDK model — with this
project's ClickHouse query and annotation types registered, so a round trip is lossless
(`to_json(from_json(j)) == j`, checked by the tests). Grafana JSON lives only here, at the edge.

Panel ids are 1..n in spec order, every target and annotation names the data source by uid
(`datasource_uid`, provisioned by `dashboards.provisioning`), and the JSON is deterministic, so
the generated files only change when a spec does.
"""

from __future__ import annotations

import json
from typing import Any

from grafana_foundation_sdk.builders import barchart, stat, table, timeseries
from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common, dashboard

from dashboards.clickhouse_query import (
    PLUGIN_ID,
    ClickHouseAnnotationTarget,
    ClickHouseQueryBuilder,
    register,
)
from dashboards.specs import AnnotationSpec, DashboardSpec, PanelSpec, VariableSpec

__all__ = ["DATASOURCE_UID", "build_dashboard", "datasource_ref", "from_json", "to_json"]

#: The uid of the provisioned ClickHouse data source every panel queries.
DATASOURCE_UID = "playpulse-clickhouse"

_PANEL_BUILDERS = {
    "timeseries": timeseries.Panel,
    "stat": stat.Panel,
    "table": table.Panel,
    "barchart": barchart.Panel,
}


def datasource_ref(uid: str = DATASOURCE_UID) -> dashboard.DataSourceRef:
    return dashboard.DataSourceRef(type_val=PLUGIN_ID, uid=uid)


def _panel(
    spec: PanelSpec, panel_id: int, ref: dashboard.DataSourceRef
) -> cogbuilder.Builder[dashboard.Panel]:
    query = ClickHouseQueryBuilder("A").sql(spec.sql).datasource(ref)
    query = query.timeseries() if spec.kind == "timeseries" else query.table()
    panel: Any = (
        _PANEL_BUILDERS[spec.kind]()
        .id(panel_id)
        .title(spec.title)
        .datasource(ref)
        .with_target(query)
        .span(spec.width)
        .height(spec.height)
    )
    if spec.kind == "timeseries":
        panel = panel.line_width(1).fill_opacity(10).show_points(common.VisibilityMode.NEVER)
    elif spec.kind == "barchart":
        panel = panel.x_field(spec.columns[0]).fill_opacity(80).line_width(1)
    if spec.description:
        panel = panel.description(spec.description)
    if spec.unit:
        panel = panel.unit(spec.unit)
    if spec.decimals is not None:
        panel = panel.decimals(spec.decimals)
    return panel


def _variable(spec: VariableSpec, ref: dashboard.DataSourceRef) -> dash.QueryVariable:
    variable = (
        dash.QueryVariable(spec.name)
        .label(spec.label)
        .datasource(ref)
        .query(spec.sql)
        .refresh(dashboard.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(dashboard.VariableSort.ALPHABETICAL_ASC)
        .multi(spec.multi)
        .include_all(spec.include_all)
        .current(dashboard.VariableOption(selected=True, text="All", value="$__all"))
    )
    if spec.all_value is not None:
        variable = variable.all_value(spec.all_value)
    return variable


def _annotation(spec: AnnotationSpec, ref: dashboard.DataSourceRef) -> cogbuilder.Builder[Any]:
    return (
        dash.AnnotationQuery()
        .name(spec.name)
        .datasource(ref)
        .enable(True)
        .icon_color(spec.color)
        .target(_Built(ClickHouseAnnotationTarget(raw_sql=spec.sql)))
    )


class _Built(cogbuilder.Builder[Any]):
    """A builder of an already-built model (the SDK's setters take builders)."""

    def __init__(self, model: Any) -> None:
        self._model = model

    def build(self) -> Any:
        return self._model


def build_dashboard(spec: DashboardSpec, datasource_uid: str = DATASOURCE_UID) -> dashboard.Dashboard:
    """The Grafana dashboard of `spec`, every query on the ClickHouse data source `datasource_uid`."""
    register()
    ref = datasource_ref(datasource_uid)
    builder = (
        dash.Dashboard(spec.title)
        .uid(spec.uid)
        .description(spec.description)
        .tags(list(spec.tags))
        .timezone("utc")
        .time(spec.time_from, spec.time_to)
        .editable()
        .tooltip(dashboard.DashboardCursorSync.CROSSHAIR)
    )
    if spec.refresh:
        builder = builder.refresh(spec.refresh)
    # Every playpulse dashboard links to the others (by tag), keeping time range and variables.
    builder = builder.link(
        dash.DashboardLink("playpulse")
        .type(dashboard.DashboardLinkType.DASHBOARDS)
        .tags(["playpulse"])
        .as_dropdown(True)
        .keep_time(True)
        .include_vars(False)
    )
    for variable in spec.variables:
        builder = builder.with_variable(_variable(variable, ref))
    for annotation in spec.annotations:
        builder = builder.annotation(_annotation(annotation, ref))
    for panel_id, panel in enumerate(spec.panels, start=1):
        builder = builder.with_panel(_panel(panel, panel_id, ref))
    return builder.build()


def to_json(model: dashboard.Dashboard) -> dict[str, Any]:
    """The dashboard as Grafana's JSON (plain dicts and lists)."""
    return json.loads(json.dumps(model, cls=JSONEncoder, sort_keys=True))


def from_json(data: dict[str, Any]) -> dashboard.Dashboard:
    """Parse Grafana dashboard JSON into the SDK model, keeping ClickHouse annotation queries.

    ValueError when it is not a dashboard the SDK can read (the message names what is wrong).
    """
    register()
    try:
        model = dashboard.Dashboard.from_json(data)
    except (KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"not a Grafana dashboard the SDK can parse: {exc!r}") from exc
    raw = (data.get("annotations") or {}).get("list") or []
    parsed = model.annotations.list_val if model.annotations and model.annotations.list_val else []
    for source, annotation in zip(raw, parsed, strict=True):
        datasource = source.get("datasource") or {}
        if datasource.get("type") == PLUGIN_ID and "target" in source:
            annotation.target = ClickHouseAnnotationTarget.from_json(source["target"])
    return model
