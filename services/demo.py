"""``lmp-billing demo``: a realistic month played against the running system.

It publishes what the account directory, Trend Micro, upstream provisioning, partners and
distributors send in a month, waits on what the processors make of it (their events, the
database, the read API: conditions, never fixed sleeps) and prints what the read API then
shows. Every id carries a run tag (``DEMO-<tag>-P007``), so runs never collide and one
run's reports are one partner search away (``?partner=DEMO-<tag>``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import random
import re
import secrets
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import astuple, dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

import aiohttp
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError
from pydantic import BaseModel, ValidationError
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from schemas.accounts import DistributorAccount, PartnerAccount
from schemas.actions import (
    Actor,
    DistributorDraftSaved,
    DistributorLineEdit,
    DistributorReportRejected,
    DistributorSubmittedToTrendMicro,
    PartnerDraftSaved,
    PartnerLineEdit,
    PartnerReportSubmitted,
    TrendMicroReportCompleted,
    TrendMicroReportReturned,
)
from schemas.api import BillingReportSummary, BillingStatus, Page, Role
from schemas.envelope import RawCloudEvent
from schemas.pricing import PriceListed, PromoEditableField, PromoKind, PromotionPublished
from schemas.report import SubmissionKind
from schemas.usage import UsageReported
from services.adapters.catalogue import Catalogue
from services.adapters.store import Store, connect
from services.api.auth import new_key
from services.domain.calendar import cycle_end, cycle_of, cycle_start
from services.domain.ids import report_id
from services.settings import Settings

POLL_SECONDS = 0.25
CONNECT_SECONDS = 10.0
MAX_AUTO_SUBMIT_DAYS = 60  # PartnerAccount.auto_submit_days allows 0..60
CENT = Decimal("0.01")


class DemoError(Exception):
    """The demo cannot go on: a server does not answer, or something did not happen in time."""


# what the month is made of -----------------------------------------------------------


@dataclass(frozen=True)
class Region:
    code: str
    currency: str
    unlocks: PromoEditableField
    """What a verified promotional code lets the region's distributors change."""
    rate: Decimal
    """Regional list price per US dollar of the global list."""


@dataclass(frozen=True)
class Product:
    product_id: str
    list_price_usd: Decimal
    margin: Decimal
    reports_used: bool
    """Some products report only provisioned units; their lines cannot be over-provisioned."""
    promoted: bool
    """Covered by the regions' Promote Code as well as their Bid Desk Number."""


REGIONS = (
    Region("EMEA", "EUR", PromoEditableField.UNIT_PRICE, Decimal("0.92")),
    Region("NA", "USD", PromoEditableField.CHANNEL_MARGIN, Decimal("1")),
    Region("APAC", "AUD", PromoEditableField.UNIT_PRICE, Decimal("1.52")),
)
PRODUCTS = (
    Product("TM-WFBS-SVC", Decimal("2.50"), Decimal("0.20"), True, False),
    Product("TM-EMAIL-SEC", Decimal("1.80"), Decimal("0.15"), False, False),
    Product("TM-V1-ENDPOINT", Decimal("4.20"), Decimal("0.20"), True, True),
    Product("TM-C1-WORKLOAD", Decimal("6.00"), Decimal("0.10"), True, True),
    Product("TM-SERVERPROTECT", Decimal("9.50"), Decimal("0.25"), False, False),
)
DISTRIBUTOR_NAMES = {
    "EMEA": ["EuroLink Distribution", "Nordic Channel Group", "Iberia Cloud Supply"],
    "NA": ["Great Lakes Distribution", "Pacific Coast Channel", "Atlantic IT Supply"],
    "APAC": ["Southern Cross Distribution", "Pacific Rim Channel", "Harbour Bridge Supply"],
}
PARTNER_NAMES = (
    "Blue Harbor", "Northwind", "Alpine", "Coral Reef", "Redwood", "Silver Fern", "Granite",
    "Lighthouse", "Maple Leaf", "Kestrel", "Orchard", "Summit", "Tidewater", "Ironbark",
    "Aurora", "Meridian", "Cobalt", "Juniper", "Harbourside", "Evergreen",
)  # fmt: skip
PARTNER_KINDS = (
    "Managed IT", "Cloud Services", "Networks", "IT Solutions", "Systems", "Secure IT",
)  # fmt: skip
EXPLANATIONS = (
    "{spare} seats held for a customer onboarding early next month",
    "{spare} trial licences; the customer converts next month",
    "customer left on the 20th; {spare} seats released at month end",
    "{spare} spare seats kept for a hardware refresh",
    "{spare} seats on shared mailboxes and kiosks, not billable",
)


class Plan(StrEnum):
    """One partner's path through the month, and so where its report ends."""

    COMPLETED = "completed"
    RETURNED = "returned"
    AWAITING_TRENDMICRO = "awaiting_trendmicro"
    REJECTED_THEN_FIXED = "rejected_then_fixed"
    REJECTED = "rejected"
    UNDER_REVIEW = "under_review"
    PREPARING = "preparing"
    TIMER = "timer"
    TIMER_PENALTIES = "timer_penalties"
    TIMER_PENALTIES_COMPLETED = "timer_penalties_completed"


STORIES = {
    Plan.COMPLETED: "explains, submits; the distributor prices it; Trend Micro completes",
    Plan.RETURNED: "as completed, but Trend Micro returns it once for a wrong PO number",
    Plan.AWAITING_TRENDMICRO: "submitted to Trend Micro, no answer yet",
    Plan.REJECTED_THEN_FIXED: "rejected by the distributor, fixed, resubmitted, completed",
    Plan.REJECTED: "rejected by the distributor; the partner has not fixed it yet",
    Plan.UNDER_REVIEW: "submitted; the distributor has not looked yet",
    Plan.PREPARING: "draft saved, deadline still ahead",
    Plan.TIMER: "nothing to explain, left to the timer",
    Plan.TIMER_PENALTIES: "unexplained discrepancies left to the timer",
    Plan.TIMER_PENALTIES_COMPLETED: "as timer_penalties, then priced and completed",
}
EXTRA_WEIGHTS = {
    Plan.COMPLETED: 30,
    Plan.RETURNED: 5,
    Plan.AWAITING_TRENDMICRO: 10,
    Plan.REJECTED_THEN_FIXED: 7,
    Plan.REJECTED: 2,
    Plan.UNDER_REVIEW: 8,
    Plan.PREPARING: 8,
    Plan.TIMER: 12,
    Plan.TIMER_PENALTIES: 10,
    Plan.TIMER_PENALTIES_COMPLETED: 8,
}
LEFT_TO_TIMER = frozenset({Plan.TIMER, Plan.TIMER_PENALTIES, Plan.TIMER_PENALTIES_COMPLETED})
SUBMITTED_BY_PARTNER = frozenset(
    {
        Plan.COMPLETED,
        Plan.RETURNED,
        Plan.AWAITING_TRENDMICRO,
        Plan.REJECTED_THEN_FIXED,
        Plan.REJECTED,
        Plan.UNDER_REVIEW,
    }
)
PRICED_AT_FIRST_REVIEW = frozenset(
    {Plan.COMPLETED, Plan.RETURNED, Plan.AWAITING_TRENDMICRO, Plan.TIMER_PENALTIES_COMPLETED}
)
REJECTED_AT_FIRST_REVIEW = frozenset({Plan.REJECTED_THEN_FIXED, Plan.REJECTED})
COMPLETED_BY_TRENDMICRO = frozenset(
    {Plan.COMPLETED, Plan.REJECTED_THEN_FIXED, Plan.TIMER_PENALTIES_COMPLETED}
)
LATE_USAGE_CANDIDATES = (
    Plan.COMPLETED,
    Plan.AWAITING_TRENDMICRO,
    Plan.TIMER_PENALTIES,
    Plan.UNDER_REVIEW,
)
FINAL_STATE: dict[Plan, tuple[BillingStatus, SubmissionKind | None]] = {
    Plan.COMPLETED: (BillingStatus.COMPLETED, SubmissionKind.MANUAL),
    Plan.RETURNED: (BillingStatus.COMPLETED, SubmissionKind.MANUAL),
    Plan.AWAITING_TRENDMICRO: (BillingStatus.SUBMITTED_TO_TRENDMICRO, SubmissionKind.MANUAL),
    Plan.REJECTED_THEN_FIXED: (BillingStatus.COMPLETED, SubmissionKind.MANUAL),
    Plan.REJECTED: (BillingStatus.REJECTED, None),
    Plan.UNDER_REVIEW: (BillingStatus.MANUAL_SUBMISSION, SubmissionKind.MANUAL),
    Plan.PREPARING: (BillingStatus.MSP_PREPARING, None),
    Plan.TIMER: (BillingStatus.AUTOMATIC_SUBMISSION, SubmissionKind.AUTOMATIC),
    Plan.TIMER_PENALTIES: (
        BillingStatus.AUTOMATIC_SUBMISSION_PENALTIES,
        SubmissionKind.AUTOMATIC_WITH_PENALTIES,
    ),
    Plan.TIMER_PENALTIES_COMPLETED: (
        BillingStatus.COMPLETED,
        SubmissionKind.AUTOMATIC_WITH_PENALTIES,
    ),
}
"""Where each plan's report ends, as the read API names it; the demo checks it."""


