"""Pacing of submits: each bind's configured rate (Pacer), and the rate the provider's account takes,
learned by the whole pool (PoolRate).

A bind's submits are spaced evenly at 1/rate; a bind that fell behind (the gap between two chunks, waiting for
its window) may catch up a little, but never so that more than `rate` submits fall in one SPAN. SPAN is a
little over a second because the SMSC times arrivals, not sends: two submits `rate` apart must not look closer.

A provider's quota is usually per account, not per bind: when it answers ESME_RTHROTTLED the pool lowers the
rate all its binds share together (multiplicative decrease, once per throttling episode) and, while nothing is
throttled, probes upward slowly (additive increase), its submits evenly spaced across the binds.
"""

from __future__ import annotations

import logging
import threading
from collections import deque

log = logging.getLogger(__name__)

SPAN = 1.001  # the rate's one-second span, with a millisecond's margin: the SMSC times arrivals, not sends
CATCH_UP = 1.0  # seconds of spacing a bind may make up after a gap (within the span's count)


class Pacer:
    """At most `rate` submits in any SPAN-second span, evenly spaced; after a gap (between two chunks) a bind may
    catch up CATCH_UP seconds of its spacing, never beyond the span's count."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate
        self.limit = max(1, int(rate))
        self._recent: deque[float] = deque()
        self._next = 0.0

    def ready_at(self) -> float:
        """The earliest monotonic instant of the next submit."""
        if len(self._recent) >= self.limit:
            return max(self._next, self._recent[0] + SPAN)
        return self._next

    def sent(self, now: float) -> None:
        self._recent.append(now)
        if len(self._recent) > self.limit:
            self._recent.popleft()
        self._next = max(self._next + self.interval, now - CATCH_UP)

    def written(self, count: int, at: float) -> None:
        """The last `count` submits left the socket at `at`: the span counts from there, so a write delayed
        (by the GIL, a full buffer) cannot bring two submits `limit` apart closer than SPAN on the wire."""
        for n in range(1, min(count, len(self._recent)) + 1):
            self._recent[-n] = at


class PoolRate:
    """The submits per second the pool's binds share: at most `ceiling` (binds x the configured rate), lowered
    by DECREASE at each throttling episode and raised by GROWTH of itself per second without one."""

    DECREASE = 0.9
    GROWTH = 0.02  # a share of the current rate added per second without a throttle
    FLOOR = 0.5  # submits/s: never lower (a provider that throttles everything is retried this slowly)

    def __init__(self, ceiling: float, name: str = "smpp") -> None:
        self.ceiling = ceiling
        self.rate = ceiling
        self.name = name
        self._lock = threading.Lock()
        self._next = 0.0
        self._cut_at = float("-inf")  # when the rate was last lowered: answers to earlier submits are that episode
        self._grown_at = 0.0
        self._logged = ceiling

    def ready_at(self) -> float:
        """The earliest monotonic instant at which some bind may submit."""
        return self._next

    def sent(self, now: float) -> None:
        """A submit goes now: the next one is 1/rate later (half a slot of lateness may be made up)."""
        with self._lock:
            interval = 1.0 / self.rate
            self._next = max(self._next, now - interval / 2) + interval

    def accepted(self, now: float) -> None:
        """A submit was answered without a throttle: once a second the rate grows a little, up to the ceiling."""
        if self.rate >= self.ceiling:
            return
        with self._lock:
            if now - max(self._grown_at, self._cut_at) >= 1.0:
                self.rate = min(self.ceiling, self.rate * (1.0 + self.GROWTH) + 0.05)
                self._grown_at = now
                self._say(logging.INFO)

    def throttled(self, sent: float, now: float) -> None:
        """A submit sent at `sent` was throttled: lower the rate, once for all the answers of one episode."""
        with self._lock:
            if sent < self._cut_at:
                return
            self.rate = max(self.FLOOR, self.rate * self.DECREASE)
            self._cut_at = now
            self._next = max(self._next, now + 1.0 / self.rate)
            self._say(logging.WARNING)

    def _say(self, level: int) -> None:
        """Report the learned rate at `level` when it moved a tenth from the one last reported, else at DEBUG
        (a sawtooth just under the quota is not news)."""
        if abs(self.rate - self._logged) < 0.1 * self._logged:
            level = logging.DEBUG
        else:
            self._logged = self.rate
        log.log(level, "%s: the provider throttles our submits; the pool now sends %.1f/s over all binds"
                " (at most %.1f/s)", self.name, self.rate, self.ceiling)
