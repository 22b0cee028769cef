"""Stable integer codes for the string values of a column, so the hot path groups on integers.

`Codes.encode(column)` gives every value an int32 code, the same for the same value in every
batch for the life of the object (codes are assigned in first-seen order and never reused).
Per batch it costs one Arrow hash pass over the column plus one dict lookup per *distinct*
value of the batch, not per row. Memory grows with the distinct values ever seen, which for the
QoE dimensions (regions, countries, ISPs, CDNs, appliances, titles) is bounded by the catalogue.
Null encodes as the empty string.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["Codes"]


class Codes:
    """Value ↔ code of one column."""

    def __init__(self) -> None:
        self._code: dict[str, int] = {}
        self._values: list[str] = []
        self._array: pa.Array | None = None

    def __len__(self) -> int:
        return len(self._values)

    def encode(self, column: pa.Array | pa.ChunkedArray) -> np.ndarray:
        """The int32 code of every row of `column` (a string column)."""
        if isinstance(column, pa.ChunkedArray):
            column = column.combine_chunks()
        if column.null_count:
            column = pc.fill_null(column, "")
        encoded = pc.dictionary_encode(column)
        local = encoded.dictionary.to_pylist()
        code, values = self._code, self._values
        lookup = np.empty(len(local), np.int32)
        for i, value in enumerate(local):
            found = code.get(value)
            if found is None:
                found = code[value] = len(values)
                values.append(value)
                self._array = None
            lookup[i] = found
        return lookup[encoded.indices.to_numpy(zero_copy_only=False)]

    def values(self) -> pa.Array:
        """Every value, at the position of its code (a string array)."""
        if self._array is None:
            self._array = pa.array(self._values, pa.string())
        return self._array

    def decode(self, codes: np.ndarray) -> pa.Array:
        """The values of `codes`."""
        return self.values().take(pa.array(codes, pa.int32()))
