"""Collecting qoe.minute records into closed windows, and merging them over source partitions."""

from __future__ import annotations

import base64
from typing import Any

import numpy as np

from alerts.frames import frame_from_rows, slice_key
from alerts.merge import WindowMerger
from streaming.sketch import Sketch

W = 60_000
T0 = 1_736_121_600_000


def _row(
    window: int,
    source: int,
    emitted: int,
    *,
    provisional: bool = False,
    attempts: int = 5,
    slice_: str = "all",
    sketch: Sketch | None = None,
    **dims: str,
) -> dict[str, Any]:
    values = {
        d: dims.get(d, "*") for d in ("region", "country", "device_type", "isp", "cdn", "oca_id", "title_id")
    }
    return {
        "window_start": window, "slice": slice_, **values, "source_partition": source, "attempts": attempts,
        "starts": attempts, "playing_ms": 1000, "rebuffer_ms": 10, "rebuffers": 1, "start_failures": 0,
        "ebvs": 0, "playback_failures": 0,
        "vst_sketch": None if sketch is None else base64.b64encode(sketch.to_bytes()).decode(),
        "vst_p50_ms": None, "vst_p90_ms": None, "vst_p95_ms": None, "vst_p99_ms": None,
        "provisional": provisional, "emitted_at": emitted,
    }  # fmt: skip


def _add(merger: WindowMerger, row: dict[str, Any], now: float, via: int = 0) -> None:
    key = f"{row['window_start']}|{row['slice']}|{row['source_partition']}|{row.get('oca_id')}"
    merger.add(key, row, now, via)


def test_a_window_waits_for_every_source_partition_then_the_final_row_replaces_the_provisional() -> None:
    merger = WindowMerger(grace_s=30, expected_sources=2)
    _add(merger, _row(T0, 0, 100, provisional=True, attempts=1), 0.0)
    _add(merger, _row(T0, 0, 200, attempts=5), 1.0)
    _add(merger, _row(T0 + W, 0, 300, provisional=True), 1.5)  # source 0 wrote again after closing T0
    assert merger.ready(2.0) == []  # source 1 not heard from yet
    _add(merger, _row(T0, 1, 250, attempts=7), 2.0)
    assert merger.ready(2.5) == []  # source 1 closed T0, but nothing of it written later has arrived
    _add(merger, _row(T0 + W, 1, 350, provisional=True), 3.0)
    assert merger.ready(3.5) == [T0]
    rows = merger.pop(T0)
    assert sorted(r["attempts"] for r in rows) == [5, 7]
    # a straggler of an already judged window is counted, never judged again
    _add(merger, _row(T0, 1, 260, attempts=1), 4.0)
    assert merger.late_rows == 1 and T0 not in merger.rows


def test_a_quiet_topic_releases_the_windows_after_the_grace() -> None:
    merger = WindowMerger(grace_s=5, expected_sources=3)
    _add(merger, _row(T0, 0, 100), 0.0)
    assert merger.ready(1.0) == []
    assert merger.ready(6.0) == [T0]


def test_a_backlog_partition_still_sending_is_waited_for_however_far_others_are() -> None:
    merger = WindowMerger(grace_s=5, expected_sources=2, idle_windows=100)
    for i in range(20):
        _add(merger, _row(T0 + i * W, 0, 100 + i), float(i), via=0)
        _add(merger, _row(T0, 1, 50, provisional=True), float(i), via=1)  # source 1 lags, but talks
    assert merger.ready(20.0) == []


def test_frames_add_counts_and_merge_sketches_over_source_partitions() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.lognormal(7, 0.5, 300), rng.lognormal(7.5, 0.5, 200)
    rows = [
        _row(T0, 0, 1, attempts=3, slice_="oca_id", sketch=Sketch.of(a), oca_id="oca-1"),
        _row(T0, 1, 1, attempts=4, slice_="oca_id", sketch=Sketch.of(b), oca_id="oca-1"),
        _row(T0, 0, 1, attempts=2, slice_="oca_id", oca_id=""),  # traffic not served by an OCA
        _row(T0, 0, 1, attempts=9),
    ]
    frame = frame_from_rows(T0, rows)
    assert frame.slices == ("all", "oca_id=oca-1")
    assert frame.row("oca_id=oca-1")["attempts"] == 7
    expected = Sketch.of(np.concatenate([a, b])).quantile(0.95)
    assert frame.row("oca_id=oca-1")["vst_p95_ms"] == expected
    assert (
        slice_key("region,device_type", {"region": "us-east", "device_type": "TV"})
        == "region=us-east,device_type=TV"
    )
