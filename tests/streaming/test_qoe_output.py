"""The QoE job's background writer: queued ticks are written in order, and those queued while a
write runs go together in the next one, with the newest checkpoint of each partition; offsets
count as durable only once their write is done."""

from __future__ import annotations

import threading

import pyarrow as pa

from playpulse.config import Settings
from playpulse.resources import open_configured_warehouse
from streaming.qoe_job import QoeOutput
from streaming.windows import Checkpoint


class _RecordingOutput(QoeOutput):
    """The real queue and thread; `write` records its arguments and waits for `release`."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings, lambda: open_configured_warehouse(settings, attach_lake=False))
        self.calls: list[tuple[list[int], dict[int, Checkpoint]]] = []
        self.release = threading.Event()
        self.started = threading.Event()

    def write(self, rows: pa.Table, checkpoints: dict[int, Checkpoint] | None = None) -> None:
        self.started.set()
        assert self.release.wait(10)
        self.calls.append((rows.column("n").to_pylist(), dict(checkpoints or {})))


def _rows(*values: int) -> pa.Table:
    return pa.table({"n": pa.array(values, pa.int64())})


def test_ticks_queued_during_a_write_go_together_in_the_next(settings: Settings) -> None:
    output = _RecordingOutput(settings)
    output.submit(_rows(1), {0: Checkpoint(10, None, None)}, {0: 10})
    assert output.started.wait(10)  # the first write is running and holds the queue's head
    output.submit(_rows(2, 3), {0: Checkpoint(20, None, None), 1: Checkpoint(5, None, None)}, {0: 20, 1: 5})
    output.submit(_rows(), {0: Checkpoint(30, None, None)}, {0: 30})
    output.submit(_rows(4), {}, {1: 7})
    assert output.durable() == {}  # nothing is written yet
    output.release.set()
    assert output.drain() == {0: 30, 1: 7}
    assert output.calls == [
        ([1], {0: Checkpoint(10, None, None)}),
        ([2, 3, 4], {0: Checkpoint(30, None, None), 1: Checkpoint(5, None, None)}),
    ]
