"""Identifiers as Arrow string arrays, built without a Python call per id.

- `uuid4_bytes(rng, n)`: n random 16-byte ids from the seeded generator with the version-4 and
  RFC 4122 variant bits set, so the strings parse as `uuid.UUID(...).version == 4`.
- `uuid_strings(raw)`: the canonical 36-character form (8-4-4-4-12 lower-case hex) of such rows,
  via one `bytes.hex()` call and NumPy slicing.
- `fixed_width_ids(prefix, numbers, width)`: "u0001234"-style ids, zero-padded to `width` digits.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

__all__ = ["fixed_width_ids", "uuid4_bytes", "uuid_strings"]

# (start, stop) of the five hex groups in the 36-character form, and the dashes between them.
_GROUPS = ((0, 8), (9, 13), (14, 18), (19, 23), (24, 36))
_DASHES = (8, 13, 18, 23)


def uuid4_bytes(rng: np.random.Generator, n: int) -> np.ndarray:
    """(n, 16) uint8 array of random version-4 UUIDs."""
    raw = np.frombuffer(rng.bytes(16 * n), dtype=np.uint8).reshape(n, 16).copy()
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    return raw


def _fixed_strings(chars: np.ndarray) -> pa.StringArray:
    """A string array from an (n, width) uint8 array of ASCII characters."""
    n, width = chars.shape
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int32)
    data = np.ascontiguousarray(chars).tobytes()
    return pa.Array.from_buffers(pa.string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(data)])


def uuid_strings(raw: np.ndarray) -> pa.StringArray:
    """Canonical UUID strings of an (n, 16) uint8 array."""
    n = len(raw)
    hexed = np.frombuffer(np.ascontiguousarray(raw).tobytes().hex().encode("ascii"), dtype=np.uint8)
    hexed = hexed.reshape(n, 32)
    chars = np.empty((n, 36), dtype=np.uint8)
    done = 0
    for start, stop in _GROUPS:
        chars[:, start:stop] = hexed[:, done : done + stop - start]
        done += stop - start
    for dash in _DASHES:
        chars[:, dash] = ord("-")
    return _fixed_strings(chars)


def fixed_width_ids(prefix: str, numbers: np.ndarray, width: int) -> pa.StringArray:
    """`prefix` followed by each number zero-padded to `width` digits, e.g. ("u", 1234, 7) → "u0001234"."""
    numbers = np.asarray(numbers, dtype=np.int64)
    if len(numbers) and (numbers.min() < 0 or numbers.max() >= 10**width):
        raise ValueError(f"ids must be in [0, 10**{width}) to fit {width} digits")
    head = np.frombuffer(prefix.encode("ascii"), dtype=np.uint8)
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    digits = (numbers[:, None] // powers) % 10 + ord("0")
    chars = np.concatenate(
        [np.broadcast_to(head, (len(numbers), len(head))), digits.astype(np.uint8)], axis=1
    )
    return _fixed_strings(chars)
