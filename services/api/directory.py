"""The partner search of list queries: "find" on partner id and name, any case, any part.

A substring search cannot use an index, and the database server scans slowly with
case-insensitive regexes (about a second for 1,700 partners), so the API keeps the
partner directory (id, name, distributor: a few hundred kB for 10,000 partners) in
memory, refreshed every ``ttl`` seconds, and the report query then filters on the
matching ids with its index. A partner added moments ago may be found one refresh later;
its reports are found by exact id at once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

Entry = tuple[str, str, str]


class PartnerDirectory:
    def __init__(
        self,
        load: Callable[[], Awaitable[list[Entry]]],
        ttl: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._load = load
        self._ttl = ttl
        self._clock = clock
        self._entries: list[tuple[str, str, str, str]] = []
        self._loaded_at: float | None = None
        self._lock = asyncio.Lock()

    async def matching(self, term: str, distributor_id: str | None) -> list[str]:
        """Ids of partners whose id or name contains ``term``, plus ``term`` itself."""
        await self._fresh()
        wanted = term.casefold()
        found = {
            partner_id
            for partner_id, haystack, _name, distributor in self._entries
            if wanted in haystack and (distributor_id is None or distributor == distributor_id)
        }
        found.add(term)
        return sorted(found)

    async def _fresh(self) -> None:
        now = self._clock()
        if self._loaded_at is not None and now - self._loaded_at < self._ttl:
            return
        async with self._lock:
            if self._loaded_at is not None and self._clock() - self._loaded_at < self._ttl:
                return
            entries = await self._load()
            self._entries = [
                (pid, f"{pid}\n{name}".casefold(), name, distributor)
                for pid, name, distributor in entries
            ]
            self._loaded_at = self._clock()
