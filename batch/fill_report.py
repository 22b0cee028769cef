"""`playpulse fill-plan --date D`: the published fill plan of D, scored, as a console summary and HTML.

- `load_report(warehouse, catalogue, day)` gathers what the report shows: the `oca_fill_plan` rows
  of D (LookupError naming the dates that have plans when D has none), the `demand_forecast` of D,
  the daily watch hours per region around D from `sessions`, and — when the sessions of D+1 (the
  day the plan serves) are published — the evaluation of `batch.fill_evaluation`: the plan, an LRU
  cache of the same disk (warmed on D's requests) and the perfect-foresight oracle, replayed on
  D+1's actual requests.
- `console_summary(report)` is a rich table per region (appliances, stored, fill, evict, predicted
  offload, and plan / LRU / oracle offload when scored); `html_report(report)` is one
  self-contained page (plotly JS inline, works offline): offload per appliance, the regional
  forecast against actual viewing, bytes per action per appliance, backtest accuracy by model,
  and the biggest fills and evictions with their reasons.
- `write_report(settings, day)` does all of it for the configured warehouse and writes
  `data_dir/reports/fill-plan-D.html`.
"""

from __future__ import annotations

import datetime as dt
import html
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
from rich.console import Console
from rich.table import Table as RichTable

from batch import catalogue as catalogue_mod
from batch.fill_evaluation import FillEvaluation, evaluate_plan, load_plan, load_requests
from playpulse.config import Settings
from warehouse.base import Warehouse

__all__ = ["FillReport", "console_summary", "html_report", "load_report", "report_path", "write_report"]

_TB = 1e12
_HISTORY_DAYS = 28
_ACTION_COLORS = {"hold": "#90a4ae", "fill": "#2e7d32", "evict": "#c62828", "defer": "#f9a825"}


@dataclass(frozen=True)
class FillReport:
    """Everything the fill-plan report shows for one run date."""

    day: dt.date
    plan: pd.DataFrame
    forecast: pd.DataFrame
    actual: pd.DataFrame
    evaluation: FillEvaluation | None


def load_report(warehouse: Warehouse, catalogue: catalogue_mod.Catalogue, day: dt.date) -> FillReport:
    """The plan of `day` with its forecast, the regional actuals around it and, if possible, its score."""
    plan = load_plan(warehouse, day)
    if plan.empty:
        dates = warehouse.query(
            "SELECT DISTINCT run_date FROM oca_fill_plan ORDER BY run_date DESC LIMIT 10"
        ).column("run_date")
        known = ", ".join(str(d) for d in dates.to_pylist()) or "none yet"
        raise LookupError(
            f"no fill plan for {day}: run `playpulse batch run --date {day}` first (plans exist for: {known})"
        )
    forecast = warehouse.query(
        "SELECT region, title_id, target_date, forecast_hours, lower_hours, upper_hours, model, "
        "backtest_mase, backtest_smape, backtest_mae_hours, backtest_snaive_mae_hours "
        "FROM demand_forecast WHERE run_date = $day",
        {"day": day},
    ).to_pandas()
    actual = warehouse.query(
        "SELECT region, session_date AS date, sum(playing_ms) / 3600000.0 AS hours FROM sessions "
        "WHERE session_date BETWEEN $first AND $last GROUP BY region, session_date ORDER BY region, date",
        {"first": day - dt.timedelta(days=_HISTORY_DAYS - 1), "last": day + dt.timedelta(days=14)},
    ).to_pandas()
    served = day + dt.timedelta(days=1)
    requests = load_requests(warehouse, served)
    evaluation = None
    if not requests.empty:
        evaluation = evaluate_plan(plan, requests, catalogue, served, warmup=load_requests(warehouse, day))
    return FillReport(day, plan, forecast, actual, evaluation)


def _per_region(report: FillReport) -> pd.DataFrame:
    plan = report.plan
    stored = plan["action"].isin(["hold", "fill"])
    frame = pd.DataFrame(
        {
            "region": plan["region"],
            "oca_id": plan["oca_id"],
            "stored": plan["size_bytes"].where(stored, 0),
            "fill": plan["size_bytes"].where(plan["action"] == "fill", 0),
            "evict": plan["size_bytes"].where(plan["action"] == "evict", 0),
            "demand": plan["predicted_demand_bytes"],
            "offload": plan["predicted_offload_bytes"],
        }
    )
    out = frame.groupby("region").agg(
        appliances=("oca_id", "nunique"),
        stored=("stored", "sum"),
        fill=("fill", "sum"),
        evict=("evict", "sum"),
        demand=("demand", "sum"),
        offload=("offload", "sum"),
    )
    out["predicted_offload"] = out["offload"] / out["demand"].where(out["demand"] > 0)
    if report.evaluation is not None:
        scored = report.evaluation.per_appliance
        for name in ("plan", "lru", "oracle"):
            hit = (scored[f"{name}_offload"] * scored["bytes_requested"]).groupby(scored["region"]).sum()
            out[f"{name}_offload"] = hit / scored.groupby("region")["bytes_requested"].sum()
    return out


