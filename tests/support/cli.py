"""Environment for tests that run `playpulse` as a user would, in a subprocess: the test's settings."""

from __future__ import annotations

import os
import time

from playpulse.config import Settings
from playpulse.processes import pid_alive

__all__ = ["children_gone", "playpulse_env"]


def playpulse_env(settings: Settings) -> dict[str, str]:
    """This process's environment plus the data directory and every loopback address of `settings`."""
    return {
        **os.environ,
        "PLAYPULSE_DATA_DIR": str(settings.data_dir),
        "PLAYPULSE_KAFKA__BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers,
        "PLAYPULSE_REGISTRY__URL": settings.registry.url,
        "PLAYPULSE_COLLECTOR__PORT": str(settings.collector.port),
        "PLAYPULSE_DASHBOARD__PORT": str(settings.dashboard.port),
        "PLAYPULSE_ALERTS__WEB_PORT": str(settings.alerts.web_port),
    }


def children_gone(pids: list[int], timeout_s: float = 20) -> bool:
    """True once none of `pids` is alive (waiting up to `timeout_s`)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not any(pid_alive(pid) for pid in pids):
            return True
        time.sleep(0.1)
    return False
