"""`publish` against a small real HTTP server speaking the Grafana endpoints it calls (no Grafana
server can be installed here): data source by uid, folders, dashboards/db, with token auth."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from dashboards.build import rendered_files
from dashboards.catalog import DASHBOARDS
from dashboards.publish import PublishError, publish
from tests.support.net import free_port

TOKEN = "glsa_test_0123456789"


class GrafanaStub:
    """State of the stub: data sources, folders and dashboard versions, plus every request seen."""

    def __init__(self) -> None:
        self.datasources: dict[str, dict[str, Any]] = {}
        self.folders: dict[str, dict[str, Any]] = {}
        self.dashboards: dict[str, dict[str, Any]] = {}
        self.versions: dict[str, int] = {}
        self.requests: list[tuple[str, str]] = []
        self.lock = threading.Lock()

    def handle(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        self.requests.append((method, path))
        parts = path.strip("/").split("/")
        if method == "GET" and parts[:3] == ["api", "datasources", "uid"]:
            found = self.datasources.get(parts[3])
            return (200, found) if found else (404, {"message": "Data source not found"})
        if method == "POST" and parts == ["api", "datasources"]:
            if body["uid"] in self.datasources:
                return 409, {"message": "data source with the same uid already exists"}
            self.datasources[body["uid"]] = body
            return 200, {"datasource": body, "id": len(self.datasources), "message": "Datasource added"}
        if method == "GET" and parts[:2] == ["api", "folders"] and len(parts) == 3:
            found = self.folders.get(parts[2])
            return (200, found) if found else (404, {"message": "folder not found"})
        if method == "POST" and parts == ["api", "folders"]:
            if body.get("uid") in self.folders:
                return 409, {"message": "a folder with the same uid already exists"}
            self.folders[body["uid"]] = {
                "uid": body["uid"],
                "title": body["title"],
                "id": len(self.folders) + 1,
            }
            return 200, self.folders[body["uid"]]
        if method == "POST" and parts == ["api", "dashboards", "db"]:
            dashboard = body["dashboard"]
            if body.get("folderUid") not in self.folders:
                return 400, {"message": "folder not found"}
            if not body.get("overwrite") and dashboard["uid"] in self.dashboards:
                return 412, {"status": "version-mismatch", "message": "exists"}
            self.dashboards[dashboard["uid"]] = body
            self.versions[dashboard["uid"]] = self.versions.get(dashboard["uid"], 0) + 1
            return 200, {
                "id": list(self.dashboards).index(dashboard["uid"]) + 1,
                "uid": dashboard["uid"],
                "url": f"/d/{dashboard['uid']}/{dashboard['title'].lower().replace(' ', '-')}",
                "status": "success",
                "version": self.versions[dashboard["uid"]],
            }
        return 404, {"message": "Not found"}


@pytest.fixture
def grafana() -> Iterator[tuple[str, GrafanaStub]]:
    stub = GrafanaStub()

    class Handler(BaseHTTPRequestHandler):
        def _answer(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                status, answer = 401, {"message": "invalid API key"}
            else:
                with stub.lock:
                    status, answer = stub.handle(method, self.path, body)
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self._answer("GET")

        def do_POST(self) -> None:
            self._answer("POST")

        def log_message(self, *args: object) -> None:
            pass

    port = free_port()
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}", stub
    server.shutdown()
    server.server_close()


def test_publish_creates_folder_datasource_and_every_dashboard(grafana: tuple[str, GrafanaStub]) -> None:
    url, stub = grafana
    saved = publish(url, TOKEN, clickhouse_password="s3cret")
    assert [p.uid for p in saved] == [spec.uid for spec in DASHBOARDS]
    assert all(p.version == 1 and p.url.startswith(f"/d/{p.uid}/") for p in saved)
    files = rendered_files()
    for spec in DASHBOARDS:
        body = stub.dashboards[spec.uid]
        assert body["folderUid"] == "playpulse" and body["overwrite"] is True
        assert body["dashboard"] == json.loads(files[f"dashboards/playpulse/{spec.uid}.json"])
    (source,) = stub.datasources.values()
    assert source["uid"] == "playpulse-clickhouse" and source["type"] == "grafana-clickhouse-datasource"
    assert source["secureJsonData"] == {"password": "s3cret"}
    assert list(stub.folders) == ["playpulse"]


def test_publishing_twice_only_adds_versions(grafana: tuple[str, GrafanaStub]) -> None:
    url, stub = grafana
    publish(url, TOKEN)
    again = publish(url, TOKEN)
    assert all(p.version == 2 for p in again)
    assert len(stub.datasources) == 1 and len(stub.folders) == 1
    creations = [r for r in stub.requests if r[0] == "POST" and r[1] in ("/api/folders", "/api/datasources")]
    assert len(creations) == 2


def test_a_wrong_token_is_refused_with_what_to_fix(grafana: tuple[str, GrafanaStub]) -> None:
    url, stub = grafana
    with pytest.raises(PublishError, match="refused the token"):
        publish(url, "not-the-token")
    assert not stub.dashboards
    with pytest.raises(PublishError, match="no Grafana token"):
        publish(url, "")


def test_an_unreachable_grafana_is_a_clear_error() -> None:
    with pytest.raises(PublishError, match="Grafana at http://127.0.0.1"):
        publish(f"http://127.0.0.1:{free_port()}", TOKEN, timeout_s=2)


def test_the_publish_command(grafana: tuple[str, GrafanaStub], monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from playpulse.cli import cli

    url, stub = grafana
    monkeypatch.setenv("PLAYPULSE_DASHBOARD__GRAFANA_TOKEN", TOKEN)
    result = CliRunner().invoke(cli, ["dashboards", "publish", "--url", url])
    assert result.exit_code == 0, result.output
    assert f"{url}/d/playpulse-operations-qoe/operations-qoe" in result.output
    assert set(stub.dashboards) == {spec.uid for spec in DASHBOARDS}
    refused = CliRunner().invoke(cli, ["dashboards", "publish", "--url", url, "--token", "wrong"])
    assert refused.exit_code == 1 and "refused the token" in refused.output
