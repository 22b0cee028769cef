"""Arrow encoding: numeric event frames become `pyarrow.RecordBatch`es in exactly `EVENT_SCHEMA`.

Strings are never built per event in Python: categorical columns are `take`s from the world's
name arrays, ids come from `ids.py`, nulls are the -1 codes, and the `experiments` map is built
from the allocation codes present in the batch (offsets + flattened keys and values).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from schemas.events import END_REASONS, EVENT_SCHEMA, EVENT_TYPES

from .catalog import ERROR_CODE_NAMES
from .columns import Columns
from .experiments import AllocationCodes
from .ids import uuid_strings
from .world import World

__all__ = ["EventEncoder"]


def _nullable(values: np.ndarray, type_: pa.DataType) -> pa.Array:
    return pa.array(values, type=type_, mask=values < 0)


class EventEncoder:
    """Turns a denormalized event frame (event and session columns) into an EVENT_SCHEMA batch."""

    def __init__(self, world: World, allocations: AllocationCodes) -> None:
        self._allocations = allocations
        self._names = {
            "etype": pa.array(EVENT_TYPES),
            "user": world.user_ids,
            "title": world.title_ids,
            "device_type": pa.array(world.device_type_names),
            "device_os": pa.array(world.os_names),
            "app_version": pa.array(world.app_version_names),
            "region": pa.array(world.region_names),
            "country": pa.array(world.country_names),
            "isp": pa.array(world.isp_names),
            "cdn": pa.array(world.cdn_names),
            "oca": pa.array(world.oca_ids, type=pa.string()),
            "end_reason": pa.array(END_REASONS),
            "error_code": pa.array(ERROR_CODE_NAMES),
        }

    def _names_of(self, column: str, codes: np.ndarray) -> pa.Array:
        index = pa.array(codes.astype(np.int32), mask=codes < 0)
        return self._names[column].take(index)

    def _experiments(self, codes: np.ndarray) -> pa.MapArray:
        unique, inverse = np.unique(codes, return_inverse=True)
        keys: list[str] = []
        values: list[str] = []
        starts = np.zeros(len(unique), dtype=np.int64)
        sizes = np.zeros(len(unique), dtype=np.int64)
        for i, code in enumerate(unique.tolist()):
            k, v = self._allocations.entries(code)
            starts[i], sizes[i] = len(keys), len(k)
            keys.extend(k)
            values.extend(v)
        per_row = sizes[inverse]
        offsets = np.concatenate([[0], np.cumsum(per_row)]).astype(np.int32)
        entry = np.repeat(starts[inverse] - offsets[:-1], per_row) + np.arange(offsets[-1])
        return pa.MapArray.from_arrays(
            pa.array(offsets),
            pa.array(keys, pa.string()).take(entry),
            pa.array(values, pa.string()).take(entry),
        )

    def encode(self, c: Columns) -> pa.RecordBatch:
        arrays = [
            uuid_strings(c["event_uuid"]),
            self._names_of("etype", c["etype"]),
            pa.array(c["ts"], pa.int64()),
            pa.array(c["recv"], pa.int64()),
            self._names_of("user", c["user"]),
            uuid_strings(c["session_uuid"]),
            pa.array(c["seq"], pa.int32()),
            self._names_of("title", c["title"]),
            self._names_of("device_type", c["device_type"]),
            self._names_of("device_os", c["device_os"]),
            self._names_of("app_version", c["app_version"]),
            self._names_of("region", c["region"]),
            self._names_of("country", c["country"]),
            self._names_of("isp", c["isp"]),
            self._names_of("cdn", c["cdn"]),
            self._names_of("oca", c["oca"]),
            _nullable(c["startup"], pa.int64()),
            _nullable(c["rebuffer"], pa.int64()),
            _nullable(c["bitrate"], pa.int32()),
            _nullable(c["position"], pa.int64()),
            _nullable(c["buffer"], pa.int64()),
            _nullable(c["throughput"], pa.int32()),
            _nullable(c["duration"], pa.int64()),
            _nullable(c["played"], pa.int64()),
            self._names_of("end_reason", c["end_reason"]),
            self._names_of("error_code", c["error_code"]),
            pa.array(c["fatal"], pa.bool_()),
            self._experiments(c["allocation"]),
        ]
        return pa.RecordBatch.from_arrays(arrays, schema=EVENT_SCHEMA)
