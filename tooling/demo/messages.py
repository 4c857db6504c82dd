"""What the account directory, Trend Micro and provisioning send: keyed CloudEvent records.

Written as outside senders write them, fields they leave empty left out; the player picks
the topic.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel

from schemas.accounts import DistributorAccount, PartnerAccount
from schemas.envelope import CloudEvent
from schemas.pricing import PriceListed, PromoKind, PromotionPublished
from schemas.registry import MESSAGE_TYPES
from schemas.usage import UsageReported
from services.bootstrap import clock
from services.domain.calendar import cycle_end, cycle_start
from tooling.demo.plan import (
    LATE_USAGE_CANDIDATES,
    PRODUCTS,
    Line,
    Month,
    Partner,
    Snapshot,
    Subscription,
    list_price,
)

Message = tuple[bytes, bytes]
"""(key, value) of one record."""

_TYPE_OF = {model: type_ for type_, model in MESSAGE_TYPES.items()}


def type_of(data: BaseModel) -> str:
    """The contract's type for an inbound model: each has exactly one."""
    return _TYPE_OF[type(data)]


def event(
    type_: str, data: dict[str, Any], *, id_: str, source: str, subject: str | None = None
) -> bytes:
    return (
        CloudEvent[dict[str, Any]](
            id=id_,
            source=f"lmp-billing/demo/{source}",
            type=type_,
            time=clock(),
            subject=subject,
            data=data,
        )
        .model_dump_json()
        .encode()
    )


def message(
    key: str, data: BaseModel, *, id_: str, source: str, subject: str | None = None
) -> Message:
    value = event(
        type_of(data),
        data.model_dump(mode="json", exclude_none=True),
        id_=id_,
        source=source,
        subject=subject,
    )
    return key.encode(), value


# reference data and usage ---------------------------------------------------------------


def reference_data(month: Month, now: datetime) -> tuple[list[Message], list[Message]]:
    """Distributors, prices and promotional codes: (account records, pricing records)."""
    accounts = [
        message(
            d.distributor_id,
            DistributorAccount(distributor_id=d.distributor_id, name=d.name, region=d.region.code),
            id_=f"{d.distributor_id}/account",
            source="account-directory",
        )
        for d in month.distributors
    ]
    pricing: list[Message] = []
    every = [p.product_id for p in PRODUCTS]
    promoted = [p.product_id for p in PRODUCTS if p.promoted]
    start = cycle_start(month.cycle)
    for region in sorted({d.region for d in month.distributors}, key=lambda r: r.code):
        for product in PRODUCTS:
            key = f"{region.code}/{product.product_id}"
            price = PriceListed(
                region=region.code,
                product_id=product.product_id,
                currency=region.currency,
                unit_price=list_price(product, region),
                channel_margin=product.margin,
                promo_editable_field=region.unlocks,
            )
            pricing.append(
                message(key, price, id_=f"{month.mark}/price/{key}", source="trendmicro")
            )
        codes = month.codes[region.code]
        for code, kind, products, valid in (
            (codes.bid_desk, PromoKind.BID_DESK_NUMBER, every, True),
            (codes.promote, PromoKind.PROMOTE_CODE, promoted, True),
            (codes.expired, PromoKind.BID_DESK_NUMBER, every, False),
        ):
            promo = PromotionPublished(
                code=code,
                kind=kind,
                region=region.code,
                product_ids=products,
                valid_from=start - timedelta(days=30 if valid else 120),
                valid_until=now + timedelta(days=90) if valid else start,
            )
            pricing.append(message(code, promo, id_=f"{code}/published", source="trendmicro"))
    return accounts, pricing


def partner_account(partner: Partner) -> Message:
    account = PartnerAccount(
        partner_id=partner.partner_id,
        name=partner.name,
        distributor_id=partner.distributor.distributor_id,
        region=partner.region.code,
        currency=partner.region.currency,
        auto_submit_days=partner.auto_submit_days,
    )
    return message(
        partner.partner_id,
        account,
        id_=f"{partner.partner_id}/account",
        source="account-directory",
    )


def usage_record(
    partner: Partner, line: Line, sub: Subscription, snap: Snapshot, id_: str
) -> Message:
    usage = UsageReported(
        partner_id=partner.partner_id,
        cycle=partner.cycle,
        product_id=line.product.product_id,
        subscription_id=sub.subscription_id,
        provisioned_units=snap.provisioned,
        used_units=snap.used,
        observed_at=snap.observed_at,
    )
    return message(partner.partner_id, usage, id_=id_, source="provisioning")


def usage_records(month: Month, rng: random.Random) -> list[Message]:
    """Every snapshot, shuffled (peaks are order-free), a few of them delivered twice."""
    records = [
        usage_record(
            partner, line, sub, snap, f"{partner.partner_id}/usage/{sub.subscription_id}/{n}"
        )
        for partner in month.partners
        for line in partner.lines
        for sub in line.subscriptions
        for n, snap in enumerate(sub.snapshots)
    ]
    records += rng.sample(records, max(3, len(records) // 40))
    rng.shuffle(records)
    return records


def late_usage(month: Month) -> list[tuple[str, Message]]:
    """(message id, record): a higher peak after submission, one partner per candidate path."""
    late = []
    for plan in LATE_USAGE_CANDIDATES:
        for partner in month.with_plan(plan)[:1]:
            line = partner.lines[0]
            sub = line.subscriptions[0]
            snap = Snapshot(
                sub.provisioned + 5,
                None if sub.used is None else sub.used + 3,
                cycle_end(month.cycle) - timedelta(hours=2),
            )
            message_id = f"{partner.partner_id}/usage/{sub.subscription_id}/late"
            late.append((message_id, usage_record(partner, line, sub, snap, message_id)))
    return late


def malformed(partner: Partner) -> tuple[list[Message], list[Message]]:
    """Messages no processor can apply: (usage records, partner action records).

    Not JSON, a type the topic does not carry, negative units; and an action type the
    partner-actions topic does not carry. Each lands on the dead-letter topic.
    """
    key = partner.partner_id.encode()
    line = partner.lines[0]
    wrong_type = event(
        "lmp.usage.adjusted",
        {"partner_id": partner.partner_id, "delta": -3},
        id_=f"{partner.partner_id}/usage/adjusted",
        source="provisioning",
    )
    negative = event(
        "lmp.usage.reported",
        {
            "partner_id": partner.partner_id,
            "cycle": partner.cycle,
            "product_id": line.product.product_id,
            "subscription_id": line.subscriptions[0].subscription_id,
            "provisioned_units": -4,
            "observed_at": clock().isoformat(),
        },
        id_=f"{partner.partner_id}/usage/negative",
        source="provisioning",
    )
    withdrawn = event(
        "lmp.partner.report-withdrawn",
        {"report_id": partner.report_id},
        id_=f"{partner.report_id}/withdrawn",
        source="partner-portal",
        subject=partner.report_id,
    )
    usage = [
        (key, b'{"specversion": "1.0", "type": "lmp.usage.reported", "data": {'),
        (key, wrong_type),
        (key, negative),
    ]
    return usage, [(partner.report_id.encode(), withdrawn)]
