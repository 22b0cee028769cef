"""Shared fixtures: settings in a temporary data directory, and the real local stack on free ports."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from playpulse.config import Settings, load_settings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession
from playpulse.stack import LocalStack
from tests.support.net import free_port


@pytest.fixture(scope="session")
def chdb_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The one chdb engine directory of the test session: chdb hosts one engine path per process,
    so every test that opens ClickHouse uses this path with a database of its own."""
    return tmp_path_factory.mktemp("chdb") / "engine"


@pytest.fixture(scope="session")
def spark(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SparkSession]:
    """The one local SparkSession of the test session (one JVM per test run), from default batch
    settings (`local[*]`, UTC, Arrow, few shuffle partitions); stopped when the run ends."""
    from batch.spark import spark_session, stop_spark

    session = spark_session(load_settings(data_dir=tmp_path_factory.mktemp("spark")), "playpulse-tests")
    yield session
    stop_spark()


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings pointing at a private data directory and free loopback ports."""
    for name in [n for n in __import__("os").environ if n.startswith("PLAYPULSE_")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return load_settings(
        data_dir=tmp_path / "data",
        kafka={"bootstrap_servers": f"127.0.0.1:{free_port()}"},
        registry={"url": f"http://127.0.0.1:{free_port()}"},
        collector={"port": free_port()},
        dashboard={"port": free_port()},
        alerts={"web_port": free_port()},
        lander_flush_s=1.0,
        lander_flush_events=5_000,
    )


@pytest.fixture
def start_stack(settings: Settings) -> Iterator[Callable[..., LocalStack]]:
    """Start the real local stack (Tansu broker, registry, chosen workers); stopped after the test."""
    stacks: list[LocalStack] = []

    def start(workers: tuple[str, ...] = ("lander",)) -> LocalStack:
        stack = LocalStack(settings, workers=workers).start()
        stacks.append(stack)
        return stack

    yield start
    for stack in stacks:
        stack.stop()
