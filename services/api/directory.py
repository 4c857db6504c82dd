"""The partner search of list queries: "find" on partner id and name, any case, any part.

A substring search cannot use an index, and the database server scans slowly with
case-insensitive regexes (about a second for 1,700 partners), so the API keeps the
partner directory (id, name, distributor: a few hundred kB for 10,000 partners) in
memory. Before a search it asks the database, through the ``updated_at`` index, for
the partners changed since the newest one it holds (at most once a second), so a new
partner is found within about a second; the report query then filters on the matching
ids with its own index.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

Entry = tuple[str, str, str, datetime]
"""(partner id, name, distributor id, updated at)."""

OVERLAP = timedelta(seconds=30)
"""Ask again for changes this far back: a write stamped earlier may commit later."""


class PartnerDirectory:
    def __init__(
        self,
        load: Callable[[datetime | None], Awaitable[list[Entry]]],
        min_interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._load = load
        self._min_interval = min_interval
        self._clock = clock
        self._partners: dict[str, tuple[str, str]] = {}
        self._newest: datetime | None = None
        self._refreshed_at: float | None = None
        self._lock = asyncio.Lock()

    async def matching(self, term: str, distributor_id: str | None) -> list[str]:
        """Ids of partners whose id or name contains ``term``, plus ``term`` itself."""
        await self._refresh()
        wanted = term.casefold()
        found = {
            partner_id
            for partner_id, (haystack, distributor) in self._partners.items()
            if wanted in haystack and (distributor_id is None or distributor == distributor_id)
        }
        found.add(term)
        return sorted(found)

    async def _refresh(self) -> None:
        async with self._lock:
            now = self._clock()
            if self._refreshed_at is not None and now - self._refreshed_at < self._min_interval:
                return
            self._refreshed_at = now
            since = None if self._newest is None else self._newest - OVERLAP
            for partner_id, name, distributor, updated_at in await self._load(since):
                self._partners[partner_id] = (f"{partner_id}\n{name}".casefold(), distributor)
                if self._newest is None or updated_at > self._newest:
                    self._newest = updated_at
