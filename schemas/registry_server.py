"""The embedded schema registry: the subset of the Confluent Schema Registry REST API playpulse uses.

No Confluent-compatible registry server installs on the embedded stack (Karapace is not on
PyPI, Confluent's is a JVM distribution outside the package registries), so playpulse serves
this one. Production points `registry.url` at Confluent Schema Registry or Karapace instead;
the client (`schemas.registry`) speaks only the endpoints below, which behave like theirs:

    GET  /subjects                                 POST /subjects/{s}              (look up)
    GET  /subjects/{s}/versions                    POST /subjects/{s}/versions     (register)
    GET  /subjects/{s}/versions/{v|latest}         GET  /schemas/ids/{id}
    POST /compatibility/subjects/{s}/versions/{v|latest}
    GET|PUT /config      GET|PUT /config/{s}

Schema ids are global and stable: the same schema (by canonical JSON) registered under two
subjects has one id. State lives in a SQLite file, written in a transaction per change, so it
survives restarts. Only AVRO schemas are accepted.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

import fastavro
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from schemas.compatibility import reader_problems

__all__ = ["COMPATIBILITY_LEVELS", "RegistryStore", "create_app"]

COMPATIBILITY_LEVELS = (
    "NONE",
    "BACKWARD",
    "BACKWARD_TRANSITIVE",
    "FORWARD",
    "FORWARD_TRANSITIVE",
    "FULL",
    "FULL_TRANSITIVE",
)
_MEDIA_TYPE = "application/vnd.schemaregistry.v1+json"


class RegistryError(Exception):
    """An answer in the Confluent error shape: HTTP status, error_code, message."""

    def __init__(self, status: int, error_code: int, message: str) -> None:
        super().__init__(message)
        self.status, self.error_code, self.message = status, error_code, message


def _canonical(schema: Any) -> str:
    return json.dumps(schema, sort_keys=True, separators=(",", ":"))


class RegistryStore:
    """Subjects, versions, schema ids and compatibility config, durable in SQLite."""

    def __init__(self, path: Path, default_compatibility: str = "BACKWARD") -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._lock = threading.Lock()
        with self._lock:
            self._db.executescript(
                """
                CREATE TABLE IF NOT EXISTS schemas (id INTEGER PRIMARY KEY, canonical TEXT UNIQUE NOT NULL);
                CREATE TABLE IF NOT EXISTS versions (
                    subject TEXT NOT NULL, version INTEGER NOT NULL, schema_id INTEGER NOT NULL,
                    PRIMARY KEY (subject, version));
                CREATE TABLE IF NOT EXISTS config (subject TEXT PRIMARY KEY, compatibility TEXT NOT NULL);
                """
            )
            self._db.execute(
                "INSERT OR IGNORE INTO config VALUES ('', ?)", (default_compatibility,)
            )

    def close(self) -> None:
        self._db.close()

    # -- reads ---------------------------------------------------------------------------------
    def subjects(self) -> list[str]:
        rows = self._db.execute("SELECT DISTINCT subject FROM versions ORDER BY subject").fetchall()
        return [r[0] for r in rows]

    def versions(self, subject: str) -> list[int]:
        rows = self._db.execute(
            "SELECT version FROM versions WHERE subject = ? ORDER BY version", (subject,)
        ).fetchall()
        if not rows:
            raise RegistryError(404, 40401, f"Subject '{subject}' not found.")
        return [r[0] for r in rows]

    def version(self, subject: str, version: str) -> dict[str, Any]:
        versions = self.versions(subject)
        if version in ("latest", "-1"):
            number = versions[-1]
        else:
            try:
                number = int(version)
            except ValueError:
                raise RegistryError(422, 42202, f"Invalid version {version!r}: use a number or 'latest'.") from None
            if number not in versions:
                raise RegistryError(404, 40402, f"Version {number} not found.")
        (schema_id,) = self._db.execute(
            "SELECT schema_id FROM versions WHERE subject = ? AND version = ?", (subject, number)
        ).fetchone()
        return {"subject": subject, "version": number, "id": schema_id, "schema": self.schema(schema_id)}

    def schema(self, schema_id: int) -> str:
        row = self._db.execute("SELECT canonical FROM schemas WHERE id = ?", (schema_id,)).fetchone()
        if row is None:
            raise RegistryError(404, 40403, f"Schema {schema_id} not found")
        return row[0]

    def compatibility(self, subject: str | None = None, fallback: bool = True) -> str | None:
        if subject is not None:
            row = self._db.execute("SELECT compatibility FROM config WHERE subject = ?", (subject,)).fetchone()
            if row or not fallback:
                return row[0] if row else None
        return self._db.execute("SELECT compatibility FROM config WHERE subject = ''").fetchone()[0]

    def lookup(self, subject: str, schema: Any) -> dict[str, Any]:
        canonical = _canonical(schema)
        row = self._db.execute(
            "SELECT v.version, s.id FROM versions v JOIN schemas s ON s.id = v.schema_id "
            "WHERE v.subject = ? AND s.canonical = ?",
            (subject, canonical),
        ).fetchone()
        if row is None:
            self.versions(subject)  # raises 40401 for an unknown subject
            raise RegistryError(404, 40403, "Schema not found")
        return {"subject": subject, "version": row[0], "id": row[1], "schema": canonical}

    def problems(self, subject: str, schema: Any, against: str = "all") -> list[str]:
        """Compatibility problems of `schema` against the subject's versions under its level."""
        level = self.compatibility(subject) or "BACKWARD"
        if level == "NONE":
            return []
        try:
            versions = self.versions(subject)
        except RegistryError:
            return []
        if against != "all":
            versions = [self.version(subject, against)["version"]]
        elif not level.endswith("_TRANSITIVE"):
            versions = versions[-1:]
        problems: list[str] = []
        for number in versions:
            old = json.loads(self.version(subject, str(number))["schema"])
            if level.startswith(("BACKWARD", "FULL")):
                problems += [f"v{number} BACKWARD {p}" for p in reader_problems(schema, old)]
            if level.startswith(("FORWARD", "FULL")):
                problems += [f"v{number} FORWARD {p}" for p in reader_problems(old, schema)]
        return problems

    # -- writes --------------------------------------------------------------------------------
    def register(self, subject: str, schema: Any) -> int:
        with self._lock:
            try:
                return self.lookup(subject, schema)["id"]
            except RegistryError:
                pass
            problems = self.problems(subject, schema)
            if problems:
                raise RegistryError(
                    409,
                    409,
                    "Schema being registered is incompatible with an earlier schema for subject "
                    f"'{subject}': " + "; ".join(problems),
                )
            canonical = _canonical(schema)
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute("INSERT OR IGNORE INTO schemas (canonical) VALUES (?)", (canonical,))
                (schema_id,) = self._db.execute(
                    "SELECT id FROM schemas WHERE canonical = ?", (canonical,)
                ).fetchone()
                (latest,) = self._db.execute(
                    "SELECT COALESCE(MAX(version), 0) FROM versions WHERE subject = ?", (subject,)
                ).fetchone()
                self._db.execute("INSERT INTO versions VALUES (?, ?, ?)", (subject, latest + 1, schema_id))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            return schema_id

    def set_compatibility(self, subject: str | None, level: str) -> str:
        if level not in COMPATIBILITY_LEVELS:
            raise RegistryError(422, 42203, f"Invalid compatibility level {level!r}: one of {COMPATIBILITY_LEVELS}")
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO config VALUES (?, ?)", (subject or "", level))
        return level


