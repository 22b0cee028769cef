"""`playpulse demo` as a user runs it (scaled down): it completes every step, the dashboard it
serves shows the live QoE, the injected incident's alert, the readouts and the fill plan in a real
headless Chromium, and Ctrl-C leaves no process behind."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from playpulse.config import Settings
from tests.dashboards.browser import chromium, look_at_dashboard
from tests.support.cli import children_gone, playpulse_env

pytestmark = pytest.mark.integration

SERVING = b"serving until Ctrl-C"
SCREENSHOTS = Path(__file__).resolve().parents[2] / ".playpulse" / "screenshots"  # git-ignored


def _read_until(process: subprocess.Popen[bytes], marker: bytes, timeout_s: float) -> str:
    assert process.stdout is not None
    fd, seen = process.stdout.fileno(), b""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if select.select([fd], [], [], 0.5)[0]:
            chunk = os.read(fd, 65536)
            seen += chunk
            if marker in seen:
                return seen.decode()
            if not chunk:
                break
        if process.poll() is not None and not select.select([fd], [], [], 0)[0]:
            break
    raise AssertionError(f"the demo did not reach {marker!r}; its output:\n{seen.decode()}")


def test_demo_completes_and_its_dashboard_shows_the_incident(settings: Settings, tmp_path: Path) -> None:
    env = {**playpulse_env(settings), "COLUMNS": "200"}
    command = [sys.executable, "-m", "playpulse", "demo", "--serve", "--users", "300", "--history-days", "8"]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        output = _read_until(process, SERVING, timeout_s=900)
        state = json.loads((settings.data_dir / "run" / "stack.json").read_text())
        url = f"http://127.0.0.1:{settings.dashboard.port}/"
        assert f"dashboard {url}" in output
        for step in ("history:", "live:", "qoe: all", "alert:", "nightly: every job", "report"):
            assert step in output, step
        incident_oca = output.split("rebuffering ×8 on ")[1].split()[0]
        assert f"on oca_id={incident_oca} fired" in output

        shots = (tmp_path / "demo-dashboard.png", SCREENSHOTS / "demo-dashboard.png")
        with chromium() as browser:
            seen = look_at_dashboard(browser, url, screenshots=shots, timeout_s=60)
        assert not seen.outside_requests and not seen.page_errors, (seen.outside_requests, seen.page_errors)
        for chart in ("chart-vst", "chart-rebuffer", "chart-plays", "chart-forecast", "chart-engagement"):
            assert seen.points[chart] > 0, (chart, seen)
        assert any(incident_oca in row for row in seen.resolved_alerts + seen.firing_alerts), seen
        assert seen.readout_rows > 0 and seen.fill_rows > 0, seen
        assert shots[0].stat().st_size > 10_000

        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert children_gone(list(state["children"].values()))
    assert not (settings.data_dir / "run" / "stack.json").exists()
