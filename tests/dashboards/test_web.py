"""The local web dashboard in headless Chromium (Debian's `chromium`, driven by Playwright), over a
DuckDB warehouse holding realistic rows: the charts render with data, the firing alert appears,
nothing is fetched from outside the app, and screenshots are saved.

Screenshots go to the test's tmp dir and to `.playpulse/screenshots/` (ignored by git).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import httpx
import pyarrow as pa
import pytest

from dashboards.web.app import create_app
from playpulse.config import Settings
from tests.dashboards.browser import CHARTS, chart_points, chromium, look_at_dashboard
from tests.dashboards.warehouse_data import FIRING_MESSAGE, INCIDENT_REGION, fill
from tests.support.net import serve
from warehouse import open_warehouse

SCREENSHOTS = Path(__file__).resolve().parents[2] / ".playpulse" / "screenshots"


@pytest.fixture
def dashboard_url(settings: Settings, tables: dict[str, pa.Table]) -> Iterator[str]:
    settings.duckdb_file.parent.mkdir(parents=True, exist_ok=True)
    with open_warehouse("duckdb", duckdb_path=settings.duckdb_file) as wh:
        fill(wh, tables)
    with serve(create_app(settings)) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with chromium() as browser:
        yield browser


def test_dashboard_renders_charts_and_the_firing_alert(browser, dashboard_url: str, tmp_path: Path) -> None:
    page = browser.new_page(viewport={"width": 1400, "height": 1800})
    view = look_at_dashboard(
        browser,
        dashboard_url,
        screenshots=(tmp_path / "dashboard.png", SCREENSHOTS / "dashboard.png"),
        page=page,
    )
    assert all(view.points[chart] > 0 for chart in CHARTS), view.points
    assert view.points["chart-vst"] >= 3 * 40  # p50/p95/p99 over most minutes of the live hour
    assert len(view.firing_alerts) == 1 and FIRING_MESSAGE in view.firing_alerts[0]
    assert len(view.resolved_alerts) == 1, "the cancelled incident never fired and is not listed"
    assert view.open_alerts_kpi == "1"
    assert view.readout_rows == 6 and view.fill_rows == 2
    assert page.locator("#regions tbody tr").count() == 8  # every simulated region
    assert "every 5 s" in view.status
    # The firing alert is also a band on the live charts, like Grafana's annotations.
    assert page.get_attribute("#chart-vst", "data-alerts") == "2"
    assert (tmp_path / "dashboard.png").stat().st_size > 50_000

    # Choosing a region redraws the live panels from that region's rows; the ISP alert's band goes.
    before = page.evaluate("document.body.dataset.updated")
    page.select_option("#region", INCIDENT_REGION)
    page.wait_for_function(f"document.body.dataset.updated !== {before!r}", timeout=10_000)
    assert chart_points(page, "chart-vst") > 0
    assert page.get_attribute("#chart-vst", "data-alerts") == "1"
    page.screenshot(path=str(SCREENSHOTS / f"dashboard-{INCIDENT_REGION}.png"), full_page=True)
    assert not view.outside_requests, f"the page fetched from outside the app: {view.outside_requests}"
    assert not view.page_errors, view.page_errors
    page.close()


def test_api_answers_with_empty_panels_before_the_warehouse_exists(settings: Settings) -> None:
    with serve(create_app(settings)) as url:
        body = httpx.get(f"{url}/api/dashboard", timeout=10).json()
        assert "warehouse is empty" in body["message"]
        assert httpx.get(f"{url}/healthz", timeout=5).json() == {"status": "ok"}
        js = httpx.get(f"{url}/static/plotly.min.js", timeout=10)
        assert js.status_code == 200 and len(js.content) > 1_000_000


def test_live_qoe_reads_the_same_numbers_on_clickhouse(clickhouse, now) -> None:
    from dashboards.web import data
    from streaming.qoe_query import qoe_over

    live = data.live_qoe(clickhouse, minutes=60, region=INCIDENT_REGION, now=now)
    series = live["series"]
    start, end = (datetime.fromisoformat(live[k].replace("Z", "+00:00")) for k in ("start", "end"))
    assert end == now and (end - start).total_seconds() < 3600
    assert sum(series["attempts"]) == qoe_over(clickhouse, start, end, region=INCIDENT_REGION).attempts > 50
    assert any(v is not None for v in series["vst_p95_ms"])
    by_region = {r["region"]: r for r in live["by_region"]}
    incident = qoe_over(clickhouse, start, end, region=INCIDENT_REGION)
    assert by_region[INCIDENT_REGION]["plays"] == incident.attempts
    assert by_region[INCIDENT_REGION]["vst_p95_ms"] == pytest.approx(incident.vst_ms[0.95], rel=1e-9)
    assert data.alerts(clickhouse, now=now)[0]["message"] == FIRING_MESSAGE


@pytest.mark.integration
def test_playpulse_up_serves_the_dashboard(
    start_stack, settings: Settings, tables: dict[str, pa.Table]
) -> None:
    """The `web` worker of the local stack serves the page over the stack's warehouse."""
    settings.duckdb_file.parent.mkdir(parents=True, exist_ok=True)
    with open_warehouse("duckdb", duckdb_path=settings.duckdb_file) as wh:
        fill(wh, {"alerts": tables["alerts"]})
    stack = start_stack(workers=("web",))
    page = httpx.get(stack.dashboard_url, timeout=10)
    assert page.status_code == 200 and "/static/plotly.min.js" in page.text
    body = httpx.get(f"{stack.dashboard_url}api/dashboard", timeout=10).json()
    assert [a["message"] for a in body["alerts"] if a["state"] == "firing"] == [FIRING_MESSAGE]