def console_summary(report: FillReport) -> RichTable:
    """The plan per region, with the score when the served day's sessions are published."""
    title = f"fill plan {report.day} (serves {report.day + dt.timedelta(days=1)})"
    table = RichTable(title=title)
    scored = report.evaluation is not None
    columns = ["region", "appliances", "stored TB", "fill TB", "evict TB", "predicted offload"]
    if scored:
        columns += ["plan offload", "LRU offload", "oracle offload"]
    for name in columns:
        table.add_column(name, justify="left" if name == "region" else "right")
    per_region = _per_region(report)

    def pct(value: float) -> str:
        return "–" if pd.isna(value) else f"{100 * value:.1f}%"

    for region, row in per_region.iterrows():
        cells = [
            str(region),
            f"{int(row['appliances'])}",
            f"{row['stored'] / _TB:,.2f}",
            f"{row['fill'] / _TB:,.2f}",
            f"{row['evict'] / _TB:,.2f}",
            pct(row["predicted_offload"]),
        ]
        if scored:
            cells += [pct(row["plan_offload"]), pct(row["lru_offload"]), pct(row["oracle_offload"])]
        table.add_row(*cells)
    totals = per_region.sum(numeric_only=True)
    cells = [
        "all",
        f"{int(totals['appliances'])}",
        f"{totals['stored'] / _TB:,.2f}",
        f"{totals['fill'] / _TB:,.2f}",
        f"{totals['evict'] / _TB:,.2f}",
        pct(totals["offload"] / totals["demand"] if totals["demand"] > 0 else float("nan")),
    ]
    if scored:
        ev = report.evaluation
        cells += [pct(ev.plan.offload), pct(ev.lru.offload), pct(ev.oracle.offload)]
    table.add_row(*cells, style="bold")
    return table


def _offload_figure(report: FillReport) -> go.Figure:
    fig = go.Figure()
    if report.evaluation is not None:
        scored = report.evaluation.per_appliance.sort_values(["region", "oca_id"])
        for name, label in (("plan", "fill plan"), ("lru", "LRU, same disk"), ("oracle", "oracle")):
            fig.add_bar(x=scored["oca_id"], y=100 * scored[f"{name}_offload"], name=label)
        fig.add_scatter(
            x=scored["oca_id"], y=100 * scored["predicted_offload"], mode="markers", name="predicted",
            marker={"symbol": "diamond", "color": "black"},
        )  # fmt: skip
        title = f"Offload on {report.evaluation.day}: bytes served locally ÷ bytes requested"
    else:
        per_app = report.plan.groupby("oca_id")[["predicted_offload_bytes", "predicted_demand_bytes"]].sum()
        fig.add_bar(
            x=per_app.index,
            y=100 * per_app["predicted_offload_bytes"] / per_app["predicted_demand_bytes"],
            name="predicted",
        )
        title = "Predicted offload (the served day's sessions are not published yet)"
    fig.update_layout(
        title=title, yaxis_title="offload %", barmode="group", template="plotly_white", height=420
    )
    return fig


def _forecast_figure(report: FillReport) -> go.Figure:
    fig = go.Figure()
    forecast = report.forecast.groupby(["region", "target_date"])[
        ["forecast_hours", "lower_hours", "upper_hours"]
    ].sum()
    for region in sorted(set(report.actual["region"]) | set(report.forecast["region"])):
        actual = report.actual[report.actual["region"] == region]
        fig.add_scatter(x=actual["date"], y=actual["hours"], mode="lines", name=f"{region} actual")
        if region in forecast.index.get_level_values(0):
            part = forecast.loc[region]
            fig.add_scatter(
                x=list(part.index) + list(part.index[::-1]),
                y=list(part["upper_hours"]) + list(part["lower_hours"][::-1]),
                fill="toself", opacity=0.15, line={"width": 0}, name=f"{region} 80% band", showlegend=False,
            )  # fmt: skip
            fig.add_scatter(
                x=part.index,
                y=part["forecast_hours"],
                mode="lines",
                line={"dash": "dash"},
                name=f"{region} forecast",
            )
    fig.update_layout(
        title="Watch hours per region: actual and forecast (band: sum of per-title 80% bounds)",
        yaxis_title="hours per day",
        template="plotly_white",
        height=460,
    )
    return fig


def _actions_figure(report: FillReport) -> go.Figure:
    fig = go.Figure()
    by = report.plan.groupby(["oca_id", "action"])["size_bytes"].sum().unstack(fill_value=0)
    for action, color in _ACTION_COLORS.items():
        if action in by:
            fig.add_bar(x=by.index, y=by[action] / _TB, name=action, marker_color=color)
    fig.update_layout(
        title="Bytes per action and appliance (stored tomorrow = hold + fill)",
        yaxis_title="TB",
        barmode="stack",
        template="plotly_white",
        height=420,
    )
    return fig


