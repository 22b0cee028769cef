"""Grafana provisioning of playpulse: the ClickHouse data source and the dashboard provider (pure).

`ClickHouseConnection` says where Grafana reaches ClickHouse; the defaults are the services of
the repository's `docker-compose.yml`. Every query runs with the setting `final = 1` (the data
source's custom settings), so Grafana, like `warehouse.ClickHouseWarehouse`, sees each key of the
ReplacingMergeTree tables once. The password is never written into a file: the data source reads
it from Grafana's environment (`$CLICKHOUSE_PASSWORD`, expanded by Grafana when it loads
provisioning files).

Layout written by `dashboards.build` (Grafana reads `provisioning/datasources/*.yaml` and
`provisioning/dashboards/*.yaml`; the provider points at the JSON folder):

    <out>/datasources/playpulse.yaml
    <out>/dashboards/playpulse.yaml
    <out>/dashboards/playpulse/<dashboard uid>.json
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dashboards.clickhouse_query import PLUGIN_ID
from dashboards.grafana import DATASOURCE_UID

__all__ = [
    "DASHBOARD_FOLDER",
    "DASHBOARD_FOLDER_UID",
    "GRAFANA_DASHBOARDS_PATH",
    "ClickHouseConnection",
    "dashboard_provider",
    "datasource_model",
    "datasources_file",
]

DASHBOARD_FOLDER = "playpulse"
DASHBOARD_FOLDER_UID = "playpulse"
#: Where the dashboard JSON is inside the Grafana container (the provisioning folder is mounted
#: at /etc/grafana/provisioning).
GRAFANA_DASHBOARDS_PATH = "/etc/grafana/provisioning/dashboards/playpulse"


@dataclass(frozen=True)
class ClickHouseConnection:
    """How Grafana's ClickHouse plugin connects: native protocol by default."""

    host: str = "clickhouse"
    port: int = 9000
    protocol: str = "native"
    username: str = "playpulse"
    database: str = "playpulse"
    secure: bool = False
    #: Grafana expands `$NAME` from its environment when it reads the provisioning file.
    password_reference: str = "$CLICKHOUSE_PASSWORD"

    def __post_init__(self) -> None:
        if self.protocol not in ("native", "http"):
            raise ValueError(f"ClickHouse protocol must be 'native' or 'http', got {self.protocol!r}")
        if not 1 <= self.port <= 65535:
            raise ValueError(f"ClickHouse port must be 1..65535, got {self.port}")


def datasource_model(connection: ClickHouseConnection, uid: str = DATASOURCE_UID) -> dict[str, Any]:
    """The data source as Grafana's provisioning file and HTTP API both describe it (no secrets)."""
    return {
        "name": "ClickHouse (playpulse)",
        "uid": uid,
        "type": PLUGIN_ID,
        "access": "proxy",
        "isDefault": True,
        "jsonData": {
            "host": connection.host,
            "port": connection.port,
            "protocol": connection.protocol,
            "secure": connection.secure,
            "username": connection.username,
            "defaultDatabase": connection.database,
            # Tables are ReplacingMergeTrees (a provisional qoe_minute row is replaced by the final
            # one, an alert row by its next state): read every key once, as the warehouse layer does.
            "customSettings": [{"setting": "final", "value": "1"}],
        },
    }


def datasources_file(connection: ClickHouseConnection, uid: str = DATASOURCE_UID) -> dict[str, Any]:
    source = datasource_model(connection, uid)
    source["editable"] = False
    source["secureJsonData"] = {"password": connection.password_reference}
    return {"apiVersion": 1, "datasources": [source]}


def dashboard_provider(path: str = GRAFANA_DASHBOARDS_PATH) -> dict[str, Any]:
    """The file provider that loads every playpulse dashboard into its folder, read-only."""
    return {
        "apiVersion": 1,
        "providers": [
            {
                "name": "playpulse",
                "orgId": 1,
                "folder": DASHBOARD_FOLDER,
                "folderUid": DASHBOARD_FOLDER_UID,
                "type": "file",
                "disableDeletion": True,
                "allowUiUpdates": False,
                "updateIntervalSeconds": 30,
                "options": {"path": path, "foldersFromFilesStructure": False},
            }
        ],
    }
