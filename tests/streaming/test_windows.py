"""Windows of one partition: fixed, aligned timestamps for assignment, lateness and closing; and the
exactly-once property — resuming from any checkpoint re-emits exactly what the first run emitted."""

from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streaming.windows import WINDOW_MS, Checkpoint, PartitionWindows

M = WINDOW_MS
S = 1_000


def _feed(windows: PartitionWindows, ts: list[int], first_offset: int = 0):
    offsets = np.arange(first_offset, first_offset + len(ts))
    return windows.assign(np.array(ts, np.int64), offsets)


@pytest.mark.parametrize(
    ("ts", "windows_", "late"),
    [
        ([0, 59 * S, 60 * S, 119 * S], [0, 0, M, M], [False] * 4),
        # 95 s pushes the watermark to 65 s: window [0, 60 s) is over, a 10 s event is late
        # and counted in the window of the newest event (60 s).
        ([0, 95 * S, 10 * S], [0, M, M], [False, False, True]),
        # Within the 30 s allowed lateness an out-of-order event still counts in its window.
        ([0, 85 * S, 10 * S], [0, M, 0], [False, False, False]),
        # Exactly at the boundary: watermark 60 s = end of [0, 60 s): closed, so late.
        ([90 * S, 59 * S], [M, M], [False, True]),
    ],
)
def test_assignment_and_lateness(ts: list[int], windows_: list[int], late: list[bool]) -> None:
    assigned = _feed(PartitionWindows(0, lateness_ms=30 * S), ts)
    assert assigned.window_start.tolist() == windows_
    assert assigned.late.tolist() == late
    assert assigned.keep.all()


def test_windows_close_when_the_watermark_passes_their_end() -> None:
    windows = PartitionWindows(0, lateness_ms=30 * S)
    _feed(windows, [5 * S, 65 * S])
    assert windows.close() == [] and windows.open_windows() == [0, M]
    _feed(windows, [89 * S], first_offset=2)  # watermark 59 s: not yet
    assert windows.close() == []
    _feed(windows, [90 * S], first_offset=3)  # watermark 60 s: [0, 60 s) is final
    assert windows.close() == [0] and windows.open_windows() == [M]
    _feed(windows, [10 * M], first_offset=4)
    assert windows.close() == [M] and windows.open_windows() == [10 * M]


def test_checkpoint_points_at_the_first_offset_of_the_oldest_open_window() -> None:
    windows = PartitionWindows(0, lateness_ms=30 * S)
    _feed(windows, [5 * S, 70 * S, 20 * S, 100 * S, 130 * S], first_offset=100)
    assert windows.close() == [0]
    # Open: [60, 120) first at offset 101 (max before it 5 s), [120, 180) first at 104.
    assert windows.checkpoint(105) == Checkpoint(offset=101, max_ts_before=5 * S, closed_through=100 * S)
    windows.close()
    fresh = PartitionWindows(0)
    assert fresh.checkpoint(0) == Checkpoint(0, None, None)


def _run(
    ts: list[int],
    lateness: int,
    chunks: list[int],
    restart_at: int | None,
    advances: dict[int, int] | None = None,
):
    """Process `ts` in chunks; optionally crash after chunk `restart_at` and resume from the
    last checkpoint. `advances` maps a chunk end to an idle advance of the max event time taken
    there (by the first run only: a replay must apply the recorded one). Returns {window:
    (offsets kept, late offsets)} as finally emitted."""
    emitted: dict[int, tuple[frozenset[int], frozenset[int]]] = {}
    state: dict[int, tuple[set[int], set[int]]] = defaultdict(lambda: (set(), set()))
    windows = PartitionWindows(0, lateness_ms=lateness)
    checkpoint: Checkpoint | None = None
    position, done_chunks, reached = 0, 0, 0
    bounds = sorted({0, *chunks, len(ts)})

    def close() -> None:
        for start in windows.close():
            kept, lates = state.pop(start, (set(), set()))
            emitted[start] = (frozenset(kept), frozenset(lates))

    while position < len(ts):
        end = next(b for b in bounds if b > position)
        assigned = _feed(windows, ts[position:end], first_offset=position)
        for i, (start, late, keep) in enumerate(
            zip(assigned.window_start.tolist(), assigned.late.tolist(), assigned.keep.tolist(), strict=True)
        ):
            if keep:
                state[start][1 if late else 0].add(position + i)
        close()
        checkpoint = windows.checkpoint(end)
        advance = advances.get(end) if advances and end > reached else None
        if advance is not None and windows.advance(end, windows.max_ts + advance):
            checkpoint = windows.checkpoint(end)  # saved before any row the advance closes
            close()
            checkpoint = windows.checkpoint(end)
        reached = max(reached, end)
        position = end
        done_chunks += 1
        if restart_at is not None and done_chunks == restart_at:
            restart_at = None  # crash once: lose all in-memory state, resume from the checkpoint
            state = defaultdict(lambda: (set(), set()))
            windows = PartitionWindows.resume(0, checkpoint, lateness_ms=lateness)
            position = checkpoint.offset
            bounds = sorted({*bounds, position})
    for start in sorted(state):  # what is still open at the end is emitted provisionally
        emitted[start] = (frozenset(state[start][0]), frozenset(state[start][1]))
    return emitted


