"""Usage, accounts and pricing through the unit of work, on the in-memory store: what
each processor decides and writes, what it publishes, and what it refuses as a conflict.
The integration and fault tests check the same paths on the real servers."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import datetime

import pytest

from schemas.pricing import PromotionPublished
from schemas.report import Report
from services.adapters.codec import Poison
from services.adapters.store.memory import MemoryStore
from services.processors import accounts, pricing, usage
from services.processors.common import decode_batch, screen_conflicts
from services.runtime.unit_of_work import Contended, UnitOfWork, Verdict
from tests.builders import (
    CYCLE,
    partner_account,
    price,
    promotion,
    region,
    tombstone,
)
from tests.builders import usage as usage_record
from tests.fakes import Shell

pytestmark = pytest.mark.unit

EVENTS = "lmp.report-events.v1"


async def handle(
    shell: Shell, name: str, records: Sequence[tuple[bytes | None, bytes | None]]
) -> list[Poison]:
    spec = {"usage": usage, "accounts": accounts, "pricing": pricing}[name].PROCESSOR
    batch = [shell.message(spec.topics[0], record) for record in records]
    poisons: list[Poison] = await spec.handler(shell.runtime(name)).handle(batch)
    return poisons


async def stored(shell: Shell, rid: str) -> Report:
    report = await shell.store.load_report(rid)
    assert report is not None, rid
    return report


def line_units(report: Report) -> dict[str, tuple[int, int | None]]:
    return {line.product_id: (line.provisioned_units, line.used_units) for line in report.lines}


async def test_usage_opens_a_report_once_and_its_account_completes_it_later() -> None:
    shell = Shell()
    batch = [
        usage_record("P1", sub="s1", provisioned=10, used=4, id_="u1"),
        usage_record("P1", sub="s1", provisioned=12, used=3, id_="u2"),
        usage_record("P1", sub="s2", provisioned=5, used=None, id_="u3", product="EDR"),
        usage_record(
            "P1", sub="s1", provisioned=10, used=4, id_="u1"
        ),  # a redelivery: same id, same payload
    ]
    assert await handle(shell, "usage", batch) == []
    report = await stored(shell, f"P1:{CYCLE}")
    assert line_units(report) == {"AV": (12, 4), "EDR": (5, None)}
    assert report.account_pending
    assert shell.events(EVENTS) == []  # announced once complete, not before

    assert await handle(shell, "usage", batch) == []  # the whole batch again
    assert (await stored(shell, f"P1:{CYCLE}")).version == report.version

    assert await handle(shell, "accounts", [partner_account("P1", days=3)]) == []
    attached = await stored(shell, f"P1:{CYCLE}")
    assert not attached.account_pending
    assert (attached.distributor_id, attached.currency) == ("D1", "EUR")
    assert attached.deadline is not None
    assert attached.deadline.isoformat() == "2026-11-04T00:00:00+00:00"
    outbox = shell.runtime("accounts").outbox
    assert await outbox.published_among([attached]) == {attached.id}  # marked, cleared later
    await outbox.clear_published(everything=True)
    assert (await stored(shell, f"P1:{CYCLE}")).outbox == []
    assert [e["id"] for e in shell.events(EVENTS)] == [f"P1:{CYCLE}/opened"]


async def test_usage_of_a_known_partner_is_attached_in_the_same_pass() -> None:
    shell = Shell()
    await handle(shell, "accounts", [partner_account("P2", days=3)])
    assert (
        await handle(
            shell, "usage", [usage_record("P2", sub="s1", provisioned=7, used=7, id_="u1")]
        )
        == []
    )
    report = await stored(shell, f"P2:{CYCLE}")
    assert not report.account_pending
    assert report.distributor_id == "D1"


async def test_a_lone_conflicting_usage_message_is_one_conflict_and_nothing_else() -> None:
    shell = Shell()
    assert (
        await handle(
            shell, "usage", [usage_record("C1", sub="s1", provisioned=5, used=None, id_="same-id")]
        )
        == []
    )
    poisons = await handle(
        shell, "usage", [usage_record("C1", sub="s1", provisioned=9, used=None, id_="same-id")]
    )
    assert [(p.kind, p.message_id) for p in poisons] == [("conflict", "same-id")]
    assert "different payload" in poisons[0].error
    assert line_units(await stored(shell, f"C1:{CYCLE}")) == {"AV": (5, None)}


async def test_screening_keeps_redeliveries_and_refuses_a_reused_id() -> None:
    shell = Shell()
    first = [
        usage_record("S", sub="s1", provisioned=1, used=None, id_="m1"),
        usage_record(
            "S", sub="s1", provisioned=1, used=None, id_="m1"
        ),  # same payload: kept (harmless)
        usage_record(
            "S", sub="s1", provisioned=2, used=None, id_="m1"
        ),  # same id, other payload: a conflict
        usage_record("S", sub="s2", provisioned=3, used=None, id_="m2"),
    ]
    messages = [shell.message("lmp.usage.v1", r) for r in first]
    decoded = decode_batch(messages, shell.catalogue).decoded
    kept, conflicts = await screen_conflicts(shell.store, decoded, shell.now)
    assert [k.message.offset for k in kept] == [messages[i].offset for i in (0, 1, 3)]
    assert [(c.kind, c.message.offset) for c in conflicts] == [("conflict", messages[2].offset)]

    later = [
        usage_record("S", sub="s1", provisioned=1, used=None, id_="m1"),
        usage_record("S", sub="s2", provisioned=4, used=None, id_="m2"),
    ]
    messages = [shell.message("lmp.usage.v1", r) for r in later]
    decoded = decode_batch(messages, shell.catalogue).decoded
    kept, conflicts = await screen_conflicts(shell.store, decoded, shell.now)
    assert [k.envelope.id for k in kept] == ["m1"]
    assert [c.message_id for c in conflicts] == ["m2"]
    assert "was seen before" in conflicts[0].error


async def test_prices_and_promotions_are_stored_and_tombstones_withdraw_them() -> None:
    shell = Shell()
    records = [
        price("AV", unit_price="10.00"),
        price("EDR"),
        price("AV", unit_price="11.00"),
        promotion("BDN-1"),
    ]
    assert await handle(shell, "pricing", records) == []
    lists = await shell.store.price_lists(["EMEA"])
    assert {p: str(item.unit_price) for p, item in lists["EMEA"].items()} == {
        "AV": "11.00",
        "EDR": "10.00",
    }
    assert set(await shell.store.load_promotions(["BDN-1"])) == {"BDN-1"}
    await handle(shell, "pricing", [tombstone("EMEA/AV"), tombstone("BDN-1")])
    assert set((await shell.store.price_lists(["EMEA"]))["EMEA"]) == {"EDR"}
    assert await shell.store.load_promotions(["BDN-1"]) == {}


async def test_a_tombstone_shaped_like_a_price_that_names_none_withdraws_a_code() -> None:
    shell = Shell()
    code = PromotionPublished.model_validate(
        {
            "code": "EMEA/NOPE",
            "kind": "promote_code",
            "region": "EMEA",
            "product_ids": ["AV"],
            "valid_from": "2026-10-01T00:00:00Z",
            "valid_until": "2026-12-01T00:00:00Z",
        }
    )
    await shell.store.save_promotion(code, shell.now)
    await handle(shell, "pricing", [tombstone("EMEA/NOPE")])
    assert await shell.store.load_promotions(["EMEA/NOPE"]) == {}


async def test_account_tombstones_withdraw_a_partner_and_reset_a_region() -> None:
    shell = Shell()
    await handle(shell, "accounts", [partner_account("P3", days=3), region("EMEA", False)])
    assert set(await shell.store.load_regions(["EMEA"])) == {"EMEA"}
    await handle(shell, "accounts", [tombstone("P3"), tombstone("region/EMEA")])
    assert await shell.store.load_partners(["P3"]) == {}
    assert await shell.store.load_regions(["EMEA"]) == {}
    await handle(
        shell, "usage", [usage_record("P3", sub="s1", provisioned=1, used=None, id_="u-after")]
    )
    assert (await stored(shell, f"P3:{CYCLE}")).account_pending


class CountingStore(MemoryStore):
    """Remembers which conditional writes lost, to show a race really happened."""

    def __init__(self) -> None:
        super().__init__()
        self.lost: list[set[str]] = []

    async def save_reports(self, changes: Sequence[tuple[Report, int | None]]) -> set[str]:
        lost = await super().save_reports(changes)
        self.lost.append(lost)
        return lost


async def test_two_instances_racing_on_one_report_both_land_and_the_loser_retried() -> None:
    shell = Shell(store=CountingStore())
    await handle(shell, "accounts", [partner_account("R", days=3)])
    first = [
        usage_record("R", sub=f"a{i}", provisioned=i + 1, used=None, id_=f"a{i}") for i in range(5)
    ]
    second = [
        usage_record("R", sub=f"b{i}", provisioned=10, used=None, id_=f"b{i}") for i in range(5)
    ]
    poisons = await asyncio.gather(handle(shell, "usage", first), handle(shell, "usage", second))
    assert list(poisons) == [[], []]
    assert line_units(await stored(shell, f"R:{CYCLE}")) == {"AV": (15 + 50, None)}
    assert any(f"R:{CYCLE}" in lost for lost in shell.store.lost)  # type: ignore[attr-defined]
    assert [e["id"] for e in shell.events(EVENTS)] == [f"R:{CYCLE}/opened"]


class AlwaysOvertaken:
    """A decider whose report is rewritten by someone else before every save."""

    def __init__(self, store: MemoryStore) -> None:
        self.store = store

    async def prepare(
        self,
        stored: Mapping[str, Report],
        _report_ids: set[str],
    ) -> None:
        for report in stored.values():
            bumped = report.model_copy(update={"version": report.version + 1})
            assert await self.store.save_reports([(bumped, report.version)]) == set()

    def decide(  # the unit of work's interface: only the stored report matters here
        self,
        _report_id: str,
        stored: Report | None,
        _context: None,
        _now: datetime,
    ) -> Verdict:
        assert stored is not None
        return Verdict(report=stored.model_copy(update={"version": stored.version + 1}))


async def test_contention_that_outlasts_every_retry_is_contended_never_a_failure() -> None:
    shell = Shell()
    await handle(shell, "usage", [usage_record("K", sub="s1", provisioned=1, used=None, id_="k1")])
    uow = UnitOfWork(shell.store, shell.runtime("usage").outbox, lambda: shell.now, attempts=3)
    uow.backoff_seconds = 0.0
    with pytest.raises(Contended) as raised:
        await uow.run([f"K:{CYCLE}"], AlwaysOvertaken(shell.store))
    assert raised.value.report_ids == {f"K:{CYCLE}"}
