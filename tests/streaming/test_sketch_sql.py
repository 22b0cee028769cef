"""VST percentiles merged in SQL (DuckDB and the ClickHouse engine) equal the Python merge of the
same rows' sketches, and hold the 1% bound against the exact values of the raw events."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from ingest.simulator import SimulationConfig, Simulator
from streaming.qoe import QoeAggregator
from streaming.sketch import RELATIVE_ACCURACY, ZERO_KEY, Sketch
from streaming.sketch_sql import clickhouse_quantile, vst_quantiles_sql
from streaming.windows import PartitionWindows
from warehouse import Warehouse, open_warehouse

T0 = 1_763_726_400_000
QS = (0.5, 0.9, 0.95, 0.99)
COLUMNS = ("vst_p50_ms", "vst_p90_ms", "vst_p95_ms", "vst_p99_ms")


@pytest.fixture(scope="module")
def traffic() -> pa.Table:
    """20 minutes of simulated traffic; every start-up on a CONSOLE took 0 ms (the zero bucket)."""
    table = Simulator(
        SimulationConfig(seed=11, users=30_000, start_ms=T0, days=1 / 72, late_fraction=0.0)
    ).table()
    console = pc.equal(table["device_type"], "CONSOLE")
    startup = pc.if_else(pc.and_(console, pc.is_valid(table["startup_ms"])), 0, table["startup_ms"])
    return table.set_column(table.schema.get_field_index("startup_ms"), "startup_ms", startup)


@pytest.fixture(scope="module")
def rows(traffic: pa.Table) -> pa.Table:
    """qoe_minute rows of the traffic, split over 3 source partitions."""
    aggregator = QoeAggregator()
    partition = (np.arange(traffic.num_rows) % 3).astype(np.int32)
    windows = {p: PartitionWindows(p) for p in range(3)}
    ts = traffic["event_ts_ms"].to_numpy()
    for p in range(3):
        mine = np.flatnonzero(partition == p)
        assigned = windows[p].assign(ts[mine], mine)
        aggregator.add(traffic.take(pa.array(mine)), partition[mine], assigned)
    return aggregator.emit(sorted(aggregator.open_keys()), provisional=False, emitted_at_ms=T0, drop=True)


@pytest.fixture(scope="module")
def warehouses(rows: pa.Table, tmp_path_factory, chdb_path) -> dict[str, Warehouse]:
    """Both engines holding the rows (written once per module)."""
    opened = {
        "duckdb": open_warehouse("duckdb", duckdb_path=tmp_path_factory.mktemp("sketch_sql") / "s.duckdb"),
        "clickhouse": open_warehouse(
            "clickhouse", clickhouse_dsn=f"chdb://{chdb_path}", clickhouse_database="sketch_sql_test"
        ),
    }
    for warehouse in opened.values():
        warehouse.create_tables()
        warehouse.execute("TRUNCATE TABLE qoe_minute")
        warehouse.upsert("qoe_minute", rows)
    yield opened
    for warehouse in opened.values():
        warehouse.close()


@pytest.fixture(params=["duckdb", "clickhouse"])
def wh(request: pytest.FixtureRequest, warehouses: dict[str, Warehouse]) -> Warehouse:
    return warehouses[request.param]


def _python_merge(rows: pa.Table, mask: pa.Array) -> Sketch:
    merged = Sketch()
    for data in rows.filter(mask)["vst_sketch"].to_pylist():
        if data is not None:
            merged = merged + Sketch.from_bytes(data)
    return merged


def test_the_bin_arrays_are_the_sketch(rows: pa.Table) -> None:
    for data, keys, counts in zip(
        rows["vst_sketch"].to_pylist(), rows["vst_bin_keys"].to_pylist(), rows["vst_bin_counts"].to_pylist(),
        strict=True,
    ):
        sketch = Sketch() if data is None else Sketch.from_bytes(data)
        zero = [c for k, c in zip(keys, counts, strict=True) if k == ZERO_KEY]
        assert keys == sorted(keys)
        assert [k for k in keys if k != ZERO_KEY] == sketch.keys.tolist()
        assert [c for k, c in zip(keys, counts, strict=True) if k != ZERO_KEY] == sketch.counts.tolist()
        assert sum(zero) == sketch.zero_count


def test_sql_merge_per_region_equals_the_python_merge(
    wh: Warehouse, rows: pa.Table, traffic: pa.Table
) -> None:
    got = wh.query(
        vst_quantiles_sql(wh.backend, where="slice = $slice", group_by=["region"]), {"slice": "region"}
    ).to_pylist()
    assert len(got) == len(set(traffic["region"].to_pylist())) > 3
    assert sum(r["vst_count"] for r in got) > 300
    region_rows = pc.equal(rows["slice"], "region")
    for row in got:
        merged = _python_merge(rows, pc.and_(region_rows, pc.equal(rows["region"], row["region"])))
        assert row["vst_count"] == merged.count > 0
        starts = traffic.filter(
            pc.and_(pc.equal(traffic["region"], row["region"]), pc.equal(traffic["event_type"], "PLAY_START"))
        )
        exact = np.sort(starts["startup_ms"].to_numpy())
        for q, column in zip(QS, COLUMNS, strict=True):
            assert row[column] == pytest.approx(merged.quantile(q), rel=1e-9), (row["region"], q)
            want = exact[int(np.floor(q * (exact.size - 1)))]
            assert abs(row[column] - want) <= RELATIVE_ACCURACY * want


def test_sql_merge_over_windows_devices_and_partitions(wh: Warehouse, rows: pa.Table) -> None:
    """One group per device over a 10-minute range: the CONSOLE group is all zeros, and a device
    filter that matches no row gives no group; the global merge of the range is one row."""
    where = "slice = 'device_type' AND window_start >= $start AND window_start < $end"
    start, end = (pa.scalar(T0 + m * 60_000, pa.timestamp("ms", tz="UTC")).as_py() for m in (5, 15))
    params = {"start": start, "end": end}
    got = wh.query(vst_quantiles_sql(wh.backend, where=where, group_by=["device_type"]), params).to_pylist()
    window = rows["window_start"]
    in_range = pc.and_(pc.greater_equal(window, pa.scalar(start)), pc.less(window, pa.scalar(end)))
    devices = pc.and_(pc.equal(rows["slice"], "device_type"), in_range)
    assert [r["device_type"] for r in got] == sorted(set(rows.filter(devices)["device_type"].to_pylist()))
    for row in got:
        merged = _python_merge(rows, pc.and_(devices, pc.equal(rows["device_type"], row["device_type"])))
        assert [row[c] for c in COLUMNS] == pytest.approx(merged.quantiles(QS), rel=1e-9)
        if row["device_type"] == "CONSOLE":
            assert [row[c] for c in COLUMNS] == [0.0] * 4 and merged.zero_count > 0
    everything = wh.query(
        vst_quantiles_sql(wh.backend, where=where.replace("device_type", "all"), quantiles=(0.5, 0.999)),
        params,
    ).to_pylist()
    merged = _python_merge(rows, pc.and_(pc.equal(rows["slice"], "all"), in_range))
    assert len(everything) == 1
    assert [everything[0]["vst_p50_ms"], everything[0]["vst_p99_9_ms"]] == pytest.approx(
        merged.quantiles((0.5, 0.999)), rel=1e-9
    )


def test_groups_without_starts_have_null_percentiles(wh: Warehouse) -> None:
    fine = ["window_start", "source_partition", "slice", "region", "country", "device_type", "isp", "cdn"]
    got = wh.query(vst_quantiles_sql(wh.backend, where="starts = 0", group_by=[*fine, "oca_id"])).to_pylist()
    assert got
    assert all(r["vst_count"] == 0 and r["vst_p50_ms"] is None and r["vst_p99_ms"] is None for r in got)


def test_clickhouse_expression_in_an_analyst_query(warehouses: dict[str, Warehouse], rows: pa.Table) -> None:
    got = warehouses["clickhouse"].query(
        f"SELECT cdn, {clickhouse_quantile(0.95)} AS p95 FROM qoe_minute WHERE slice = 'cdn' GROUP BY cdn"
    ).to_pylist()
    assert len(got) > 1
    for row in got:
        mask = pc.and_(pc.equal(rows["slice"], "cdn"), pc.equal(rows["cdn"], row["cdn"]))
        assert row["p95"] == pytest.approx(_python_merge(rows, mask).quantile(0.95), rel=1e-9)


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="not columns"):
        vst_quantiles_sql("duckdb", group_by=["planet"])
    with pytest.raises(ValueError, match="outside"):
        vst_quantiles_sql("duckdb", quantiles=(99,))
    with pytest.raises(ValueError, match="backend"):
        vst_quantiles_sql("postgres")