@settings(max_examples=300, deadline=None)
@given(
    data=st.data(),
    n=st.integers(1, 80),
    lateness=st.sampled_from([0, 10 * S, 30 * S, 90 * S]),
)
def test_resuming_from_a_checkpoint_emits_exactly_the_same_rows(data, n: int, lateness: int) -> None:
    base = data.draw(st.lists(st.integers(0, 40 * S), min_size=n, max_size=n))
    jitter = data.draw(st.lists(st.integers(-120 * S, 20 * S), min_size=n, max_size=n))
    ts = [max(0, 5 * S * i + b % (3 * S) + j) for i, (b, j) in enumerate(zip(base, jitter, strict=True))]
    chunks = data.draw(st.lists(st.integers(1, n), max_size=6))
    uninterrupted = _run(ts, lateness, chunks, restart_at=None)
    for restart_at in range(1, len(set(chunks)) + 2):
        assert _run(ts, lateness, chunks, restart_at=restart_at) == uninterrupted


@settings(max_examples=200, deadline=None)
@given(
    data=st.data(),
    n=st.integers(2, 60),
    lateness=st.sampled_from([0, 30 * S, 90 * S]),
)
def test_recorded_idle_advances_replay_exactly(data, n: int, lateness: int) -> None:
    ts = [
        max(0, 4 * S * i + j)
        for i, j in enumerate(data.draw(st.lists(st.integers(-100 * S, 20 * S), min_size=n, max_size=n)))
    ]
    chunks = data.draw(st.lists(st.integers(1, n - 1), min_size=1, max_size=6))
    advances = {c: data.draw(st.integers(1, 200 * S)) for c in chunks}
    uninterrupted = _run(ts, lateness, chunks, restart_at=None, advances=advances)
    for restart_at in range(1, len(set(chunks)) + 2):
        assert _run(ts, lateness, chunks, restart_at=restart_at, advances=advances) == uninterrupted


def test_an_idle_advance_closes_windows_and_later_rows_are_late() -> None:
    windows = PartitionWindows(0, lateness_ms=30 * S)
    _feed(windows, [5 * S, 70 * S])
    assert windows.close() == []
    assert windows.advance(2, 110 * S)  # idle: the others are at 110 s
    assert not windows.advance(2, 100 * S)  # never backwards
    assert windows.checkpoint(2) == Checkpoint(0, None, 40 * S, advances=((2, 110 * S),))
    assert windows.close() == [0] and windows.open_windows() == [M]
    assigned = _feed(windows, [65 * S, 20 * S], first_offset=2)
    assert assigned.late.tolist() == [False, True]
    # A replay from before the advance applies it at offset 2, not earlier.
    replay = PartitionWindows.resume(0, Checkpoint(0, None, None, advances=((2, 110 * S),)), 30 * S)
    first = _feed(replay, [5 * S, 70 * S])
    assert first.late.tolist() == [False, False] and replay.close() == []
    assert _feed(replay, [65 * S, 20 * S], first_offset=2).late.tolist() == [False, True]


def test_every_row_is_counted_once_as_metric_or_late() -> None:
    rng = np.random.default_rng(5)
    ts = (np.arange(2_000) * 700 + rng.integers(-60_000, 5_000, 2_000)).clip(0).tolist()
    emitted = _run(ts, 30 * S, [500, 1_000, 1_500], restart_at=2)
    seen = Counter()
    for kept, lates in emitted.values():
        seen.update(kept)
        seen.update(lates)
    assert sorted(seen) == list(range(2_000)) and set(seen.values()) == {1}
