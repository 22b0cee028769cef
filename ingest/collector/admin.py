"""What the command line does with the collector: manage API keys, and simulate through HTTP.

- `create_key` returns the key (shown once) and its signing secret; `list_keys` a table;
  `revoke_keys` revokes by key id or application name.
- `ensure_demo_key` is what `playpulse up` runs: a key for the application `demo`, kept in
  `data_dir/secrets/demo.key` (mode 0600) and reused across restarts while it is valid.
- `simulate_via_http` is `playpulse simulate --via http`.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ingest.collector.client import demo_key_path, simulate_to_collector
from ingest.collector.keys import ApiKey, KeyStore, ensure_key_file, key_store_path
from ingest.collector.signing import load_server_key, signing_secret
from playpulse.config import Settings

__all__ = ["create_key", "ensure_demo_key", "list_keys", "revoke_keys", "simulate_via_http"]

_DAY_MS = 86_400_000
_SESSION_TAIL_MS = 12 * 3_600_000


def _store(settings: Settings) -> KeyStore:
    return KeyStore(key_store_path(settings.data_dir), refresh_s=0)


def create_key(
    settings: Settings,
    name: str,
    *,
    rate_per_s: float | None = None,
    burst: int | None = None,
    require_signature: bool = False,
) -> tuple[ApiKey, str, str]:
    """(the key's record, the key, its signing secret)."""
    store = _store(settings)
    try:
        key, secret = store.create(
            name, rate_per_s=rate_per_s, burst=burst, require_signature=require_signature
        )
    finally:
        store.close()
    return key, secret, signing_secret(load_server_key(settings), secret)


def _when(ms: int | None) -> str:
    return "" if ms is None else datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")


def list_keys(settings: Settings) -> str:
    store = _store(settings)
    try:
        keys = store.list()
    finally:
        store.close()
    rows = [("KEY ID", "NAME", "CREATED (UTC)", "STATUS", "RATE/S", "BURST", "SIGNED")]
    for key in keys:
        rows.append(
            (
                key.key_id,
                key.name,
                _when(key.created_ms),
                "active" if key.active else f"revoked {_when(key.revoked_ms)}",
                "default" if key.rate_per_s is None else f"{key.rate_per_s:g}",
                "default" if key.burst is None else str(key.burst),
                "required" if key.require_signature else "optional",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows
    )


def revoke_keys(settings: Settings, id_or_name: str) -> list[ApiKey]:
    store = _store(settings)
    try:
        return store.revoke(id_or_name)
    finally:
        store.close()


def ensure_demo_key(settings: Settings) -> str:
    store = _store(settings)
    try:
        return ensure_key_file(store, "demo", demo_key_path(settings))
    finally:
        store.close()


def simulate_via_http(
    settings: Settings,
    *,
    seed: int,
    users: int,
    days: float,
    start_ms: int | None,
    rate: float | None,
    ground_truth: Path | None,
    url: str | None,
    api_key: str | None,
) -> Any:
    """The simulator through the collector. Without a start, sessions start in the `days` before
    now minus `_SESSION_TAIL_MS`: their last events (a session plays on for up to a few hours
    after it started) are then in the past too, as the collector's clock-skew check requires."""
    from ingest.simulation_runs import simulation_config

    if start_ms is None:
        start_ms = int(time.time() * 1000 - days * _DAY_MS - _SESSION_TAIL_MS)
    url = url or f"http://{settings.collector.host}:{settings.collector.port}"
    api_key = api_key or os.environ.get("PLAYPULSE_API_KEY")
    if not api_key:
        path = demo_key_path(settings)
        if not path.exists():
            raise FileNotFoundError(
                f"no API key: pass --api-key, set PLAYPULSE_API_KEY, or start the stack (`playpulse up` "
                f"writes the demo key to {path})"
            )
        api_key = path.read_text().strip()
    config = simulation_config(seed=seed, users=users, start_ms=start_ms, days=days)
    return simulate_to_collector(
        settings, config, url=url, api_key=api_key, rate=rate, ground_truth=ground_truth
    )