def _accuracy_figure(report: FillReport) -> go.Figure:
    per_series = report.forecast.dropna(subset=["backtest_mase"]).drop_duplicates(["title_id", "region"])
    fig = go.Figure()
    for model, group in per_series.groupby("model"):
        fig.add_histogram(
            x=group["backtest_mase"].clip(upper=3), name=f"{model} ({len(group)} series)", nbinsx=30
        )
    fig.add_vline(x=1, line_dash="dot", annotation_text="seasonal naive")
    fig.update_layout(
        title="Backtest MASE per series (below 1 beats the weekly seasonal naive; clipped at 3)",
        barmode="overlay",
        template="plotly_white",
        height=380,
    )
    fig.update_traces(opacity=0.6)
    return fig


def _rows_table(rows: pd.DataFrame) -> str:
    header = "<tr><th>appliance</th><th>title</th><th>GB</th><th>GB/GB</th><th>reason</th></tr>"
    body = "".join(
        f"<tr><td>{html.escape(r.oca_id)}</td><td>{html.escape(r.title_id)}</td>"
        f"<td>{r.size_bytes / 1e9:,.1f}</td><td>{r.value_per_gb / 1e9:.3f}</td>"
        f"<td>{html.escape(r.reason)}</td></tr>"
        for r in rows.itertuples()
    )
    return f"<table>{header}{body}</table>"


def html_report(report: FillReport) -> str:
    """One self-contained HTML page (plotly JS inline, no network needed)."""
    figures = [
        _offload_figure(report),
        _forecast_figure(report),
        _actions_figure(report),
        _accuracy_figure(report),
    ]
    plots = [figures[0].to_html(include_plotlyjs=True, full_html=False)]
    plots += [f.to_html(include_plotlyjs=False, full_html=False) for f in figures[1:]]
    per_region = _per_region(report).reset_index()
    summary = per_region.to_html(index=False, float_format=lambda v: f"{v:,.3g}", border=0)
    fills = report.plan[report.plan["action"] == "fill"].nlargest(30, "value_per_gb")
    evicts = report.plan[report.plan["action"] == "evict"].nlargest(30, "size_bytes")
    fc = report.forecast.drop_duplicates(["title_id", "region"]).dropna(subset=["backtest_mae_hours"])
    accuracy = ""
    if len(fc):
        rel = fc["backtest_mae_hours"].sum() / max(fc["backtest_snaive_mae_hours"].sum(), 1e-12)
        accuracy = (
            f"<p>Backtest over the last 7 days of history ({len(fc):,} series): median MASE "
            f"{fc['backtest_mase'].median():.2f}, MAE ÷ seasonal-naive MAE {rel:.2f}, median sMAPE "
            f"{fc['backtest_smape'].median():.1f}%.</p>"
        )
    score = ""
    if report.evaluation is not None:
        ev = report.evaluation
        score = (
            f"<p>On {ev.day}, {ev.plan.requests:,} requests, {ev.plan.bytes_requested / _TB:,.2f} TB: "
            f"offload plan {100 * ev.plan.offload:.1f}%, LRU {100 * ev.lru.offload:.1f}%, "
            f"oracle {100 * ev.oracle.offload:.1f}%.</p>"
        )
    day = html.escape(str(report.day))
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Fill plan {day}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; font-size: 13px; }} td, th {{ border: 1px solid #ddd; padding: 3px 6px; }}
</style></head><body>
<h1>OCA fill plan {day}</h1>
<p>Made from data up to and including {day} (UTC); filled in the following night's fill window; serves
{report.day + dt.timedelta(days=1)}.</p>
{score}{accuracy}
<h2>Per region</h2>{summary}
{"".join(plots)}
<h2>Biggest fills (by demand per GB)</h2>{_rows_table(fills)}
<h2>Biggest evictions</h2>{_rows_table(evicts)}
</body></html>
"""


def report_path(settings: Settings, day: dt.date) -> Path:
    """Where the report of `day` is written: data_dir/reports/fill-plan-D.html."""
    return settings.data_dir / "reports" / f"fill-plan-{day}.html"


def write_report(
    settings: Settings,
    day: dt.date,
    *,
    console: Console | None = None,
    output: Path | None = None,
    disk_scale: float = 1.0,
) -> Path:
    """Print the summary of `day`'s plan and write its HTML report; returns the path written."""
    from playpulse.resources import open_configured_warehouse

    catalogue = catalogue_mod.load(catalogue_mod.catalogue_dir(settings.data_dir))
    if disk_scale != 1:
        catalogue = catalogue.scaled(disk_scale)
    with open_configured_warehouse(settings, attach_lake=False) as wh:
        report = load_report(wh, catalogue, day)
    (console or Console()).print(console_summary(report))
    path = output or report_path(settings, day)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html_report(report), encoding="utf-8")
    return path
