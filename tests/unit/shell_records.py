"""Inbound records for the shell's unit tests: accounts, prices, usage and actions as
the upstream systems publish them (key, CloudEvent bytes)."""

from __future__ import annotations

from typing import Any

from tests.harness import cloud_event

CYCLE = "2026-10"
Record = tuple[bytes | None, bytes | None]


def partner_account(partner: str, days: int = 3, distributor: str = "D1") -> Record:
    data = {
        "partner_id": partner,
        "name": f"MSP {partner}",
        "distributor_id": distributor,
        "region": "EMEA",
        "currency": "EUR",
        "auto_submit_days": days,
    }
    return partner.encode(), cloud_event("lmp.account.partner", data, id_=f"acct-{partner}")


def region(code: str, usage_reports: bool) -> Record:
    data = {"region": code, "usage_reports": usage_reports}
    return f"region/{code}".encode(), cloud_event("lmp.account.region", data)


def price(product: str, unit_price: str = "10.00") -> Record:
    data = {
        "region": "EMEA",
        "product_id": product,
        "currency": "EUR",
        "unit_price": unit_price,
        "channel_margin": "0.20",
    }
    return f"EMEA/{product}".encode(), cloud_event("lmp.pricing.price", data)


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


def usage(
    partner: str, sub: str, provisioned: int, used: int | None, id_: str, product: str = "AV"
) -> Record:
    data = {
        "partner_id": partner,
        "cycle": CYCLE,
        "product_id": product,
        "subscription_id": sub,
        "provisioned_units": provisioned,
        "used_units": used,
        "observed_at": "2026-10-15T08:00:00Z",
    }
    return partner.encode(), cloud_event("lmp.usage.reported", data, id_=id_)


def action(type_: str, partner: str, actor: str, id_: str, **data: Any) -> Record:
    body = {
        "report_id": f"{partner}:{CYCLE}",
        "actor": {"account_id": actor, "user_id": f"user-of-{actor}"},
        **data,
    }
    return f"{partner}:{CYCLE}".encode(), cloud_event(type_, body, id_=id_)


def tombstone(key: str) -> Record:
    return key.encode(), None
