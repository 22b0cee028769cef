"""Settings: defaults point at the embedded stack; environment and TOML override; bad values fail on load."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from playpulse.config import load_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import os

    for name in [n for n in os.environ if n.startswith("PLAYPULSE_")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def test_defaults_point_at_the_embedded_stack() -> None:
    settings = load_settings()
    assert settings.kafka.embedded and settings.kafka.bootstrap_servers == "127.0.0.1:19092"
    assert settings.registry.embedded and settings.warehouse.backend == "duckdb"
    assert settings.duckdb_file == Path(".playpulse/warehouse.duckdb")
    assert settings.kafka.client_config() == {
        "bootstrap.servers": "127.0.0.1:19092",
        "security.protocol": "PLAINTEXT",
    }


def test_environment_overrides_toml_which_overrides_defaults(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "playpulse.toml").write_text(
        '[kafka]\nembedded = false\nbootstrap_servers = "k1:9092,k2:9092"\n'
        'security_protocol = "SASL_SSL"\nsasl_mechanism = "SCRAM-SHA-512"\n'
        'sasl_username = "pp"\nsasl_password = "s3cret"\n'
        '[warehouse]\nbackend = "clickhouse"\nclickhouse_dsn = "http://u:p@ch:8123/pp"\n'
    )
    monkeypatch.setenv("PLAYPULSE_KAFKA__BOOTSTRAP_SERVERS", "k9:9093")
    settings = load_settings()
    assert settings.kafka.bootstrap_servers == "k9:9093"
    assert settings.kafka.client_config()["sasl.password"] == "s3cret"
    assert "s3cret" not in repr(settings)
    assert settings.clickhouse_dsn == "http://u:p@ch:8123/pp"


def test_config_file_can_be_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "prod.toml").write_text('data_dir = "/srv/pp"\n')
    monkeypatch.setenv("PLAYPULSE_CONFIG", str(tmp_path / "prod.toml"))
    assert load_settings().data_dir == Path("/srv/pp")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"kafka": {"sasl_mechanism": "PLAIN"}}, "also set kafka.sasl_username"),
        ({"warehouse": {"backend": "oracle"}}, "backend"),
        ({"lander_flush_s": 0}, "lander_flush_s"),
        ({"kafka": {"security_protocol": "TLS"}}, "security_protocol"),
        ({"no_such_setting": 1}, "no_such_setting"),
    ],
)
def test_invalid_settings_fail_on_load_naming_the_field(overrides: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        load_settings(**overrides)
