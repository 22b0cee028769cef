"""Alert quality: recall, precision, time to detect and false alerts per clean day, against a
plain static-threshold baseline, on the same simulated traffic (`make bench-alerts`).

The simulator runs over `PLAYPULSE_BENCH_ALERTS_DAYS` simulated days (default 6; 50,000 members ×
`PLAYPULSE_BENCH_SCALE`, 8 sessions each a day): the first day only warms the baselines (as the
app warms them from the warehouse), the next `PLAYPULSE_BENCH_ALERTS_CLEAN_DAYS` (2) are clean
traffic, and the rest carry many injected incidents (`random_incidents`: startup,
rebuffer and errors; small, medium and large; on OCAs, ISPs, regions, CDNs, countries and device
types). The detectors are fed the closed windows the QoE aggregator (`streaming.qoe`) computes
from the simulated events directly, without the broker and the faust app (the same windows the
QoE job writes to qoe.minute; the app merges them over source partitions into the same frames),
so days of traffic run in minutes. Every rule set runs on exactly the same frames:

- `des` — the shipped rules (`alerts/rules.toml`): static SLOs plus anomaly rules with the
  double-exponential-smoothing baseline, roll-up on;
- `seasonal` — the same anomaly rules with the seasonal baseline (median of the same 15-minute
  bucket of the previous days);
- `static` — a plain static-threshold baseline: one fixed line per metric for every slice, set
  at 1.5 × the 99.5th percentile of the slices' values on the warm-up day (what an operator would
  draw after a day of normal traffic; never below the issue's SLO examples), same min volume and
  for-duration, no roll-up.

Scoring. An alert *names* an incident when its slice is the incident's slice; it *matches* an
incident when it fires during [start, end + 5 windows) and names it or lists it among the slices
it rolled up. Recall counts incidents named by an alert fired within the incident (+2 windows),
or by one still firing on that slice from an earlier incident (time to detect 0);
`recall_visible` only incidents that move their metric by a clearly visible amount: the metric of
the incident's kind (VST p95, rebuffer ratio, start failure %) on the incident's slice, over its
first two windows, is ≥ 1.5× its value in the hour before (and ≥ +1 point for failures), with at
least the rules' minimum volume in those windows. Precision = alerts that match an incident /
alerts fired on incident days; false alerts per clean day = alerts fired on clean days / clean
days. Time to detect = fire time (end of the window that fired it) − incident start.
The figures also go to `bench/results/alerts.html` as bar charts (plotly, offline).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from alerts.engine import AlertEngine
from alerts.frames import WindowFrame, frame_from_table
from alerts.lifecycle import Alert
from alerts.metrics import METRICS
from alerts.rules import RuleSet, load_rules, parse_rules
from bench.common import scaled, timed, write_results
from ingest.simulator import SimulationConfig, Simulator, random_incidents
from streaming.qoe import QoeAggregator
from streaming.windows import WINDOW_MS, PartitionWindows

__all__ = ["main", "score", "simulated_frames"]

_DAY_MS = 86_400_000
_KIND_METRIC = {"startup": "vst_p95_ms", "rebuffer": "rebuffer_ratio", "errors": "start_failure_pct"}


def _config(days: int, users: int, seed: int, incidents: tuple = ()) -> SimulationConfig:
    return SimulationConfig(
        seed=seed,
        users=users,
        days=days,
        sessions_per_user_per_day=float(os.environ.get("PLAYPULSE_BENCH_ALERTS_SESSIONS", "8")),
        heartbeat_interval_s=600,  # QoE metrics do not depend on it; far fewer events to simulate
        late_fraction=0.0,
        experiments=(),
        incidents=incidents,
    )


def simulated_frames(config: SimulationConfig, progress: bool = True) -> Iterator[WindowFrame]:
    """Closed windows of the simulated traffic, merged per slice, in event-time order."""
    simulator = Simulator(config)
    aggregator = QoeAggregator()
    windows = PartitionWindows(0)
    offset = 0
    total = config.end_ms - config.start_ms
    columns = [
        "slice", "region", "country", "device_type", "isp", "cdn", "oca_id", "title_id", "attempts", "starts",
        "playing_ms", "rebuffer_ms", "rebuffers", "start_failures", "ebvs", "playback_failures", "vst_sketch",
        "vst_p50_ms", "vst_p90_ms", "vst_p95_ms", "vst_p99_ms",
    ]  # fmt: skip

    def frames(closed: list[int]) -> Iterator[WindowFrame]:
        rows = aggregator.emit([(0, w) for w in closed], provisional=False, emitted_at_ms=0, drop=True)
        starts = pc.cast(pc.cast(rows["window_start"], pa.timestamp("ms")), pa.int64()).to_numpy()
        order = np.argsort(starts, kind="stable")
        table = rows.select(columns).take(pa.array(order))
        starts = starts[order]
        for w in closed:
            lo, hi = np.searchsorted(starts, [w, w + 1])
            yield frame_from_table(w, table.slice(int(lo), int(hi - lo)))

    with Progress(
        TextColumn("[bold]simulate → QoE windows"),
        BarColumn(),
        TextColumn("{task.fields[events]:>12,} events"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        disable=not progress,
    ) as bar:
        task = bar.add_task("", total=total, events=0)
        events = 0
        for batch in simulator.event_batches(batch_rows=200_000):
            table = pa.Table.from_batches([batch])
            n = table.num_rows
            ts = table["event_ts_ms"].to_numpy()
            assigned = windows.assign(ts, np.arange(offset, offset + n))
            offset += n
            events += n
            aggregator.add(table, np.zeros(n, np.int32), assigned)
            closed = [w for w in windows.close() if w < config.end_ms]
            if closed:
                yield from frames(closed)
            bar.update(task, completed=min(int(ts[-1]), config.end_ms) - config.start_ms, events=events)


@dataclass
class Run:
    name: str
    engine: AlertEngine
    fired: list[Alert] = field(default_factory=list)
    finished: dict[str, Alert] = field(default_factory=dict)


def _slice_of(incident: dict[str, Any]) -> str:
    return f"{incident['dimension']}={incident['value']}"


def visible(
    incident: dict[str, Any], frames_by_window: dict[int, dict[str, dict[str, float]]], min_volume: float
) -> bool:
    """Does the incident move its metric on its slice by a clearly visible amount (see the docstring)?"""
    from alerts.metrics import METRICS

    metric = METRICS[_KIND_METRIC[incident["kind"]]]
    key = _slice_of(incident)

    def pooled(starts: list[int]) -> tuple[float, float]:
        values, volumes = [], []
        for w in starts:
            row = frames_by_window.get(w, {}).get(key)
            if row is None:
                continue
            values.append(row[metric.name])
            volumes.append(row[f"{metric.name}_volume"])
        if not values or not np.isfinite(values).any():
            return float("nan"), 0.0
        weights = np.array(volumes)
        vals = np.array(values)
        ok = np.isfinite(vals)
        if weights[ok].sum() == 0:
            return float("nan"), 0.0
        return float(np.average(vals[ok], weights=weights[ok])), float(weights[ok].min(initial=np.inf))

    start = incident["start_ms"]
    before, _ = pooled([start - k * WINDOW_MS for k in range(1, 61)])
    during, volume = pooled([start, start + WINDOW_MS])
    if not (np.isfinite(before) and np.isfinite(during)) or volume < min_volume:
        return False
    if metric.scale == "proportion":
        return during >= 1.5 * before and during - before >= 1.0
    return during >= 1.5 * before


def score(
    run: Run, incidents: list[dict[str, Any]], visible_ids: set[str], clean_days: float, clean_end_ms: int
) -> dict[str, Any]:
    """Recall, precision, time to detect and false alerts per clean day of one rule set's alerts."""
    alerts = run.fired
    named_ttd: dict[str, float] = {}
    for incident in incidents:
        key = _slice_of(incident)
        hits = [
            a for a in alerts
            if a.slice == key
            and incident["start_ms"] <= (a.fired_ms or 0) <= incident["end_ms"] + 2 * WINDOW_MS
            and a.started_ms >= incident["start_ms"] - WINDOW_MS
        ]  # fmt: skip
        # An alert on the slice still firing from an earlier incident covers this one (detected at once).
        covering = [
            a for a in alerts
            if a.slice == key and (a.fired_ms or 0) < incident["start_ms"]
            and (run.finished.get(a.incident_id, a).ended_ms or 2**62) > incident["start_ms"] + 2 * WINDOW_MS
        ]  # fmt: skip
        if hits:
            named_ttd[incident["incident_id"]] = (
                min(a.fired_ms or 0 for a in hits) - incident["start_ms"]
            ) / 60_000
        elif covering:
            named_ttd[incident["incident_id"]] = 0.0

    def matches(alert: Alert) -> bool:
        final = run.finished.get(alert.incident_id, alert)
        names = {alert.slice, *final.affected}
        fired = alert.fired_ms or 0
        return any(
            inc["start_ms"] <= fired < inc["end_ms"] + 5 * WINDOW_MS and _slice_of(inc) in names
            for inc in incidents
        )

    incident_day_alerts = [a for a in alerts if (a.fired_ms or 0) >= clean_end_ms]
    clean_alerts = [a for a in alerts if (a.fired_ms or 0) < clean_end_ms]
    true_alerts = sum(1 for a in incident_day_alerts if matches(a))
    ttd = np.array(list(named_ttd.values()))
    visible_hit = [i for i in visible_ids if i in named_ttd]
    within_two = sum(1 for i in visible_ids if named_ttd.get(i, np.inf) <= 2)
    return {
        f"{run.name}_recall": round(len(named_ttd) / max(len(incidents), 1), 3),
        f"{run.name}_recall_visible": round(len(visible_hit) / max(len(visible_ids), 1), 3),
        f"{run.name}_recall_visible_within_2_windows": round(within_two / max(len(visible_ids), 1), 3),
        f"{run.name}_precision": round(true_alerts / max(len(incident_day_alerts), 1), 3),
        f"{run.name}_ttd_p50_min": float(np.percentile(ttd, 50)) if ttd.size else None,
        f"{run.name}_ttd_p95_min": float(np.percentile(ttd, 95)) if ttd.size else None,
        f"{run.name}_false_alerts_per_clean_day": round(len(clean_alerts) / clean_days, 2),
        f"{run.name}_alerts": len(alerts),
        f"{run.name}_false_alerts_clean_days": [f"{a.rule} {a.slice} {a.started_at}" for a in clean_alerts][
            :20
        ],
    }


