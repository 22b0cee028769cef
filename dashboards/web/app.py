"""The local web dashboard: a Starlette app over the configured warehouse, served by uvicorn.

Routes: `/` (the page), `/static/*` (its script and styles, and `plotly.min.js` from the installed
plotly package — the page loads nothing from the network), `/api/dashboard` (every panel's data
in one JSON document, `?region=…&device_type=…` choose the live QoE slice), `/healthz`.
The page polls `/api/dashboard` every `dashboard.refresh_s` seconds.

Warehouse access: DuckDB admits one writing process and the QoE job writes through short-lived
connections, so each refresh opens the file read-only, reads every panel and closes it at once,
retrying for `dashboard.lock_wait_s` while a writer holds it (then 503; the page keeps what it
shows). ClickHouse keeps one connection. A warehouse that does not exist yet answers with empty
panels; a panel whose query fails is empty, with the reason under `errors`, and the others still show.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import plotly
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from dashboards.web import data
from playpulse.config import Settings
from warehouse import Warehouse, WarehouseError, open_warehouse

__all__ = ["WarehouseBusy", "WarehouseReader", "create_app", "serve"]

STATIC_DIR = Path(__file__).resolve().parent / "static"
PLOTLY_JS = Path(plotly.__file__).resolve().parent / "package_data" / "plotly.min.js"


class WarehouseBusy(RuntimeError):
    """The DuckDB file stayed locked by a writer for longer than the configured wait."""


class WarehouseReader:
    """Short read sessions on the configured warehouse (see the module docstring)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._clickhouse: Warehouse | None = None

    @contextmanager
    def session(self) -> Iterator[Warehouse | None]:
        """The warehouse for one refresh, or None when it does not exist yet."""
        if self.settings.warehouse.backend == "clickhouse":
            with self._lock:
                if self._clickhouse is None:
                    self._clickhouse = open_warehouse(
                        "clickhouse", clickhouse_dsn=self.settings.clickhouse_dsn
                    )
                    self._clickhouse.create_tables()
                yield self._clickhouse
            return
        path = self.settings.duckdb_file
        if not path.exists():
            yield None
            return
        deadline = time.monotonic() + self.settings.dashboard.lock_wait_s
        while True:
            try:
                wh = open_warehouse("duckdb", duckdb_path=path, read_only=True)
                break
            except WarehouseError as exc:
                if "lock" not in str(exc).lower():
                    raise
                if time.monotonic() > deadline:
                    raise WarehouseBusy(f"{path} is held by a writer; try again") from exc
                time.sleep(0.05)
        try:
            yield wh
        finally:
            wh.close()

    def close(self) -> None:
        if self._clickhouse is not None:
            self._clickhouse.close()
            self._clickhouse = None


def _missing_table(exc: WarehouseError) -> bool:
    text = str(exc).lower()
    return "does not exist" in text or "unknown table" in text or "doesn't exist" in text


def _panels(wh: Warehouse, settings: Settings, region: str, device_type: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    readers = {
        "options": lambda: data.slice_options(wh),
        "qoe": lambda: data.live_qoe(
            wh, minutes=settings.dashboard.live_minutes, region=region, device_type=device_type
        ),
        "alerts": lambda: data.alerts(wh),
        "experiments": lambda: data.experiments(wh),
        "forecast": lambda: data.forecast(wh),
        "fill": lambda: data.fill_plans(wh),
        "engagement": lambda: data.engagement(wh),
    }
    for name, read in readers.items():
        try:
            out[name] = read()
        except WarehouseError as exc:
            out[name] = None
            if not _missing_table(exc):  # a missing table is just "no data yet"; anything else is shown
                out.setdefault("errors", {})[name] = str(exc).splitlines()[0]
    return out


def create_app(settings: Settings) -> Starlette:
    """The dashboard app reading the warehouse of `settings`."""
    reader = WarehouseReader(settings)

    async def index(_: Request) -> Response:
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html")

    async def plotly_js(_: Request) -> Response:
        return FileResponse(
            PLOTLY_JS, media_type="text/javascript", headers={"Cache-Control": "max-age=86400"}
        )

    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    def dashboard(request: Request) -> Response:
        region = request.query_params.get("region") or "*"
        device_type = request.query_params.get("device_type") or "*"
        body: dict[str, Any] = {
            "generated_at": dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z"),
            "backend": settings.warehouse.backend,
            "refresh_s": settings.dashboard.refresh_s,
        }
        try:
            with reader.session() as wh:
                if wh is None:
                    body["message"] = "the warehouse is empty: start `playpulse up` and send some traffic"
                else:
                    body.update(_panels(wh, settings, region, device_type))
        except WarehouseBusy as exc:
            return JSONResponse({**body, "error": str(exc)}, status_code=503, headers={"Retry-After": "1"})
        except WarehouseError as exc:
            return JSONResponse({**body, "error": f"the warehouse refused a query: {exc}"}, status_code=500)
        return JSONResponse(body)

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        yield
        reader.close()

    return Starlette(
        routes=[
            Route("/", index),
            Route("/healthz", healthz),
            Route("/api/dashboard", dashboard),
            Route("/static/plotly.min.js", plotly_js),
            Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
        ],
        lifespan=lifespan,
    )


def serve(settings: Settings, host: str | None = None, port: int | None = None) -> None:
    """Serve the dashboard until interrupted (`playpulse dashboards serve`, started by `playpulse up`)."""
    import uvicorn

    uvicorn.run(
        create_app(settings),
        host=host or settings.dashboard.host,
        port=port or settings.dashboard.port,
        log_level="warning",
    )
