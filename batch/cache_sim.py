"""Replaying an appliance's requests against a cache, to score a fill plan (pure, no I/O).

A request is one playback session served by the appliance: its title and the bytes it streamed
(playing time × bitrate). A request is a hit when its title's files are on the appliance at the
moment of the request; offload = bytes of hits ÷ bytes requested (what the appliance served
itself instead of its upstream). Three caches of the same disk are compared on the same requests:

- `static_replay` — a fixed set of titles for the whole day: the fill plan (filled overnight, in
  place when the day starts), or the perfect-foresight oracle (`oracle_titles`: the same planner
  under the same disk and fill budget, fed with the day's actual bytes per title instead of the
  forecast — the best any nightly plan could have done).
- `LruCache` — no prefetch: a miss copies the title's whole file set in (evicting least recently
  used titles until it fits) and later requests hit; a title larger than the disk is never cached.
  Its state carries from day to day, like a real appliance's disk.

`CacheResult`s add up (appliances, days).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from batch.fill_plan import choose_titles

__all__ = ["CacheResult", "LruCache", "oracle_titles", "static_replay"]


@dataclass(frozen=True)
class CacheResult:
    """Requests and bytes, in total and served locally (hits)."""

    requests: int = 0
    hits: int = 0
    bytes_requested: float = 0.0
    bytes_hit: float = 0.0
    bytes_filled: float = 0.0

    @property
    def offload(self) -> float:
        """Bytes served locally ÷ bytes requested (0 when nothing was requested)."""
        return self.bytes_hit / self.bytes_requested if self.bytes_requested else 0.0

    @property
    def hit_ratio(self) -> float:
        return self.hits / self.requests if self.requests else 0.0

    def __add__(self, other: CacheResult) -> CacheResult:
        return CacheResult(
            self.requests + other.requests,
            self.hits + other.hits,
            self.bytes_requested + other.bytes_requested,
            self.bytes_hit + other.bytes_hit,
            self.bytes_filled + other.bytes_filled,
        )


def static_replay(titles: Iterable[str], request_bytes: Iterable[float], stored: set[str]) -> CacheResult:
    """Replay requests (in time order) against a fixed set of stored titles."""
    t = np.asarray(list(titles), dtype=object)
    b = np.asarray(list(request_bytes), dtype=np.float64)
    if len(t) != len(b):
        raise ValueError(f"{len(t)} titles but {len(b)} byte counts; give one of each per request")
    hit = np.fromiter((x in stored for x in t), dtype=bool, count=len(t))
    return CacheResult(len(t), int(hit.sum()), float(b.sum()), float(b[hit].sum()))


class LruCache:
    """A least-recently-used cache of whole title file sets on a disk of `capacity_bytes`."""

    def __init__(self, capacity_bytes: int, sizes: Mapping[str, int]) -> None:
        if capacity_bytes < 0:
            raise ValueError("capacity_bytes must be >= 0")
        self.capacity_bytes = capacity_bytes
        self._sizes = sizes
        self._entries: OrderedDict[str, int] = OrderedDict()
        self.used_bytes = 0

    @property
    def titles(self) -> list[str]:
        """Stored titles, least recently used first."""
        return list(self._entries)

    def replay(self, titles: Iterable[str], request_bytes: Iterable[float]) -> CacheResult:
        """Serve requests in time order; misses are copied in, evicting the least recently used."""
        requests = hits = 0
        requested = hit_bytes = filled = 0.0
        entries = self._entries
        for title, size_served in zip(titles, request_bytes, strict=True):
            requests += 1
            requested += size_served
            if title in entries:
                entries.move_to_end(title)
                hits += 1
                hit_bytes += size_served
                continue
            size = self._sizes.get(title)
            if size is None:
                raise ValueError(f"title {title!r} has no size in the catalogue; publish its duration")
            if size > self.capacity_bytes:
                continue
            while self.used_bytes + size > self.capacity_bytes:
                _, freed = entries.popitem(last=False)
                self.used_bytes -= freed
            entries[title] = size
            self.used_bytes += size
            filled += size
        return CacheResult(requests, hits, requested, hit_bytes, filled)


def oracle_titles(
    actual_bytes: Mapping[str, float],
    sizes: Mapping[str, int],
    held: set[str],
    capacity_bytes: int,
    fill_budget_bytes: int,
) -> set[str]:
    """The titles a perfect-foresight plan stores: the day's actual bytes per title, same limits."""
    ids = sorted((set(actual_bytes) | held) & set(sizes))
    size = np.array([sizes[t] for t in ids], dtype=np.int64)
    value = np.array([actual_bytes.get(t, 0.0) for t in ids], dtype=np.float64)
    is_held = np.array([t in held for t in ids], dtype=bool)
    chosen, _, _ = choose_titles(size, value, is_held, capacity_bytes, fill_budget_bytes)
    return {t for t, c in zip(ids, chosen, strict=True) if c}
