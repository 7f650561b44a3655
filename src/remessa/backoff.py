"""The one back-off policy: a pause that doubles after each failure up to a ceiling, with jitter, and
starts again from the first pause after a success.

Used for every retry of a whole provider or connection: a bind reconnecting (channels.smpp.bind), and a
provider whose channel cannot be opened or refused a whole call (delivery.provider).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class Backoff:
    """Pauses of `first`, 2·first, 4·first… seconds, at most `ceiling`; `jitter` spreads each over
    [pause·(1-jitter), pause·(1+jitter)] so that connections refused together do not retry together."""

    first: float = 1.0
    ceiling: float = 60.0
    jitter: float = 0.0
    rng: random.Random = field(default_factory=random.Random, repr=False)
    failures: int = 0

    def __post_init__(self) -> None:
        if not 0 < self.first <= self.ceiling:
            raise ValueError(f"back-off needs 0 < first <= ceiling, not {self.first} and {self.ceiling}")
        if not 0 <= self.jitter < 1:
            raise ValueError(f"back-off jitter must be in [0, 1), not {self.jitter}")

    def failed(self) -> float:
        """Count a failure; returns the seconds to wait before the next attempt."""
        pause = min(self.ceiling, self.first * 2.0 ** min(self.failures, 64))
        self.failures += 1
        if self.jitter:
            pause *= 1 + self.jitter * (2 * self.rng.random() - 1)
        return pause

    def succeeded(self) -> None:
        """The next failure waits `first` again."""
        self.failures = 0
