"""The embedded registry over real HTTP with the playpulse client: the Confluent API subset it serves."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import httpx
import pytest

from schemas.events import playback_event_schema
from schemas.history import published_versions
from schemas.registry import RegistryClient, RegistryError, event_serde
from schemas.registry_server import RegistryStore, create_app
from tests.support.net import serve

SUBJECT = "playback.events-value"


@pytest.fixture
def registry(tmp_path: Path):
    store = RegistryStore(tmp_path / "registry.sqlite")
    with serve(create_app(store)) as url, RegistryClient(url) as client:
        yield client
    store.close()


def test_register_is_idempotent_and_ids_are_global(registry: RegistryClient) -> None:
    v1, v2 = (schema for _, schema in published_versions())
    id1 = registry.register(SUBJECT, v1)
    id2 = registry.register(SUBJECT, v2)
    assert id1 != id2
    assert registry.register(SUBJECT, v2) == id2
    assert registry.versions(SUBJECT) == [1, 2]
    assert registry.register("other-topic-value", v2) == id2  # same schema, same id
    assert registry.schema(id1) == json.loads(json.dumps(v1))
    assert registry.latest(SUBJECT)[0] == id2
    assert sorted(registry.subjects()) == ["other-topic-value", SUBJECT]


def test_an_incompatible_schema_is_refused_with_409(registry: RegistryClient) -> None:
    registry.register(SUBJECT, playback_event_schema())
    bad = copy.deepcopy(playback_event_schema())
    bad["fields"].append({"name": "drm_system", "type": "string"})
    problems = registry.check_compatibility(SUBJECT, bad)
    assert any("drm_system: new field without a default" in p for p in problems)
    with pytest.raises(RegistryError, match="incompatible") as caught:
        registry.register(SUBJECT, bad)
    assert caught.value.status == 409
    good = copy.deepcopy(playback_event_schema())
    good["fields"].append({"name": "drm_system", "type": ["null", "string"], "default": None})
    assert registry.check_compatibility(SUBJECT, good) == []


def test_compatibility_config_global_and_per_subject(registry: RegistryClient) -> None:
    assert registry.compatibility() == "BACKWARD"
    registry.register(SUBJECT, playback_event_schema())
    assert registry.set_compatibility("NONE", SUBJECT) == "NONE"
    assert registry.compatibility(SUBJECT) == "NONE"
    bad = copy.deepcopy(playback_event_schema())
    bad["fields"].append({"name": "drm_system", "type": "string"})
    registry.register(SUBJECT, bad)  # accepted under NONE
    with pytest.raises(RegistryError, match="Invalid compatibility level"):
        registry.set_compatibility("SOMETIMES")


def test_errors_have_the_confluent_shape(registry: RegistryClient) -> None:
    answer = httpx.get(f"{registry.url}/subjects/nope/versions")
    assert answer.status_code == 404 and answer.json()["error_code"] == 40401
    answer = httpx.get(f"{registry.url}/schemas/ids/999")
    assert answer.status_code == 404 and answer.json()["error_code"] == 40403
    answer = httpx.post(f"{registry.url}/subjects/x/versions", json={"schema": "{not json"})
    assert answer.status_code == 422 and answer.json()["error_code"] == 42201
    assert answer.headers["content-type"].startswith("application/vnd.schemaregistry.v1+json")


def test_state_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "registry.sqlite"
    store = RegistryStore(path)
    with serve(create_app(store)) as url, RegistryClient(url) as client:
        schema_id = event_serde(client).schema_id
    store.close()
    store = RegistryStore(path)
    with serve(create_app(store)) as url, RegistryClient(url) as client:
        assert client.latest(SUBJECT)[0] == schema_id
        assert client.register(SUBJECT, playback_event_schema()) == schema_id
    store.close()


def test_unreachable_registry_says_what_to_do() -> None:
    with RegistryClient("http://127.0.0.1:9", timeout_s=1) as client, pytest.raises(
        RegistryError, match="playpulse up"
    ):
        client.subjects()
