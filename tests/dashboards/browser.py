"""Headless Chromium (Debian's `chromium`, driven by Playwright, no browser download) looking at the
local web dashboard: what a person would see, as numbers a test can assert on.

    with chromium() as browser:
        seen = look_at_dashboard(browser, "http://127.0.0.1:18088/", screenshot=tmp_path / "d.png")
        assert seen.points["chart-vst"] > 0 and seen.firing_alerts

Usable from any test that serves the dashboard (this package's, the demo's).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["CHARTS", "CHROMIUM", "CHROMIUM_ARGS", "DashboardView", "chromium", "look_at_dashboard"]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
CHARTS = (
    "chart-vst",
    "chart-rebuffer",
    "chart-failures",
    "chart-plays",
    "chart-forecast",
    "chart-engagement",
)


@dataclass
class DashboardView:
    """What the page showed after its first refresh."""

    points: dict[str, int]
    firing_alerts: list[str]
    resolved_alerts: list[str]
    open_alerts_kpi: str
    readout_rows: int
    fill_rows: int
    status: str
    outside_requests: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)


@contextmanager
def chromium() -> Iterator[Any]:
    """A headless Chromium browser; fails with what to install when Debian's chromium is missing."""
    if not Path(CHROMIUM).exists():
        raise RuntimeError(
            "Debian's chromium is not installed: apt-get install -y chromium (.ci/run does it)"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


_POINTS = """id => { const el = document.getElementById(id);
                      if (!el || !el.data) return 0;
                      return el.data.reduce((n, t) => n + t.y.filter(v => v !== null).length, 0); }"""


def chart_points(page: Any, chart: str) -> int:
    return page.evaluate(_POINTS, chart)


def look_at_dashboard(
    browser: Any, url: str, *, screenshots: tuple[Path, ...] = (), timeout_s: float = 20.0, page: Any = None
) -> DashboardView:
    """Open `url`, wait for the first refresh and every chart, read what shows, save screenshots.

    Requests to anything but `url`'s origin are blocked and listed (the page must work offline).
    Pass `page` to keep using it afterwards (it is left open); otherwise a page is opened and closed.
    """
    own = page is None
    page = page or browser.new_page(viewport={"width": 1400, "height": 1800})
    view = DashboardView({}, [], [], "", 0, 0, "")
    origin = url.rstrip("/")

    def only_the_app(route: Any) -> None:
        if route.request.url.startswith(origin):
            route.continue_()
        else:
            view.outside_requests.append(route.request.url)
            route.abort()

    page.route("**/*", only_the_app)
    page.on("pageerror", lambda exc: view.page_errors.append(str(exc)))
    page.goto(url)
    page.wait_for_function("document.body.dataset.updated !== undefined", timeout=timeout_s * 1000)
    for chart in CHARTS:
        page.wait_for_selector(f"#{chart} .main-svg", timeout=timeout_s * 1000)
        view.points[chart] = chart_points(page, chart)
    view.firing_alerts = page.locator("#alerts tr.firing").all_inner_texts()
    view.resolved_alerts = page.locator("#alerts tr.resolved").all_inner_texts()
    view.open_alerts_kpi = page.inner_text("#kpi-alerts")
    view.readout_rows = page.locator("#readouts tbody tr:not(:has(td.empty))").count()
    view.fill_rows = page.locator("#fill tbody tr:not(:has(td.empty))").count()
    view.status = page.inner_text("#status")
    for path in screenshots:
        path.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(path), full_page=True)
    if own:
        page.close()
    return view