@dataclass(frozen=True)
class Distributor:
    distributor_id: str
    name: str
    region: Region


@dataclass(frozen=True)
class Snapshot:
    provisioned: int
    used: int | None
    observed_at: datetime


@dataclass
class Subscription:
    subscription_id: str
    snapshots: list[Snapshot]

    @property
    def provisioned(self) -> int:
        return max(s.provisioned for s in self.snapshots)

    @property
    def used(self) -> int | None:
        values = [s.used for s in self.snapshots if s.used is not None]
        return max(values) if values else None


@dataclass
class Line:
    product: Product
    subscriptions: list[Subscription]

    @property
    def provisioned(self) -> int:
        return sum(s.provisioned for s in self.subscriptions)

    @property
    def used(self) -> int | None:
        values = [s.used for s in self.subscriptions if s.used is not None]
        return sum(values) if values else None

    @property
    def spare(self) -> int:
        """Over-provisioned units; any makes a discrepancy the partner has to explain."""
        return 0 if self.used is None else self.provisioned - self.used


@dataclass
class Partner:
    partner_id: str
    name: str
    distributor: Distributor
    plan: Plan
    auto_submit_days: int
    cycle: str
    lines: list[Line]
    hasty: bool = False
    """Tries to submit before explaining anything (and is refused)."""

    @property
    def report_id(self) -> str:
        return report_id(self.partner_id, self.cycle)

    @property
    def region(self) -> Region:
        return self.distributor.region

    def over_provisioned(self) -> list[Line]:
        return [line for line in self.lines if line.spare > 0]


@dataclass(frozen=True)
class Codes:
    """A region's promotional codes this run: two valid ones and one that has expired."""

    bid_desk: str
    promote: str
    expired: str

    def for_product(self, product: Product) -> str:
        return self.promote if product.promoted else self.bid_desk


@dataclass
class Month:
    tag: str
    cycle: str
    seed: int
    distributors: list[Distributor]
    partners: list[Partner]
    codes: dict[str, Codes]

    @property
    def mark(self) -> str:
        """In every id of the run: the read API's partner search finds the run by it."""
        return f"DEMO-{self.tag}"

    def with_plan(self, *plans: Plan) -> list[Partner]:
        return [p for p in self.partners if p.plan in plans]


def previous_cycle(now: datetime) -> str:
    return cycle_of(cycle_start(cycle_of(now)) - timedelta(days=1))


def deadline_days(cycle: str, now: datetime) -> tuple[range, range]:
    """``auto_submit_days`` that put the deadline behind us (timer) and ahead (the others).

    The deadline is the first day after the cycle plus ``auto_submit_days``, so a past
    cycle lets the timer act within seconds on the first kind, never on the second.
    """
    end = cycle_end(cycle)
    if end > now:
        raise DemoError(
            f"cycle {cycle} has not ended, so no deadline can have passed; pick a past month "
            f"(the default is the previous month, {previous_cycle(now)})"
        )
    elapsed = (now - end).days
    ahead = elapsed + 2
    if ahead > MAX_AUTO_SUBMIT_DAYS:
        raise DemoError(
            f"cycle {cycle} ended {elapsed} days ago: auto_submit_days stops at "
            f"{MAX_AUTO_SUBMIT_DAYS}, so no partner could still be preparing its report; pick "
            f"a month that ended less than {MAX_AUTO_SUBMIT_DAYS - 2} days ago"
        )
    return range(min(elapsed, 5) + 1), range(ahead, min(ahead + 20, MAX_AUTO_SUBMIT_DAYS) + 1)


