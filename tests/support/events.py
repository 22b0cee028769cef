"""One flat event row (EVENT_SCHEMA) with plausible defaults, for tests that build events by hand."""

from __future__ import annotations

from typing import Any

from schemas.events import EVENT_SCHEMA

__all__ = ["event"]


def event(event_id: str, ts_ms: int, **fields: Any) -> dict[str, Any]:
    """One flat event (EVENT_SCHEMA) with plausible defaults."""
    row: dict[str, Any] = {f.name: None for f in EVENT_SCHEMA}
    row.update(
        event_id=event_id,
        event_type="HEARTBEAT",
        event_ts_ms=ts_ms,
        received_ts_ms=ts_ms + 40,
        user_id="p0123",
        session_id="s-1",
        seq=0,
        title_id="t-1",
        device_type="TV",
        device_os="tizen",
        app_version="8.112.0",
        region="us-east",
        country="US",
        isp="comcast",
        cdn="oca",
        oca_id="oca-7",
        fatal=False,
        experiments=[("ab-vst", "cell-b")],
    )
    row.update(fields)
    return row
