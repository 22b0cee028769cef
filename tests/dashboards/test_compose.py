"""docker-compose.yml: valid against the Compose specification schema, and consistent with the code.

No Docker engine runs here, so the file is checked statically: the schema (the compose-spec JSON
schema vendored by the check-jsonschema package, Apache-2.0), the Kafka KRaft quorum, the topics
against `schemas/topics.py`, every PLAYPULSE_ variable against the settings model, every
playpulse command against the CLI, and Grafana's mounts against the generated provisioning.
"""

from __future__ import annotations

import base64
import json
import re
import shlex
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from playpulse.cli import cli
from playpulse.config import load_settings
from schemas.topics import TOPICS

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
_SECRETS = {
    "CLICKHOUSE_PASSWORD": "ch-secret",
    "PLAYPULSE_PSEUDONYM_KEY": "a-pseudonym-key-of-32-bytes-0000",
    "GRAFANA_ADMIN_PASSWORD": "admin-secret",
}


def _compose_schema() -> dict[str, Any]:
    text = (resources.files("check_jsonschema.builtin_schemas.vendor") / "compose-spec.json").read_text()
    return json.loads(text)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def _interpolate(value: str) -> str:
    """Compose variable interpolation with the test secrets: ${X}, ${X:?msg}, ${X:-default}, $$."""

    def one(match: re.Match[str]) -> str:
        name, _, rest = match.group(1).partition(":")
        if name in _SECRETS:
            return _SECRETS[name]
        if rest.startswith("-"):
            return rest[1:]
        raise AssertionError(f"compose needs ${{{name}}}, which has no default")

    return re.sub(r"\$\{([^}]+)\}", one, value).replace("$$", "$")


def test_compose_file_validates_against_the_compose_specification(compose: dict[str, Any]) -> None:
    schema = _compose_schema()
    assert "services" in schema["properties"]
    jsonschema.validate(compose, schema, cls=jsonschema.Draft7Validator)


def test_the_schema_rejects_a_broken_file(compose: dict[str, Any]) -> None:
    broken = json.loads(json.dumps(compose))
    broken["services"]["collector"]["ports"] = {"not": "a list"}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, _compose_schema(), cls=jsonschema.Draft7Validator)


def test_kafka_is_a_three_node_kraft_quorum(compose: dict[str, Any]) -> None:
    brokers = {name: s for name, s in compose["services"].items() if re.fullmatch(r"kafka-\d", name)}
    assert len(brokers) == 3
    node_ids = set()
    for name, service in brokers.items():
        env = service["environment"]
        assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
        assert env["KAFKA_ADVERTISED_LISTENERS"] == f"PLAINTEXT://{name}:9092"
        voters = env["KAFKA_CONTROLLER_QUORUM_VOTERS"].split(",")
        assert sorted(voters) == sorted(
            f"{s['environment']['KAFKA_NODE_ID']}@{n}:9093" for n, s in brokers.items()
        )
        assert env["KAFKA_MIN_INSYNC_REPLICAS"] == "2" and env["KAFKA_DEFAULT_REPLICATION_FACTOR"] == "3"
        node_ids.add(env["KAFKA_NODE_ID"])
        # KRaft formats storage with a cluster id: 16 bytes, base64url without padding.
        cluster_id = env["CLUSTER_ID"]
        assert len(cluster_id) == 22 and len(base64.urlsafe_b64decode(cluster_id + "==")) == 16
    assert len(node_ids) == 3


def test_topics_match_schemas_topics(compose: dict[str, Any]) -> None:
    script = compose["services"]["kafka-topics"]["command"][0]
    created = {}
    for line in script.splitlines():
        if not line.strip().startswith("create "):
            continue
        words = shlex.split(line)
        if words[:1] == ["create"]:
            configs = dict(w.split("=", 1) for w in words[3:] if w != "--config")
            created[words[1]] = (int(words[2]), configs)
    assert created == {t.name: (t.partitions, dict(t.config)) for t in TOPICS}


def _playpulse_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {n: s for n, s in compose["services"].items() if s.get("image") == "playpulse:latest"}


def test_playpulse_services_share_the_settings_of_the_embedded_stack(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    services = _playpulse_services(compose)
    assert {
        "collector",
        "lander",
        "qoe",
        "alerts",
        "batch",
        "init",
        "web",
        "spark-master",
        "spark-worker",
    } <= set(services)
    assert services["qoe"]["deploy"]["replicas"] >= 2, "the QoE workers are scaled out"
    for name, service in services.items():
        for key in [k for k in __import__("os").environ if k.startswith("PLAYPULSE_")]:
            monkeypatch.delenv(key)
        for key, value in service["environment"].items():
            assert key.startswith("PLAYPULSE_"), f"{name}: {key} is not a playpulse setting"
            monkeypatch.setenv(key, _interpolate(str(value)))
        settings = load_settings()  # fails on an unknown or invalid PLAYPULSE_ variable
        assert not settings.kafka.embedded and not settings.registry.embedded, name
        assert settings.warehouse.backend == "clickhouse", name
        assert settings.clickhouse_dsn.startswith("http://playpulse:ch-secret@clickhouse:8123"), name
        assert settings.kafka.bootstrap_servers.count("kafka-") == 3, name


def test_every_playpulse_command_exists(compose: dict[str, Any]) -> None:
    for name, service in _playpulse_services(compose).items():
        command = service["command"]
        if command[0] != "playpulse":
            assert command[0] == "spark-class", name
            continue
        group: Any = cli
        for word in command[1:]:
            if word.startswith("-"):
                break
            assert hasattr(group, "get_command"), f"{name}: {' '.join(command)}"
            group = group.get_command(None, word)
            assert group is not None, f"{name}: `{' '.join(command)}` is not a playpulse command"


def test_grafana_is_provisioned_from_dashboards(compose: dict[str, Any]) -> None:
    grafana = compose["services"]["grafana"]
    assert grafana["image"].startswith("grafana/grafana:11.")
    assert "grafana-clickhouse-datasource" in grafana["environment"]["GF_INSTALL_PLUGINS"]
    mounts = {m.split(":")[0]: m.split(":")[1] for m in grafana["volumes"] if m.startswith("./")}
    assert mounts["./dashboards/provisioning"] == "/etc/grafana/provisioning"
    assert (ROOT / "dashboards/provisioning/datasources/playpulse.yaml").exists()
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    relative = home.removeprefix("/etc/grafana/provisioning/")
    assert (ROOT / "dashboards/provisioning" / relative).exists()
    # The data source reads the ClickHouse password from Grafana's environment.
    assert "CLICKHOUSE_PASSWORD" in grafana["environment"]


def test_mounted_files_exist(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        for mount in service.get("volumes", []):
            source = mount.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"{name} mounts {source}, which does not exist"
        build = service.get("build")
        if build:
            assert (ROOT / build["context"] / build["dockerfile"]).exists()
