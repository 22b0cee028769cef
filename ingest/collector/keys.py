"""API keys of player applications, stored only as salted hashes in SQLite (`data_dir/api_keys.sqlite`).

A key looks like `pp_<key id>_<secret>`: the key id (12 hex digits) is public and names the key
in logs, metrics and dead letters; the secret (256 random bits) is shown once, by
`playpulse keys create`, and never stored. The store keeps, per key: its id, the application
name, a random salt and SHA-256(salt ‖ secret), when it was created and revoked, and optional
per-key rate limits and a signature requirement. A fast hash is the right tool here: the secret
has 256 bits of entropy, so there is nothing for a slow password hash to protect, and every
request must be checked in microseconds.

`KeyStore.authenticate(key)` answers in constant time per key (HMAC compare) from an in-memory
copy that is refreshed when another process (the CLI) changed the store, checked at most every
`refresh_s`: a revoked key stops working within that time, without a restart; a key id it does not
know makes it look again at once, so a new key works immediately.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import sqlite3
import time
from dataclasses import dataclass, replace
from pathlib import Path

__all__ = ["ApiKey", "AuthError", "KeyStore", "ensure_key_file", "key_store_path"]

_KEY = re.compile(r"pp_([0-9a-f]{12})_([A-Za-z0-9_-]{20,128})")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS api_keys (
    key_id            TEXT PRIMARY KEY,
    name              TEXT NOT NULL,
    salt              BLOB NOT NULL,
    secret_hash       BLOB NOT NULL,
    created_ms        INTEGER NOT NULL,
    revoked_ms        INTEGER,
    rate_per_s        REAL,
    burst             INTEGER,
    require_signature INTEGER NOT NULL DEFAULT 0
)
"""


class AuthError(PermissionError):
    """A request's key is missing, unknown, wrong or revoked; `code` and `status` say which."""

    def __init__(self, code: str, status: int, detail: str) -> None:
        super().__init__(detail)
        self.code, self.status, self.detail = code, status, detail


@dataclass(frozen=True)
class ApiKey:
    key_id: str
    name: str
    created_ms: int
    revoked_ms: int | None = None
    rate_per_s: float | None = None
    burst: int | None = None
    require_signature: bool = False

    @property
    def active(self) -> bool:
        return self.revoked_ms is None


@dataclass(frozen=True)
class _Entry:
    key: ApiKey
    salt: bytes
    secret_hash: bytes


def key_store_path(data_dir: Path) -> Path:
    return data_dir / "api_keys.sqlite"


def _hash(salt: bytes, secret: str) -> bytes:
    return hashlib.sha256(salt + secret.encode()).digest()


class KeyStore:
    """The API keys of one data directory; safe to use from the CLI while the collector runs."""

    def __init__(self, path: Path, refresh_s: float = 1.0) -> None:
        self.path = path
        self.refresh_s = refresh_s
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=10)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(_SCHEMA)
        self._entries: dict[str, _Entry] = {}
        self._version: int | None = None
        self._checked = 0.0
        self._load()

    def close(self) -> None:
        self._db.close()

    # -- management (the CLI) ---------------------------------------------------------------------
    def create(
        self,
        name: str,
        *,
        rate_per_s: float | None = None,
        burst: int | None = None,
        require_signature: bool = False,
    ) -> tuple[ApiKey, str]:
        """Create a key for application `name`; returns it and the full key string (shown once)."""
        if not name.strip():
            raise ValueError("an API key needs an application name")
        key_id, secret, salt = secrets.token_hex(6), secrets.token_urlsafe(32), os.urandom(16)
        key = ApiKey(key_id, name, int(time.time() * 1000), None, rate_per_s, burst, require_signature)
        self._db.execute(
            "INSERT INTO api_keys (key_id, name, salt, secret_hash, created_ms, rate_per_s, burst,"
            " require_signature) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                key_id,
                name,
                salt,
                _hash(salt, secret),
                key.created_ms,
                rate_per_s,
                burst,
                int(require_signature),
            ),
        )
        self._load()
        return key, f"pp_{key_id}_{secret}"

    def list(self) -> list[ApiKey]:
        self._load()
        return sorted((e.key for e in self._entries.values()), key=lambda k: (k.created_ms, k.key_id))

    def revoke(self, id_or_name: str) -> list[ApiKey]:
        """Revoke the key with this id, or else every active key of the application with this name."""
        self._load()
        active = [e.key for e in self._entries.values() if e.key.active]
        targets = [k for k in active if k.key_id == id_or_name] or [k for k in active if k.name == id_or_name]
        now = int(time.time() * 1000)
        self._db.executemany(
            "UPDATE api_keys SET revoked_ms = ? WHERE key_id = ? AND revoked_ms IS NULL",
            [(now, k.key_id) for k in targets],
        )
        self._load()
        return [replace(k, revoked_ms=now) for k in targets]

    # -- the request path ---------------------------------------------------------------------------
    def authenticate(self, presented: str | None) -> ApiKey:
        """The active key matching `presented`, or `AuthError` (401 missing/invalid, 403 revoked)."""
        if not presented:
            raise AuthError(
                "missing_api_key",
                401,
                "send an API key in the Authorization header (Bearer pp_…), X-API-Key, or ?api_key=",
            )
        self._maybe_refresh()
        match = _KEY.fullmatch(presented)
        entry = self._entries.get(match.group(1)) if match else None
        if match is not None and entry is None:
            self._maybe_refresh(force=True)  # a key created a moment ago works at once
            entry = self._entries.get(match.group(1))
        if (
            match is None
            or entry is None
            or not hmac.compare_digest(entry.secret_hash, _hash(entry.salt, match.group(2)))
        ):
            raise AuthError(
                "invalid_api_key", 401, "the API key is not valid; create one with `playpulse keys create`"
            )
        if not entry.key.active:
            raise AuthError(
                "revoked_api_key", 403, f"API key {entry.key.key_id} was revoked; use a current key"
            )
        return entry.key

    def _maybe_refresh(self, force: bool = False) -> None:
        """Reload when another connection changed the store (`PRAGMA data_version`, ~10 µs to ask)."""
        now = time.monotonic()
        if not force and now - self._checked < self.refresh_s:
            return
        self._checked = now
        (version,) = self._db.execute("PRAGMA data_version").fetchone()
        if version != self._version:
            self._load()

    def _load(self) -> None:
        (self._version,) = self._db.execute("PRAGMA data_version").fetchone()
        rows = self._db.execute(
            "SELECT key_id, name, salt, secret_hash, created_ms, revoked_ms, rate_per_s, burst,"
            " require_signature FROM api_keys"
        ).fetchall()
        self._entries = {
            row[0]: _Entry(
                ApiKey(row[0], row[1], row[4], row[5], row[6], row[7], bool(row[8])), row[2], row[3]
            )
            for row in rows
        }


def ensure_key_file(store: KeyStore, name: str, path: Path) -> str:
    """A working key for application `name`, kept in `path` (mode 0600): reused while it is still
    valid, else a new one is created (and older keys of that name revoked) and written there."""
    if path.exists():
        existing = path.read_text().strip()
        try:
            key = store.authenticate(existing)
        except AuthError:
            pass
        else:
            if key.name == name:
                return existing
    store.revoke(name)
    _, secret = store.create(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secret + "\n")
    os.replace(tmp, path)
    return secret
