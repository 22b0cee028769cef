"""Percentiles over any range and slice by merging stored sketches, in DuckDB and ClickHouse."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from ingest.simulator import SimulationConfig, Simulator
from streaming.qoe import QoeAggregator
from streaming.qoe_query import qoe_over
from streaming.windows import PartitionWindows
from warehouse import open_warehouse

T0 = 1_763_726_400_000


@pytest.fixture(scope="module")
def traffic() -> pa.Table:
    return Simulator(
        SimulationConfig(seed=9, users=10_000, start_ms=T0, days=1 / 24, late_fraction=0.0)
    ).table()


def _qoe_rows(table: pa.Table) -> pa.Table:
    aggregator = QoeAggregator()
    clock = PartitionWindows(0)
    assigned = clock.assign(table["event_ts_ms"].to_numpy(), np.arange(table.num_rows))
    aggregator.add(table, np.zeros(table.num_rows, np.int32), assigned)
    return aggregator.emit(sorted(aggregator.open_keys()), provisional=False, emitted_at_ms=T0, drop=True)


@pytest.mark.parametrize("backend", ["duckdb", "clickhouse"])
def test_percentiles_of_a_slice_over_a_range(backend: str, traffic: pa.Table, tmp_path, chdb_path) -> None:
    kwargs = (
        {"duckdb_path": tmp_path / "q.duckdb"}
        if backend == "duckdb"
        else {"clickhouse_dsn": f"chdb://{chdb_path}", "clickhouse_database": "qoe_query_test"}
    )
    start = datetime.fromtimestamp(T0 / 1000, UTC) + timedelta(minutes=10)
    end = start + timedelta(minutes=30)
    with open_warehouse(backend, **kwargs) as wh:
        wh.create_tables()
        wh.upsert("qoe_minute", _qoe_rows(traffic))
        got = qoe_over(wh, start, end, region="us-east", device_type="TV")
    ts = traffic["event_ts_ms"]
    in_range = pc.and_(
        pc.greater_equal(ts, int(start.timestamp() * 1000)), pc.less(ts, int(end.timestamp() * 1000))
    )
    mask = pc.and_(
        in_range, pc.and_(pc.equal(traffic["region"], "us-east"), pc.equal(traffic["device_type"], "TV"))
    )
    raw = traffic.filter(mask)
    kinds = raw["event_type"].to_numpy(zero_copy_only=False)
    assert got.attempts == int((kinds == "PLAY_REQUEST").sum()) > 20
    vst = np.sort(raw.filter(pc.equal(raw["event_type"], "PLAY_START"))["startup_ms"].to_numpy())
    for q, value in got.vst_ms.items():
        exact = vst[int(np.floor(q * (len(vst) - 1)))]
        assert abs(value - exact) <= 0.01 * exact
    assert got.rows == 30


def test_an_uncovered_slice_is_refused(tmp_path) -> None:
    with open_warehouse("duckdb", duckdb_path=tmp_path / "q.duckdb") as wh:
        wh.create_tables()
        now = datetime.now(UTC)
        with pytest.raises(ValueError, match="no stored slice covers"):
            qoe_over(wh, now, now, isp="comcast", device_type="TV")
        with pytest.raises(ValueError, match="unknown dimensions"):
            qoe_over(wh, now, now, planet="mars")
