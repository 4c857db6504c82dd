"""``lmp-billing demo`` against every processor (the timer included) and the read API.

The month is played once per module on a small size; the tests then check, from the
database, the topics and the read API, that it did what the demo says it does.
"""

from __future__ import annotations

import io
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from aiohttp import ClientSession, web
from rich.console import Console

from schemas.api import BillingReportSummary, Page, Role
from services.api.auth import new_key
from services.api.run import api_context
from services.api.server import build_api
from services.processors import registry
from tests.harness import System, whole_history
from tooling.demo import main
from tooling.demo.errors import DemoError
from tooling.demo.run import DemoOptions, play
from tooling.demo.summary import Summary, invoice_totals, money
from tooling.infra.process import free_port

pytestmark = pytest.mark.e2e

PROCESSORS = tuple(registry())  # the demo needs them all, the timer included
PARTNERS = 12


@dataclass
class Played:
    summary: Summary
    printed: str
    seconds: float
    api: str

    @property
    def mark(self) -> str:
        return self.summary.mark


@pytest.fixture(scope="module")
async def read_api(running: System) -> AsyncIterator[str]:
    """The read API in this process, on the test system's database."""
    port = free_port()
    ctx = api_context(running.settings.model_copy(update={"api_port": port}))
    runner = web.AppRunner(build_api(ctx), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()
        await ctx.store.close()


@pytest.fixture(scope="module")
async def played(running: System, read_api: str) -> Played:
    out = io.StringIO()
    started = time.monotonic()
    summary = await play(
        DemoOptions(partners=PARTNERS, distributors=3, api=read_api, timeout=60, seed=7),
        running.settings,
        Console(file=out, width=220),
    )
    return Played(summary, out.getvalue(), time.monotonic() - started, read_api)


async def reports_of(system: System, mark: str) -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = await system.store.reports.find(
        {"partner_id": {"$regex": f"^{mark}-"}}
    ).to_list(None)
    return docs


async def test_every_path_of_the_month_ends_where_it_should(
    running: System, played: Played
) -> None:
    assert played.summary.unexpected == []
    assert played.seconds < 100
    docs = await reports_of(running, played.mark)
    assert len(docs) == PARTNERS
    states = Counter((d["status"], d["submission_kind"]) for d in docs)
    for state in [
        ("completed", "manual"),
        ("completed", "automatic_with_penalties"),
        ("submitted_to_trendmicro", "manual"),
        ("under_review", "manual"),
        ("under_review", "automatic"),
        ("under_review", "automatic_with_penalties"),
        ("rejected", None),
        ("msp_preparing", None),
    ]:
        assert states[state] >= 1, (state, states)

    actions = {d["_id"]: [h["action"] for h in await whole_history(running.store, d)] for d in docs}
    fixed = [
        rid
        for rid, done in actions.items()
        if "lmp.distributor.report-rejected" in done
        and done[done.index("lmp.distributor.report-rejected") + 1 :].count(
            "lmp.partner.report-submitted"
        )
        == 1
        and done[-1] == "lmp.trendmicro.report-completed"
    ]
    assert fixed, actions
    returned = [rid for rid, done in actions.items() if "lmp.trendmicro.report-returned" in done]
    assert returned
    for rid in returned:
        assert actions[rid][-3:] == [
            "lmp.trendmicro.report-returned",
            "lmp.distributor.submitted-to-trendmicro",
            "lmp.trendmicro.report-completed",
        ]

    late = [d for d in docs if any(line["late_usage"] for line in d["lines"])]
    assert len(late) == played.summary.late_usage >= 3
    assert all(d["status"] not in ("msp_preparing", "rejected") for d in late)

    penalised = {d["_id"] for d in docs if d["submission_kind"] == "automatic_with_penalties"}
    penalties = {
        r["value"]["subject"]
        for r in await running.read_all("lmp.penalties.v1")
        if played.mark in r["value"]["subject"]
    }
    assert penalties == penalised
    assert played.summary.penalties == len(penalised)
    billed = [
        r["value"]
        for r in await running.read_all("lmp.trendmicro-submissions.v1")
        if played.mark in r["value"]["subject"]
    ]
    assert len({b["id"] for b in billed}) == played.summary.billing_submissions


async def test_refusals_and_dead_letters_were_published(running: System, played: Played) -> None:
    refused = {
        r["value"]["data"]["action_id"]: r["value"]["data"]["reason"]
        for r in await running.read_all("lmp.report-events.v1")
        if r["value"]["type"] == "lmp.action.rejected" and played.mark in r["value"]["subject"]
    }
    assert len(refused) == len(played.summary.refusals)
    reasons = " | ".join(refused.values())
    for fragment in (
        "every discrepancy needs a comment before submission",
        "a PO number is required to submit to Trend Micro",
        "-OLD' expired on",
        "belongs to region",
        "does not review reports of partner",
        "cannot complete the report: the report is Under review",
    ):
        assert fragment in reasons, fragment

    letters = [
        r["value"]["data"]
        for r in await running.read_all("lmp.dead-letter.v1")
        if played.mark in (r["value"]["data"]["key"] or "")
    ]
    assert sorted(x["error_kind"] for x in letters) == [
        "parse",
        "schema",
        "unknown_type",
        "unknown_type",
    ]
    assert len(played.summary.dead_letters) == len(letters)
    assert {x["processor"] for x in letters} == {"usage", "partner-actions"}


async def test_printed_summary_is_what_the_read_api_lists(running: System, played: Played) -> None:
    plaintext, stored = new_key(Role.OPERATIONS, None, "test", datetime.now(UTC))
    await running.store.save_api_key(stored)
    async with (
        ClientSession() as client,
        client.get(
            f"{played.api}/v1/billing-reports",
            params={"cycle": played.summary.cycle, "partner": played.mark, "page_size": "500"},
            headers={"Authorization": f"Bearer {plaintext}"},
        ) as resp,
    ):
        assert resp.status == 200
        page = Page.model_validate(await resp.json())
    rows: list[BillingReportSummary] = page.items
    assert page.total == len(rows) == PARTNERS
    kinds = Counter(
        (r.status_label, r.submission_kind.value if r.submission_kind else "-") for r in rows
    )
    assert played.summary.by_status() == kinds
    totals = invoice_totals(rows)
    assert played.summary.totals() == totals
    assert set(totals) == {"EUR", "USD", "AUD"}
    assert all(amount > Decimal(0) for amount in totals.values())

    printed = [" ".join(line.replace("│", " ").split()) for line in played.printed.splitlines()]
    for (label, kind), count in kinds.items():
        assert any(line.startswith(f"{label} {kind} {count} ") for line in printed), (label, kind)
    assert any(line.startswith(f"All {PARTNERS} {money(rows)}") for line in printed)
    assert f"lmp.action.rejected {len(played.summary.refusals)}" in printed
    assert f"lmp.dead-letter.v1 {len(played.summary.dead_letters)}" in printed


async def test_the_demo_key_is_revoked_at_the_end(running: System, played: Played) -> None:
    key = await running.store.api_keys.find_one({"name": f"lmp-billing demo {played.summary.tag}"})
    assert key is not None
    assert key["role"] == "operations"
    assert key["revoked_at"] is not None


async def test_a_distributor_key_is_not_enough(running: System, read_api: str) -> None:
    plaintext, stored = new_key(Role.DISTRIBUTOR, "D-ANY", "test", datetime.now(UTC))
    await running.store.save_api_key(stored)
    options = DemoOptions(partners=PARTNERS, api=read_api, api_key=plaintext, timeout=5)
    with pytest.raises(DemoError, match=f"key {stored.key_id} is a distributor key"):
        await play(options, running.settings, Console(file=io.StringIO()))


def test_an_unreachable_read_api_stops_the_demo_with_a_clear_message(
    capsys: pytest.CaptureFixture[str],
) -> None:
    where = f"http://127.0.0.1:{free_port()}"
    assert main(["--partners", "10", "--api", where, "--timeout", "5"]) == 1
    err = capsys.readouterr().err
    assert f"the read API at {where} does not answer" in err
    assert "lmp-billing up" in err