def _parse_schema_body(body: Any) -> Any:
    if not isinstance(body, dict) or not isinstance(body.get("schema"), str):
        raise RegistryError(422, 42201, "Body must be a JSON object with the schema as a string in 'schema'.")
    if body.get("schemaType", "AVRO") != "AVRO":
        raise RegistryError(422, 42201, f"Only AVRO schemas are supported, not {body['schemaType']}.")
    try:
        schema = json.loads(body["schema"])
        fastavro.parse_schema(schema)
    except (ValueError, TypeError, KeyError, fastavro.schema.SchemaParseException) as exc:
        raise RegistryError(422, 42201, f"Invalid schema: {exc}") from exc
    return schema


def create_app(store: RegistryStore) -> Starlette:
    """The registry as an ASGI application over `store`."""

    async def body_of(request: Request) -> Any:
        try:
            return await request.json()
        except ValueError as exc:
            raise RegistryError(400, 400, f"Body is not JSON: {exc}") from exc

    async def subjects(request: Request) -> Any:
        return store.subjects()

    async def subject_versions(request: Request) -> Any:
        subject = request.path_params["subject"]
        if request.method == "POST":
            schema = _parse_schema_body(await body_of(request))
            return {"id": store.register(subject, schema)}
        return store.versions(subject)

    async def subject_version(request: Request) -> Any:
        return store.version(request.path_params["subject"], request.path_params["version"])

    async def lookup(request: Request) -> Any:
        schema = _parse_schema_body(await body_of(request))
        return store.lookup(request.path_params["subject"], schema)

    async def schema_by_id(request: Request) -> Any:
        try:
            schema_id = int(request.path_params["id"])
        except ValueError:
            raise RegistryError(404, 40403, "Schema not found") from None
        return {"schema": store.schema(schema_id)}

    async def compatibility(request: Request) -> Any:
        schema = _parse_schema_body(await body_of(request))
        subject, version = request.path_params["subject"], request.path_params["version"]
        problems = store.problems(subject, schema, against=version)
        answer: dict[str, Any] = {"is_compatible": not problems}
        if request.query_params.get("verbose") == "true":
            answer["messages"] = problems
        return answer

    async def config(request: Request) -> Any:
        subject = request.path_params.get("subject")
        if request.method == "PUT":
            body = await body_of(request)
            level = body.get("compatibility") if isinstance(body, dict) else None
            return {"compatibility": store.set_compatibility(subject, str(level))}
        default_to_global = request.query_params.get("defaultToGlobal") == "true"
        level = store.compatibility(subject, fallback=subject is None or default_to_global)
        if level is None:
            raise RegistryError(404, 40408, f"Subject '{subject}' does not have subject-level compatibility configured")
        return {"compatibilityLevel": level}

    def endpoint(handler: Any) -> Any:
        async def run(request: Request) -> JSONResponse:
            try:
                return JSONResponse(await handler(request), media_type=_MEDIA_TYPE)
            except RegistryError as exc:
                return JSONResponse(
                    {"error_code": exc.error_code, "message": exc.message},
                    status_code=exc.status,
                    media_type=_MEDIA_TYPE,
                )

        return run

    routes = [
        Route("/subjects", endpoint(subjects), methods=["GET"]),
        Route("/subjects/{subject}/versions", endpoint(subject_versions), methods=["GET", "POST"]),
        Route("/subjects/{subject}/versions/{version}", endpoint(subject_version), methods=["GET"]),
        Route("/subjects/{subject}", endpoint(lookup), methods=["POST"]),
        Route("/schemas/ids/{id}", endpoint(schema_by_id), methods=["GET"]),
        Route(
            "/compatibility/subjects/{subject}/versions/{version}",
            endpoint(compatibility),
            methods=["POST"],
        ),
        Route("/config", endpoint(config), methods=["GET", "PUT"]),
        Route("/config/{subject}", endpoint(config), methods=["GET", "PUT"]),
    ]
    return Starlette(routes=routes)
