"""The store's durability settings: majority writes, majority reads, retryable writes.

The embedded server is a single node; a real replica set is where the settings matter,
so these tests check that every client the store builds carries them (both drivers),
that the server accepts them on the writes and reads the processors make, and that a
setting the driver cannot use is refused when the settings are read.
"""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.adapters.store import connect
from services.settings import MongoDriver, Settings
from tests.builders import stored_report
from tests.harness import System

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("driver", list(MongoDriver))
async def test_every_write_and_read_carries_the_configured_concerns(
    system: System, driver: MongoDriver
) -> None:
    settings = system.settings.model_copy(update={"mongodb_driver": driver})
    store = connect(settings)
    try:
        assert store.reports.write_concern.document == {"w": "majority", "wtimeout": 30_000}
        assert store.reports.read_concern.level == "majority"
        assert store.reports.read_preference.mongos_mode == "primary"
        rid = f"DUR-{driver.value}:2026-10"
        assert await store.save_reports([(stored_report(rid, 1, po_number="first"), None)]) == set()
        loaded = await store.load_reports([rid])
        assert loaded[rid].po_number == "first"
        assert await store.save_reports([(stored_report(rid, 2, po_number="second"), 1)]) == set()
        assert (await store.load_reports([rid]))[rid].po_number == "second"
    finally:
        await store.close()


async def test_a_numeric_write_concern_and_local_reads_are_honoured(system: System) -> None:
    settings = system.settings.model_copy(
        update={"mongodb_write_concern": "1", "mongodb_read_concern": "local"}
    )
    store = connect(settings)
    try:
        assert store.reports.write_concern.document["w"] == 1
        assert store.reports.read_concern.level == "local"
        assert (
            await store.save_reports([(stored_report("DUR-1:2026-10", 1, po_number="x"), None)])
            == set()
        )
    finally:
        await store.close()


@pytest.mark.parametrize(
    ("name", "value"),
    [("LMP_MONGODB_WRITE_CONCERN", "all"), ("LMP_MONGODB_READ_CONCERN", "snapshot")],
)
def test_a_concern_the_store_cannot_use_is_refused_with_its_name(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError, match=name.removeprefix("LMP_").lower()):
        Settings()
