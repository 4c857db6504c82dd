# Over 300 lines: one seeded draw of the month; its parts share the generator's order.
"""The month to play, drawn from a seed and a date: who is in it and which path each takes.

Pure: no I/O, no clock of its own; the same seed and date give the same month.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from schemas.api import BillingStatus
from schemas.pricing import PromoEditableField
from schemas.report import SubmissionKind
from services.domain.calendar import cycle_end, cycle_of, cycle_start
from services.domain.ids import report_id
from tooling.demo.errors import DemoError

MAX_AUTO_SUBMIT_DAYS = 60  # PartnerAccount.auto_submit_days allows 0..60
CENT = Decimal("0.01")


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
        return run_mark(self.tag)

    def with_plan(self, *plans: Plan) -> list[Partner]:
        return [p for p in self.partners if p.plan in plans]


def run_mark(tag: str) -> str:
    """In every id of the run: the read API's partner search finds the run by it."""
    return f"DEMO-{tag}"


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
    mark = run_mark(tag)
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
