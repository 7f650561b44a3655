"""Pacing of one bind's submits: the provider's per-bind rate, with no burst above it in any one-second span.

Submits are spaced evenly at 1/rate; a bind that fell behind (the gap between two chunks, waiting for its
window) may catch up a little, but never so that more than `rate` submits fall in one SPAN. SPAN is a little
over a second because the SMSC times arrivals, not sends: two submits `rate` apart must not look closer.
"""

from __future__ import annotations

from collections import deque

SPAN = 1.001  # the rate's one-second span, with a millisecond's margin: the SMSC times arrivals, not sends
CATCH_UP = 1.0  # seconds of spacing a bind may make up after a gap (within the span's count)


class Pacer:
    """At most `rate` submits in any SPAN-second span, evenly spaced; after a gap (between two chunks) a bind may
    catch up CATCH_UP seconds of its spacing, never beyond the span's count. `hold` stops it until an instant,
    with nothing to catch up for the time held (the SMSC asked us to slow down)."""

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

    def hold(self, until: float) -> None:
        self._next = max(self._next, until)
