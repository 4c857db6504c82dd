"""Steps every processor shares: decode a batch, screen out conflicting duplicates."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from schemas.report import Report
from services.adapters.catalogue import Catalogue
from services.adapters.codec import Decoded, InboundMessage, Poison, Tombstone, decode_on
from services.adapters.store import StoreProtocol


@dataclass
class DecodedBatch:
    """A batch read as the processors read it, in offset order."""

    items: list[Decoded | Tombstone]
    poisons: list[Poison]

    @property
    def decoded(self) -> list[Decoded]:
        return [item for item in self.items if isinstance(item, Decoded)]


def decode_batch(batch: Sequence[InboundMessage], catalogue: Catalogue) -> DecodedBatch:
    """Every message validated on its own, before anything touches the database."""
    items: list[Decoded | Tombstone] = []
    poisons: list[Poison] = []
    for message in batch:
        result = decode_on(message, catalogue)
        if isinstance(result, Poison):
            poisons.append(result)
        else:
            items.append(result)
    return DecodedBatch(items, poisons)


def receipt_key(item: Decoded) -> str:
    return f"{item.message.topic}|{item.envelope.id}"


async def screen_conflicts(
    store: StoreProtocol, decoded: Sequence[Decoded], now: datetime
) -> tuple[list[Decoded], list[Poison]]:
    """Keep messages whose id is new or was seen with the same payload.

    A same-payload duplicate is kept because applying it again is harmless (every
    effect is idempotent, and a decided action answers what it answered before) and it
    may be the redelivery of a message whose effect a crash interrupted. A different
    payload under a known id is a conflict.
    """
    first_hash: dict[str, str] = {}
    accepted: list[tuple[str, Decoded]] = []
    poisons: list[Poison] = []
    for item in decoded:
        key = receipt_key(item)
        known = first_hash.setdefault(key, item.payload_hash)
        if known != item.payload_hash:
            poisons.append(conflict(item, "seen"))
        else:
            accepted.append((key, item))
    seen = await store.record_receipts(list(first_hash.items()), now)
    if not seen:
        return [item for _key, item in accepted], poisons
    kept = []
    for key, item in accepted:
        previous = seen.get(key)
        if previous is not None and previous != item.payload_hash:
            poisons.append(conflict(item, "seen"))
        else:
            kept.append(item)
    return kept, poisons


def conflict(item: Decoded, how: str) -> Poison:
    return Poison(
        item.message,
        "conflict",
        f"message id {item.envelope.id!r} was {how} before with a different payload",
        item.envelope.id,
    )


@dataclass
class Intake:
    """A decoded batch, grouped by report, with the stored reports it touches."""

    by_report: dict[str, list[Decoded]]
    stored: dict[str, Report]
    poisons: list[Poison]


async def intake(
    store: StoreProtocol,
    catalogue: Catalogue,
    batch: Sequence[InboundMessage],
    now: datetime,
    report_of: Callable[[Decoded], str],
) -> Intake:
    """Decode, then record receipts and load the reports together (independent round trips)."""
    decoded = decode_batch(batch, catalogue)
    (accepted, conflicts), stored = await asyncio.gather(
        screen_conflicts(store, decoded.decoded, now),
        store.load_reports(report_of(item) for item in decoded.decoded),
    )
    by_report: dict[str, list[Decoded]] = defaultdict(list)
    for item in accepted:
        by_report[report_of(item)].append(item)
    return Intake(dict(by_report), stored, decoded.poisons + conflicts)


def set_aside(
    failed: Mapping[str, str], by_report: Mapping[str, Sequence[Decoded]]
) -> list[Poison]:
    """The messages of reports the rules could not handle, dead-lettered with the reason."""
    return [
        Poison(item.message, "processing_error", f"report {rid}: {reason}", item.envelope.id)
        for rid, reason in failed.items()
        for item in by_report.get(rid, ())
    ]
