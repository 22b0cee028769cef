"""`playpulse readout TEST`: one test's published readout as a console table and an HTML report.

- `load_readout(warehouse, test_id, run_date=None)` returns the `ab_readout` rows of the test's
  latest run date (or of `run_date`), ordered engagement metrics first, control first; LookupError
  naming the tests that do have readouts when there is none.
- `console_tables(rows)` renders them for the terminal (rich), SRM status and notes included.
- `html_report(rows)` is one self-contained page (plotly's JS inline, works offline): the verdict
  (SRM, guardrail breaches, multiple comparisons), a forest plot of every metric's relative effect
  with its confidence interval per treatment cell (guardrails marked, worse-is-higher noted), a
  plot of the CUPED-adjusted against the unadjusted absolute effect, and the full table.
"""

from __future__ import annotations

import datetime as dt
import html
import math
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots
from rich.table import Table as RichTable

from warehouse.base import Warehouse

__all__ = ["console_tables", "html_report", "load_readout", "write_report"]

_ORDER = (
    "watch_time_ms",
    "sessions",
    "completion_rate",
    "retention",
    "vst_p50_ms",
    "vst_p95_ms",
    "rebuffer_ratio",
    "start_failure_rate",
)


def load_readout(warehouse: Warehouse, test_id: str, run_date: dt.date | None = None) -> list[dict[str, Any]]:
    """The readout rows of `test_id` for its latest run date up to `run_date` (default: the latest)."""
    params: dict[str, Any] = {"test": test_id}
    bound = ""
    if run_date is not None:
        bound = " AND run_date <= $day"
        params["day"] = run_date
    latest = warehouse.query(
        f"SELECT max(run_date) AS d, count(*) AS n FROM ab_readout WHERE test_id = $test{bound}", params
    ).to_pylist()[0]
    if not latest["n"]:
        tests = (
            warehouse.query("SELECT DISTINCT test_id FROM ab_readout ORDER BY test_id").column(0).to_pylist()
        )
        where = f" up to {run_date}" if run_date else ""
        raise LookupError(
            f"no readout of test {test_id!r}{where}; tests with readouts: {', '.join(tests) or 'none'} "
            "(run `playpulse batch run --date D` first)"
        )
    rows = warehouse.query(
        "SELECT * FROM ab_readout WHERE test_id = $test AND run_date = $day",
        {"test": test_id, "day": latest["d"]},
    ).to_pylist()
    rank = {m: i for i, m in enumerate(_ORDER)}
    rows.sort(key=lambda r: (rank.get(r["metric"], len(rank)), r["metric"], not r["is_control"], r["cell"]))
    return rows


def _fmt(value: Any, metric: str = "", pct: bool = False) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, str):
        return value
    if pct:
        return f"{value:+.2%}"
    if metric.endswith("_rate") or metric in ("retention", "rebuffer_ratio"):
        return f"{value:.4f}"
    if isinstance(value, float):
        return f"{value:,.1f}" if abs(value) >= 100 else f"{value:.4g}"
    return f"{value:,}"


def console_tables(rows: list[dict[str, Any]]) -> list[RichTable]:
    """The readout as rich tables: one summary line and one table of metrics."""
    first = rows[0]
    title = f"{first['test_id']} · readout of {first['run_date']} · SRM p = {first['srm_p_value']:.3g}" + (
        " · [bold red]SAMPLE RATIO MISMATCH: do not trust[/]" if first["srm_flag"] else " · allocation OK"
    )
    table = RichTable(title=title)
    for name in ("metric", "cell", "n", "value", "Δ rel", "95% CI rel", "p", "p adj", "CUPED Δ", "method"):
        table.add_column(name, justify="left" if name in ("metric", "cell", "method") else "right")
    for r in rows:
        metric = r["metric"] + (" (guardrail)" if r["is_guardrail"] else "")
        ci = (
            ""
            if r["is_control"]
            else f"[{_fmt(r['ci_low_rel'], pct=True)}, {_fmt(r['ci_high_rel'], pct=True)}]"
        )
        style = "bold red" if r["notes"] and "guardrail breach" in r["notes"] else None
        table.add_row(
            metric,
            r["cell"] + (" (control)" if r["is_control"] else ""),
            _fmt(r["n"]),
            _fmt(r["mean"], r["metric"]),
            "" if r["is_control"] else _fmt(r["delta_rel"], pct=True),
            ci,
            "" if r["is_control"] else _fmt(r["p_value"]),
            "" if r["is_control"] else _fmt(r["p_value_adjusted"]),
            "" if r["is_control"] else _fmt(r["cuped_delta_abs"], r["metric"]),
            r["method"],
            style=style,
        )
    return [table]


def _effects_figure(rows: list[dict[str, Any]]) -> go.Figure:
    treatments = [r for r in rows if not r["is_control"]]
    cells = sorted({r["cell"] for r in treatments})
    metrics = [m for m in _ORDER if any(r["metric"] == m for r in treatments)]
    metrics += sorted({r["metric"] for r in treatments} - set(metrics))
    labels = {
        m: m + (" ⚑" if any(r["is_guardrail"] for r in treatments if r["metric"] == m) else "")
        for m in metrics
    }
    fig = go.Figure()
    for cell in cells:
        data = [r for r in treatments if r["cell"] == cell and r["delta_rel"] is not None]
        data = [r for r in data if not math.isnan(r["delta_rel"])]
        fig.add_trace(
            go.Scatter(
                x=[100 * r["delta_rel"] for r in data],
                y=[labels[r["metric"]] for r in data],
                mode="markers",
                name=cell,
                marker={"size": 10},
                error_x={
                    "type": "data",
                    "symmetric": False,
                    "array": [100 * (r["ci_high_rel"] - r["delta_rel"]) for r in data],
                    "arrayminus": [100 * (r["delta_rel"] - r["ci_low_rel"]) for r in data],
                },
                customdata=[[r["p_value"], r["n"]] for r in data],
                hovertemplate="%{y}: %{x:.2f}% (p = %{customdata[0]:.3g}, n = %{customdata[1]})<extra>"
                + cell
                + "</extra>",
            )
        )
    fig.add_vline(x=0, line_dash="dash", line_color="gray")
    fig.update_layout(
        title="Relative effect vs control with 95% CI (⚑ guardrail: higher is worse)",
        xaxis_title="relative difference, %",
        yaxis={"categoryorder": "array", "categoryarray": [labels[m] for m in reversed(metrics)]},
        height=120 + 60 * len(metrics),
        template="plotly_white",
    )
    return fig


