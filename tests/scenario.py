"""Builders for a realistic month: accounts, prices, promotions, usage and actions.

Every figure a test asserts is derived here by hand from these inputs, independently
of the domain core: product A (unit price unlocked by a code), product B (channel
margin unlocked by a code), region EMEA in EUR.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.harness import System, cloud_event, eventually, unique

CYCLE = "2026-10"
REGION = "EMEA"
CURRENCY = "EUR"
PRODUCT_A = "TM-WFBS"  # list 10.00, standard margin 0.20, a code unlocks the unit price
PRODUCT_B = "TM-EMAIL"  # list 20.00, standard margin 0.10, a code unlocks the margin

Record = tuple[bytes | None, bytes]
Publish = Callable[[str, list[Record]], Awaitable[None]]


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@dataclass
class Month:
    """One partner, its distributor and Trend Micro, acting on one report."""

    system: System
    auto_submit_days: int = 3
    usage_reports: bool = True
    partner: str = field(default_factory=lambda: unique("P-"))
    distributor: str = field(default_factory=lambda: unique("D-"))
    other_distributor: str = field(default_factory=lambda: unique("D-"))
    code: str = field(default_factory=lambda: unique("BDN-"))
    publish: Publish | None = None
    """How the month's records are published; by default structured, without headers."""
    _actions: int = 0

    async def send(self, contract_topic: str, records: list[Record]) -> None:
        await (self.publish or self.system.publish)(contract_topic, records)

    @property
    def report_id(self) -> str:
        return f"{self.partner}:{CYCLE}"

    # upstream ---------------------------------------------------------------

    def accounts(self) -> list[Record]:
        partner = {
            "partner_id": self.partner,
            "name": f"MSP {self.partner}",
            "distributor_id": self.distributor,
            "region": REGION,
            "currency": CURRENCY,
            "auto_submit_days": self.auto_submit_days,
            "overprovision_threshold_pct": "10",
            "usage_reports": self.usage_reports,
        }
        records: list[Record] = [
            (self.partner.encode(), cloud_event("lmp.account.partner", partner)),
        ]
        for distributor in (self.distributor, self.other_distributor):
            data = {"distributor_id": distributor, "name": f"Dist {distributor}", "region": REGION}
            records.append((distributor.encode(), cloud_event("lmp.account.distributor", data)))
        return records

    def pricing(self, now: datetime) -> list[Record]:
        prices = [
            (PRODUCT_A, "10.00", "0.20", "unit_price"),
            (PRODUCT_B, "20.00", "0.10", "channel_margin"),
        ]
        records: list[Record] = [
            (
                f"{REGION}/{product}".encode(),
                cloud_event(
                    "lmp.pricing.price",
                    {
                        "region": REGION,
                        "product_id": product,
                        "currency": CURRENCY,
                        "unit_price": price,
                        "channel_margin": margin,
                        "promo_editable_field": unlocks,
                    },
                ),
            )
            for product, price, margin, unlocks in prices
        ]
        promotions = [
            (self.code, REGION, now - timedelta(days=30), now + timedelta(days=30)),
            (f"{self.code}-OLD", REGION, now - timedelta(days=60), now - timedelta(days=1)),
            (f"{self.code}-APAC", "APAC", now - timedelta(days=30), now + timedelta(days=30)),
        ]
        for code, region, valid_from, valid_until in promotions:
            data = {
                "code": code,
                "kind": "bid_desk_number",
                "region": region,
                "product_ids": [PRODUCT_A, PRODUCT_B],
                "valid_from": valid_from.isoformat(),
                "valid_until": valid_until.isoformat(),
            }
            records.append((code.encode(), cloud_event("lmp.pricing.promotion", data)))
        return records

    def usage(self, product: str, subscription: str, provisioned: int, used: int | None) -> Record:
        data = {
            "partner_id": self.partner,
            "cycle": CYCLE,
            "product_id": product,
            "subscription_id": subscription,
            "provisioned_units": provisioned,
            "used_units": used,
            "observed_at": "2026-10-20T10:00:00Z",
        }
        return self.partner.encode(), cloud_event("lmp.usage.reported", data)

    def standard_usage(self) -> list[Record]:
        """Line A: provisioned 15, used 13 (a discrepancy). Line B: 4 provisioned, no usage."""
        return [
            self.usage(PRODUCT_A, "sub-a1", 10, 8),
            self.usage(PRODUCT_A, "sub-a2", 5, 5),
            self.usage(PRODUCT_B, "sub-b1", 4, None),
        ]

    async def open(self, now: datetime) -> dict[str, Any]:
        """Publish accounts, prices and usage; wait until the report is open and priced."""
        await self.send("lmp.accounts.v1", self.accounts())
        await self.send("lmp.pricing.v1", self.pricing(now))
        await eventually(self._known)
        await self.send("lmp.usage.v1", self.standard_usage())
        return await self.report_where(
            lambda r: (
                not r["account_pending"]
                and len(r["lines"]) == 2
                and r["lines"][0]["provisioned_units"] + r["lines"][1]["provisioned_units"] == 19
            )
        )

    async def _known(self) -> bool:
        store = self.system.store
        partner = await store.partners.find_one({"_id": self.partner})
        promo = await store.promotions.find_one({"_id": f"{self.code}-APAC"})
        prices = await store.prices.count_documents({"region": REGION})
        return partner is not None and promo is not None and prices >= 2

    # actions ----------------------------------------------------------------

    def action(
        self, type_: str, account: str, data: dict[str, Any] | None = None, *, id_: str = ""
    ) -> tuple[str, Record]:
        self._actions += 1
        action_id = id_ or f"{self.report_id}/action-{self._actions}-{unique('')}"
        body = {
            "report_id": self.report_id,
            "actor": {"account_id": account, "user_id": f"user-of-{account}"},
            **(data or {}),
        }
        return action_id, (self.report_id.encode(), cloud_event(type_, body, id_=action_id))

    async def partner_does(self, type_: str, data: dict[str, Any] | None = None) -> str:
        action_id, record = self.action(f"lmp.partner.{type_}", self.partner, data)
        await self.send("lmp.partner-actions.v1", [record])
        return action_id

    async def distributor_does(
        self, type_: str, data: dict[str, Any] | None = None, *, account: str = ""
    ) -> str:
        action_id, record = self.action(
            f"lmp.distributor.{type_}", account or self.distributor, data
        )
        await self.send("lmp.distributor-actions.v1", [record])
        return action_id

    async def trendmicro_does(self, type_: str, data: dict[str, Any] | None = None) -> str:
        action_id, record = self.action(f"lmp.trendmicro.{type_}", "trendmicro", data)
        await self.send("lmp.trendmicro-responses.v1", [record])
        return action_id

    # reading back -------------------------------------------------------------

    async def report(self) -> dict[str, Any] | None:
        doc: dict[str, Any] | None = await self.system.store.reports.find_one(
            {"_id": self.report_id}
        )
        return doc

    async def report_where(self, check: Any, timeout: float = 60) -> dict[str, Any]:
        async def matches() -> dict[str, Any] | None:
            doc = await self.report()
            return doc if doc is not None and check(doc) else None

        found: dict[str, Any] = await eventually(matches, timeout=timeout)
        return found

    async def events(self, topic: str = "lmp.report-events.v1") -> list[dict[str, Any]]:
        """The report's events in publication order, each id once.

        Delivery is at least once: the outbox relay of any processor may publish an
        event again (here: the timer runs on a clock days behind the relays' grace
        period). Consumers deduplicate on the deterministic CloudEvents id, as here.
        """
        seen: dict[str, dict[str, Any]] = {}
        for record in await self.system.read_all(topic):
            value = record["value"]
            if value.get("subject") == self.report_id:
                seen.setdefault(value["id"], value)
        return list(seen.values())

    async def event_caused_by(self, action_id: str, type_: str) -> dict[str, Any]:
        """Wait for the event ``type_`` that ``action_id`` caused."""

        async def find() -> dict[str, Any] | None:
            for event in await self.events():
                data = event["data"]
                if event["type"] == type_ and action_id in (
                    data.get("caused_by"),
                    data.get("action_id"),
                ):
                    return event
            return None

        try:
            found: dict[str, Any] = await eventually(find)
        except AssertionError as exc:
            raise AssertionError(
                f"no {type_} caused by {action_id}: {exc}\n{await self.diagnosis(action_id)}"
            ) from None
        return found

    async def diagnosis(self, action_id: str) -> str:
        """What the system knows of an action that has no event: its decision, the report's
        outbox, and the processors' last log lines, so a failure says where it stopped."""
        doc = await self.report() or {}
        decided = [d for d in doc.get("decisions", []) if d.get("message_id") == action_id]
        for kept in (self.system.store.answers, self.system.store.outcomes):
            if not decided:  # moved out of the report, or a refusal (docs/bounded-reports.md)
                found = await kept.find({"decision.message_id": action_id}).to_list(None)
                decided = [d["decision"] for d in found]
        logs = "\n".join(
            f"--- {name}\n{self.system.logs(name, 25)}" for name in sorted(self.system.processes)
        )
        return (
            f"report status {doc.get('status')}, version {doc.get('version')}, "
            f"decision {decided}, outbox {len(doc.get('outbox', []))}\n{logs}"
        )

    async def refusal(self, action_id: str) -> str:
        event = await self.event_caused_by(action_id, "lmp.action.rejected")
        reason: str = event["data"]["reason"]
        return reason
