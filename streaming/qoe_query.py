"""QoE over any time range and slice, from `qoe_minute`, without going back to raw events.

Counts and sums add up over rows; percentiles come from merging the rows' DDSketches, so VST
p50/p90/p95/p99 of a slice over an hour (or a day) are within 1% of the exact values. A slice
is chosen by its dimension values (e.g. `region="us-east", device_type="TV"`); rows are read
from the finest stored grouping set that names those dimensions (the global rows when none).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from streaming.qoe import DEFAULT_SLICES, QUANTILES, slice_name
from streaming.sketch import Sketch
from warehouse import Warehouse
from warehouse.tables import QOE_DIMENSIONS

__all__ = ["QoeSummary", "qoe_over"]


@dataclass(frozen=True)
class QoeSummary:
    attempts: int
    starts: int
    vst_ms: dict[float, float | None]
    rebuffer_ratio: float | None
    start_failure_pct: float | None
    ebvs_pct: float | None
    playback_failure_pct: float | None
    avg_bitrate_kbps: float | None
    rows: int


def _grouping_set(filters: dict[str, str], slices: tuple[tuple[str, ...], ...]) -> str:
    wanted = set(filters)
    candidates = [dims for dims in slices if wanted <= set(dims)]
    if not candidates:
        stored = [slice_name(s) for s in slices]
        raise ValueError(f"no stored slice covers {sorted(wanted)}; stored grouping sets: {stored}")
    return slice_name(min(candidates, key=len))


def qoe_over(
    wh: Warehouse,
    start: datetime,
    end: datetime,
    slices: tuple[tuple[str, ...], ...] = DEFAULT_SLICES,
    **filters: str,
) -> QoeSummary:
    """QoE of the windows starting in [start, end) for the slice given by `filters`."""
    unknown = set(filters) - set(QOE_DIMENSIONS)
    if unknown:
        raise ValueError(f"unknown dimensions {sorted(unknown)}; choose from {QOE_DIMENSIONS}")
    params: dict[str, object] = {"slice": _grouping_set(filters, slices), "start": start, "end": end}
    conditions = "".join(f" AND {d} = ${d}" for d in filters)  # names checked against QOE_DIMENSIONS
    params.update(filters)
    rows = wh.query(
        "SELECT attempts, starts, vst_sketch, playing_ms, rebuffer_ms, start_failures, ebvs, "
        "playback_failures, bitrate_kbps_ms FROM qoe_minute "
        f"WHERE slice = $slice AND window_start >= $start AND window_start < $end{conditions}",
        params,
    ).to_pylist()
    sketch = Sketch()
    for row in rows:
        if row["vst_sketch"] is not None:
            sketch = sketch + Sketch.from_bytes(row["vst_sketch"])

    def total(name: str) -> int:
        return int(sum(r[name] for r in rows))

    def share(part: str, whole: int) -> float | None:
        return 100 * total(part) / whole if whole else None

    attempts, starts = total("attempts"), total("starts")
    playing, rebuffer = total("playing_ms"), total("rebuffer_ms")
    return QoeSummary(
        attempts=attempts,
        starts=starts,
        vst_ms={q: sketch.quantile(q) for q in QUANTILES},
        rebuffer_ratio=rebuffer / (playing + rebuffer) if playing + rebuffer else None,
        start_failure_pct=share("start_failures", attempts),
        ebvs_pct=share("ebvs", attempts),
        playback_failure_pct=share("playback_failures", starts),
        avg_bitrate_kbps=total("bitrate_kbps_ms") / playing if playing else None,
        rows=len(rows),
    )
