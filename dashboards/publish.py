"""`playpulse dashboards publish`: push the dashboards to a running Grafana through its HTTP API.

Uses grafana-client with a service-account token (`Authorization: Bearer …`). Steps, each
idempotent, so publishing twice leaves Grafana as after once:

1. the ClickHouse data source `playpulse-clickhouse`: kept when it exists, else created from
   the same model as the provisioning file (with the password, when one is given);
2. the folder `playpulse`: kept when it exists, else created;
3. every dashboard: saved into the folder with `overwrite: true` (a new version each time).

Grafana's errors are converted into `PublishError` with what to do (a bad token, a missing
permission, an unreachable URL).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from grafana_client import GrafanaApi
from grafana_client.client import GrafanaClientError, GrafanaException, GrafanaUnauthorizedError

from dashboards.catalog import DASHBOARDS
from dashboards.grafana import DATASOURCE_UID, build_dashboard, to_json
from dashboards.provisioning import (
    DASHBOARD_FOLDER,
    DASHBOARD_FOLDER_UID,
    ClickHouseConnection,
    datasource_model,
)

__all__ = ["PublishError", "Published", "publish"]


class PublishError(RuntimeError):
    """Grafana refused or could not be reached; the message says what to fix."""


@dataclass(frozen=True)
class Published:
    uid: str
    title: str
    url: str
    version: int


def _not_found(exc: GrafanaClientError) -> bool:
    return getattr(exc, "status_code", None) == 404


def publish(
    url: str,
    token: str,
    *,
    connection: ClickHouseConnection | None = None,
    clickhouse_password: str | None = None,
    timeout_s: float = 10.0,
) -> list[Published]:
    """Publish every playpulse dashboard to the Grafana at `url`; returns what was saved."""
    if not token:
        raise PublishError("no Grafana token: create a service account token (Editor) and pass --token")
    api = GrafanaApi.from_url(url, credential=token, timeout=timeout_s)
    try:
        _ensure_datasource(api, connection or ClickHouseConnection(), clickhouse_password)
        _ensure_folder(api)
        saved = []
        for spec in DASHBOARDS:
            body = {
                "dashboard": to_json(build_dashboard(spec, DATASOURCE_UID)),
                "folderUid": DASHBOARD_FOLDER_UID,
                "overwrite": True,
                "message": "published by playpulse dashboards publish",
            }
            answer = api.dashboard.update_dashboard(body)
            saved.append(
                Published(spec.uid, spec.title, str(answer.get("url", "")), int(answer.get("version", 0)))
            )
        return saved
    except GrafanaUnauthorizedError as exc:
        raise PublishError(f"Grafana at {url} refused the token (401): check --token") from exc
    except GrafanaClientError as exc:
        if getattr(exc, "status_code", None) == 403:
            raise PublishError(
                f"Grafana at {url} says the token may not do this (403): give its service account the "
                "Editor role (dashboards, folders) and data source write access"
            ) from exc
        raise PublishError(f"Grafana at {url} refused a request: {exc}") from exc
    except GrafanaException as exc:
        raise PublishError(f"Grafana at {url} failed: {exc}") from exc
    except OSError as exc:
        raise PublishError(f"cannot reach Grafana at {url}: {exc}") from exc


def _ensure_datasource(api: GrafanaApi, connection: ClickHouseConnection, password: str | None) -> None:
    try:
        api.datasource.get_datasource_by_uid(DATASOURCE_UID)
        return
    except GrafanaClientError as exc:
        if not _not_found(exc):
            raise
    model: dict[str, Any] = datasource_model(connection, DATASOURCE_UID)
    if password:
        model["secureJsonData"] = {"password": password}
    api.datasource.create_datasource(model)


def _ensure_folder(api: GrafanaApi) -> None:
    try:
        api.folder.get_folder(DASHBOARD_FOLDER_UID)
        return
    except GrafanaClientError as exc:
        if not _not_found(exc):
            raise
    api.folder.create_folder(DASHBOARD_FOLDER, uid=DASHBOARD_FOLDER_UID)
