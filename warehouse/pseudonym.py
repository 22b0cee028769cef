"""Pseudonymization of user ids: a keyed hash applied before events reach the lake or the warehouse.

`pseudonym = "p" + hex(HMAC-SHA256(key, user_id))[:32]`: stable for a key (joins across days and
tables keep working), not reversible without the key, and different under another key. The key
comes from the settings (`pseudonym_key`); on the embedded stack one is generated on first use
into `data_dir/secrets/pseudonym.key` (mode 0600) so that every process of one stack agrees.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["Pseudonymizer", "load_or_create_key"]


def load_or_create_key(path: Path) -> bytes:
    """Read the key file, or create it with 32 random bytes readable only by its owner."""
    if path.exists():
        return bytes.fromhex(path.read_text().strip())
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key.hex())
    return key


class Pseudonymizer:
    """Replaces the `user_id` column of event tables by its keyed hash, hashing each distinct id once."""

    def __init__(self, key: bytes, cache_size: int = 1_000_000) -> None:
        if len(key) < 16:
            raise ValueError("the pseudonym key must be at least 16 bytes")
        self._key = key
        self._cache: dict[str, str] = {}
        self._cache_size = cache_size

    def one(self, user_id: str) -> str:
        found = self._cache.get(user_id)
        if found is None:
            if len(self._cache) >= self._cache_size:
                self._cache.clear()
            digest = hmac.new(self._key, user_id.encode(), hashlib.sha256).hexdigest()
            found = self._cache[user_id] = "p" + digest[:32]
        return found

    def apply(self, table: pa.Table, column: str = "user_id") -> pa.Table:
        encoded = pc.dictionary_encode(table[column]).combine_chunks()
        mapped = pa.array([self.one(v) for v in encoded.dictionary.to_pylist()], pa.string())
        pseudonyms = pc.take(mapped, encoded.indices)
        return table.set_column(table.schema.get_field_index(column), table.schema.field(column), pseudonyms)
