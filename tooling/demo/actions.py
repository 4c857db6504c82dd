"""What partners, distributors and Trend Micro do, and what each action should come to."""

from __future__ import annotations

import random
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from pydantic import BaseModel

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
from schemas.pricing import PromoEditableField
from tooling.demo.messages import Message, message, type_of
from tooling.demo.plan import CENT, Month, Partner, Plan, list_price

EXPLANATIONS = (
    "{spare} seats held for a customer onboarding early next month",
    "{spare} trial licences; the customer converts next month",
    "customer left on the 20th; {spare} seats released at month end",
    "{spare} spare seats kept for a hardware refresh",
    "{spare} seats on shared mailboxes and kiosks, not billable",
)


@dataclass(frozen=True)
class Action:
    """An action to send, and what it should come to: the event ``causes``, or a refusal
    whose reason says ``refusal``."""

    action_id: str
    action_type: str
    message: Message
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


def actor(account_id: str) -> Actor:
    return Actor(account_id=account_id, user_id=f"{account_id.lower()}-user")


class Actions:
    """What partners, distributors and Trend Micro do, numbered in the order it is drawn.

    Shares the player's random draws, so a seed gives the same actions in the same order.
    """

    def __init__(self, month: Month, rng: random.Random) -> None:
        self.month = month
        self.rng = rng
        self._count = 0
        self._po: dict[str, str] = {}

    def action(
        self, partner: Partner, data: BaseModel, causes: str | None = None, refusal: str = ""
    ) -> Action:
        self._count += 1
        action_id = f"{partner.report_id}/demo-{self._count:04d}"
        type_ = type_of(data)
        record = message(
            partner.report_id,
            data,
            id_=action_id,
            source=f"{type_.split('.')[1]}-portal",
            subject=partner.report_id,
        )
        return Action(action_id, type_, record, causes, refusal)

    # partners

    def explain(self, partner: Partner) -> Action:
        """A draft commenting every over-provisioned line (the first only, if still preparing)."""
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
        draft = PartnerDraftSaved(
            report_id=partner.report_id, actor=actor(partner.partner_id), lines=edits
        )
        return self.action(partner, draft, "lmp.report.draft-saved")

    def submit(self, partner: Partner, refusal: str = "") -> Action:
        """The partner submits; with ``refusal``, too early, and is refused."""
        submitted = PartnerReportSubmitted(
            report_id=partner.report_id, actor=actor(partner.partner_id)
        )
        return self.action(partner, submitted, None if refusal else "lmp.report.submitted", refusal)

    def fix(self, partner: Partner) -> list[Action]:
        """After a rejection: charge the disputed line in full and submit again."""
        line = partner.over_provisioned()[0]
        edit = PartnerLineEdit(
            product_id=line.product.product_id,
            chargeable_units=line.provisioned,
            comment="charged in full after the distributor's review",
        )
        draft = PartnerDraftSaved(
            report_id=partner.report_id, actor=actor(partner.partner_id), lines=[edit]
        )
        return [self.action(partner, draft, "lmp.report.draft-saved"), self.submit(partner)]

    # distributors

    def review(self, partner: Partner) -> list[Action]:
        """PO number, maybe a promotional code with its unlocked price or margin, submit."""
        dist = partner.distributor
        edits = []
        comment = None
        if partner.plan is Plan.TIMER_PENALTIES_COMPLETED:
            comment = "penalties reviewed with the partner; charged as submitted"
        elif self.rng.random() < 0.5:
            line = partner.lines[0]
            code = self.month.codes[dist.region.code].for_product(line.product)
            by_price = dist.region.unlocks is PromoEditableField.UNIT_PRICE
            discounted = (list_price(line.product, dist.region) * Decimal("0.85")).quantize(CENT)
            edits.append(
                DistributorLineEdit(
                    product_id=line.product.product_id,
                    promo_code=code,
                    unit_price=discounted if by_price else None,
                    channel_margin=None if by_price else line.product.margin + Decimal("0.05"),
                )
            )
            comment = f"promotional code {code} applied on {line.product.product_id}"
        who = actor(dist.distributor_id)
        draft = DistributorDraftSaved(
            report_id=partner.report_id, actor=who, po_number=self._po_number(partner), lines=edits
        )
        submitted = DistributorSubmittedToTrendMicro(
            report_id=partner.report_id, actor=who, comment=comment
        )
        return [
            self.action(partner, draft, "lmp.report.draft-saved"),
            self.action(partner, submitted, "lmp.report.submitted-to-trendmicro"),
        ]

    def refused_reviews(self, partners: list[Partner]) -> list[Action]:
        """What a distributor gets wrong: no PO number, an expired or foreign code, a report
        of another distributor's partner. Each is refused with a reason and changes nothing."""
        regions = sorted({d.region.code for d in self.month.distributors})
        out: list[Action] = []
        for i, partner in enumerate(partners):
            dist = partner.distributor
            who = actor(dist.distributor_id)
            rid = partner.report_id
            product = partner.lines[0].product.product_id
            if i % 4 == 0:
                out.append(
                    self.action(
                        partner,
                        DistributorSubmittedToTrendMicro(report_id=rid, actor=who),
                        refusal="a PO number is required to submit to Trend Micro",
                    )
                )
            if i % 5 == 1:
                code = self.month.codes[dist.region.code].expired
                out.append(
                    self.action(
                        partner,
                        DistributorDraftSaved(
                            report_id=rid,
                            actor=who,
                            lines=[DistributorLineEdit(product_id=product, promo_code=code)],
                        ),
                        refusal=f"promotional code '{code}' expired on",
                    )
                )
            if i == 2 and len(regions) > 1:
                foreign = next(r for r in regions if r != dist.region.code)
                code = self.month.codes[foreign].bid_desk
                out.append(
                    self.action(
                        partner,
                        DistributorDraftSaved(
                            report_id=rid,
                            actor=who,
                            lines=[DistributorLineEdit(product_id=product, promo_code=code)],
                        ),
                        refusal=f"belongs to region {foreign}",
                    )
                )
            if i == 3 and len(self.month.distributors) > 1:
                other = next(d for d in self.month.distributors if d != dist)
                out.append(
                    self.action(
                        partner,
                        DistributorDraftSaved(
                            report_id=rid,
                            actor=actor(other.distributor_id),
                            po_number="PO-NOT-MINE",
                        ),
                        refusal=f"distributor {other.distributor_id} does not review reports "
                        "of partner",
                    )
                )
        return out

    def reject(self, partner: Partner) -> Action:
        line = partner.over_provisioned()[0]
        customer = line.subscriptions[0].subscription_id.split("-")[0]
        rejected = DistributorReportRejected(
            report_id=partner.report_id,
            actor=actor(partner.distributor.distributor_id),
            reasons=[
                f"{line.product.product_id}: our portal shows all {line.provisioned} seats in "
                f"use at {customer} since the 3rd; charge the {line.spare} spare seats",
            ],
        )
        return self.action(partner, rejected, "lmp.report.rejected")

    def resubmit(self, partner: Partner) -> Action:
        """Back to Trend Micro after its return, with the PO number corrected."""
        submitted = DistributorSubmittedToTrendMicro(
            report_id=partner.report_id,
            actor=actor(partner.distributor.distributor_id),
            po_number=f"{self._po[partner.report_id]}-R1",
            comment="PO number corrected after Trend Micro's return",
        )
        return self.action(partner, submitted, "lmp.report.submitted-to-trendmicro")

    def _po_number(self, partner: Partner) -> str:
        po = f"PO-{self.month.cycle.replace('-', '')}-{self.rng.randint(10000, 99999)}"
        self._po[partner.report_id] = po
        return po

    # Trend Micro

    def give_back(self, partner: Partner) -> Action:
        """Trend Micro returns the report: the PO number is not on its order book."""
        returned = TrendMicroReportReturned(
            report_id=partner.report_id,
            actor=actor("trendmicro"),
            reason=f"PO number {self._po[partner.report_id]} is not on our order book",
        )
        return self.action(partner, returned, "lmp.report.returned")

    def complete(self, partner: Partner) -> Action:
        completed = TrendMicroReportCompleted(
            report_id=partner.report_id,
            actor=actor("trendmicro"),
            reference=f"TM-INV-{self.month.cycle}-{self.rng.randint(10000, 99999)}",
        )
        return self.action(partner, completed, "lmp.report.completed")

    def complete_too_early(self, partner: Partner) -> Action:
        """Trend Micro completes a report no distributor has sent it, and is refused."""
        completed = TrendMicroReportCompleted(
            report_id=partner.report_id, actor=actor("trendmicro")
        )
        return self.action(
            partner, completed, refusal="cannot complete the report: the report is Under review"
        )
