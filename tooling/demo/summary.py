"""The run's summary, and the tables and lines it is printed as."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from rich.console import Console
from rich.table import Table

from schemas.api import BillingReportSummary, BillingStatus
from tooling.demo.plan import run_mark

STATUS_ORDER = {status: i for i, status in enumerate(BillingStatus)}
ERROR_KINDS = {
    "parse": "not JSON",
    "schema": "JSON, but not a valid message of its type",
    "unknown_type": "a type its topic does not carry",
    "conflict": "a known message id with another payload",
}


@dataclass
class Summary:
    """What the run left behind, as the read API and the outbound topics tell it."""

    tag: str
    cycle: str
    seed: int
    api: str
    kafka: str
    reports: list[BillingReportSummary]
    refusals: list[dict[str, Any]]
    dead_letters: list[dict[str, Any]]
    automatic: int
    penalties: int
    late_usage: int
    billing_submissions: int
    reminders: int
    messages: int
    seconds: float
    unexpected: list[str] = field(default_factory=list)

    @property
    def mark(self) -> str:
        return run_mark(self.tag)

    def by_status(self) -> Counter[tuple[str, str]]:
        return Counter((r.status_label, kind_of(r)) for r in self.reports)

    def totals(self) -> dict[str, Decimal]:
        return invoice_totals(self.reports)


def invoice_totals(reports: Iterable[BillingReportSummary]) -> dict[str, Decimal]:
    """Invoice totals per currency; reports not priced yet have no total and add nothing."""
    out: dict[str, Decimal] = {}
    for r in reports:
        if r.total_amount is not None and r.currency is not None:
            out[r.currency] = out.get(r.currency, Decimal("0.00")) + r.total_amount
    return dict(sorted(out.items()))


def kind_of(row: BillingReportSummary) -> str:
    return row.submission_kind.value if row.submission_kind else "-"


def money(reports: Sequence[BillingReportSummary]) -> str:
    """Invoice totals per currency, and how many reports have no price yet."""
    text = ", ".join(f"{cur} {amount:,.2f}" for cur, amount in invoice_totals(reports).items())
    unpriced = sum(1 for r in reports if r.total_amount is None)
    if unpriced:
        text += f" ({unpriced} not priced yet)" if text else f"{unpriced} not priced yet"
    return text or "-"


def reason_kind(reason: str, mark: str) -> str:
    """A refusal reason without its ids, codes and dates, so alike refusals count together."""
    text = reason.split(";")[0]
    text = re.sub(r"'[^']*'", "…", text)
    text = re.sub(rf"\S*{re.escape(mark)}\S*", "…", text)
    return re.sub(r"\d{4}-\d{2}-\d{2}", "…", text)


def render(summary: Summary, console: Console, revoked_key: str | None = None) -> None:
    console.print(reports_table(summary))
    console.print(refused_table(summary))
    console.print(
        f"{summary.automatic} automatic submissions ({summary.penalties} with penalties), "
        f"{summary.billing_submissions} billing reports sent to Trend Micro, "
        f"{summary.late_usage} late usage messages flagged, "
        f"{summary.reminders} deadline reminders; {summary.messages} messages published "
        f"in {summary.seconds:.1f} s (seed {summary.seed})."
    )
    console.print(
        f"Look closer: KAFKA_BOOTSTRAP_SERVERS={summary.kafka} lmp-billing tail "
        f"--partner {summary.mark}-P001 · "
        f"GET /v1/billing-reports?cycle={summary.cycle}&partner={summary.mark}"
        + (f" · demo key {revoked_key} revoked" if revoked_key else "")
    )
    if summary.unexpected:
        console.print(f"[red]{len(summary.unexpected)} outcomes differ from the demo's plan:")
        for line in summary.unexpected:
            console.print(f"[red]  {line}")


def reports_table(summary: Summary) -> Table:
    """The run's reports by status and submission kind, with their invoice totals."""
    reports = Table(
        title=(
            f"Billing reports of cycle {summary.cycle}, partners {summary.mark}-* "
            f"(GET {summary.api}/v1/billing-reports)"
        ),
        title_justify="left",
    )
    reports.add_column("Status")
    reports.add_column("Submission kind", no_wrap=True)
    reports.add_column("Reports", justify="right")
    reports.add_column("Invoice totals", justify="right")
    order = {r.status_label: STATUS_ORDER[r.status] for r in summary.reports}
    for (label, kind), count in sorted(
        summary.by_status().items(), key=lambda item: (order[item[0][0]], item[0][1])
    ):
        rows = [r for r in summary.reports if (r.status_label, kind_of(r)) == (label, kind)]
        reports.add_row(label, kind, str(count), money(rows))
    reports.add_section()
    reports.add_row("[bold]All", "", f"[bold]{len(summary.reports)}", money(summary.reports))
    return reports


def refused_table(summary: Summary) -> Table:
    """Refusals by action and kind of reason, dead letters by error kind and processor."""
    aside = Table(title="Refused and dead-lettered", title_justify="left")
    aside.add_column("Message")
    aside.add_column("Count", justify="right")
    aside.add_column("Reason")
    refusals = Counter(
        (r["action_type"].removeprefix("lmp."), reason_kind(r["reason"], summary.mark))
        for r in summary.refusals
    )
    for (action_type, reason), count in sorted(refusals.items()):
        aside.add_row(action_type, str(count), reason)
    aside.add_row("[bold]lmp.action.rejected", f"[bold]{len(summary.refusals)}", "")
    aside.add_section()
    letters = Counter(
        (d.get("error_kind", "?"), d.get("processor", "?")) for d in summary.dead_letters
    )
    for (error_kind, processor), count in sorted(letters.items()):
        aside.add_row(f"{error_kind} ({processor})", str(count), ERROR_KINDS.get(error_kind, ""))
    aside.add_row("[bold]lmp.dead-letter.v1", f"[bold]{len(summary.dead_letters)}", "")
    return aside
