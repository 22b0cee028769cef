"""Wire formats of alert events: the qoe.alerts topic, the warehouse `alerts` table and the four
notifier APIs. Pure functions from `AlertEvent` to JSON-ready values (no I/O).

- `to_record`: the qoe.alerts message (and the generic webhook's `alert`): every field of the
  alert — slice and its dimensions, state, start/fire/end times (ISO 8601 UTC), observed value,
  baseline, threshold, score, volume, the slices rolled up into it, and a readable message.
- `to_webhook`: `{"version": "1", "source": "playpulse", "event": kind, "alert": to_record(…)}`.
- `to_slack`: a Slack incoming-webhook body (`text` plus one colored attachment with fields).
- `to_alertmanager`: the list body of Alertmanager's `POST /api/v2/alerts` (labels, annotations,
  `startsAt`, and `endsAt` once resolved); Alertmanager's own fingerprint of the labels
  (alertname + slice) deduplicates like ours.
- `to_pagerduty`: a PagerDuty Events API v2 event, `trigger` or `resolve`, `dedup_key` = the
  incident id so the resolve closes the incident the trigger opened.
- `to_row`: the warehouse `alerts` row (one row per incident, rewritten on every change).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from alerts.frames import dimension_of, slice_dimensions
from alerts.lifecycle import Alert, AlertEvent
from streaming.windows import WINDOW_MS

__all__ = [
    "FORMAT_VERSION",
    "alert_from_row",
    "to_alertmanager",
    "to_pagerduty",
    "to_record",
    "to_row",
    "to_slack",
    "to_webhook",
]

FORMAT_VERSION = "1"
_SLACK_COLORS = {"firing": "#d93025", "resolved": "#188038", "pending": "#f9ab00", "cancelled": "#9aa0a6"}
_PAGERDUTY_SEVERITY = {"critical": "critical", "warning": "warning", "info": "info"}


def _num(value: float | None) -> float | None:
    if value is None or value != value or value in (float("inf"), float("-inf")):
        return None
    return round(float(value), 6)


def to_record(event: AlertEvent) -> dict[str, Any]:
    a = event.alert
    return {
        "event": event.kind,
        "incident_id": a.incident_id,
        "dedup_key": a.dedup_key,
        "rule": a.rule,
        "kind": a.kind,
        "metric": a.metric,
        "severity": a.severity,
        "state": a.state,
        "slice": a.slice,
        "dimension": dimension_of(a.slice),
        "dimensions": slice_dimensions(a.slice),
        "started_at": a.started_at,
        "fired_at": a.fired_at,
        "ended_at": a.ended_at,
        "window_start": datetime.fromtimestamp(a.last_window_ms / 1000, UTC)
        .isoformat()
        .replace("+00:00", "Z"),
        "observed": _num(a.observed),
        "baseline": _num(a.baseline),
        "threshold": _num(a.threshold),
        "score": _num(a.score),
        "volume": _num(a.volume),
        "affected": list(a.affected),
        "breaching_windows": a.breaching_windows,
        "description": a.description,
        "message": a.message(),
    }


def to_webhook(event: AlertEvent) -> dict[str, Any]:
    return {"version": FORMAT_VERSION, "source": "playpulse", "event": event.kind, "alert": to_record(event)}


def to_slack(event: AlertEvent) -> dict[str, Any]:
    a = event.alert
    record = to_record(event)
    fields = [
        {"title": "Slice", "value": a.slice, "short": True},
        {"title": "Metric", "value": a.metric, "short": True},
        {"title": "Observed", "value": str(record["observed"]), "short": True},
        {"title": "Baseline", "value": str(record["baseline"]), "short": True},
        {"title": "Threshold", "value": str(record["threshold"]), "short": True},
        {"title": "Started", "value": a.started_at, "short": True},
    ]
    if a.ended_at:
        fields.append({"title": "Ended", "value": a.ended_at, "short": True})
    if a.affected:
        fields.append({"title": "Also affected", "value": ", ".join(a.affected[:20]), "short": False})
    return {
        "text": a.message(),
        "attachments": [
            {
                "color": _SLACK_COLORS.get(a.state, "#9aa0a6"),
                "title": f"{a.rule} {a.state} on {a.slice}",
                "fields": fields,
                "footer": f"playpulse · {a.severity} · incident {a.incident_id}",
            }
        ],
    }


def to_alertmanager(event: AlertEvent, generator_url: str = "") -> list[dict[str, Any]]:
    a = event.alert
    labels = {
        "alertname": a.rule,
        "severity": a.severity,
        "metric": a.metric,
        "slice": a.slice,
        "source": "playpulse",
        **{f"dim_{k}": v for k, v in slice_dimensions(a.slice).items()},
    }
    record = to_record(event)
    annotations = {
        "summary": a.message(),
        "description": a.description,
        "observed": str(record["observed"]),
        "baseline": str(record["baseline"]),
        "threshold": str(record["threshold"]),
        "incident_id": a.incident_id,
    }
    alert: dict[str, Any] = {"labels": labels, "annotations": annotations, "startsAt": a.started_at}
    if a.state == "resolved" and a.ended_at:
        alert["endsAt"] = a.ended_at
    if generator_url:
        alert["generatorURL"] = generator_url
    return [alert]


def to_pagerduty(event: AlertEvent, routing_key: str) -> dict[str, Any]:
    a = event.alert
    if a.state == "resolved":
        return {"routing_key": routing_key, "event_action": "resolve", "dedup_key": a.incident_id}
    record = to_record(event)
    return {
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": a.incident_id,
        "payload": {
            "summary": a.message()[:1024],
            "source": a.slice,
            "severity": _PAGERDUTY_SEVERITY.get(a.severity, "warning"),
            "timestamp": a.fired_at or a.started_at,
            "component": a.slice,
            "group": dimension_of(a.slice),
            "class": a.metric,
            "custom_details": {
                k: record[k] for k in ("observed", "baseline", "threshold", "affected", "rule")
            },
        },
    }


def _ts(ms: int | None) -> datetime | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, UTC)


def to_row(event: AlertEvent, updated_ms: int) -> dict[str, Any]:
    a = event.alert
    return {
        "fingerprint": a.incident_id,
        "dedup_key": a.dedup_key,
        "rule": a.rule,
        "metric": a.metric,
        "slice": a.slice,
        "state": a.state,
        "severity": a.severity,
        "started_at": _ts(a.started_ms),
        "fired_at": _ts(a.fired_ms),
        "ended_at": _ts(a.ended_ms),
        "last_window": _ts(a.last_window_ms),
        "observed": _num(a.observed) if _num(a.observed) is not None else 0.0,
        "baseline": _num(a.baseline),
        "threshold": _num(a.threshold),
        "affected": ",".join(a.affected),
        "message": a.message(),
        "updated_at": _ts(updated_ms),
    }


def alert_from_row(row: dict[str, Any], kind: str) -> Alert:
    """An open alert back from its warehouse row (to resume its lifecycle after a restart)."""

    def ms(value: datetime | None) -> int | None:
        return None if value is None else int(value.timestamp() * 1000)

    last = ms(row.get("last_window")) or ms(row["started_at"]) or 0
    return Alert(
        rule=row["rule"],
        metric=row["metric"],
        kind=kind,
        severity=row["severity"],
        slice=row["slice"],
        started_ms=ms(row["started_at"]) or 0,
        state=row["state"],
        fired_ms=ms(row.get("fired_at")),
        last_window_ms=last,
        last_breach_ms=last,
        observed=row["observed"],
        baseline=row.get("baseline"),
        threshold=row.get("threshold"),
        affected=tuple(x for x in (row.get("affected") or "").split(",") if x),
        breaching_windows=max(1, (last - (ms(row["started_at"]) or last)) // WINDOW_MS + 1),
        streak=1,
    )