def test_a_writer_holding_duckdb_gives_503_then_the_next_refresh_works(settings: Settings) -> None:
    """DuckDB admits one writer process: while another process holds the file, a refresh answers
    503 with Retry-After after `dashboard.lock_wait_s` (the page keeps its data), then recovers."""
    import subprocess
    import sys

    settings.duckdb_file.parent.mkdir(parents=True, exist_ok=True)
    with open_warehouse("duckdb", duckdb_path=settings.duckdb_file) as wh:
        wh.create_tables()
    settings = settings.model_copy(
        update={"dashboard": settings.dashboard.model_copy(update={"lock_wait_s": 0.3})}
    )
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys; c = duckdb.connect(sys.argv[1]); "
            "print('held', flush=True); sys.stdin.read()",
            str(settings.duckdb_file),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with serve(create_app(settings)) as url:
            busy = httpx.get(f"{url}/api/dashboard", timeout=10)
            assert busy.status_code == 503 and busy.headers["Retry-After"] == "1"
            assert "held by a writer" in busy.json()["error"]
            holder.communicate("", timeout=10)
            ok = httpx.get(f"{url}/api/dashboard", timeout=10)
            assert ok.status_code == 200 and ok.json()["alerts"] == []
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()


@pytest.mark.parametrize("backend", ["duckdb", "clickhouse"])
def test_panels_of_an_empty_warehouse_are_empty(backend: str, tmp_path: Path, chdb_path: Path) -> None:
    from dashboards.web import data

    kwargs = (
        {"duckdb_path": tmp_path / "empty.duckdb"}
        if backend == "duckdb"
        else {"clickhouse_dsn": f"chdb://{chdb_path}", "clickhouse_database": "dashboards_empty"}
    )
    with open_warehouse(backend, **kwargs) as wh:
        wh.create_tables()
        live = data.live_qoe(wh)
        assert live["series"]["time"] == [] and live["stale"] is False
        assert data.forecast(wh)["run_date"] is None and data.fill_plans(wh)["run_date"] is None
        assert data.experiments(wh) == {"run_date": None, "rows": []}
        assert data.alerts(wh) == [] and data.engagement(wh)["series"]["date"] == []
        assert data.slice_options(wh) == {"region": [], "device_type": []}


def test_a_failing_panel_is_reported_and_the_others_still_show(settings: Settings, tables) -> None:
    """An `alerts` table of an older layout breaks only the alerts panel, and says why."""
    settings.duckdb_file.parent.mkdir(parents=True, exist_ok=True)
    with open_warehouse("duckdb", duckdb_path=settings.duckdb_file) as wh:
        fill(wh, {name: t for name, t in tables.items() if name in ("qoe_minute", "ab_readout")})
        wh.execute("DROP TABLE alerts")
        wh.execute("CREATE TABLE alerts (fingerprint VARCHAR, state VARCHAR)")
    with serve(create_app(settings)) as url:
        body = httpx.get(f"{url}/api/dashboard", timeout=20).json()
    assert body["alerts"] is None and "alerts" in body["errors"]
    assert sum(body["qoe"]["series"]["attempts"]) > 0 and len(body["experiments"]["rows"]) == 6
