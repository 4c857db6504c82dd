"""The API reads a key at most once per interval; a revocation shows after it at the latest."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from schemas.api import ApiKey, Role
from services.api.auth import KnownKeys, Unauthorized, authenticate, new_key
from services.api.recent import RecentlyRead

pytestmark = pytest.mark.unit

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


class Database:
    def __init__(self) -> None:
        self.keys: dict[str, ApiKey] = {}
        self.reads = 0

    async def load(self, key_id: str) -> ApiKey | None:
        self.reads += 1
        return self.keys.get(key_id)


async def test_a_key_is_read_once_per_interval_and_a_revocation_shows_after_it() -> None:
    database, now = Database(), [0.0]
    keys = KnownKeys(database.load, ttl=5.0, clock=lambda: now[0])
    plaintext, stored = new_key(Role.OPERATIONS, None, "ops", NOW)
    database.keys[stored.key_id] = stored
    for _ in range(3):
        assert (await authenticate(keys, plaintext)).role is Role.OPERATIONS
    assert database.reads == 1
    with pytest.raises(Unauthorized, match="unknown API key"):
        await authenticate(keys, plaintext[:-2] + "xx")
    database.keys[stored.key_id] = stored.model_copy(update={"revoked_at": NOW})
    now[0] = 4.9
    assert (await authenticate(keys, plaintext)).role is Role.OPERATIONS
    now[0] = 5.0
    with pytest.raises(Unauthorized, match="revoked"):
        await authenticate(keys, plaintext)
    assert database.reads == 2


async def test_an_unknown_key_is_asked_for_every_time_so_a_new_key_works_at_once() -> None:
    database = Database()
    keys = KnownKeys(database.load, ttl=5.0, clock=lambda: 0.0)
    plaintext, stored = new_key(Role.DISTRIBUTOR, "D1", "d1", NOW)
    with pytest.raises(Unauthorized):
        await authenticate(keys, plaintext)
    database.keys[stored.key_id] = stored
    assert (await authenticate(keys, plaintext)).account_id == "D1"
    assert database.reads == 2


async def test_no_interval_reads_every_time() -> None:
    database = Database()
    keys = KnownKeys(database.load, ttl=0.0, clock=lambda: 0.0)
    plaintext, stored = new_key(Role.PARTNER, "P1", "p1", NOW)
    database.keys[stored.key_id] = stored
    for _ in range(3):
        await authenticate(keys, plaintext)
    assert database.reads == 3


async def test_a_partners_access_to_usage_reports_is_read_once_per_interval() -> None:
    reads: list[str] = []
    access = {"P1": False}

    async def load(partner_id: str) -> bool | None:
        reads.append(partner_id)
        return access.get(partner_id)

    now = [0.0]
    recent = RecentlyRead(load, ttl=5.0, clock=lambda: now[0])
    assert [await recent.get("P1") for _ in range(3)] == [False, False, False]
    assert await recent.get("P-NEW") is None
    assert await recent.get("P-NEW") is None  # no account yet: asked again
    access["P1"] = True
    now[0] = 5.0
    assert await recent.get("P1") is True
    assert reads == ["P1", "P-NEW", "P-NEW", "P1"]