STATIC_METRICS = ("vst_p95_ms", "rebuffer_ratio", "start_failure_pct", "playback_failure_pct")


def static_rules(lines: dict[str, float]) -> RuleSet:
    """The plain static-threshold baseline: one fixed line per metric for every slice, no roll-up."""
    common = {"min_volume": 25, "for_windows": 2, "resolve_windows": 3, "rollup": False, "kind": "threshold"}
    return parse_rules(
        {
            "version": 1,
            "rules": [
                {**common, "name": f"{m}_static", "metric": m, "above": lines[m]} for m in STATIC_METRICS
            ],
        },
        "static baseline",
    )


#: The SLO examples of the issue (VST p95 > 2 s, rebuffer ratio > 0.5%, failures > 1%): the lowest lines.
SLO_FLOORS = {
    "vst_p95_ms": 2000.0,
    "rebuffer_ratio": 0.005,
    "start_failure_pct": 1.0,
    "playback_failure_pct": 1.0,
}


def static_lines(values: dict[str, list[np.ndarray]]) -> dict[str, float]:
    """Each metric's line: 1.5 × the 99.5th percentile of its per-slice values (volume ≥ 25) over
    the warm-up day, i.e. what an operator would set after looking at a day of normal traffic,
    and never below the SLO examples of the issue."""
    return {
        m: round(max(SLO_FLOORS[m], 1.5 * float(np.percentile(np.concatenate(values[m]), 99.5))), 6)
        for m in STATIC_METRICS
    }


