"""A client of the Confluent Schema Registry REST API (Confluent, Karapace, or playpulse's own).

Subjects follow the TopicNameStrategy: the value schema of topic `T` is subject `T-value`.
Ids and schemas are cached: a schema id never changes its schema, so each is fetched once.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import httpx

from schemas.events import playback_event_schema
from schemas.serde import AvroSerde
from schemas.topics import EVENTS

__all__ = ["RegistryClient", "RegistryError", "UnknownSchemaId", "event_serde", "subject_for"]

_MEDIA_TYPE = "application/vnd.schemaregistry.v1+json"


class RegistryError(RuntimeError):
    """The registry refused a request or could not be reached; the message says which and why."""

    def __init__(self, message: str, status: int | None = None, error_code: int | None = None) -> None:
        super().__init__(message)
        self.status, self.error_code = status, error_code


class UnknownSchemaId(RegistryError, LookupError):
    """The registry answered that no schema has this id."""


def subject_for(topic: str) -> str:
    return f"{topic}-value"


class RegistryClient:
    def __init__(self, url: str, auth: tuple[str, str] | None = None, timeout_s: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.url, auth=auth, timeout=timeout_s, headers={"Accept": _MEDIA_TYPE}
        )
        self._schemas: dict[int, dict[str, Any]] = {}

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        try:
            response = self._http.request(
                method, path, json=body, headers={"Content-Type": _MEDIA_TYPE} if body is not None else None
            )
        except httpx.HTTPError as exc:
            raise RegistryError(
                f"schema registry at {self.url} is unreachable ({exc}); is `playpulse up` running, "
                "or is registry.url right?"
            ) from exc
        if response.status_code >= 400:
            try:
                detail = response.json()
                message, code = detail.get("message", response.text), detail.get("error_code")
            except ValueError:
                message, code = response.text, None
            raise RegistryError(
                f"{method} {path}: {response.status_code} {message}", response.status_code, code
            )
        return response.json()

    def register(self, subject: str, schema: Mapping[str, Any]) -> int:
        """Register `schema` under `subject` (idempotent) and return its global id."""
        answer = self._call("POST", f"/subjects/{subject}/versions", {"schema": json.dumps(schema)})
        schema_id = int(answer["id"])
        self._schemas.setdefault(schema_id, dict(schema))
        return schema_id

    def schema(self, schema_id: int) -> dict[str, Any]:
        if schema_id not in self._schemas:
            try:
                answer = self._call("GET", f"/schemas/ids/{schema_id}")
            except RegistryError as exc:
                if exc.status == 404:
                    raise UnknownSchemaId(str(exc), exc.status, exc.error_code) from exc
                raise
            self._schemas[schema_id] = json.loads(answer["schema"])
        return self._schemas[schema_id]

    def latest(self, subject: str) -> tuple[int, dict[str, Any]]:
        answer = self._call("GET", f"/subjects/{subject}/versions/latest")
        return int(answer["id"]), json.loads(answer["schema"])

    def subjects(self) -> list[str]:
        return list(self._call("GET", "/subjects"))

    def versions(self, subject: str) -> list[int]:
        return list(self._call("GET", f"/subjects/{subject}/versions"))

    def check_compatibility(
        self, subject: str, schema: Mapping[str, Any], version: str = "latest"
    ) -> list[str]:
        """Problems of `schema` against a registered version under the subject's level (empty: compatible)."""
        answer = self._call(
            "POST",
            f"/compatibility/subjects/{subject}/versions/{version}?verbose=true",
            {"schema": json.dumps(schema)},
        )
        return [] if answer["is_compatible"] else list(answer.get("messages", ["incompatible"]))

    def set_compatibility(self, level: str, subject: str | None = None) -> str:
        path = f"/config/{subject}" if subject else "/config"
        return str(self._call("PUT", path, {"compatibility": level})["compatibility"])

    def compatibility(self, subject: str | None = None) -> str:
        path = f"/config/{subject}?defaultToGlobal=true" if subject else "/config"
        return str(self._call("GET", path)["compatibilityLevel"])


def event_serde(client: RegistryClient) -> AvroSerde:
    """A serde for `playback.events` whose writer schema is the current `PlaybackEvent`, registered."""
    schema = playback_event_schema()
    schema_id = client.register(subject_for(EVENTS.name), schema)
    return AvroSerde(schema, schema_id, writer_schemas=client.schema)