def plan_month(
    tag: str, cycle: str, partners: int, distributors: int, seed: int, now: datetime
) -> Month:
    """Everyone's month, drawn from ``seed``: the same seed plays the same month."""
    if partners < len(Plan) or distributors < 1:
        raise DemoError(
            f"the month needs at least {len(Plan)} partners (one per path) and one distributor"
        )
    rng = random.Random(seed)
    past, ahead = deadline_days(cycle, now)
    mark = f"DEMO-{tag}"
    dists = []
    for i in range(distributors):
        region = REGIONS[i % len(REGIONS)]
        names = DISTRIBUTOR_NAMES[region.code]
        name = names[(i // len(REGIONS)) % len(names)]
        if i >= len(REGIONS) * len(names):
            name = f"{name} {i // (len(REGIONS) * len(names)) + 1}"
        dists.append(Distributor(f"{mark}-D{i + 1}", name, region))
    plans = list(Plan) + rng.choices(
        list(EXTRA_WEIGHTS), weights=list(EXTRA_WEIGHTS.values()), k=partners - len(Plan)
    )
    rng.shuffle(plans)
    first_hasty = True
    people = []
    for i, plan in enumerate(plans):
        partner_id = f"{mark}-P{i + 1:03d}"
        hasty = plan in SUBMITTED_BY_PARTNER and (first_hasty or rng.random() < 0.2)
        first_hasty = first_hasty and not hasty
        people.append(
            Partner(
                partner_id=partner_id,
                name=f"{rng.choice(PARTNER_NAMES)} {rng.choice(PARTNER_KINDS)}",
                distributor=dists[i % len(dists)],
                plan=plan,
                auto_submit_days=rng.choice(past if plan in LEFT_TO_TIMER else ahead),
                cycle=cycle,
                lines=_usage_lines(rng, cycle, over=plan is not Plan.TIMER),
                hasty=hasty,
            )
        )
    codes = {
        region.code: Codes(
            bid_desk=f"BDN-{tag}-{region.code}",
            promote=f"PROMO-{tag}-{region.code}",
            expired=f"BDN-{tag}-{region.code}-OLD",
        )
        for region in {d.region for d in dists}
    }
    return Month(tag, cycle, seed, dists, people, codes)


def _usage_lines(rng: random.Random, cycle: str, over: bool) -> list[Line]:
    """Two to four products, one to three customer subscriptions each, two snapshots each.

    With ``over`` at least one line is over-provisioned (a discrepancy); without, none.
    """
    products = rng.sample(PRODUCTS, rng.randint(2, 4))
    if not any(p.reports_used for p in products):
        products[0] = PRODUCTS[0]
    mid = cycle_start(cycle) + timedelta(days=9, hours=10)
    last = cycle_end(cycle) - timedelta(hours=14)
    customers = [f"C{rng.randint(1000, 9999)}" for _ in range(3)]
    must_spare = over
    lines = []
    for product in products:
        spare_here = product.reports_used and over and (must_spare or rng.random() < 0.4)
        must_spare = must_spare and not spare_here
        subs = []
        for n, customer in enumerate(customers[: rng.randint(1, 3)]):
            peak = rng.randint(5, 150)
            spare = rng.randint(1, max(1, peak // 5)) if spare_here and n == 0 else 0
            used = peak - spare if product.reports_used else None
            early = max(1, peak - rng.randint(0, 6))
            early_used = None if used is None else min(early, max(0, used - rng.randint(0, 6)))
            subs.append(
                Subscription(
                    f"{customer}-{product.product_id.removeprefix('TM-')}",
                    [Snapshot(early, early_used, mid), Snapshot(peak, used, last)],
                )
            )
        lines.append(Line(product, subs))
    return lines


def list_price(product: Product, region: Region) -> Decimal:
    return (product.list_price_usd * region.rate).quantize(CENT)


# messages -------------------------------------------------------------------------------

Record = tuple[bytes, bytes]


def cloud_event(
    type_: str, data: BaseModel, *, id_: str, source: str, subject: str | None = None
) -> bytes:
    event = RawCloudEvent(
        id=id_,
        source=f"lmp-billing/demo/{source}",
        type=type_,
        time=datetime.now(UTC),
        subject=subject,
        data=data.model_dump(mode="json", exclude_none=True),
    )
    return event.model_dump_json().encode()


def reference_data(month: Month, now: datetime) -> tuple[list[Record], list[Record]]:
    """Distributors, prices and promotional codes: (account records, pricing records)."""
    accounts = [
        (
            d.distributor_id.encode(),
            cloud_event(
                "lmp.account.distributor",
                DistributorAccount(
                    distributor_id=d.distributor_id, name=d.name, region=d.region.code
                ),
                id_=f"{d.distributor_id}/account",
                source="account-directory",
            ),
        )
        for d in month.distributors
    ]
    pricing: list[Record] = []
    for region in sorted({d.region for d in month.distributors}, key=lambda r: r.code):
        for product in PRODUCTS:
            price = PriceListed(
                region=region.code,
                product_id=product.product_id,
                currency=region.currency,
                unit_price=list_price(product, region),
                channel_margin=product.margin,
                promo_editable_field=region.unlocks,
            )
            key = f"{region.code}/{product.product_id}"
            pricing.append(
                (
                    key.encode(),
                    cloud_event(
                        "lmp.pricing.price",
                        price,
                        id_=f"{month.mark}/price/{key}",
                        source="trendmicro",
                    ),
                )
            )
        codes = month.codes[region.code]
        start = cycle_start(month.cycle)
        promotions = [
            (codes.bid_desk, PromoKind.BID_DESK_NUMBER, [p.product_id for p in PRODUCTS], True),
            (
                codes.promote,
                PromoKind.PROMOTE_CODE,
                [p.product_id for p in PRODUCTS if p.promoted],
                True,
            ),
            (codes.expired, PromoKind.BID_DESK_NUMBER, [p.product_id for p in PRODUCTS], False),
        ]
        for code, kind, products, valid in promotions:
            promo = PromotionPublished(
                code=code,
                kind=kind,
                region=region.code,
                product_ids=products,
                valid_from=start - timedelta(days=30 if valid else 120),
                valid_until=now + timedelta(days=90) if valid else start,
            )
            pricing.append(
                (
                    code.encode(),
                    cloud_event(
                        "lmp.pricing.promotion", promo, id_=f"{code}/published", source="trendmicro"
                    ),
                )
            )
    return accounts, pricing


def partner_account(partner: Partner) -> Record:
    account = PartnerAccount(
        partner_id=partner.partner_id,
        name=partner.name,
        distributor_id=partner.distributor.distributor_id,
        region=partner.region.code,
        currency=partner.region.currency,
        auto_submit_days=partner.auto_submit_days,
    )
    return partner.partner_id.encode(), cloud_event(
        "lmp.account.partner",
        account,
        id_=f"{partner.partner_id}/account",
        source="account-directory",
    )


def usage_record(
    partner: Partner, cycle: str, line: Line, sub: Subscription, snap: Snapshot, id_: str
) -> Record:
    usage = UsageReported(
        partner_id=partner.partner_id,
        cycle=cycle,
        product_id=line.product.product_id,
        subscription_id=sub.subscription_id,
        provisioned_units=snap.provisioned,
        used_units=snap.used,
        observed_at=snap.observed_at,
    )
    return partner.partner_id.encode(), cloud_event(
        "lmp.usage.reported", usage, id_=id_, source="provisioning"
    )


def usage_records(month: Month, rng: random.Random) -> list[Record]:
    """Every snapshot, shuffled (peaks are order-free), a few of them delivered twice."""
    records = [
        usage_record(
            partner,
            month.cycle,
            line,
            sub,
            snap,
            f"{partner.partner_id}/usage/{sub.subscription_id}/{n}",
        )
        for partner in month.partners
        for line in partner.lines
        for sub in line.subscriptions
        for n, snap in enumerate(sub.snapshots)
    ]
    records += rng.sample(records, max(3, len(records) // 40))
    rng.shuffle(records)
    return records


def malformed(partner: Partner) -> tuple[list[Record], list[Record]]:
    """Messages no processor can apply: (usage records, partner action records).

    Not JSON, a type the topic does not carry, negative units; and an action type the
    partner-actions topic does not carry. Each lands on the dead-letter topic.
    """
    now = datetime.now(UTC)
    key = partner.partner_id.encode()
    line = partner.lines[0]
    wrong_type = RawCloudEvent(
        id=f"{partner.partner_id}/usage/adjusted",
        source="lmp-billing/demo/provisioning",
        type="lmp.usage.adjusted",
        time=now,
        data={"partner_id": partner.partner_id, "delta": -3},
    )
    negative = RawCloudEvent(
        id=f"{partner.partner_id}/usage/negative",
        source="lmp-billing/demo/provisioning",
        type="lmp.usage.reported",
        time=now,
        data={
            "partner_id": partner.partner_id,
            "cycle": partner.cycle,
            "product_id": line.product.product_id,
            "subscription_id": line.subscriptions[0].subscription_id,
            "provisioned_units": -4,
            "observed_at": now.isoformat(),
        },
    )
    withdrawn = RawCloudEvent(
        id=f"{partner.report_id}/withdrawn",
        source="lmp-billing/demo/partner-portal",
        type="lmp.partner.report-withdrawn",
        time=now,
        subject=partner.report_id,
        data={"report_id": partner.report_id},
    )
    usage = [
        (key, b'{"specversion": "1.0", "type": "lmp.usage.reported", "data": {'),
        (key, wrong_type.model_dump_json().encode()),
        (key, negative.model_dump_json().encode()),
    ]
    return usage, [(partner.report_id.encode(), withdrawn.model_dump_json().encode())]


# following what the processors publish ------------------------------------------------

OUTBOUND = (
    "lmp.report-events.v1",
    "lmp.penalties.v1",
    "lmp.trendmicro-submissions.v1",
    "lmp.dead-letter.v1",
)


class Observer:
    """What the processors published about this run, followed on the outbound topics.

    It starts at the topics' ends before the demo publishes anything, so what it sees
    is this run's doing; events are taken once per id (delivery is at least once).
    """

    def __init__(self, consumer: AIOKafkaConsumer, mark: str) -> None:
        self._consumer = consumer
        self._mark = mark
        self._seen: set[str] = set()
        self._task: asyncio.Task[None] | None = None
        self.failure: BaseException | None = None
        self.caused: dict[str, set[str]] = {}
        self.refusals: dict[str, dict[str, Any]] = {}
        self.automatic: dict[str, str] = {}
        self.penalties: set[str] = set()
        self.billing_submissions = 0
        self.reminders = 0
        self.dead_letters: list[dict[str, Any]] = []

    @classmethod
    async def start(cls, bootstrap: str, catalogue: Catalogue, mark: str) -> Observer:
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
        try:
            await asyncio.wait_for(consumer.start(), CONNECT_SECONDS)
            existing = await consumer.topics()
        except (KafkaError, OSError, TimeoutError) as exc:
            await consumer.stop()
            raise DemoError(f"Kafka at {bootstrap} does not answer: {exc!r}") from exc
        missing = sorted(set(catalogue.topics) - existing)
        if missing:
            await consumer.stop()
            raise DemoError(
                f"topic {missing[0]} does not exist on {bootstrap} ({len(missing)} missing): "
                "is the system running (`lmp-billing up`) with the same LMP_TOPIC_NAMESPACE "
                f"({catalogue.namespace!r})?"
            )
        partitions = [
            TopicPartition(name, p)
            for name in (catalogue.physical(t) for t in OUTBOUND)
            for p in range(catalogue[name].partitions)
        ]
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        for tp in partitions:
            consumer.seek(tp, ends[tp])
        observer = cls(consumer, mark)
        observer._task = asyncio.create_task(observer._follow())
        return observer

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._consumer.stop()

    def check(self) -> None:
        if self.failure is not None:
            raise DemoError(f"reading the outbound topics failed: {self.failure!r}")

    async def _follow(self) -> None:
        try:
            while True:
                batch = await self._consumer.getmany(timeout_ms=200)
                for records in batch.values():
                    for record in records:
                        self._take(record.value)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.failure = exc

    def _take(self, value: bytes | None) -> None:
        try:
            event = json.loads(value or b"")
        except ValueError:
            return
        if not isinstance(event, dict) or event.get("id") in self._seen:
            return
        data = event.get("data")
        if not isinstance(data, dict):
            return
        about = f"{event.get('subject')} {data.get('report_id')} {data.get('key')}"
        if self._mark not in about:
            return
        self._seen.add(event["id"])
        kind = event.get("type", "")
        if kind == "lmp.action.rejected":
            self.refusals[data["action_id"]] = data
        elif kind == "lmp.dead-letter":
            self.dead_letters.append(data)
        elif kind == "lmp.penalty.assessed":
            self.penalties.add(data["report_id"])
        elif kind == "lmp.billing.submitted":
            self.billing_submissions += 1
        elif kind.startswith("lmp.report."):
            cause = data.get("caused_by") or ""
            self.caused.setdefault(cause, set()).add(kind)
            if kind == "lmp.report.submitted" and cause.startswith("auto/"):
                self.automatic[data["report_id"]] = data.get("submission_kind") or ""
            if kind == "lmp.report.deadline-reminder":
                self.reminders += 1


@dataclass(frozen=True)
class Expected:
    """An action sent, and what it should come to: an event, or a refusal saying ``refusal``."""

    action_id: str
    action_type: str
    causes: str | None
    refusal: str = ""

    def differs(self, caused: set[str], refused: dict[str, Any] | None) -> str | None:
        """How the outcome differs from the expectation, or None when it does not."""
        if self.causes is None and refused is None:
            return "was applied, not refused"
        if self.causes is None and refused is not None and self.refusal not in refused["reason"]:
            return f"was refused for another reason: {refused['reason']} (not: {self.refusal})"
        if self.causes is not None and refused is not None:
            return f"was refused: {refused['reason']}"
        if self.causes is not None and self.causes not in caused:
            return f"caused {sorted(caused)}, not {self.causes}"
        return None


# the read API ---------------------------------------------------------------------------


class ReadApi:
    """The read API as the demo uses it: JSON pages, read with an operations key."""

    def __init__(self, session: aiohttp.ClientSession, base: str) -> None:
        self._session = session
        self.base = base.rstrip("/")
        self.key = ""

    async def health(self) -> None:
        try:
            async with self._session.get(f"{self.base}/health") as resp:
                if resp.status != 200:
                    raise DemoError(f"the read API at {self.base} answered /health {resp.status}")
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise DemoError(
                f"the read API at {self.base} does not answer ({exc!r}): is the system running "
                "(`lmp-billing up`, or `lmp-billing api`)? --api points the demo elsewhere"
            ) from exc

    async def check_key(self, cycle: str) -> None:
        """One small list query: the key is known to the API's database, or a clear error."""
        await self._get("/v1/billing-reports", [("cycle", cycle), ("page_size", "1")])

    async def billing_reports(
        self, cycle: str, partner: str | None = None, statuses: Iterable[BillingStatus] = ()
    ) -> list[BillingReportSummary]:
        """Every row of a list query, page after page."""
        rows: list[BillingReportSummary] = []
        page = 1
        while True:
            params = [("cycle", cycle), ("page_size", "500"), ("page", str(page))]
            params += [("partner", partner)] if partner else []
            params += [("status", s.value) for s in statuses]
            body = await self._get("/v1/billing-reports", params)
            try:
                answer = Page.model_validate(body)
            except ValidationError as exc:
                raise DemoError(
                    f"GET /v1/billing-reports answered an unexpected page: {exc}"
                ) from exc
            rows += answer.items
            if page >= answer.pages:
                return rows
            page += 1

    async def _get(self, path: str, params: list[tuple[str, str]]) -> Any:
        url = self.base + path
        headers = {"Authorization": f"Bearer {self.key}"}
        try:
            async with self._session.get(url, params=params, headers=headers) as resp:
                body = await resp.json(content_type=None)
                if resp.status == 401:
                    why = body.get("message") if isinstance(body, dict) else body
                    raise DemoError(
                        f"the read API at {self.base} refused the key ({why}): "
                        "does it serve the same database (MONGODB_URI, MONGODB_DATABASE)?"
                    )
                if resp.status != 200:
                    raise DemoError(f"GET {path} answered {resp.status}: {body}")
                return body
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise DemoError(f"the read API at {self.base} failed on GET {path}: {exc!r}") from exc


# the run --------------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoOptions:
    partners: int = 60
    distributors: int = 3
    cycle: str | None = None
    api: str | None = None
    api_key: str | None = None
    timeout: float = 60.0
    seed: int | None = None


@dataclass
class Summary:
    """What the run left behind, as the read API and the outbound topics tell it."""

    tag: str
    cycle: str
    seed: int
    api: str
    kafka: str
    reports: list[BillingReportSummary]
    refusals: list[dict[str, Any]]
    dead_letters: list[dict[str, Any]]
    automatic: int
    penalties: int
    late_usage: int
    billing_submissions: int
    reminders: int
    messages: int
    seconds: float
    unexpected: list[str] = field(default_factory=list)

    @property
    def mark(self) -> str:
        return f"DEMO-{self.tag}"

    def by_status(self) -> Counter[tuple[str, str]]:
        return Counter((r.status_label, kind_of(r)) for r in self.reports)

    def totals(self) -> dict[str, Decimal]:
        """Invoice totals per currency; reports not priced yet add nothing."""
        return invoice_totals(self.reports)


def invoice_totals(reports: Iterable[BillingReportSummary]) -> dict[str, Decimal]:
    """Invoice totals per currency; reports not priced yet have no total and add nothing."""
    out: dict[str, Decimal] = {}
    for r in reports:
        if r.total_amount is not None and r.currency is not None:
            out[r.currency] = out.get(r.currency, Decimal("0.00")) + r.total_amount
    return dict(sorted(out.items()))


def kind_of(row: BillingReportSummary) -> str:
    return row.submission_kind.value if row.submission_kind else "-"


class MonthPlayer:
    """Plays the month phase by phase; each phase waits on what the system did with it."""

    PHASES = 7

    def __init__(
        self,
        month: Month,
        options: DemoOptions,
        catalogue: Catalogue,
        producer: AIOKafkaProducer,
        observer: Observer,
        store: Store,
        api: ReadApi,
        progress: Progress,
    ) -> None:
        self.month = month
        self.options = options
        self.catalogue = catalogue
        self.producer = producer
        self.observer = observer
        self.store = store
        self.api = api
        self.progress = progress
        self.rng = random.Random(month.seed + 1)
        self.messages = 0
        self.late_usage = 0
        self.unexpected: list[str] = []
        self._actions = 0
        self._po: dict[str, str] = {}
        self._overall = progress.add_task(
            f"[bold]month {month.cycle} of {month.mark}", total=self.PHASES
        )

    async def play(self) -> None:
        await self.reference_data()
        await self.usage()
        await self.partners_and_timer()
        await self.distributor_review()
        await self.trendmicro()
        await self.late_and_malformed()

    # plumbing ---------------------------------------------------------------------------

    async def publish(self, contract_topic: str, records: Sequence[Record]) -> None:
        topic = self.catalogue.physical(contract_topic)
        try:
            pending = [await self.producer.send(topic, value, key=key) for key, value in records]
            await asyncio.gather(*pending)
        except KafkaError as exc:
            raise DemoError(f"publishing to {topic} failed: {exc!r}") from exc
        self.messages += len(records)

    async def until(
        self, what: str, total: int, count: Callable[[], Awaitable[int]], hint: str
    ) -> None:
        """Wait until ``count()`` reaches ``total``, or fail saying what did not happen."""
        if total == 0:
            return
        task = self.progress.add_task(f"  {what}", total=total)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.options.timeout
        while True:
            self.observer.check()
            done = await count()
            self.progress.update(task, completed=min(done, total))
            if done >= total:
                return
            if loop.time() >= deadline:
                raise DemoError(
                    f"timed out after {self.options.timeout:g}s waiting for {what}: "
                    f"{done} of {total}; {hint}"
                )
            await asyncio.sleep(POLL_SECONDS)

    def phase_done(self) -> None:
        self.progress.advance(self._overall)

    def action(
        self,
        partner: Partner,
        type_: str,
        data: BaseModel,
        causes: str | None,
        refusal: str = "",
    ) -> tuple[Expected, Record]:
        self._actions += 1
        action_id = f"{partner.report_id}/demo-{self._actions:04d}"
        record = (
            partner.report_id.encode(),
            cloud_event(
                type_,
                data,
                id_=action_id,
                source=f"{type_.split('.')[1]}-portal",
                subject=partner.report_id,
            ),
        )
        return Expected(action_id, type_, causes, refusal), record

    async def act(
        self, what: str, contract_topic: str, sent: list[tuple[Expected, Record]], hint: str
    ) -> None:
        """Publish actions and wait until each is applied or refused, then check which."""
        if not sent:
            return
        await self.publish(contract_topic, [record for _, record in sent])
        expected = [e for e, _ in sent]

        async def answered() -> int:
            obs = self.observer
            return sum(
                1 for e in expected if e.action_id in obs.caused or e.action_id in obs.refusals
            )

        await self.until(what, len(expected), answered, hint)
        for e in expected:
            differs = e.differs(
                self.observer.caused.get(e.action_id, set()),
                self.observer.refusals.get(e.action_id),
            )
            if differs:
                self.unexpected.append(f"{e.action_type} {e.action_id} {differs}")

    def actor(self, account_id: str) -> Actor:
        return Actor(account_id=account_id, user_id=f"{account_id.lower()}-user")

    # 1. accounts, prices, promotional codes ---------------------------------------------

    async def reference_data(self) -> None:
        """Distributors, the partners that will act this month, prices and codes."""
        now = datetime.now(UTC)
        accounts, pricing = reference_data(self.month, now)
        active = [p for p in self.month.partners if p.plan not in LEFT_TO_TIMER]
        await self.publish("lmp.accounts.v1", accounts + [partner_account(p) for p in active])
        await self.publish("lmp.pricing.v1", pricing)
        partner_ids = [p.partner_id for p in active]
        distributor_ids = [d.distributor_id for d in self.month.distributors]
        codes = [c for codes in self.month.codes.values() for c in astuple(codes)]
        prices = {
            f"{d.region.code}|{p.product_id}": str(list_price(p, d.region))
            for d in self.month.distributors
            for p in PRODUCTS
        }

        async def stored() -> int:
            partners = await self.store.partners.count_documents({"_id": {"$in": partner_ids}})
            dists = await self.store.distributors.count_documents({"_id": {"$in": distributor_ids}})
            promos = await self.store.promotions.count_documents({"_id": {"$in": codes}})
            docs = await self.store.prices.find({"_id": {"$in": list(prices)}}).to_list(None)
            listed = sum(1 for d in docs if prices.get(d["_id"]) == d.get("unit_price"))
            return int(partners + dists + promos + listed)

        await self.until(
            "accounts, prices and promotional codes stored",
            len(partner_ids) + len(distributor_ids) + len(codes) + len(prices),
            stored,
            "are the accounts and pricing processors running?",
        )
        self.phase_done()

    # 2. usage ----------------------------------------------------------------------------

    async def usage(self) -> None:
        """Every subscription's snapshots; the timer's partners have no account yet.

        Their accounts arrive once all their usage is in: the report then opens whole, in
        one write, so the timer (whose deadline for them has passed) judges complete figures.
        """
        await self.publish("lmp.usage.v1", usage_records(self.month, self.rng))
        expected = {
            p.report_id: {
                line.product.product_id: (line.provisioned, line.used) for line in p.lines
            }
            for p in self.month.partners
        }

        async def ingested() -> int:
            docs = await self.store.reports.find(
                {"_id": {"$in": list(expected)}}, {"history": 0, "outbox": 0}
            ).to_list(None)
            return sum(
                1
                for doc in docs
                if {
                    line["product_id"]: (line["provisioned_units"], line.get("used_units"))
                    for line in doc.get("lines", [])
                }
                == expected[doc["_id"]]
            )

        await self.until(
            "usage ingested: every report at its peaks",
            len(expected),
            ingested,
            "is the usage processor running?",
        )
        self.phase_done()

    # 3. partners, and the timer for those who do nothing ---------------------------------

    async def partners_and_timer(self) -> None:
        timer_partners = self.month.with_plan(*LEFT_TO_TIMER)
        await self.publish("lmp.accounts.v1", [partner_account(p) for p in timer_partners])
        sent: list[tuple[Expected, Record]] = []
        for partner in self.month.partners:
            if partner.plan in LEFT_TO_TIMER:
                continue
            if partner.hasty:
                sent.append(
                    self.action(
                        partner,
                        "lmp.partner.report-submitted",
                        PartnerReportSubmitted(
                            report_id=partner.report_id, actor=self.actor(partner.partner_id)
                        ),
                        None,
                        "every discrepancy needs a comment before submission",
                    )
                )
            sent.append(
                self.action(
                    partner,
                    "lmp.partner.draft-saved",
                    PartnerDraftSaved(
                        report_id=partner.report_id,
                        actor=self.actor(partner.partner_id),
                        lines=self.explanations(partner),
                    ),
                    "lmp.report.draft-saved",
                )
            )
            if partner.plan in SUBMITTED_BY_PARTNER:
                sent.append(
                    self.action(
                        partner,
                        "lmp.partner.report-submitted",
                        PartnerReportSubmitted(
                            report_id=partner.report_id, actor=self.actor(partner.partner_id)
                        ),
                        "lmp.report.submitted",
                    )
                )
        await self.act(
            "partners: drafts with explanations, submissions",
            "lmp.partner-actions.v1",
            sent,
            "is the partner-actions processor running?",
        )
        wanted = {p.report_id: p for p in timer_partners}

        async def submitted() -> int:
            return sum(1 for rid in wanted if rid in self.observer.automatic)

        await self.until(
            "deadlines passed: automatic submissions by the timer",
            len(wanted),
            submitted,
            "are the accounts and timer processors running (the timer looks every "
            "LMP_TIMER_INTERVAL_SECONDS)?",
        )
        for rid, partner in wanted.items():
            kind = self.observer.automatic[rid]
            if kind != FINAL_STATE[partner.plan][1]:
                self.unexpected.append(f"{rid} was submitted by the timer as {kind}")
        self.phase_done()

    def explanations(self, partner: Partner) -> list[PartnerLineEdit]:
        """A comment on every over-provisioned line (the first only, if still preparing)."""
        lines = partner.over_provisioned()
        if partner.plan is Plan.PREPARING:
            lines = lines[:1]
        edits = []
        for line in lines:
            if line.spare >= 2 and self.rng.random() < 0.3:
                charged = line.spare // 2
                edits.append(
                    PartnerLineEdit(
                        product_id=line.product.product_id,
                        chargeable_units=(line.used or 0) + charged,
                        comment=f"charging {charged} of the {line.spare} spare seats: "
                        "they were in use for a week",
                    )
                )
            else:
                text = self.rng.choice(EXPLANATIONS).format(spare=line.spare)
                edits.append(PartnerLineEdit(product_id=line.product.product_id, comment=text))
        return edits

    # 4. distributors ---------------------------------------------------------------------

    async def distributor_review(self) -> None:
        under_review = [
            p
            for p in self.month.partners
            if p.plan in SUBMITTED_BY_PARTNER or p.plan in LEFT_TO_TIMER
        ]
        await self.queue_shows(under_review)
        first = [p for p in under_review if p.plan in PRICED_AT_FIRST_REVIEW]
        sent = self.refused_reviews(first)
        for partner in first:
            sent += self.review(partner)
        for partner in self.month.with_plan(*REJECTED_AT_FIRST_REVIEW):
            sent.append(self.reject(partner))
        await self.act(
            "distributors: PO numbers, promotional codes, rejections",
            "lmp.distributor-actions.v1",
            sent,
            "is the distributor-actions processor running?",
        )
        fixing = self.month.with_plan(Plan.REJECTED_THEN_FIXED)
        fixes: list[tuple[Expected, Record]] = []
        for partner in fixing:
            fixes += self.fix(partner)
        await self.act(
            "rejected partners fix and resubmit",
            "lmp.partner-actions.v1",
            fixes,
            "is the partner-actions processor running?",
        )
        second: list[tuple[Expected, Record]] = []
        for partner in fixing:
            second += self.review(partner)
        await self.act(
            "distributors submit the fixed reports",
            "lmp.distributor-actions.v1",
            second,
            "is the distributor-actions processor running?",
        )
        self.phase_done()

    async def queue_shows(self, partners: list[Partner]) -> None:
        """The distributors' queue as the read API lists it: the cycle's reports under review.

        By cycle and status, not by the partner search: that one finds partners through a
        directory the API refreshes every 30 s, and these partners are seconds old.
        """
        wanted = {p.report_id for p in partners}

        async def listed() -> int:
            rows = await self.api.billing_reports(
                self.month.cycle, statuses=[BillingStatus.UNDER_REVIEW]
            )
            return len(wanted & {r.report_id for r in rows})

        await self.until(
            "read API lists the reports under review",
            len(wanted),
            listed,
            "does the read API serve the processors' database?",
        )

    def po_number(self, partner: Partner) -> str:
        po = f"PO-{self.month.cycle.replace('-', '')}-{self.rng.randint(10000, 99999)}"
        self._po[partner.report_id] = po
        return po

    def review(self, partner: Partner) -> list[tuple[Expected, Record]]:
        """PO number, maybe a promotional code with its unlocked price or margin, submit."""
        dist = partner.distributor
        edits = []
        comment = None
        if partner.plan is Plan.TIMER_PENALTIES_COMPLETED:
            comment = "penalties reviewed with the partner; charged as submitted"
        elif self.rng.random() < 0.5:
            line = partner.lines[0]
            code = self.month.codes[dist.region.code].for_product(line.product)
            if dist.region.unlocks is PromoEditableField.UNIT_PRICE:
                price = (list_price(line.product, dist.region) * Decimal("0.85")).quantize(CENT)
                edits.append(
                    DistributorLineEdit(
                        product_id=line.product.product_id, promo_code=code, unit_price=price
                    )
                )
            else:
                edits.append(
                    DistributorLineEdit(
                        product_id=line.product.product_id,
                        promo_code=code,
                        channel_margin=line.product.margin + Decimal("0.05"),
                    )
                )
            comment = f"promotional code {code} applied on {line.product.product_id}"
        actor = self.actor(dist.distributor_id)
        return [
            self.action(
                partner,
                "lmp.distributor.draft-saved",
                DistributorDraftSaved(
                    report_id=partner.report_id,
                    actor=actor,
                    po_number=self.po_number(partner),
                    lines=edits,
                ),
                "lmp.report.draft-saved",
            ),
            self.action(
                partner,
                "lmp.distributor.submitted-to-trendmicro",
                DistributorSubmittedToTrendMicro(
                    report_id=partner.report_id, actor=actor, comment=comment
                ),
                "lmp.report.submitted-to-trendmicro",
            ),
        ]

    def refused_reviews(self, partners: list[Partner]) -> list[tuple[Expected, Record]]:
        """What a distributor gets wrong: no PO number, an expired or foreign code, a report
        of another distributor's partner. Each is refused with a reason and changes nothing."""
        regions = sorted({d.region.code for d in self.month.distributors})
        out: list[tuple[Expected, Record]] = []
        for i, partner in enumerate(partners):
            dist = partner.distributor
            actor = self.actor(dist.distributor_id)
            product = partner.lines[0].product.product_id
            if i % 4 == 0:
                out.append(
                    self.action(
                        partner,
                        "lmp.distributor.submitted-to-trendmicro",
                        DistributorSubmittedToTrendMicro(report_id=partner.report_id, actor=actor),
                        None,
                        "a PO number is required to submit to Trend Micro",
                    )
                )
            if i % 5 == 1:
                code = self.month.codes[dist.region.code].expired
                out.append(
                    self.action(
                        partner,
                        "lmp.distributor.draft-saved",
                        DistributorDraftSaved(
                            report_id=partner.report_id,
                            actor=actor,
                            lines=[DistributorLineEdit(product_id=product, promo_code=code)],
                        ),
                        None,
                        f"promotional code '{code}' expired on",
                    )
                )
            if i == 2 and len(regions) > 1:
                foreign = next(r for r in regions if r != dist.region.code)
                code = self.month.codes[foreign].bid_desk
                out.append(
                    self.action(
                        partner,
                        "lmp.distributor.draft-saved",
                        DistributorDraftSaved(
                            report_id=partner.report_id,
                            actor=actor,
                            lines=[DistributorLineEdit(product_id=product, promo_code=code)],
                        ),
                        None,
                        f"belongs to region {foreign}",
                    )
                )
            if i == 3 and len(self.month.distributors) > 1:
                other = next(d for d in self.month.distributors if d != dist)
                out.append(
                    self.action(
                        partner,
                        "lmp.distributor.draft-saved",
                        DistributorDraftSaved(
                            report_id=partner.report_id,
                            actor=self.actor(other.distributor_id),
                            po_number="PO-NOT-MINE",
                        ),
                        None,
                        f"distributor {other.distributor_id} does not review reports of partner",
                    )
                )
        return out

    def reject(self, partner: Partner) -> tuple[Expected, Record]:
        line = partner.over_provisioned()[0]
        customer = line.subscriptions[0].subscription_id.split("-")[0]
        reasons = [
            f"{line.product.product_id}: our portal shows all {line.provisioned} seats in use "
            f"at {customer} since the 3rd; charge the {line.spare} spare seats",
        ]
        return self.action(
            partner,
            "lmp.distributor.report-rejected",
            DistributorReportRejected(
                report_id=partner.report_id,
                actor=self.actor(partner.distributor.distributor_id),
                reasons=reasons,
            ),
            "lmp.report.rejected",
        )

    def fix(self, partner: Partner) -> list[tuple[Expected, Record]]:
        line = partner.over_provisioned()[0]
        actor = self.actor(partner.partner_id)
        edit = PartnerLineEdit(
            product_id=line.product.product_id,
            chargeable_units=line.provisioned,
            comment="charged in full after the distributor's review",
        )
        return [
            self.action(
                partner,
                "lmp.partner.draft-saved",
                PartnerDraftSaved(report_id=partner.report_id, actor=actor, lines=[edit]),
                "lmp.report.draft-saved",
            ),
            self.action(
                partner,
                "lmp.partner.report-submitted",
                PartnerReportSubmitted(report_id=partner.report_id, actor=actor),
                "lmp.report.submitted",
            ),
        ]

    # 5. Trend Micro ------------------------------------------------------------------------

    async def trendmicro(self) -> None:
        returned = self.month.with_plan(Plan.RETURNED)
        answers = [
            self.action(
                p,
                "lmp.trendmicro.report-returned",
                TrendMicroReportReturned(
                    report_id=p.report_id,
                    actor=self.actor("trendmicro"),
                    reason=f"PO number {self._po[p.report_id]} is not on our order book",
                ),
                "lmp.report.returned",
            )
            for p in returned
        ]
        answers += [self.complete(p) for p in self.month.with_plan(*COMPLETED_BY_TRENDMICRO)]
        for partner in self.month.with_plan(Plan.UNDER_REVIEW)[:1]:
            answers.append(
                self.action(
                    partner,
                    "lmp.trendmicro.report-completed",
                    TrendMicroReportCompleted(
                        report_id=partner.report_id, actor=self.actor("trendmicro")
                    ),
                    None,
                    "cannot complete the report: the report is Under review",
                )
            )
        tm_topic = "lmp.trendmicro-responses.v1"
        hint = "is the trendmicro-responses processor running?"
        await self.act("Trend Micro returns a few, completes most", tm_topic, answers, hint)
        again = [
            self.action(
                p,
                "lmp.distributor.submitted-to-trendmicro",
                DistributorSubmittedToTrendMicro(
                    report_id=p.report_id,
                    actor=self.actor(p.distributor.distributor_id),
                    po_number=f"{self._po[p.report_id]}-R1",
                    comment="PO number corrected after Trend Micro's return",
                ),
                "lmp.report.submitted-to-trendmicro",
            )
            for p in returned
        ]
        await self.act(
            "distributors resubmit the returned reports",
            "lmp.distributor-actions.v1",
            again,
            "is the distributor-actions processor running?",
        )
        await self.act(
            "Trend Micro completes the resubmitted reports",
            tm_topic,
            [self.complete(p) for p in returned],
            hint,
        )
        self.phase_done()

    def complete(self, partner: Partner) -> tuple[Expected, Record]:
        return self.action(
            partner,
            "lmp.trendmicro.report-completed",
            TrendMicroReportCompleted(
                report_id=partner.report_id,
                actor=self.actor("trendmicro"),
                reference=f"TM-INV-{self.month.cycle}-{self.rng.randint(10000, 99999)}",
            ),
            "lmp.report.completed",
        )

    # 6. late usage, malformed messages ------------------------------------------------------

    async def late_and_malformed(self) -> None:
        """Usage that arrives after submission, and messages no processor can apply."""
        late: list[tuple[str, Record]] = []
        for plan in LATE_USAGE_CANDIDATES:
            for partner in self.month.with_plan(plan)[:1]:
                line = partner.lines[0]
                sub = line.subscriptions[0]
                snap = Snapshot(
                    sub.provisioned + 5,
                    None if sub.used is None else sub.used + 3,
                    cycle_end(self.month.cycle) - timedelta(hours=2),
                )
                message_id = f"{partner.partner_id}/usage/{sub.subscription_id}/late"
                late.append(
                    (
                        message_id,
                        usage_record(partner, self.month.cycle, line, sub, snap, message_id),
                    )
                )
        broken_usage, broken_action = malformed(self.month.partners[0])
        await self.publish("lmp.usage.v1", [record for _, record in late] + broken_usage)
        await self.publish("lmp.partner-actions.v1", broken_action)
        causes = [message_id for message_id, _ in late]

        async def flagged() -> int:
            caused = self.observer.caused
            return sum(1 for c in causes if "lmp.report.late-usage" in caused.get(c, set()))

        await self.until(
            "late usage kept apart and announced",
            len(causes),
            flagged,
            "is the usage processor running?",
        )
        self.late_usage = len(causes)

        async def dead() -> int:
            return len(self.observer.dead_letters)

        await self.until(
            "malformed messages dead-lettered",
            len(broken_usage) + len(broken_action),
            dead,
            "are the usage and partner-actions processors running?",
        )
        self.phase_done()

    # 7. what the read API shows ---------------------------------------------------------------

    async def read_back(self) -> list[BillingReportSummary]:
        """The run's reports as the read API lists them: the cycle and a partner search.

        The search may miss partners for a while (the API refreshes its partner directory
        every 30 s), so this waits until every report of the run is listed.
        """
        rows: list[BillingReportSummary] = []

        async def listed() -> int:
            nonlocal rows
            rows = await self.api.billing_reports(self.month.cycle, self.month.mark)
            return len(rows)

        await self.until(
            f"read API lists the run (?partner={self.month.mark})",
            len(self.month.partners),
            listed,
            "the read API's partner search finds new partners once it refreshes its partner "
            "directory (every 30 s); does it serve the processors' database?",
        )
        self.phase_done()
        return rows


async def play(options: DemoOptions, settings: Settings, console: Console) -> Summary:
    """Play the month against the system ``settings`` point at; the summary comes from the API."""
    started = time.monotonic()
    now = datetime.now(UTC)
    cycle = options.cycle or previous_cycle(now)
    seed = options.seed if options.seed is not None else secrets.randbelow(1_000_000)
    tag = secrets.token_hex(3)
    month = plan_month(tag, cycle, options.partners, options.distributors, seed, now)
    base = options.api or f"http://{settings.api_host}:{settings.api_port}"
    catalogue = Catalogue.load(*settings.catalogue_args())
    console.print(
        f"Playing cycle [bold]{cycle}[/] for {options.partners} partners of "
        f"{options.distributors} distributors as [bold]{month.mark}[/] (seed {seed}); "
        f"Kafka {settings.kafka_bootstrap_servers}, read API {base}"
    )
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as session:
        api = ReadApi(session, base)
        await api.health()
        store = connect(settings)
        created_key: str | None = None
        producer: AIOKafkaProducer | None = None
        observer: Observer | None = None
        try:
            try:
                await asyncio.wait_for(store.ping(), CONNECT_SECONDS)
            except Exception as exc:
                raise DemoError(
                    f"the database ({_without_password(settings.mongodb_uri)}) does not answer: "
                    f"{exc!r}"
                ) from exc
            if options.api_key:
                api.key = options.api_key
                await _check_operations_key(store, options.api_key)
            else:
                api.key, stored = new_key(Role.OPERATIONS, None, f"lmp-billing demo {tag}", now)
                await store.save_api_key(stored)
                created_key = stored.key_id
            await api.check_key(cycle)
            producer = await _producer(settings.kafka_bootstrap_servers)
            observer = await Observer.start(settings.kafka_bootstrap_servers, catalogue, month.mark)
            with _progress(console) as progress:
                player = MonthPlayer(
                    month, options, catalogue, producer, observer, store, api, progress
                )
                await player.play()
                reports = await player.read_back()
            summary = Summary(
                tag=tag,
                cycle=cycle,
                seed=seed,
                api=base,
                kafka=settings.kafka_bootstrap_servers,
                reports=reports,
                refusals=list(observer.refusals.values()),
                dead_letters=list(observer.dead_letters),
                automatic=len(observer.automatic),
                penalties=len(observer.penalties),
                late_usage=player.late_usage,
                billing_submissions=observer.billing_submissions,
                reminders=observer.reminders,
                messages=player.messages,
                seconds=time.monotonic() - started,
                unexpected=player.unexpected + _final_states(month, reports),
            )
        finally:
            if observer is not None:
                await observer.stop()
            if producer is not None:
                await producer.stop()
            if created_key is not None:
                await store.revoke_api_key(created_key, datetime.now(UTC))
            await store.close()
    render(summary, console, created_key)
    return summary


async def _check_operations_key(store: Store, plaintext: str) -> None:
    """The demo reads every partner's reports, so a partner or distributor key will not do."""
    key_id = plaintext.split("_")[1] if plaintext.count("_") >= 2 else ""
    stored = await store.load_api_key(key_id)
    if stored is not None and stored.role is not Role.OPERATIONS:
        raise DemoError(
            f"--api-key: key {key_id} is a {stored.role.value} key; the demo reads every "
            "partner's reports and needs an operations key (lmp-billing keys create --role "
            "operations)"
        )


async def _producer(bootstrap: str) -> AIOKafkaProducer:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    try:
        await asyncio.wait_for(producer.start(), CONNECT_SECONDS)
    except (KafkaError, OSError, TimeoutError) as exc:
        with contextlib.suppress(Exception):
            await producer.stop()
        raise DemoError(f"Kafka at {bootstrap} does not answer: {exc!r}") from exc
    return producer


def _progress(console: Console) -> Progress:
    return Progress(
        SpinnerColumn(finished_text="[green]✓"),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )


def _final_states(month: Month, reports: list[BillingReportSummary]) -> list[str]:
    """Where each report ended, against where its plan says it should."""
    found = {r.report_id: r for r in reports}
    out = []
    for partner in month.partners:
        row = found.get(partner.report_id)
        want = FINAL_STATE[partner.plan]
        if row is None:
            out.append(f"{partner.report_id} is missing from the read API's list")
        elif (row.status, row.submission_kind) != want:
            out.append(
                f"{partner.report_id} ({partner.plan.value}) ended {row.status.value}/"
                f"{row.submission_kind}, expected {want[0].value}/{want[1]}"
            )
    return out


def _without_password(uri: str) -> str:
    return re.sub(r"//[^@/]*@", "//", uri)


# the summary ------------------------------------------------------------------------------

STATUS_ORDER = {status: i for i, status in enumerate(BillingStatus)}


def money(reports: Sequence[BillingReportSummary]) -> str:
    """Invoice totals per currency, and how many reports have no price yet."""
    text = ", ".join(f"{cur} {amount:,.2f}" for cur, amount in invoice_totals(reports).items())
    unpriced = sum(1 for r in reports if r.total_amount is None)
    if unpriced:
        text += f" ({unpriced} not priced yet)" if text else f"{unpriced} not priced yet"
    return text or "-"


def reason_kind(reason: str, mark: str) -> str:
    """A refusal reason without its ids, codes and dates, so alike refusals count together."""
    text = reason.split(";")[0]
    text = re.sub(r"'[^']*'", "…", text)
    text = re.sub(rf"\S*{re.escape(mark)}\S*", "…", text)
    return re.sub(r"\d{4}-\d{2}-\d{2}", "…", text)


def render(summary: Summary, console: Console, revoked_key: str | None = None) -> None:
    reports = Table(
        title=(
            f"Billing reports of cycle {summary.cycle}, partners {summary.mark}-* "
            f"(GET {summary.api}/v1/billing-reports)"
        ),
        title_justify="left",
    )
    reports.add_column("Status")
    reports.add_column("Submission kind", no_wrap=True)
    reports.add_column("Reports", justify="right")
    reports.add_column("Invoice totals", justify="right")
    order = {r.status_label: STATUS_ORDER[r.status] for r in summary.reports}
    for (label, kind), count in sorted(
        summary.by_status().items(), key=lambda item: (order[item[0][0]], item[0][1])
    ):
        rows = [r for r in summary.reports if (r.status_label, kind_of(r)) == (label, kind)]
        reports.add_row(label, kind, str(count), money(rows))
    reports.add_section()
    reports.add_row("[bold]All", "", f"[bold]{len(summary.reports)}", money(summary.reports))
    console.print(reports)

    aside = Table(title="Refused and dead-lettered", title_justify="left")
    aside.add_column("Message")
    aside.add_column("Count", justify="right")
    aside.add_column("Reason")
    refusals = Counter(
        (r["action_type"].removeprefix("lmp."), reason_kind(r["reason"], summary.mark))
        for r in summary.refusals
    )
    for (action_type, reason), count in sorted(refusals.items()):
        aside.add_row(action_type, str(count), reason)
    aside.add_row("[bold]lmp.action.rejected", f"[bold]{len(summary.refusals)}", "")
    aside.add_section()
    letters = Counter(
        (d.get("error_kind", "?"), d.get("processor", "?")) for d in summary.dead_letters
    )
    for (error_kind, processor), count in sorted(letters.items()):
        aside.add_row(f"{error_kind} ({processor})", str(count), _ERROR_KINDS.get(error_kind, ""))
    aside.add_row("[bold]lmp.dead-letter.v1", f"[bold]{len(summary.dead_letters)}", "")
    console.print(aside)
    console.print(
        f"{summary.automatic} automatic submissions ({summary.penalties} with penalties), "
        f"{summary.billing_submissions} billing reports sent to Trend Micro, "
        f"{summary.late_usage} late usage messages flagged, "
        f"{summary.reminders} deadline reminders; {summary.messages} messages published "
        f"in {summary.seconds:.1f} s (seed {summary.seed})."
    )
    console.print(
        f"Look closer: KAFKA_BOOTSTRAP_SERVERS={summary.kafka} lmp-billing tail "
        f"--partner {summary.mark}-P001 · "
        f"GET /v1/billing-reports?cycle={summary.cycle}&partner={summary.mark}"
        + (f" · demo key {revoked_key} revoked" if revoked_key else "")
    )
    if summary.unexpected:
        console.print(f"[red]{len(summary.unexpected)} outcomes differ from the demo's plan:")
        for line in summary.unexpected:
            console.print(f"[red]  {line}")


_ERROR_KINDS = {
    "parse": "not JSON",
    "schema": "JSON, but not a valid message of its type",
    "unknown_type": "a type its topic does not carry",
    "conflict": "a known message id with another payload",
}


# the command ------------------------------------------------------------------------------


def _cycle(text: str) -> str:
    if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", text):
        raise argparse.ArgumentTypeError(f"not a cycle: {text!r} (YYYY-MM)")
    return text


def _partners(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value < len(Plan):
        raise argparse.ArgumentTypeError(
            f"at least {len(Plan)} partners, one for each path through the month"
        )
    return value


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--partners", type=_partners, default=60, metavar="N", help="MSP partners (default 60)"
    )
    parser.add_argument(
        "--distributors",
        type=int,
        default=3,
        metavar="M",
        help="distributors, spread over EMEA/EUR, NA/USD and APAC/AUD (default 3)",
    )
    parser.add_argument(
        "--cycle",
        type=_cycle,
        metavar="YYYY-MM",
        help="the month to play (default: the previous month, so deadlines can have passed)",
    )
    parser.add_argument(
        "--api", metavar="URL", help="the read API (default http://LMP_API_HOST:LMP_API_PORT)"
    )
    parser.add_argument(
        "--api-key",
        metavar="KEY",
        help="an operations key (default: one made for the run and revoked at its end)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="how long each step may take before the demo gives up (default 60)",
    )
    parser.add_argument(
        "--seed", type=int, help="the same seed plays the same month (ids stay unique per run)"
    )


def cmd_demo(args: argparse.Namespace) -> int:
    from services.api.commands import _settings

    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    options = DemoOptions(
        partners=args.partners,
        distributors=args.distributors,
        cycle=args.cycle,
        api=args.api,
        api_key=args.api_key,
        timeout=args.timeout,
        seed=args.seed,
    )
    try:
        summary = asyncio.run(play(options, _settings(), Console()))
    except DemoError as exc:
        print(f"lmp-billing demo: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 1 if summary.unexpected else 0


DESCRIPTION = """\
Against the system `lmp-billing up` runs (processors and read API), play a month:
accounts, prices and promotional codes; usage; partner drafts and submissions;
distributor reviews with refusals and rejections; Trend Micro's answers; late usage
and malformed messages. Each step waits on what the processors do with it. Then print
the run's billing reports as the read API lists them, and what was refused or
dead-lettered. Exit status 1 when a server does not answer, a step times out, or a
report ends elsewhere than its partner's path says.

Each partner follows one path (every path at least once):
"""


def _description() -> str:
    return DESCRIPTION + "\n".join(f"  {plan.value:26} {story}" for plan, story in STORIES.items())


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    demo = sub.add_parser(
        "demo",
        help="play a realistic month against the running system and summarize it",
        description=_description(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _arguments(demo)
    demo.set_defaults(func=cmd_demo)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="lmp-billing demo",
        description=_description(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _arguments(parser)
    return cmd_demo(parser.parse_args(argv))
