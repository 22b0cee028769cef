"""Every outside system, opened from the settings in this one place (warehouse, registry, producer)."""

from __future__ import annotations

from playpulse.config import Settings
from warehouse import Warehouse, open_warehouse
from warehouse.pseudonym import Pseudonymizer, load_or_create_key

__all__ = ["open_configured_warehouse", "pseudonymizer"]


def pseudonymizer(settings: Settings) -> Pseudonymizer:
    """The keyed hash of user ids: `pseudonym_key`, or the stack's generated key file."""
    key = (
        settings.pseudonym_key.get_secret_value().encode()
        if settings.pseudonym_key
        else load_or_create_key(settings.data_dir / "secrets" / "pseudonym.key")
    )
    return Pseudonymizer(key)


def open_configured_warehouse(
    settings: Settings, *, attach_lake: bool = True, create: bool = True
) -> Warehouse:
    """The configured warehouse with every table created and the `events` view over the lake."""
    if settings.warehouse.backend == "duckdb":
        settings.duckdb_file.parent.mkdir(parents=True, exist_ok=True)
        wh = open_warehouse("duckdb", duckdb_path=settings.duckdb_file)
    else:
        wh = open_warehouse("clickhouse", clickhouse_dsn=settings.clickhouse_dsn)
    if create:
        wh.create_tables()
    if attach_lake:
        wh.attach_lake(settings.lake_dir)
    return wh
