"""`Columns`: named NumPy arrays of one length, the simulator's in-memory event and session frames.

Guarantees: every column has the same first dimension (checked on construction); `take`,
`filter` and `concat` keep column names and dtypes; nothing is copied more than once per call.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

import numpy as np

__all__ = ["Columns"]


class Columns(Mapping[str, np.ndarray]):
    """An immutable mapping of column name → NumPy array, all of the same length."""

    __slots__ = ("_data", "_len")

    def __init__(self, data: Mapping[str, np.ndarray]) -> None:
        self._data = dict(data)
        lengths = {len(v) for v in self._data.values()}
        if len(lengths) > 1:
            shapes = {k: len(v) for k, v in self._data.items()}
            raise ValueError(f"columns differ in length: {shapes}")
        self._len = lengths.pop() if lengths else 0

    def __getitem__(self, name: str) -> np.ndarray:
        return self._data[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:  # number of columns, as a Mapping
        return len(self._data)

    @property
    def rows(self) -> int:
        return self._len

    def take(self, index: np.ndarray) -> Columns:
        return Columns({k: v[index] for k, v in self._data.items()})

    def filter(self, mask: np.ndarray) -> Columns:
        return self.take(np.flatnonzero(mask))

    def slice(self, start: int, stop: int) -> Columns:
        return Columns({k: v[start:stop] for k, v in self._data.items()})

    def with_columns(self, **extra: np.ndarray) -> Columns:
        return Columns({**self._data, **extra})

    @staticmethod
    def concat(parts: Iterable[Columns]) -> Columns:
        parts = list(parts)
        if not parts:
            raise ValueError("concat needs at least one part")
        nonempty = [p for p in parts if p.rows] or parts[:1]
        if len(nonempty) == 1:
            return nonempty[0]
        return Columns({k: np.concatenate([p[k] for p in nonempty]) for k in nonempty[0]})