def seasonal_rules(rules: RuleSet) -> RuleSet:
    document = rules.model_dump(mode="python", exclude={"source"})
    document["rules"] = list(document["rules"])
    for rule in document["rules"]:
        if rule["kind"] == "anomaly":
            rule["detector"] = "seasonal"
    return parse_rules(document, "seasonal variant")


def write_page(figures: dict[str, Any], path: Path) -> Path:
    """The figures as an offline HTML page (plotly.js embedded): quality per rule set side by side."""
    from plotly.subplots import make_subplots

    names = [n for n in ("des", "seasonal", "static") if f"{n}_recall" in figures]
    panels = [
        ("recall (visible incidents)", "recall_visible"),
        ("recall within 2 windows", "recall_visible_within_2_windows"),
        ("precision", "precision"),
        ("false alerts per clean day", "false_alerts_per_clean_day"),
        ("time to detect p50 / p95 (min)", None),
    ]
    fig = make_subplots(rows=1, cols=len(panels), subplot_titles=[t for t, _ in panels])
    for col, (_, key) in enumerate(panels, start=1):
        if key is None:
            for q in ("p50", "p95"):
                ttd = [figures.get(f"{n}_ttd_{q}_min") for n in names]
                fig.add_bar(x=names, y=ttd, name=q, row=1, col=col)
        else:
            fig.add_bar(x=names, y=[figures[f"{n}_{key}"] for n in names], showlegend=False, row=1, col=col)
    fig.update_layout(
        title=f"alert quality: {figures['incidents']} incidents "
        f"({figures['incidents_visible']} clearly visible), {figures['clean_days']} clean days, "
        f"{figures['users']:,} members",
        height=420,
        width=1500,
    )
    path.write_text(fig.to_html(include_plotlyjs=True, full_html=True))
    return path


