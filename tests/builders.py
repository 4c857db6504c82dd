"""Test data, built in one place: inbound records as the upstream systems publish them
(accounts, prices, usage, actions: a key and CloudEvent bytes), the domain's usage
records, and report documents. Small functions whose keyword arguments override one
field each; every message gets an id of its own unless the test names one."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from schemas.accounts import PartnerAccount
from schemas.report import (
    ActorKind,
    HistoryEntry,
    Report,
    ReportLine,
    ReportStatus,
    SubmissionKind,
    SubscriptionUsage,
)
from schemas.usage import UsageReported
from services.domain.calendar import automatic_submission_deadline
from services.domain.figures import recompute_report
from services.domain.usage import UsageRecord
from tests.harness import cloud_event

CYCLE = "2026-10"
NOW = datetime(2026, 11, 1, tzinfo=UTC)

Record = tuple[bytes, bytes]
"""A message as the tests publish it: key and value."""


# Accounts


def account_data(
    partner: str,
    *,
    days: int = 5,
    distributor: str = "D1",
    region: str = "EMEA",
    currency: str = "EUR",
) -> dict[str, Any]:
    return {
        "partner_id": partner,
        "name": f"MSP {partner}",
        "distributor_id": distributor,
        "region": region,
        "currency": currency,
        "auto_submit_days": days,
    }


def partner_account(partner: str, *, id_: str | None = None, **fields: Any) -> Record:
    """The partner's account on `lmp.accounts`: ``account_data``'s keywords override."""
    data = account_data(partner, **fields)
    return partner.encode(), cloud_event("lmp.account.partner", data, id_=id_)


def account_model(
    partner: str = "PA",
    *,
    days: int = 5,
    threshold: str = "0",
    distributor: str = "D1",
    region: str = "EMEA",
    name: str = "Acme",
) -> PartnerAccount:
    """The domain's view of an account (no message around it)."""
    return PartnerAccount.model_validate(
        {
            "partner_id": partner,
            "name": name,
            "distributor_id": distributor,
            "region": region,
            "currency": "EUR",
            "auto_submit_days": days,
            "overprovision_threshold_pct": threshold,
        }
    )


def region(code: str, usage_reports: bool) -> Record:
    data = {"region": code, "usage_reports": usage_reports}
    return f"region/{code}".encode(), cloud_event("lmp.account.region", data)


def tombstone(key: str) -> tuple[bytes, None]:
    """A null value: on a compacted topic, the key's record withdrawn."""
    return key.encode(), None


# Prices


def price(
    product: str, *, unit_price: str = "10.00", region: str = "EMEA", margin: str = "0.20"
) -> Record:
    data = {
        "region": region,
        "product_id": product,
        "currency": "EUR",
        "unit_price": unit_price,
        "channel_margin": margin,
    }
    return f"{region}/{product}".encode(), cloud_event("lmp.pricing.price", data)


def promotion(code: str) -> Record:
    data = {
        "code": code,
        "kind": "bid_desk_number",
        "region": "EMEA",
        "product_ids": ["AV"],
        "valid_from": "2026-10-01T00:00:00Z",
        "valid_until": "2026-12-01T00:00:00Z",
    }
    return code.encode(), cloud_event("lmp.pricing.promotion", data)


# Usage


def usage_data(
    partner: str,
    *,
    product: str = "AV",
    sub: str = "S1",
    provisioned: int = 10,
    used: int | None = None,
    cycle: str = CYCLE,
    observed_at: str = "2026-10-15T08:00:00Z",
) -> dict[str, Any]:
    return {
        "partner_id": partner,
        "cycle": cycle,
        "product_id": product,
        "subscription_id": sub,
        "provisioned_units": provisioned,
        "used_units": used,
        "observed_at": observed_at,
    }


def usage(partner: str, *, id_: str | None = None, **fields: Any) -> Record:
    """A usage snapshot on `lmp.usage.v1`: ``usage_data``'s keywords override."""
    data = usage_data(partner, **fields)
    return partner.encode(), cloud_event("lmp.usage.reported", data, id_=id_)


def usage_record(
    sub: str,
    provisioned: int,
    used: int | None,
    *,
    partner: str = "PA",
    product: str = "P-1",
    cycle: str = CYCLE,
    observed_at: datetime = NOW,
    id_: str | None = None,
) -> UsageRecord:
    """A usage snapshot as the domain receives it (message id and validated data); the
    same snapshot gets the same id unless one is named, as a redelivery has it."""
    return UsageRecord(
        id_ or f"m-{sub}-{provisioned}-{used}",
        UsageReported(
            partner_id=partner,
            cycle=cycle,
            product_id=product,
            subscription_id=sub,
            provisioned_units=provisioned,
            used_units=used,
            observed_at=observed_at,
        ),
    )


