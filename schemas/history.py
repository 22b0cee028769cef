"""Published versions of `PlaybackEvent` and the rule that each new one stays BACKWARD compatible.

`schemas/avro/history/PlaybackEvent.vN.avsc` are the versions released so far, in order; the
current schema (`schemas/avro/PlaybackEvent.avsc`) must read data written with every one of them
(BACKWARD_TRANSITIVE: events of any age stay readable in the lake and on the topic). To change
the schema: edit the current file, run `playpulse schema check`, then add it as the next version.
"""

from __future__ import annotations

import json
import re
from importlib import resources
from typing import Any

from schemas.compatibility import backward_problems
from schemas.events import playback_event_schema

__all__ = ["check_history", "published_versions"]


def published_versions() -> list[tuple[int, dict[str, Any]]]:
    """(version, schema) of every published version, oldest first."""
    folder = resources.files("schemas").joinpath("avro", "history")
    found = []
    for entry in folder.iterdir():
        match = re.fullmatch(r"PlaybackEvent\.v(\d+)\.avsc", entry.name)
        if match:
            found.append((int(match.group(1)), json.loads(entry.read_text())))
    return sorted(found, key=lambda pair: pair[0])


def check_history(current: dict[str, Any] | None = None) -> list[str]:
    """Problems of `current` (default: the schema in the package) against every published version."""
    current = playback_event_schema() if current is None else current
    problems = []
    for version, old in published_versions():
        problems += [f"v{version}: {p}" for p in backward_problems(current, old)]
    return problems
