"""Typed configuration of every playpulse component, read from the environment in this one place.

Sources, highest priority first: keyword arguments, environment variables (`PLAYPULSE_…`,
nested with `__`, e.g. `PLAYPULSE_KAFKA__BOOTSTRAP_SERVERS`), a TOML file (`playpulse.toml` in
the working directory, or the path in `PLAYPULSE_CONFIG`), then the defaults below, which point
every component at the embedded local stack. Invalid values fail on load with the field named.
"""

from __future__ import annotations

import os
from datetime import time
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

__all__ = [
    "AlertsSettings",
    "BatchSettings",
    "CollectorSettings",
    "DashboardSettings",
    "KafkaSettings",
    "NotifierSettings",
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


class BatchSettings(BaseModel):
    """The nightly Spark jobs (`playpulse batch run|schedule`) and the A/B readouts they write."""

    #: Spark master URL: `local[*]` runs Spark inside this process's JVM; `spark://host:7077` (or
    #: `yarn`, `k8s://…`) sends the work to a cluster.
    spark_master: str = "local[*]"
    #: Heap of the Spark driver JVM (Spark memory syntax, e.g. 2g, 512m).
    driver_memory: str = Field(default="2g", pattern=r"^[0-9]+[kmgtKMGT]?$")
    #: Partitions of every Spark shuffle: a few per core (Spark's default of 200 is for clusters).
    shuffle_partitions: int = Field(default=4, ge=1)
    #: `playpulse batch schedule` runs the nightly jobs for yesterday at this local time…
    nightly_at: time = time(3, 0)
    #: …in this IANA time zone (None: the machine's local zone).
    timezone: str | None = None
    #: `batch schedule` catches up at most this many missed days when it starts.
    catch_up_days: int = Field(default=7, ge=0)
    #: Where outputs are staged before they are validated and published; relative to `data_dir`.
    staging_dir: Path = Path("staging")
    #: Where `playpulse readout` writes HTML reports; relative to `data_dir`.
    readout_dir: Path = Path("readouts")
    #: Readouts: confidence level of every interval, SRM alarm threshold, CUPED pre-period,
    #: bootstrap replicates for quantile metrics, the longest test the readout looks back over.
    confidence: float = Field(default=0.95, gt=0.5, lt=1)
    srm_threshold: float = Field(default=0.001, gt=0, lt=1)
    pre_period_days: int = Field(default=7, ge=1)
    bootstrap_replicates: int = Field(default=2000, ge=100)
    max_test_days: int = Field(default=90, ge=1)
    #: Planned split of a test, `{test_id: {cell: weight}}`, for the SRM check; a test not listed is
    #: expected to split evenly across the cells seen. The control is the cell named `control`,
    #: else the first cell listed here, else the first in sort order.
    experiments: dict[str, dict[str, float]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _valid_experiments(self) -> BatchSettings:
        for test, cells in self.experiments.items():
            if len(cells) < 2 or any(w <= 0 for w in cells.values()):
                raise ValueError(f"batch.experiments.{test}: give at least two cells with positive weights")
        if self.timezone is not None:
            try:
                ZoneInfo(self.timezone)
            except (ZoneInfoNotFoundError, ValueError) as exc:
                raise ValueError(f"batch.timezone {self.timezone!r} is not an IANA time zone") from exc
        return self


class DashboardSettings(BaseModel):
    """The local web dashboard (`playpulse dashboards serve`, started by `playpulse up`) and Grafana."""

    host: str = "127.0.0.1"
    port: int = Field(default=18088, ge=1, le=65535)
    #: How often the page reloads its panels, seconds.
    refresh_s: float = Field(default=5.0, ge=1.0)
    #: The live QoE panels show this many minutes up to now.
    live_minutes: int = Field(default=60, ge=5, le=24 * 60)
    #: How long a refresh waits for the DuckDB file while a writer holds it, seconds.
    lock_wait_s: float = Field(default=2.0, ge=0)
    #: `playpulse dashboards publish` defaults: Grafana's URL and a service-account token.
    grafana_url: str | None = None
    grafana_token: SecretStr | None = None


class NotifierSettings(BaseModel):
    """One place alerts are sent: a generic JSON webhook, a Slack-compatible webhook, Prometheus
    Alertmanager (the v2 API base URL; alerts go to `POST {url}/api/v2/alerts`) or PagerDuty
    Events v2 (`url` defaults to the public enqueue endpoint; `routing_key` is the integration key)."""

    kind: Literal["webhook", "slack", "alertmanager", "pagerduty"]
    url: str = ""
    routing_key: SecretStr | None = None
    #: Only alerts of at least this severity go to this notifier.
    min_severity: Literal["info", "warning", "critical"] = "info"
    timeout_s: float = Field(default=5.0, gt=0)

    @model_validator(mode="after")
    def _complete(self) -> NotifierSettings:
        if self.kind == "pagerduty":
            if self.routing_key is None:
                raise ValueError("alerts.notifiers: a pagerduty notifier needs routing_key")
            if not self.url:
                self.url = "https://events.pagerduty.com/v2/enqueue"
        if not self.url.startswith(("http://", "https://")):
            raise ValueError(
                f"alerts.notifiers: a {self.kind} notifier needs an http(s) url, not {self.url!r}"
            )
        return self


class AlertsSettings(BaseModel):
    """The alerts app (`playpulse alerts`, started by `playpulse up`): rules, baselines, outputs."""

    #: Versioned TOML rules file; None means the rules shipped with playpulse (alerts/rules.toml).
    rules_file: Path | None = None
    #: faust application id (also its consumer group) and its web view.
    app_id: str = "playpulse-alerts"
    web_host: str = "127.0.0.1"
    web_port: int = Field(default=18090, ge=1, le=65535)
    #: Hours of qoe_minute history in the warehouse that train the baselines on start.
    warmup_hours: float = Field(default=6.0, ge=0)
    #: A window is judged when every source partition has closed it; a qoe.minute partition that
    #: delivered nothing for this long (while others did) no longer holds it back.
    close_grace_s: float = Field(default=20.0, gt=0)
    #: A playback.events partition whose QoE rows were never seen holds windows back until the
    #: others are this many windows ahead in event time (raise it to replay a backlog at once).
    source_idle_windows: int = Field(default=5, ge=0)
    #: Where alerts are sent (besides the qoe.alerts topic and the warehouse), e.g. in TOML
    #: `[[alerts.notifiers]]` tables, or PLAYPULSE_ALERTS__NOTIFIERS='[{"kind": "slack", "url": "…"}]'.
    notifiers: list[NotifierSettings] = Field(default_factory=list)
    #: Delivery attempts per notification, and the first retry delay (doubling, at most 60 s).
    notify_attempts: int = Field(default=8, ge=1)
    notify_backoff_s: float = Field(default=0.5, gt=0)
    #: Notifications held per notifier while it is slow or down; beyond, the oldest are dropped
    #: (and counted and logged).
    notify_queue: int = Field(default=1_000, ge=1)


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
    alerts: AlertsSettings = AlertsSettings()
    dashboard: DashboardSettings = DashboardSettings()
    batch: BatchSettings = BatchSettings()
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