# Actions


def action_data(report_id: str, actor: str = "X", **extra: Any) -> dict[str, Any]:
    return {
        "report_id": report_id,
        "actor": {"account_id": actor, "user_id": f"user-of-{actor}"},
        **extra,
    }


def action(
    type_: str, partner: str, actor: str, *, id_: str | None = None, cycle: str = CYCLE, **data: Any
) -> Record:
    """An action on the partner's report of ``cycle``, keyed by the report's id."""
    report_id = f"{partner}:{cycle}"
    return report_id.encode(), cloud_event(type_, action_data(report_id, actor, **data), id_=id_)


# Reports

GAMMA_NAME = 'Gamma, "Quoted" Ltd'

PARTNERS = {
    "P-ACME": ("Acme Cloud", "D1"),
    "P-BETA": ("Beta Services", "D1"),
    "P-GAMMA": (GAMMA_NAME, "D1"),
    "P-EQ": ("=Formula Inc", "D1"),
    "P-DELTA": ("Delta IT", "D2"),
}
"""The read API's known partners: name and distributor."""


def stored_report(rid: str, version: int = 1, **fields: Any) -> Report:
    """A report document with only what the store needs; ``fields`` set the rest."""
    return Report.model_validate(
        {
            "_id": rid,
            "partner_id": rid.split(":")[0],
            "cycle": rid.split(":")[1] if ":" in rid else CYCLE,
            "version": version,
            "created_at": NOW,
            "updated_at": NOW,
            **fields,
        }
    )


def report(
    partner_id: str,
    cycle: str,
    status: ReportStatus,
    kind: SubmissionKind | None = None,
    po_number: str | None = None,
    comment: str | None = None,
    distributor: str | None = None,
    name: str | None = None,
) -> Report:
    """A report document as the read side shows it, built through the domain's figures.

    Line A: 15 provisioned, 13 used, 8.00 at a 0.05 margin (98.80); line B: 4 units at
    15.00 (60.00); every report totals 158.80.
    """
    known_name, known_distributor = PARTNERS.get(partner_id, (f"Bulk {partner_id}", "D1"))
    name = name or known_name
    distributor = distributor or known_distributor
    lines = [
        ReportLine(
            product_id="PROD-A",
            subscriptions=[
                SubscriptionUsage(subscription_id="S1", provisioned_units=15, used_units=13)
            ],
            partner_comment=comment,
            list_unit_price=Decimal("8.00"),
            unit_price=Decimal("8.00"),
            channel_margin=Decimal("0.05"),
            standard_channel_margin=Decimal("0.05"),
        ),
        ReportLine(
            product_id="PROD-B",
            subscriptions=[SubscriptionUsage(subscription_id="S2", provisioned_units=4)],
            unit_price=Decimal("15.00"),
            channel_margin=Decimal("0"),
        ),
    ]
    created = datetime(int(cycle[:4]), int(cycle[5:]), 2, tzinfo=UTC)
    return recompute_report(
        Report(
            id=f"{partner_id}:{cycle}",
            partner_id=partner_id,
            cycle=cycle,
            partner_name=name,
            distributor_id=distributor,
            region="EU",
            currency="EUR",
            auto_submit_days=5,
            overprovision_threshold_pct=Decimal("0"),
            account_pending=False,
            status=status,
            submission_kind=kind,
            po_number=po_number,
            deadline=automatic_submission_deadline(cycle, 5),
            lines=lines,
            history=[
                HistoryEntry(
                    at=created,
                    actor_kind=ActorKind.UPSTREAM,
                    action="report-opened",
                    message_id="m-1",
                    to_status=ReportStatus.MSP_PREPARING,
                )
            ],
            version=3,
            created_at=created,
            updated_at=created + timedelta(days=1),
        )
    )


# Trace contexts (CloudEvents distributed tracing)

TRACE_A = "0af7651916cd43dd8448eb211c80319c"
TRACE_B = "4bf92f3577b34da6a3ce929d0e0e4736"


def traced(record: Record, trace_id: str, span_id: str = "b7ad6b7169203331") -> Record:
    """``record`` carrying a W3C trace context (CloudEvents distributed tracing)."""
    key, value = record
    assert value is not None
    event = json.loads(value)
    event["traceparent"] = f"00-{trace_id}-{span_id}-01"
    event["tracestate"] = "vendor=x"
    return key, json.dumps(event).encode()
