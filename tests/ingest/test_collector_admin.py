"""`playpulse keys create/list/revoke` as a user runs them (a data directory, no stack needed)."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from ingest.collector.keys import KeyStore, key_store_path
from ingest.collector.signing import signing_secret
from playpulse.cli import cli
from playpulse.config import Settings


def run(settings: Settings, *args: str) -> str:
    result = CliRunner().invoke(cli, list(args), env={"PLAYPULSE_DATA_DIR": str(settings.data_dir)})
    assert result.exit_code == 0, result.output
    return result.output


def test_create_list_revoke(settings: Settings) -> None:
    created = run(
        settings, "keys", "create", "tv-app", "--rate", "500", "--burst", "2000", "--require-signature"
    )
    fields = dict(line.split("  ", 1) for line in created.splitlines()[:3])
    key_id, api_key, secret = (fields[name].strip() for name in ("key id", "api key", "signing secret"))
    assert api_key.startswith(f"pp_{key_id}_")
    store = KeyStore(key_store_path(settings.data_dir))
    key = store.authenticate(api_key)
    assert (key.rate_per_s, key.burst, key.require_signature) == (500.0, 2000, True)
    server_key = (settings.data_dir / "secrets" / "collector-signing.key").read_text().strip().encode()
    assert secret == signing_secret(server_key, api_key)

    listed = run(settings, "keys", "list")
    assert key_id in listed and "tv-app" in listed and "active" in listed and api_key not in listed

    assert run(settings, "keys", "revoke", key_id).strip() == f"revoked {key_id} (tv-app)"
    assert "revoked" in run(settings, "keys", "list").splitlines()[1]
    env = {"PLAYPULSE_DATA_DIR": str(settings.data_dir)}
    result = CliRunner().invoke(cli, ["keys", "revoke", key_id], env=env)
    assert result.exit_code == 1 and "no active key" in result.output


def test_keys_live_in_the_data_directory(settings: Settings) -> None:
    run(settings, "keys", "create", "web")
    assert Path(key_store_path(settings.data_dir)).exists()