def _cuped_figure(rows: list[dict[str, Any]]) -> go.Figure | None:
    data = [r for r in rows if not r["is_control"] and r["cuped_delta_abs"] is not None]
    if not data:
        return None
    metrics = sorted({r["metric"] for r in data})
    fig = make_subplots(rows=1, cols=len(metrics), subplot_titles=metrics)
    for i, metric in enumerate(metrics, start=1):
        for r in [r for r in data if r["metric"] == metric]:
            for label, value, low, high in (
                ("unadjusted", r["delta_abs"], r["ci_low_abs"], r["ci_high_abs"]),
                ("CUPED", r["cuped_delta_abs"], r["cuped_ci_low_abs"], r["cuped_ci_high_abs"]),
            ):
                fig.add_trace(
                    go.Scatter(
                        x=[f"{r['cell']} {label}"],
                        y=[value],
                        mode="markers",
                        name=label,
                        showlegend=i == 1,
                        legendgroup=label,
                        marker={"size": 10, "color": "#636efa" if label == "CUPED" else "#aaaaaa"},
                        error_y={
                            "type": "data",
                            "symmetric": False,
                            "array": [high - value],
                            "arrayminus": [value - low],
                        },
                    ),
                    row=1,
                    col=i,
                )
        fig.add_hline(y=0, line_dash="dash", line_color="gray", row=1, col=i)
    fig.update_layout(
        title="Absolute effect with and without CUPED (pre-period covariate), 95% CI",
        template="plotly_white",
        height=420,
    )
    return fig


def html_report(rows: list[dict[str, Any]], confidence: float = 0.95) -> str:
    """A self-contained HTML page of the readout (plotly JS inline, no network needed)."""
    first = rows[0]
    test, day = html.escape(first["test_id"]), html.escape(str(first["run_date"]))
    srm_p = f"{first['srm_p_value']:.3g}"
    verdict = (
        f'<p class="bad">Sample ratio mismatch (χ² p = {srm_p}): the allocation is broken, '
        "do not trust this readout.</p>"
        if first["srm_flag"]
        else f'<p class="ok">Allocation matches the planned split (SRM χ² p = {srm_p}).</p>'
    )
    notes = sorted({n for r in rows if r["notes"] for n in r["notes"].split("; ")})
    breaches = [r for r in rows if r["notes"] and "guardrail breach" in r["notes"]]
    if breaches:
        verdict += (
            '<p class="bad">Guardrail breach: '
            + ", ".join(html.escape(f"{r['metric']} ({r['cell']})") for r in breaches)
            + "</p>"
        )
    figures = [_effects_figure(rows)]
    cuped_figure = _cuped_figure(rows)
    if cuped_figure is not None:
        figures.append(cuped_figure)
    plots = [figures[0].to_html(include_plotlyjs=True, full_html=False)]
    plots += [f.to_html(include_plotlyjs=False, full_html=False) for f in figures[1:]]
    columns = [
        "metric",
        "cell",
        "n",
        "mean",
        "delta_abs",
        "ci_low_abs",
        "ci_high_abs",
        "delta_rel",
        "ci_low_rel",
        "ci_high_rel",
        "p_value",
        "p_value_adjusted",
        "cuped_delta_abs",
        "cuped_ci_low_abs",
        "cuped_ci_high_abs",
        "method",
    ]
    header = "".join(f"<th>{c}</th>" for c in columns)
    body = []
    for r in rows:
        cells = []
        for c in columns:
            value = r[c]
            text = _fmt(value, "" if c == "n" else r["metric"], pct=c.endswith("_rel") and value is not None)
            if c in ("metric",) and r["is_guardrail"]:
                text += " ⚑"
            if c == "cell" and r["is_control"]:
                text += " (control)"
            cells.append(f"<td>{html.escape(str(text))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    note_list = "".join(f"<li>{html.escape(n)}</li>" for n in notes)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Readout {test} · {day}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; font-size: 13px; }} td, th {{ border: 1px solid #ddd; padding: 3px 6px; }}
td {{ text-align: right; }} td:nth-child(-n+2) {{ text-align: left; }}
.bad {{ color: #b00020; font-weight: 600; }} .ok {{ color: #1b5e20; }}
</style></head><body>
<h1>A/B readout: {test}</h1>
<p>Data up to and including {day} (UTC). Unit: member. Intervals: {confidence:.0%} confidence
(bootstrap for quantiles).</p>
{verdict}
{"".join(plots)}
<h2>Notes</h2><ul>{note_list}</ul>
<h2>All figures</h2>
<table><thead><tr>{header}</tr></thead><tbody>{"".join(body)}</tbody></table>
</body></html>
"""


def write_report(rows: list[dict[str, Any]], directory: Path, confidence: float = 0.95) -> Path:
    """Write the HTML report as `<directory>/<test>-<run date>.html` and return its path."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{rows[0]['test_id']}-{rows[0]['run_date']}.html"
    path.write_text(html_report(rows, confidence), encoding="utf-8")
    return path
