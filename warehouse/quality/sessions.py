"""Expectations of `sessions` for one run date (on top of the spec's key, NOT NULL and partition checks).

- one row per session seen in the raw events: the row count lies between the sessions with a
  PLAY_REQUEST on the date and all sessions first seen on the date (facts `raw_requests`,
  `raw_sessions` counted by the job from the lake);
- times and counts are never negative (playing and rebuffer time, rebuffer and error counts, VST);
- VST is at most ten minutes, bitrates are within the encoding ladder's range;
- a session ends no earlier than it starts; end reasons are the schema's.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import great_expectations as gx
from great_expectations.expectations import Expectation

__all__ = ["expectations"]

_MAX_VST_MS = 600_000
_MAX_BITRATE_KBPS = 100_000


def expectations(run_date: dt.date, facts: Mapping[str, Any]) -> list[Expectation]:
    e = gx.expectations
    out: list[Expectation] = [
        e.ExpectColumnValuesToBeBetween(column="playing_ms", min_value=0),
        e.ExpectColumnValuesToBeBetween(column="rebuffer_ms", min_value=0),
        e.ExpectColumnValuesToBeBetween(column="rebuffer_count", min_value=0),
        e.ExpectColumnValuesToBeBetween(column="error_count", min_value=0),
        e.ExpectColumnValuesToBeBetween(column="vst_ms", min_value=0, max_value=_MAX_VST_MS),
        e.ExpectColumnValuesToBeBetween(column="avg_bitrate_kbps", min_value=0, max_value=_MAX_BITRATE_KBPS),
        e.ExpectColumnValuesToBeBetween(column="content_duration_ms", min_value=1),
        e.ExpectColumnPairValuesAToBeGreaterThanB(column_A="ended_at", column_B="started_at", or_equal=True),
        e.ExpectColumnValuesToBeInSet(
            column="end_reason",
            value_set=["COMPLETED", "USER_EXIT", "EXIT_BEFORE_START", "START_FAILURE", "PLAYBACK_FAILURE"],
        ),
    ]
    if "raw_sessions" in facts:
        out.append(
            e.ExpectTableRowCountToBeBetween(
                min_value=int(facts.get("raw_requests", 0)), max_value=int(facts["raw_sessions"])
            )
        )
    return out
