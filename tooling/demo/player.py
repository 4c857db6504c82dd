# Over 300 lines: the month's phases in order, each short, read as one script.
"""The month played phase by phase; each phase waits on what the system did with it."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import astuple

from aiokafka.errors import KafkaError
from rich.progress import Progress

from schemas.api import BillingReportSummary, BillingStatus
from services.adapters.catalogue import Catalogue
from services.adapters.publisher import Publisher
from services.adapters.store import Store
from services.bootstrap import clock
from tooling.demo.actions import Action, Actions
from tooling.demo.errors import DemoError
from tooling.demo.messages import (
    Message,
    late_usage,
    malformed,
    partner_account,
    reference_data,
    usage_records,
)
from tooling.demo.observer import Observer
from tooling.demo.plan import (
    COMPLETED_BY_TRENDMICRO,
    FINAL_STATE,
    LEFT_TO_TIMER,
    PRICED_AT_FIRST_REVIEW,
    PRODUCTS,
    REJECTED_AT_FIRST_REVIEW,
    SUBMITTED_BY_PARTNER,
    Month,
    Partner,
    Plan,
    list_price,
)
from tooling.demo.read_api import ReadApi

POLL_SECONDS = 0.25
PARTNER_HINT = "is the partner-actions processor running?"
DISTRIBUTOR_HINT = "is the distributor-actions processor running?"
TRENDMICRO_HINT = "is the trendmicro-responses processor running?"


class MonthPlayer:
    """Publishes each phase, then waits until the processors, the database or the read API
    show it was taken; an outcome other than the plan's is noted in ``unexpected``."""

    PHASES = 7

    def __init__(
        self,
        month: Month,
        timeout: float,
        catalogue: Catalogue,
        publisher: Publisher,
        observer: Observer,
        store: Store,
        api: ReadApi,
        progress: Progress,
    ) -> None:
        self.month = month
        self.timeout = timeout
        self.catalogue = catalogue
        self.publisher = publisher
        self.observer = observer
        self.store = store
        self.api = api
        self.progress = progress
        self.rng = random.Random(month.seed + 1)
        self.actions = Actions(month, self.rng)
        self.messages = 0
        self.late_usage = 0
        self.unexpected: list[str] = []
        self._overall = progress.add_task(
            f"[bold]month {month.cycle} of {month.mark}", total=self.PHASES
        )

    async def play(self) -> list[BillingReportSummary]:
        """Every phase in turn; the run's reports as the read API lists them at the end."""
        await self.reference_data()
        await self.usage()
        await self.partners_and_timer()
        await self.distributor_review()
        await self.trendmicro()
        await self.late_and_malformed()
        return await self.read_back()

    # plumbing ---------------------------------------------------------------------------

    async def publish(self, contract_topic: str, messages: Sequence[Message]) -> None:
        topic = self.catalogue.physical(contract_topic)
        try:
            await self.publisher.publish([(topic, key, value) for key, value in messages])
        except KafkaError as exc:
            raise DemoError(f"publishing to {topic} failed: {exc!r}") from exc
        self.messages += len(messages)

    async def until(
        self, what: str, total: int, count: Callable[[], Awaitable[int]], hint: str
    ) -> None:
        """Wait until ``count()`` reaches ``total``, or fail saying what did not happen."""
        if total == 0:
            return
        task = self.progress.add_task(f"  {what}", total=total)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        while True:
            self.observer.check()
            done = await count()
            self.progress.update(task, completed=min(done, total))
            if done >= total:
                return
            if loop.time() >= deadline:
                raise DemoError(
                    f"timed out after {self.timeout:g}s waiting for {what}: "
                    f"{done} of {total}; {hint}"
                )
            await asyncio.sleep(POLL_SECONDS)

    async def act(self, what: str, contract_topic: str, sent: list[Action], hint: str) -> None:
        """Publish actions and wait until each is applied or refused, then check which."""
        if not sent:
            return
        await self.publish(contract_topic, [a.message for a in sent])
        obs = self.observer

        async def answered() -> int:
            return sum(1 for a in sent if a.action_id in obs.caused or a.action_id in obs.refusals)

        await self.until(what, len(sent), answered, hint)
        for a in sent:
            differs = a.differs(obs.caused.get(a.action_id, set()), obs.refusals.get(a.action_id))
            if differs:
                self.unexpected.append(f"{a.action_type} {a.action_id} {differs}")

    def phase_done(self) -> None:
        self.progress.advance(self._overall)

    # 1. accounts, prices, promotional codes ---------------------------------------------

    async def reference_data(self) -> None:
        """Distributors, the partners that will act this month, prices and codes."""
        accounts, pricing = reference_data(self.month, clock())
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
        sent: list[Action] = []
        for partner in self.month.partners:
            if partner.plan in LEFT_TO_TIMER:
                continue
            if partner.hasty:
                refusal = "every discrepancy needs a comment before submission"
                sent.append(self.actions.submit(partner, refusal))
            sent.append(self.actions.explain(partner))
            if partner.plan in SUBMITTED_BY_PARTNER:
                sent.append(self.actions.submit(partner))
        await self.act(
            "partners: drafts with explanations, submissions",
            "lmp.partner-actions.v1",
            sent,
            PARTNER_HINT,
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

    # 4. distributors ---------------------------------------------------------------------

    async def distributor_review(self) -> None:
        under_review = self.month.with_plan(*SUBMITTED_BY_PARTNER, *LEFT_TO_TIMER)
        await self.queue_shows(under_review)
        first = [p for p in under_review if p.plan in PRICED_AT_FIRST_REVIEW]
        sent = self.actions.refused_reviews(first)
        for partner in first:
            sent += self.actions.review(partner)
        sent += [self.actions.reject(p) for p in self.month.with_plan(*REJECTED_AT_FIRST_REVIEW)]
        await self.act(
            "distributors: PO numbers, promotional codes, rejections",
            "lmp.distributor-actions.v1",
            sent,
            DISTRIBUTOR_HINT,
        )
        fixing = self.month.with_plan(Plan.REJECTED_THEN_FIXED)
        fixes = [a for p in fixing for a in self.actions.fix(p)]
        await self.act(
            "rejected partners fix and resubmit", "lmp.partner-actions.v1", fixes, PARTNER_HINT
        )
        second = [a for p in fixing for a in self.actions.review(p)]
        await self.act(
            "distributors submit the fixed reports",
            "lmp.distributor-actions.v1",
            second,
            DISTRIBUTOR_HINT,
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

    # 5. Trend Micro ------------------------------------------------------------------------

    async def trendmicro(self) -> None:
        returned = self.month.with_plan(Plan.RETURNED)
        answers = [self.actions.give_back(p) for p in returned]
        answers += [
            self.actions.complete(p) for p in self.month.with_plan(*COMPLETED_BY_TRENDMICRO)
        ]
        answers += [
            self.actions.complete_too_early(p) for p in self.month.with_plan(Plan.UNDER_REVIEW)[:1]
        ]
        tm_topic = "lmp.trendmicro-responses.v1"
        await self.act(
            "Trend Micro returns a few, completes most", tm_topic, answers, TRENDMICRO_HINT
        )
        await self.act(
            "distributors resubmit the returned reports",
            "lmp.distributor-actions.v1",
            [self.actions.resubmit(p) for p in returned],
            DISTRIBUTOR_HINT,
        )
        await self.act(
            "Trend Micro completes the resubmitted reports",
            tm_topic,
            [self.actions.complete(p) for p in returned],
            TRENDMICRO_HINT,
        )
        self.phase_done()

    # 6. late usage, malformed messages ------------------------------------------------------

    async def late_and_malformed(self) -> None:
        """Usage that arrives after submission, and messages no processor can apply."""
        late = late_usage(self.month)
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
        every 30 s), so this waits until every report of the run is listed; then each
        report's state is checked against its plan.
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
        self.unexpected += final_states(self.month, rows)
        return rows


def final_states(month: Month, reports: list[BillingReportSummary]) -> list[str]:
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
