"""The lake writer: hour partitions by event time, atomic files, and the keyed-hash pseudonyms."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pytest

from warehouse import lake
from warehouse.pseudonym import Pseudonymizer, load_or_create_key

HOUR = 3_600_000
T0 = 1_763_683_200_000  # 2025-11-21T00:00:00Z


def _events(ts: list[int], users: list[str] | None = None) -> pa.Table:
    users = users or [f"u{i}" for i in range(len(ts))]
    return pa.table({"event_id": [f"e{i}" for i in range(len(ts))], "event_ts_ms": ts, "user_id": users})


def test_events_are_split_by_utc_hour_of_event_time(tmp_path: Path) -> None:
    table = _events([T0 + 5, T0 + HOUR + 1, T0 + 10, T0 + 25 * HOUR])
    groups = {hour: rows["event_id"].to_pylist() for hour, rows in lake.iter_hour_groups(table)}
    assert groups == {T0 // HOUR: ["e0", "e2"], T0 // HOUR + 1: ["e1"], T0 // HOUR + 25: ["e3"]}
    files = lake.write_events(tmp_path, table, "sim-s1")
    assert [f.relative_to(tmp_path).as_posix() for f in files] == [
        "events/event_date=2025-11-21/hour=0/sim-s1.parquet",
        "events/event_date=2025-11-21/hour=1/sim-s1.parquet",
        "events/event_date=2025-11-22/hour=1/sim-s1.parquet",
    ]
    dataset = ds.dataset(tmp_path / "events", format="parquet", partitioning="hive")
    assert dataset.count_rows() == 4
    assert sorted(dataset.to_table()["hour"].to_pylist()) == [0, 0, 1, 1]


def test_writes_are_atomic_and_leftovers_are_cleaned(tmp_path: Path) -> None:
    target = lake.hour_dir(tmp_path, T0 // HOUR) / "p03-x.parquet"
    lake.write_atomic(_events([T0]), target)
    assert [p.name for p in target.parent.iterdir()] == ["p03-x.parquet"]
    (target.parent / ".p03-y.parquet.1234.tmp").write_bytes(b"half a file")
    (target.parent / ".p04-y.parquet.1234.tmp").write_bytes(b"someone else's")
    assert lake.remove_temporary(tmp_path, prefix="p03-") == 1
    assert sorted(p.name for p in target.parent.iterdir()) == [".p04-y.parquet.1234.tmp", "p03-x.parquet"]
    assert lake.read_event_ids(lake.list_files(tmp_path, prefix="p03-", hour_index=T0 // HOUR)) == {"e0"}


def test_pseudonyms_are_keyed_stable_and_not_the_id(tmp_path: Path) -> None:
    key = load_or_create_key(tmp_path / "secrets" / "pseudonym.key")
    assert load_or_create_key(tmp_path / "secrets" / "pseudonym.key") == key
    assert (tmp_path / "secrets" / "pseudonym.key").stat().st_mode & 0o777 == 0o600
    table = _events([T0, T0, T0], users=["u1", "u2", "u1"])
    out = Pseudonymizer(key).apply(table)["user_id"].to_pylist()
    assert out[0] == out[2] != out[1]
    assert all(p.startswith("p") and len(p) == 33 and "u1" not in p for p in out)
    other = Pseudonymizer(b"another key of 16+ bytes").apply(table)["user_id"].to_pylist()
    assert other[0] != out[0]
    # The documented formula, so other tools can reproduce a pseudonym with the key.
    import hashlib
    import hmac

    assert out[0] == "p" + hmac.new(key, b"u1", hashlib.sha256).hexdigest()[:32]


def test_short_keys_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 16 bytes"):
        Pseudonymizer(b"short")
