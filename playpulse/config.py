"""Typed configuration of every playpulse component, read from the environment in this one place.

Sources, highest priority first: keyword arguments, environment variables (`PLAYPULSE_…`,
nested with `__`, e.g. `PLAYPULSE_KAFKA__BOOTSTRAP_SERVERS`), a TOML file (`playpulse.toml` in
the working directory, or the path in `PLAYPULSE_CONFIG`), then the defaults below, which point
every component at the embedded local stack. Invalid values fail on load with the field named.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

__all__ = [
    "CollectorSettings",
    "KafkaSettings",
    "RegistrySettings",
    "Settings",
    "WarehouseSettings",
    "load_settings",
]


class KafkaSettings(BaseModel):
    """Where Kafka is and how to talk to it; `embedded` means `playpulse up` starts the local broker."""

    embedded: bool = True
    bootstrap_servers: str = "127.0.0.1:19092"
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_ca_location: Path | None = None
    session_timeout_ms: int = Field(default=6000, ge=1000)

    def client_config(self) -> dict[str, Any]:
        """librdkafka settings shared by producers, consumers and the admin client."""
        config: dict[str, Any] = {
            "bootstrap.servers": self.bootstrap_servers,
            "security.protocol": self.security_protocol,
        }
        if self.sasl_mechanism:
            config["sasl.mechanism"] = self.sasl_mechanism
            config["sasl.username"] = self.sasl_username or ""
            config["sasl.password"] = self.sasl_password.get_secret_value() if self.sasl_password else ""
        if self.ssl_ca_location:
            config["ssl.ca.location"] = str(self.ssl_ca_location)
        return config

    @model_validator(mode="after")
    def _sasl_needs_credentials(self) -> KafkaSettings:
        if self.sasl_mechanism and not (self.sasl_username and self.sasl_password):
            raise ValueError("kafka.sasl_mechanism is set: also set kafka.sasl_username and kafka.sasl_password")
        return self


class RegistrySettings(BaseModel):
    """The Confluent-compatible schema registry; `embedded` means playpulse serves it itself."""

    embedded: bool = True
    url: str = "http://127.0.0.1:18081"
    username: str | None = None
    password: SecretStr | None = None


class WarehouseSettings(BaseModel):
    """Which warehouse backend to use and where it is."""

    backend: Literal["duckdb", "clickhouse"] = "duckdb"
    #: DuckDB file; relative paths are under `data_dir`.
    duckdb_path: Path = Path("warehouse.duckdb")
    #: clickhouse-connect DSN: `chdb:///path` for the in-process engine, `http(s)://user:pass@host:8123/db`.
    clickhouse_dsn: SecretStr = SecretStr("chdb:///chdb")


class CollectorSettings(BaseModel):
    """The HTTP beacon collector (`playpulse collect`, started by `playpulse up`): address and limits."""

    host: str = "127.0.0.1"
    port: int = Field(default=18080, ge=1, le=65535)
    #: A request body (as sent, and again after gzip decoding) larger than this is refused with 413.
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    #: A batch with more items than this is refused with 413; split it.
    max_batch_items: int = Field(default=1_000, ge=1)
    #: Default per-key token bucket: sustained events per second, and the burst it may save up.
    #: `playpulse keys create --rate/--burst` overrides both for one key.
    rate_per_key: float = Field(default=20_000.0, gt=0)
    burst_per_key: int = Field(default=40_000, ge=1)
    #: How far an event's `event_ts_ms` may be ahead of the collector clock, and how old it may be.
    max_clock_skew_s: float = Field(default=300.0, ge=0)
    max_event_age_s: float = Field(default=7 * 24 * 3600.0, gt=0)
    #: Events (and, separately, dead letters) held in memory while the broker is slow or away;
    #: when a batch does not fit, the collector answers 503 with Retry-After.
    buffer_size: int = Field(default=100_000, ge=1)
    #: The Retry-After seconds of a 503 (buffer full, broker unavailable).
    retry_after_s: int = Field(default=5, ge=1)
    #: Signed requests: how old the signature timestamp may be.
    signature_max_age_s: float = Field(default=300.0, gt=0)
    #: Server key from which per-key signing secrets are derived; generated into
    #: `data_dir/secrets/collector-signing.key` on first use when not set.
    signing_key: SecretStr | None = None
    #: How often the collector re-reads the key store (a revoked key stops working within this).
    key_refresh_s: float = Field(default=1.0, gt=0)
    #: librdkafka `linger.ms` of the collector's producer.
    linger_ms: int = Field(default=5, ge=0)
    #: One JSON log line per request (errors and state changes are always logged).
    access_log: bool = True

    @model_validator(mode="after")
    def _burst_holds_a_batch(self) -> CollectorSettings:
        if self.burst_per_key < self.max_batch_items:
            raise ValueError(
                f"collector.burst_per_key ({self.burst_per_key}) must be at least collector.max_batch_items "
                f"({self.max_batch_items}), or a full batch could never pass the rate limit"
            )
        if self.buffer_size < self.max_batch_items:
            raise ValueError(
                f"collector.buffer_size ({self.buffer_size}) must be at least collector.max_batch_items "
                f"({self.max_batch_items}), or a full batch could never be buffered"
            )
        return self


class Settings(BaseSettings):
    """Every setting of playpulse. Create with `load_settings()`."""

    model_config = SettingsConfigDict(
        env_prefix="PLAYPULSE_",
        env_nested_delimiter="__",
        extra="forbid",
    )

    #: Root of all local state: the lake, the DuckDB file, registry state, pid files, logs.
    data_dir: Path = Path(".playpulse")
    kafka: KafkaSettings = KafkaSettings()
    registry: RegistrySettings = RegistrySettings()
    warehouse: WarehouseSettings = WarehouseSettings()
    collector: CollectorSettings = CollectorSettings()
    #: Key of the keyed hash that pseudonymizes user ids before the lake; generated into
    #: `data_dir/secrets/` on first use when not set. Set it explicitly in production.
    pseudonym_key: SecretStr | None = None
    #: Consumer group of the lander.
    lander_group: str = "playpulse-lander"
    #: Consumer group of the QoE job.
    qoe_group: str = "playpulse-qoe"
    #: The lander writes a file per partition when this many events are buffered, or after `lander_flush_s`.
    lander_flush_events: int = Field(default=200_000, ge=1)
    lander_flush_s: float = Field(default=10.0, gt=0)

    @property
    def lake_dir(self) -> Path:
        return self.data_dir / "lake"

    @property
    def duckdb_file(self) -> Path:
        path = self.warehouse.duckdb_path
        return path if path.is_absolute() else self.data_dir / path

    @property
    def clickhouse_dsn(self) -> str:
        dsn = self.warehouse.clickhouse_dsn.get_secret_value()
        if dsn.startswith("chdb:///") and not dsn.startswith("chdb:////"):
            # A relative chdb path lives under the data directory.
            return f"chdb://{(self.data_dir / dsn.removeprefix('chdb:///')).resolve()}"
        return dsn

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_file = Path(os.environ.get("PLAYPULSE_CONFIG", "playpulse.toml"))
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls, toml_file=toml_file))


def load_settings(**overrides: Any) -> Settings:
    """Load and validate the settings; keyword arguments override every other source."""
    return Settings(**overrides)
