"""A decoded message as one line for a person or one JSON object for a program."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from schemas.accounts import DistributorAccount, PartnerAccount
from schemas.actions import Actor
from schemas.events import (
    ActionRejected,
    BillingSubmitted,
    DeadLetter,
    DeadlineReminder,
    LateUsage,
    PenaltyAssessed,
    ReportEvent,
)
from schemas.pricing import PriceListed, PromotionPublished
from schemas.usage import UsageReported
from services.ops.messages import REPLAYED_FROM, TailedMessage


def iso_time(value: datetime) -> str:
    """Every time a command prints: ISO 8601 in UTC, to the millisecond."""
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def json_line(row: dict[str, Any]) -> str:
    """One object of a ``--json`` listing: a line of JSON Lines (never an array)."""
    return json.dumps(row)


def _actor(actor: Actor) -> str:
    return f"by {actor.account_id}/{actor.user_id}"


def summary(message: TailedMessage) -> str:  # noqa: C901 - one branch per event type's one-line summary
    """One short phrase of what the message says."""
    data = message.data
    if message.tombstone:
        return f"tombstone: withdraws {message.key_text}"
    if data is None:
        return message.error or "-"
    if isinstance(data, DeadLetter):
        text = f"{data.error_kind} in {data.processor}: {data.error}"
        origin = f"{data.topic} {data.partition}:{data.offset}"
        original = message.original
        if original is not None and original.event is not None:
            origin += f" {original.event.type} {original.event.id}"
        if data.value_omitted:
            origin += f" (value omitted, {data.value_size} bytes: read at the origin)"
        return f"{text} <- {origin}"
    if isinstance(data, UsageReported):
        used = "-" if data.used_units is None else data.used_units
        return (
            f"{data.product_id} {data.subscription_id} "
            f"provisioned {data.provisioned_units} used {used}"
        )
    if isinstance(data, ReportEvent):
        text = f"{data.status.value} v{data.version}"
        if isinstance(data, LateUsage):
            text += f" late {data.product_id} {data.subscription_id} {data.provisioned_units}"
        if isinstance(data, DeadlineReminder):
            text += f" {data.days_before} days before the deadline"
        if data.caused_by:
            text += f" caused by {data.caused_by}"
        return text
    if isinstance(data, ActionRejected):
        return f"{data.action_type} {data.action_id} refused: {data.reason}"
    if isinstance(data, PenaltyAssessed):
        return f"penalty {data.amount_added} {data.currency or ''} on {len(data.lines)} lines"
    if isinstance(data, BillingSubmitted):
        return f"PO {data.po_number} total {data.total_amount} {data.currency or ''}"
    if isinstance(data, PartnerAccount):
        return f"{data.name} -> distributor {data.distributor_id} {data.region} {data.currency}"
    if isinstance(data, DistributorAccount):
        return f"distributor {data.name} {data.region}"
    if isinstance(data, PriceListed):
        return f"{data.product_id} {data.region} {data.unit_price} {data.currency}"
    if isinstance(data, PromotionPublished):
        return f"{data.kind.value} {data.code} {data.region} until {iso_time(data.valid_until)}"
    actor = getattr(data, "actor", None)
    if isinstance(actor, Actor):
        rest = data.model_dump(mode="json", exclude={"actor", "report_id"}, exclude_defaults=True)
        return f"{_actor(actor)} {json.dumps(rest, separators=(',', ':'))}"[:200]
    return json.dumps(data.model_dump(mode="json"), separators=(",", ":"))[:200]


def text_line(message: TailedMessage) -> str:
    rec = message.record
    kind = message.type if message.data is not None else "UNDECODABLE"
    if message.tombstone:
        kind = "TOMBSTONE"
    ident = message.event.id if message.event else "-"
    replayed = rec.header(REPLAYED_FROM)
    tail = f"  (replayed from {replayed})" if replayed else ""
    return (
        f"{iso_time(rec.time)}  {rec.topic}  {rec.partition}:{rec.offset}  {kind}  {ident}  "
        f"{message.about}  {summary(message)}{tail}"
    )


def json_object(message: TailedMessage) -> dict[str, Any]:
    rec = message.record
    return {
        "time": iso_time(rec.time),
        "topic": rec.topic,
        "partition": rec.partition,
        "offset": rec.offset,
        "key": message.key_text,
        "headers": {k: v.decode(errors="replace") for k, v in rec.headers},
        "report_id": message.report_id,
        "event": message.event.model_dump(mode="json") if message.event else None,
        "error": message.error,
        "tombstone": message.tombstone,
        "value": (
            rec.value.decode(errors="replace")
            if message.event is None and rec.value is not None
            else None
        ),
        "original": json_object(message.original) if message.original else None,
    }
