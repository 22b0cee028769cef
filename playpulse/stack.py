"""The embedded local stack: broker, schema registry and workers as child processes of one supervisor.

`LocalStack.start()` starts, in order and each one ready before the next: the Tansu broker (when
`kafka.embedded`), the topics, the schema registry (when `registry.embedded`) with the current
`PlaybackEvent` schema registered, and the workers (the lander; the QoE job; the HTTP collector, once it
answers `/healthz`, with an API key for the application `demo` in `data_dir/secrets/demo.key`; the
alerts app over qoe.minute; the local web dashboard `web`, once it answers `/healthz`, at `dashboard_url`).
`stop()` stops them in reverse order; a child never outlives the supervisor (see
`playpulse.processes`). The supervisor's pid and its children are recorded in
`data_dir/run/stack.json`, which is how `playpulse down` finds them.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import time
from pathlib import Path
from types import TracebackType
from urllib.parse import urlsplit

import httpx

from playpulse.broker import broker_argv, ensure_topics, wait_for_broker
from playpulse.config import Settings
from playpulse.processes import ManagedProcess, pid_alive
from schemas.registry import RegistryClient, event_serde

__all__ = ["LocalStack", "StackError", "stop_running_stack"]

log = logging.getLogger("playpulse.stack")
WORKERS = ("lander", "qoe", "collector", "alerts", "web")


class StackError(RuntimeError):
    """A component did not start; the message carries the end of its log."""


def _state_file(settings: Settings) -> Path:
    return settings.data_dir / "run" / "stack.json"


class LocalStack:
    def __init__(self, settings: Settings, workers: tuple[str, ...] = WORKERS) -> None:
        self.settings = settings
        self.workers = workers
        self.processes: dict[str, ManagedProcess] = {}
        self.log_dir = settings.data_dir / "logs"

    # -- the pieces ----------------------------------------------------------------------------
    def _python(self, name: str, *args: str) -> ManagedProcess:
        return ManagedProcess(
            name,
            [sys.executable, "-m", "playpulse", *args],
            self.log_dir,
            env={"PLAYPULSE_DATA_DIR": str(self.settings.data_dir.resolve()), **self._settings_env()},
        )

    def _settings_env(self) -> dict[str, str]:
        """Pass this stack's addresses to children, whatever source they came from."""
        return {
            "PLAYPULSE_KAFKA__BOOTSTRAP_SERVERS": self.settings.kafka.bootstrap_servers,
            "PLAYPULSE_REGISTRY__URL": self.settings.registry.url,
            "PLAYPULSE_COLLECTOR__HOST": self.settings.collector.host,
            "PLAYPULSE_COLLECTOR__PORT": str(self.settings.collector.port),
            "PLAYPULSE_DASHBOARD__HOST": self.settings.dashboard.host,
            "PLAYPULSE_DASHBOARD__PORT": str(self.settings.dashboard.port),
            "PLAYPULSE_ALERTS__WEB_HOST": self.settings.alerts.web_host,
            "PLAYPULSE_ALERTS__WEB_PORT": str(self.settings.alerts.web_port),
        }

    def _start(self, process: ManagedProcess) -> None:
        log.info("starting %s", process.name)
        process.start()
        self.processes[process.name] = process
        self._write_state()

    def _fail(self, process: ManagedProcess, why: str) -> StackError:
        return StackError(f"{process.name} {why}; the end of {process.log_path}:\n{process.tail()}")

    def start(self) -> LocalStack:
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        try:
            if self.settings.kafka.embedded:
                broker = ManagedProcess(
                    "broker",
                    broker_argv(self.settings.kafka.bootstrap_servers),
                    self.log_dir,
                    death_signal=signal.SIGKILL,
                )
                self._start(broker)
                try:
                    wait_for_broker(self.settings.kafka, timeout_s=30)
                except TimeoutError as exc:
                    raise self._fail(broker, f"did not become ready ({exc})") from exc
            ensure_topics(self.settings.kafka)
            if self.settings.registry.embedded:
                parts = urlsplit(self.settings.registry.url)
                registry = self._python(
                    "registry",
                    "registry",
                    "serve",
                    "--host",
                    parts.hostname or "127.0.0.1",
                    "--port",
                    str(parts.port or 8081),
                )
                self._start(registry)
                self._wait_for_registry(registry)
            with RegistryClient(self.settings.registry.url) as client:
                event_serde(client)  # registers the current PlaybackEvent schema
            for worker in self.workers:
                if worker == "collector":
                    from ingest.collector.admin import ensure_demo_key

                    ensure_demo_key(self.settings)
                process = self._python(worker, *_WORKER_ARGS[worker])
                self._start(process)
                if worker == "collector":
                    self._wait_for_collector(process)
                if worker == "web":
                    self._wait_for_web(process)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_for_registry(self, process: ManagedProcess, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not process.alive():
                raise self._fail(process, "exited")
            try:
                if httpx.get(f"{self.settings.registry.url}/subjects", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise self._fail(process, f"did not answer within {timeout_s:.0f} s")

    def _wait_for_collector(self, process: ManagedProcess) -> None:
        self._wait_for_http(process, f"http://{self.settings.collector.host}:{self.settings.collector.port}/healthz")

    def _wait_for_web(self, process: ManagedProcess) -> None:
        self._wait_for_http(process, f"{self.dashboard_url}healthz")

    def _wait_for_http(self, process: ManagedProcess, url: str, timeout_s: float = 30.0) -> None:
        """Wait until `url` answers 200; fail with the end of the process's log if it exits or not."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not process.alive():
                raise self._fail(process, "exited")
            try:
                if httpx.get(url, timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise self._fail(process, f"did not answer {url} within {timeout_s:.0f} s")

    @property
    def dashboard_url(self) -> str:
        """The local web dashboard (the `web` worker), e.g. http://127.0.0.1:18088/."""
        return f"http://{self.settings.dashboard.host}:{self.settings.dashboard.port}/"

    def check(self) -> None:
        """Raise `StackError` if a component died."""
        for process in self.processes.values():
            if not process.alive():
                raise self._fail(
                    process, f"exited with code {process.process.poll() if process.process else '?'}"
                )

    def stop(self) -> None:
        for name in reversed(list(self.processes)):
            process = self.processes.pop(name)
            code = process.stop()
            log.info("stopped %s (exit %s)", name, code)
        _state_file(self.settings).unlink(missing_ok=True)

    def stop_worker(self, name: str) -> None:
        """Stop one component and forget it (the rest of the stack runs on); no-op if not running."""
        process = self.processes.pop(name, None)
        if process is not None:
            code = process.stop()
            log.info("stopped %s (exit %s)", name, code)
            self._write_state()

    def restart(self, name: str, *, kill: bool = False) -> None:
        """Stop (or SIGKILL) one component and start it again: crash and recovery tests."""
        process = self.processes[name]
        process.kill() if kill else process.stop()
        process.start()
        self._write_state()

    def _write_state(self) -> None:
        path = _state_file(self.settings)
        path.parent.mkdir(parents=True, exist_ok=True)
        state = {
            "supervisor": os.getpid(),
            "children": {name: p.pid for name, p in self.processes.items()},
            "kafka": self.settings.kafka.bootstrap_servers,
            "registry": self.settings.registry.url,
        }
        path.write_text(json.dumps(state, indent=2))

    def wait(self) -> None:
        """Run until SIGINT/SIGTERM or until a component dies."""
        stop = False

        def request_stop(*_: object) -> None:
            nonlocal stop
            stop = True

        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)
        while not stop:
            self.check()
            time.sleep(0.5)

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


_WORKER_ARGS: dict[str, tuple[str, ...]] = {
    "lander": ("land",),
    "qoe": ("stream",),
    "collector": ("collect",),
    "alerts": ("alerts",),
    "web": ("dashboards", "serve"),
}


def stop_running_stack(settings: Settings, timeout_s: float = 30.0) -> bool:
    """Stop the stack recorded in `data_dir/run/stack.json`; False when none runs."""
    path = _state_file(settings)
    if not path.exists():
        return False
    state = json.loads(path.read_text())
    supervisor = int(state["supervisor"])
    if pid_alive(supervisor) and supervisor != os.getpid():
        os.kill(supervisor, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while pid_alive(supervisor) and time.monotonic() < deadline:
            time.sleep(0.1)
    for pid in state["children"].values():
        if pid and pid_alive(int(pid)):
            os.kill(int(pid), signal.SIGKILL)
    path.unlink(missing_ok=True)
    return True
