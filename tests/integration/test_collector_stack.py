"""The collector as `playpulse up` runs it (a child process with the demo key), and the simulator
sending through it (`playpulse simulate --via http`); topics consumed and counted."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Callable

import httpx
import pytest

from ingest.collector.client import CollectorClient, demo_key_path
from playpulse.config import Settings
from playpulse.stack import LocalStack
from schemas.topics import EVENTS
from tests.support.collector import TopicReader, decode_event, event

pytestmark = pytest.mark.integration


def test_up_runs_the_collector_with_a_demo_key(
    settings: Settings, start_stack: Callable[..., LocalStack]
) -> None:
    stack = start_stack(workers=("collector",))
    url = f"http://127.0.0.1:{settings.collector.port}"
    path = demo_key_path(settings)
    key = path.read_text().strip()
    assert path.stat().st_mode & 0o777 == 0o600
    with CollectorClient(url, key) as client:
        assert client.send([event()]).accepted == 1
    assert httpx.get(f"{url}/readyz").json()["ready"] is True
    log = (settings.data_dir / "logs" / "collector.log").read_text()
    assert '"logger":"playpulse.collector.access"' in log  # structured access lines

    stack.stop()
    start_stack(workers=("collector",))
    assert path.read_text().strip() == key  # the demo key survives a restart of the stack
    with CollectorClient(url, key) as client:
        assert client.send([event()]).accepted == 1
    reader = TopicReader(settings, EVENTS.name, EVENTS.partitions)
    try:
        # Tansu keeps topics in memory: the second stack's topic holds only the second event.
        assert len(reader.read(1)) == 1
    finally:
        reader.close()


def test_simulate_via_http(settings: Settings, start_stack: Callable[..., LocalStack]) -> None:
    start_stack(workers=("collector",))
    env = {
        **os.environ,
        "PLAYPULSE_DATA_DIR": str(settings.data_dir),
        "PLAYPULSE_KAFKA__BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers,
        "PLAYPULSE_REGISTRY__URL": settings.registry.url,
        "PLAYPULSE_COLLECTOR__PORT": str(settings.collector.port),
    }
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "playpulse",
            "simulate",
            "--via",
            "http",
            "--users",
            "300",
            "--days",
            "0.02",
            "--seed",
            "5",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    sent = int(re.search(r"([\d,]+) events → collector", done.stdout).group(1).replace(",", ""))
    assert sent > 100
    reader = TopicReader(settings, EVENTS.name, EVENTS.partitions)
    try:
        messages = reader.read(sent, quiet_s=1.0)
    finally:
        reader.close()
    ids = Counter(decode_event(m.value())["event_id"] for m in messages)
    assert len(messages) == sent and max(ids.values()) == 1