def main() -> None:
    days = int(os.environ.get("PLAYPULSE_BENCH_ALERTS_DAYS", "6"))
    clean_days = int(os.environ.get("PLAYPULSE_BENCH_ALERTS_CLEAN_DAYS", "2"))
    users = scaled(50_000)
    seed = 5
    if days < clean_days + 2:
        raise SystemExit(
            f"PLAYPULSE_BENCH_ALERTS_DAYS ({days}) must be at least CLEAN_DAYS + 2 ({clean_days + 2})"
        )
    probe = Simulator(_config(days, users, seed))
    start = probe.config.start_ms
    clean_end = start + (1 + clean_days) * _DAY_MS
    count = int(os.environ.get("PLAYPULSE_BENCH_ALERTS_INCIDENTS", str(12 * (days - 1 - clean_days))))
    incidents = random_incidents(
        probe.world, seed=seed, start_ms=clean_end, end_ms=probe.config.end_ms, count=count
    )
    config = _config(days, users, seed, incidents)
    truth = [i.to_dict() for i in incidents]
    shipped = load_rules()
    runs = [Run("des", AlertEngine(shipped)), Run("seasonal", AlertEngine(seasonal_rules(shipped)))]
    normal: dict[str, list[np.ndarray]] = {m: [] for m in STATIC_METRICS}
    lines: dict[str, float] = {}
    warm_end = start + _DAY_MS
    by_window: dict[int, dict[str, dict[str, float]]] = {}
    incident_keys = {_slice_of(i) for i in truth}
    frames = 0
    with timed() as elapsed:
        for frame in simulated_frames(config):
            frames += 1
            keep: dict[str, dict[str, float]] = {}
            for metric_name in set(_KIND_METRIC.values()):
                values = METRICS[metric_name].values(frame)
                for i, key in enumerate(frame.slices):
                    if key in incident_keys:
                        keep.setdefault(key, {})[metric_name] = float(values.value[i])
                        keep[key][f"{metric_name}_volume"] = float(values.volume[i])
            by_window[frame.window_start_ms] = keep
            if frame.window_start_ms < warm_end:
                for metric_name in STATIC_METRICS:
                    values = METRICS[metric_name].values(frame)
                    ok = np.isfinite(values.value) & (values.volume >= 25)
                    normal[metric_name].append(values.value[ok])
            elif not lines:
                lines = static_lines(normal)
                runs.append(Run("static", AlertEngine(static_rules(lines))))
            for run in runs:
                if frame.window_start_ms < warm_end:
                    run.engine.warm(frame)
                    continue
                for event in run.engine.evaluate(frame):
                    if event.kind == "firing":
                        run.fired.append(event.alert)
                    if event.kind in ("resolved", "firing", "update"):
                        run.finished[event.alert.incident_id] = event.alert
    min_volume = 25.0
    visible_ids = {i["incident_id"] for i in truth if visible(i, by_window, min_volume)}
    figures: dict[str, Any] = {
        **{f"static_line_{m}": v for m, v in lines.items()},
        "days": days,
        "clean_days": clean_days,
        "warmup_days": 1,
        "users": users,
        "incidents": len(truth),
        "incidents_visible": len(visible_ids),
        "windows": frames,
        "seconds": round(elapsed["s"], 1),
    }
    for run in runs:
        figures.update(score(run, truth, visible_ids, clean_days, clean_end))
    for name in ("recall_visible", "precision", "false_alerts_per_clean_day"):
        des, static = figures[f"des_{name}"], figures[f"static_{name}"]
        figures[f"ratio_{name}_des_vs_static"] = round(des / static, 2) if static else None
    figures["missed_visible"] = [
        f"{i['incident_id']} {i['kind']} {i['size']} {_slice_of(i)}"
        for i in truth
        if i["incident_id"] in visible_ids
        and not any(
            a.slice == _slice_of(i) and i["start_ms"] <= (a.fired_ms or 0) <= i["end_ms"] + 2 * WINDOW_MS
            for a in runs[0].fired
        )
    ]
    result = write_results("alerts", figures)
    print(f"page: {write_page(figures, result.with_suffix('.html'))}")


if __name__ == "__main__":
    main()
