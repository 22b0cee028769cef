"""`playpulse up` / `down` as a user runs them: everything starts, and nothing is left behind."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from confluent_kafka.admin import AdminClient

from playpulse.config import Settings
from schemas.topics import TOPICS
from tests.support.cli import children_gone, playpulse_env

pytestmark = pytest.mark.integration


def _up(settings: Settings) -> tuple[subprocess.Popen[bytes], dict]:
    env = playpulse_env(settings)
    process = subprocess.Popen(
        [sys.executable, "-m", "playpulse", "up"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    # `up` prints "playpulse is up" once every child answers (the collector, last, takes a moment).
    assert process.stdout is not None
    fd, seen = process.stdout.fileno(), b""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if select.select([fd], [], [], 0.2)[0]:
            seen += os.read(fd, 65536)  # unbuffered: the rest stays readable through process.stdout
            if b"playpulse is up" in seen:
                time.sleep(0.5)  # the line comes just before `up` installs its signal handlers
                return process, json.loads((settings.data_dir / "run" / "stack.json").read_text())
        assert process.poll() is None, seen.decode()
    raise AssertionError("playpulse up did not start its children within 60 s:\n" + seen.decode())


def test_up_creates_topics_and_serves_registry_then_down_stops_all(settings: Settings) -> None:
    process, state = _up(settings)
    children = list(state["children"].values())
    assert set(state["children"]) == {"broker", "registry", "lander", "qoe", "collector", "alerts", "web"}
    assert httpx.get(f"http://127.0.0.1:{settings.dashboard.port}/healthz").status_code == 200
    topics = AdminClient(settings.kafka.client_config()).list_topics(timeout=10).topics
    for spec in TOPICS:
        assert len(topics[spec.name].partitions) == spec.partitions
    assert httpx.get(f"{settings.registry.url}/subjects").json() == ["playback.events-value"]

    down = subprocess.run(
        [sys.executable, "-m", "playpulse", "down"],
        env={**os.environ, "PLAYPULSE_DATA_DIR": str(settings.data_dir)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert down.stdout.strip() == "stopped"
    assert process.wait(timeout=30) == 0
    assert children_gone(children)
    assert not (settings.data_dir / "run" / "stack.json").exists()


def test_a_killed_supervisor_leaves_no_process_behind(settings: Settings) -> None:
    process, state = _up(settings)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    assert children_gone(list(state["children"].values()))


def test_ctrl_c_stops_everything(settings: Settings) -> None:
    process, state = _up(settings)
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=60) == 0
    assert children_gone(list(state["children"].values()))
    assert b"playpulse is down" in (process.stdout.read() if process.stdout else b"")


def test_registry_state_is_durable_across_stacks(settings: Settings, start_stack) -> None:
    stack = start_stack(workers=())
    first = httpx.get(f"{settings.registry.url}/subjects/playback.events-value/versions/latest").json()
    stack.stop()
    start_stack(workers=())
    again = httpx.get(f"{settings.registry.url}/subjects/playback.events-value/versions/latest").json()
    assert again["id"] == first["id"] and again["version"] == 1
    assert Path(settings.data_dir / "registry.sqlite").exists()
