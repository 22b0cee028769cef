"""Per-key token buckets: a sustained rate of events per second and a burst that may be saved up.

A bucket holds at most `burst` tokens and gains `rate` per second; a batch of n events takes n
tokens or, when fewer are there, nothing at all and learns how long to wait (the Retry-After).
A batch larger than the burst takes a full bucket, so it still passes at the sustained rate.
The buckets live in the collector process, so each collector process enforces the limit on its
own; behind a load balancer with N collectors a key gets up to N times the rate.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

__all__ = ["RateLimiter", "TokenBucket", "retry_after"]


class TokenBucket:
    __slots__ = ("burst", "rate", "stamp", "tokens")

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self.rate, self.burst = rate, burst
        self.tokens, self.stamp = burst, now

    def _fill(self, now: float) -> None:
        if now > self.stamp:
            self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now

    def take(self, n: float, now: float) -> float:
        """Take `n` tokens (at most the burst: a bigger batch takes a full bucket): 0.0 when
        granted, else the seconds until they would be there, taking nothing."""
        n = min(n, self.burst)
        self._fill(now)
        if self.tokens >= n:
            self.tokens -= n
            return 0.0
        return (n - self.tokens) / self.rate

    def wait_for(self, n: float, now: float) -> float:
        """Seconds until `n` tokens are there (0.0 if now), taking nothing."""
        n = min(n, self.burst)
        self._fill(now)
        return 0.0 if self.tokens >= n else (n - self.tokens) / self.rate


class RateLimiter:
    """One bucket per key id, with the key's own limits or the defaults."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate, self.burst, self._clock = rate, burst, clock
        self._buckets: dict[str, TokenBucket] = {}

    def _bucket(self, key_id: str, rate: float | None, burst: int | None) -> TokenBucket:
        bucket = self._buckets.get(key_id)
        if bucket is None:
            bucket = self._buckets[key_id] = TokenBucket(
                rate or self.rate, burst or self.burst, self._clock()
            )
        return bucket

    def take(self, key_id: str, n: int, rate: float | None = None, burst: int | None = None) -> float:
        return self._bucket(key_id, rate, burst).take(n, self._clock())

    def wait_for(self, key_id: str, n: int, rate: float | None = None, burst: int | None = None) -> float:
        return self._bucket(key_id, rate, burst).wait_for(n, self._clock())


def retry_after(seconds: float) -> int:
    """Whole seconds for a Retry-After header: at least 1."""
    return max(1, math.ceil(seconds))
