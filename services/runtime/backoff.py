"""The one back-off policy: jittered, doubling, capped."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Backoff:
    """Pauses between retries: ``first`` doubled on each retry up to ``longest``, each one
    drawn within ±50 % (jitter, so that retrying processes do not move in step)."""

    first: float
    longest: float
    jitter: Callable[[float, float], float] = random.uniform
    _next: float = field(init=False)

    def __post_init__(self) -> None:
        self._next = self.first

    def pause(self) -> float:
        """The next pause, in seconds; the one after it is twice as long (capped)."""
        pause = self._next * self.jitter(0.5, 1.5)
        self._next = min(self._next * 2, self.longest)
        return pause

    def reset(self) -> None:
        """Start again from ``first`` (after a success)."""
        self._next = self.first
