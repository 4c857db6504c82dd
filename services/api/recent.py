"""What the read API may trust for a few seconds: values read from the database at most
once per interval in a process (API keys, a partner's access to usage reports), so a busy
caller costs no database read per request for them."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class RecentlyRead(Generic[K, V]):
    """Each value is read from the database at most once per ``ttl`` seconds.

    A change (a revocation, an account losing access) therefore shows within ``ttl`` (0
    reads every time); a key found to have no value (None) is asked for again on every
    request, so what is new (a new key) works at once. At most ``most`` values are held.
    """

    def __init__(
        self,
        load: Callable[[K], Awaitable[V | None]],
        ttl: float,
        clock: Callable[[], float] = time.monotonic,
        most: int = 10_000,
    ) -> None:
        self._load = load
        self._ttl = ttl
        self._clock = clock
        self._most = most
        self._read: dict[K, tuple[float, V]] = {}

    async def get(self, key: K) -> V | None:
        now = self._clock()
        held = self._read.get(key)
        if held is not None and now - held[0] < self._ttl:
            return held[1]
        stored = await self._load(key)
        if stored is None:
            self._read.pop(key, None)
        elif self._ttl > 0:
            if len(self._read) >= self._most:
                self._read.clear()
            self._read[key] = (now, stored)
        return stored
