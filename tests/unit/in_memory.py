"""The processors' unit tests on the in-memory shell: a record handled by its processor
through the unit of work, the report that results, the events it caused."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from schemas.report import Report
from services.adapters.codec import Poison
from services.processors import accounts, actions, pricing, usage
from tests.builders import CYCLE, partner_account, price
from tests.builders import usage as usage_record
from tests.fakes import Shell

EVENTS = "lmp.report-events.v1"
PARTNER_ACTIONS = "lmp.partner-actions.v1"
REPORT = f"P:{CYCLE}"
DEADLINE = datetime(2026, 11, 4, tzinfo=UTC)
EXPLAINED = [{"product_id": "AV", "comment": "explained"}]

SPECS = {
    "usage": usage.PROCESSOR,
    "accounts": accounts.PROCESSOR,
    "pricing": pricing.PROCESSOR,
    "partner-actions": actions.PARTNER_ACTIONS,
    "distributor-actions": actions.DISTRIBUTOR_ACTIONS,
    "trendmicro-responses": actions.TRENDMICRO_RESPONSES,
}


async def handle(
    shell: Shell, name: str, *records: tuple[bytes | None, bytes | None]
) -> list[Poison]:
    spec = SPECS[name]
    batch = [shell.message(spec.topics[0], record) for record in records]
    return await spec.handler(shell.runtime(name)).handle(batch)


async def open_report(shell: Shell) -> None:
    """P's account (3 days to review), a price for AV, and usage: 10 provisioned, 4 used."""
    await handle(shell, "accounts", partner_account("P", days=3))
    await handle(shell, "pricing", price("AV"))
    await handle(shell, "usage", usage_record("P", sub="s1", provisioned=10, used=4, id_="u1"))


async def report(shell: Shell) -> Report:
    found = await shell.store.load_report(REPORT)
    assert found is not None
    return found


def caused_by(shell: Shell, action_id: str) -> list[dict[str, Any]]:
    return [
        e
        for e in shell.events(EVENTS)
        if action_id in (e["data"].get("caused_by"), e["data"].get("action_id"))
    ]


def raw_values(shell: Shell, event_id: str) -> list[bytes]:
    return [v for _, _, v in shell.producer.sent if v and f'"id":"{event_id}"'.encode() in v]
