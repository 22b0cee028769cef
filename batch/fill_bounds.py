"""How close any nightly fill plan can get to the oracle, and what the gap does as traffic grows.

The oracle stores exactly the titles the next day will ask for. No plan made the night before can:
in the simulated world (`ingest.simulator.expected`) the requests of a title on an appliance over a
day are Poisson around a mean, so part of the oracle's lead is which titles of the tail happen to
be asked for. Two tools measure that part on a simulated world (pure: pandas/NumPy, no I/O):

- **The expected-demand plan** (`expected_demand` → the fill job's own planner): the plan fed the
  simulator's true mean bytes per appliance × title for the served day instead of a forecast. It is
  the best a plan can do in expectation (the bytes a stored title serves are linear in its
  requests), so `oracle − expected-demand plan` is the chance no forecast removes and
  `expected-demand plan − plan` is what the forecast costs.
- **Traffic at a multiple k of the simulated day** (`draw_bytes`): requests drawn as Poisson(k·λ)
  per appliance × title, each with bytes drawn from played sessions of titles of similar length.
  Any plan's stored titles, and the oracle from the same holdings, are scored on them
  (`score_static`). Plans stay as they were made (from the simulated history), so the figures at
  k > 1 say how the oracle's lead shrinks when each appliance serves k times the requests; the
  forecasts, which would also sharpen with k times the history, are not refitted. At k = 1 the
  draws are a second sample of the same day: their figures match the replay of the simulated
  sessions within noise, which checks the draws.

Bytes of a played request (`RequestBytes`): played sessions of the history are grouped into
`buckets` quantiles of their title's duration (bytes follow duration: longer titles are watched
longer); a title's mean is its bucket's mean, and a drawn request's bytes are a played session of
its bucket drawn at random.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from batch.cache_sim import CacheResult, oracle_titles
from batch.fill_evaluation import fill_limits

__all__ = ["RequestBytes", "draw_bytes", "expected_demand", "score_static"]


@dataclass(frozen=True)
class RequestBytes:
    """Bytes of a played request by title, from the duration bucket of the title."""

    bucket_of: np.ndarray  # bucket per title, in the catalogue's title order
    mean: np.ndarray  # mean bytes of a played request per title
    pool: np.ndarray  # bytes of the history's played sessions, sorted by bucket
    pool_start: np.ndarray  # first index of each bucket in `pool`
    pool_size: np.ndarray  # sessions of each bucket in `pool`

    @classmethod
    def fit(cls, sessions: pd.DataFrame, durations_ms: np.ndarray, buckets: int = 10) -> RequestBytes:
        """From played sessions (content_duration_ms, bytes) and each title's duration."""
        if sessions.empty:
            raise ValueError("no played sessions to learn the bytes of a request from")
        if buckets < 1:
            raise ValueError(f"buckets must be >= 1, got {buckets}")
        durations_ms = np.asarray(durations_ms, dtype=np.float64)
        edges = np.unique(
            np.quantile(sessions["content_duration_ms"].to_numpy(np.float64), np.linspace(0, 1, buckets + 1))
        )
        inner = edges[1:-1]
        session_bucket = np.searchsorted(
            inner, sessions["content_duration_ms"].to_numpy(np.float64), side="right"
        )
        order = np.argsort(session_bucket, kind="stable")
        pool = sessions["bytes"].to_numpy(np.float64)[order]
        n = len(inner) + 1
        size = np.bincount(session_bucket, minlength=n)
        start = np.concatenate([[0], np.cumsum(size)[:-1]])
        means = np.bincount(session_bucket, sessions["bytes"].to_numpy(np.float64), n) / np.maximum(size, 1)
        bucket_of = np.searchsorted(inner, durations_ms, side="right")
        return cls(bucket_of, means[bucket_of], pool, start, size)


def expected_demand(
    expected_requests: np.ndarray,
    played_share: float,
    request_bytes: RequestBytes,
    oca_ids: list[str],
    title_ids: list[str],
    regions: Mapping[str, str],
) -> pd.DataFrame:
    """The demand frame the fill planner takes (oca_id, region, title_id, demand_bytes) from true means.

    `expected_requests` is (appliances × titles) requests in the order of `oca_ids` and `title_ids`;
    `played_share` the share of requests that play (the rest fail or exit before the first frame).
    """
    demand = np.asarray(expected_requests, dtype=np.float64) * played_share * request_bytes.mean[None, :]
    rows, cols = np.nonzero(demand > 0)
    oca = np.asarray(oca_ids, dtype=object)[rows]
    return pd.DataFrame(
        {
            "oca_id": oca,
            "region": [regions[o] for o in oca],
            "title_id": np.asarray(title_ids, dtype=object)[cols],
            "demand_bytes": demand[rows, cols],
        }
    )


def draw_bytes(
    expected_requests: np.ndarray,
    played_share: float,
    request_bytes: RequestBytes,
    multiple: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """(appliances × titles) bytes of one day of played requests drawn at `multiple` × the means."""
    counts = rng.poisson(np.asarray(expected_requests, dtype=np.float64) * played_share * multiple)
    cells = np.flatnonzero(counts)
    per_cell = counts.ravel()[cells]
    cell_of_request = np.repeat(np.arange(len(cells)), per_cell)
    titles = cells % counts.shape[1]
    bucket = request_bytes.bucket_of[titles][cell_of_request]
    size = request_bytes.pool_size[bucket]
    pick = request_bytes.pool_start[bucket] + np.minimum(
        (rng.random(len(bucket)) * size).astype(np.int64), size - 1
    )
    out = np.zeros(counts.size)
    out[cells] = np.bincount(cell_of_request, request_bytes.pool[pick], len(cells))
    return out.reshape(counts.shape)


def score_static(
    day_bytes: np.ndarray,
    stored: Mapping[str, set[str]],
    held: Mapping[str, set[str]],
    appliances: pd.DataFrame,
    oca_ids: list[str],
    title_ids: list[str],
    sizes: Mapping[str, int],
) -> tuple[CacheResult, CacheResult]:
    """(plan, oracle) on a day of bytes per appliance × title: the plan's stored titles, and the oracle's
    from the same holdings under the same disk and fill budget (an appliance that held nothing on its
    initial load, budget = disk, as in `batch.fill_evaluation`).
    """
    apps = appliances.set_index("oca_id")
    titles = np.asarray(title_ids, dtype=object)
    plan = oracle = CacheResult()
    for i, oca_id in enumerate(oca_ids):
        row = day_bytes[i]
        asked = np.flatnonzero(row > 0)
        if not len(asked) or oca_id not in apps.index:
            continue
        actual = dict(zip(titles[asked], row[asked], strict=True))
        before = held.get(oca_id, set())
        best = oracle_titles(actual, sizes, before, *fill_limits(apps, oca_id, before))
        mine = stored.get(oca_id, set())
        requested = float(row[asked].sum())
        plan = plan + CacheResult(0, 0, requested, float(sum(b for t, b in actual.items() if t in mine)))
        oracle = oracle + CacheResult(0, 0, requested, float(sum(b for t, b in actual.items() if t in best)))
    return plan, oracle
