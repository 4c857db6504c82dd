"""The read API's pure parts: language, rendering, CSV cells, keys, the partner directory."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from schemas.api import BillingStatus, ReportQuery, Role
from schemas.report import ReportStatus, SubmissionKind
from services.adapters.store import ReportScope, report_filter
from services.api import csv_rows, views
from services.api.auth import Caller, new_key
from services.api.directory import PartnerDirectory
from services.api.views import HIDDEN_FROM_READERS
from services.domain import labels
from services.domain.calendar import months_back
from services.domain.status import billing_status

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, "en"),
        ("", "en"),
        ("fr", "fr"),
        ("fr-CA,fr;q=0.9", "fr"),
        ("en-GB,fr;q=0.8", "en"),
        ("de-DE, fr;q=0.4, en;q=0.3", "fr"),
        ("fr;q=0.2, en;q=0.9", "en"),
        ("fr;q=bogus, en", "en"),
        ("ja", "en"),
        ("fr;Q=0.1, en;q=0.5", "en"),
        ("fr;q=0.2, *;q=0.9", "en"),
    ],
)
def test_language_negotiation(header: str | None, expected: str) -> None:
    assert labels.negotiate_language(header) == expected


def test_under_review_is_named_by_how_it_arrived() -> None:
    assert (
        billing_status(ReportStatus.UNDER_REVIEW, SubmissionKind.AUTOMATIC_WITH_PENALTIES)
        is BillingStatus.AUTOMATIC_SUBMISSION_PENALTIES
    )
    assert billing_status(ReportStatus.COMPLETED, SubmissionKind.MANUAL) is BillingStatus.COMPLETED
    for lang in labels.LANGUAGES:
        assert set(labels.BILLING_STATUS_LABELS[lang]) == set(BillingStatus)


def test_times_render_in_the_callers_zone_and_money_stays_exact() -> None:
    rendered = views.jsonable(
        {"at": datetime(2026, 7, 1, 22, 30, tzinfo=UTC), "amount": Decimal("0.10")},
        ZoneInfo("Asia/Tokyo"),
    )
    assert rendered == {"at": "2026-07-02T07:30:00+09:00", "amount": "0.10"}


def test_csv_cells_quote_and_neutralise_formulas() -> None:
    text = csv_rows.csv_text([["a,b", 'say "hi"', "line\nbreak", csv_rows._text("=1+1")]])
    assert list(csv.reader(io.StringIO(text))) == [["a,b", 'say "hi"', "line\nbreak", "'=1+1"]]
    assert csv_rows._text("-5 units") == "'-5 units"
    assert csv_rows._text("Acme") == "Acme"


def test_filters_for_every_scope_and_status_mix() -> None:
    query = ReportQuery(cycle="2026-10", status=[BillingStatus.AUTOMATIC_SUBMISSION_PENALTIES])
    assert report_filter(query, ReportScope(distributor_id="D1"), None) == {
        "distributor_id": "D1",
        "cycle": "2026-10",
        "status": "under_review",
        "submission_kind": "automatic_with_penalties",
    }
    mixed = ReportQuery(
        cycle_from="2026-01",
        status=[
            BillingStatus.UNDER_REVIEW,
            BillingStatus.MANUAL_SUBMISSION,
            BillingStatus.REJECTED,
        ],
    )
    assert report_filter(mixed, ReportScope(), ["P1", "P2"]) == {
        "partner_id": {"$in": ["P1", "P2"]},
        "cycle": {"$gte": "2026-01"},
        "status": {"$in": ["rejected", "under_review"]},
    }
    kinds = ReportQuery(status=[BillingStatus.COMPLETED, BillingStatus.AUTOMATIC_SUBMISSION])
    assert report_filter(kinds, ReportScope(), None) == {
        "$or": [
            {"status": "completed"},
            {"status": "under_review", "submission_kind": "automatic"},
        ],
    }


def test_cycle_filters_combine_and_an_empty_range_matches_nothing() -> None:
    def cycles(**given: str) -> object:
        return report_filter(ReportQuery.model_validate(given), ReportScope(), None).get("cycle")

    assert cycles(cycle="2026-10", cycle_to="2026-11") == "2026-10"
    assert cycles(cycle="2026-10", cycle_from="2026-09", cycle_to="2026-12") == "2026-10"
    assert cycles(cycle="2026-10", cycle_from="2026-11") == {"$in": []}
    assert cycles(cycle_from="2026-11", cycle_to="2026-10") == {"$in": []}
    listed = {"$in": ["2026-10", "2026-09"]}
    assert cycles(cycle_from="2026-09", cycle_to="2026-10") == listed
    assert cycles(cycle_from="2025-12", cycle_to="2026-01") == {"$in": ["2026-01", "2025-12"]}
    assert cycles(cycle_from="2020-01", cycle_to="2026-10") == {
        "$gte": "2020-01",
        "$lte": "2026-10",
    }
    assert cycles(cycle_to="2026-10") == {"$lte": "2026-10"}
    assert cycles() is None
    with pytest.raises(ValueError, match="cycle"):
        ReportQuery(cycle="٢٠٢٦-10")  # digits, but not the ASCII ones
    assert ReportQuery(partner=" ALL ").partner_search is None


def test_keys_are_shown_once_and_stored_as_a_hash() -> None:
    plaintext, stored = new_key(Role.DISTRIBUTOR, "D1", "tests", datetime.now(UTC))
    prefix, key_id, secret = plaintext.split("_", 2)
    assert (prefix, key_id) == ("lmp", stored.key_id)
    assert secret not in stored.model_dump_json()
    assert len(stored.secret_sha256) == 64
    with pytest.raises(ValueError, match="needs the partner's account"):
        new_key(Role.PARTNER, None, "", datetime.now(UTC))
    with pytest.raises(ValueError, match="takes no account"):
        new_key(Role.OPERATIONS, "D1", "", datetime.now(UTC))
    assert Caller("k", Role.PARTNER, "P1").scope == ReportScope(partner_id="P1")


def test_the_last_twelve_months_end_with_the_current_cycle() -> None:
    assert months_back(datetime(2026, 11, 23, tzinfo=UTC), 12) == ("2025-12", "2026-11")
    assert months_back(datetime(2026, 1, 1, tzinfo=UTC), 12) == ("2025-02", "2026-01")


async def test_partner_directory_finds_any_part_of_id_or_name_and_new_partners() -> None:
    t0 = datetime(2026, 11, 1, tzinfo=UTC)
    partners = [("P-ACME", "Acme Cloud", "D1", t0), ("P-ZED", "Zed Ltd", "D2", t0)]
    asked: list[datetime | None] = []

    async def load(since: datetime | None) -> list[tuple[str, str, str, datetime]]:
        asked.append(since)
        return [p for p in partners if since is None or p[3] >= since]

    now = [0.0]
    directory = PartnerDirectory(load, min_interval=1.0, clock=lambda: now[0])
    assert await directory.matching("cloud", None) == ["P-ACME", "cloud"]
    assert await directory.matching("p-", "D2") == ["P-ZED", "p-"]
    assert asked == [None]
    partners.append(("P-NEW", "New Cloud", "D1", t0 + timedelta(hours=1)))
    now[0] = 1.5
    assert await directory.matching("CLOUD", "D1") == ["CLOUD", "P-ACME", "P-NEW"]
    assert asked == [None, t0 - timedelta(seconds=30)]
    now[0] = 3.0
    await directory.matching("x", None)
    assert asked[-1] == t0 + timedelta(hours=1) - timedelta(seconds=30)


def test_the_partner_sees_its_actions_and_its_status_names_not_the_review() -> None:
    from schemas.report import ActorKind, HistoryEntry
    from tests.builders import report

    def entry(actor: ActorKind, action: str, to: ReportStatus | None) -> HistoryEntry:
        return HistoryEntry(
            at=datetime(2026, 11, 2, tzinfo=UTC), actor_kind=actor, action=action, to_status=to
        )

    usage = report("P-ACME", "2026-10", ReportStatus.COMPLETED, SubmissionKind.MANUAL)
    usage.history = [
        entry(ActorKind.UPSTREAM, "report-opened", ReportStatus.MSP_PREPARING),
        entry(ActorKind.PARTNER, "draft-saved", None),
        entry(ActorKind.PARTNER, "report-submitted", ReportStatus.UNDER_REVIEW),
        entry(ActorKind.DISTRIBUTOR, "draft-saved", None),
        entry(
            ActorKind.DISTRIBUTOR, "submitted-to-trendmicro", ReportStatus.SUBMITTED_TO_TRENDMICRO
        ),
        entry(ActorKind.TRENDMICRO, "report-returned", ReportStatus.RETURNED_BY_TRENDMICRO),
        entry(
            ActorKind.DISTRIBUTOR, "submitted-to-trendmicro", ReportStatus.SUBMITTED_TO_TRENDMICRO
        ),
        entry(ActorKind.TRENDMICRO, "report-completed", ReportStatus.COMPLETED),
    ]
    view = views.usage_report(usage, "en", ZoneInfo("UTC"))
    assert [(h.actor_kind.value, h.action, h.status) for h in view.history] == [
        ("upstream", None, "msp_preparing"),
        ("partner", "draft-saved", None),
        ("partner", "report-submitted", "under_review"),
        ("distributor", None, "approved"),
    ]
    assert view.status == "approved"
    assert view.status_code == 2
    assert "unit_price" not in view.lines[0].model_dump()


def test_the_domain_depends_on_no_part_of_the_read_api() -> None:
    import ast
    from pathlib import Path

    import services.domain

    imported = set()
    for module in Path(services.domain.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(module.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                imported.add((module.name, node.module))
            elif isinstance(node, ast.Import):
                imported |= {(module.name, alias.name) for alias in node.names}
    assert imported, "no imports found: the scan is broken"
    wrong = {(m, name) for m, name in imported if name.startswith(("schemas.api", "services.api"))}
    assert wrong == set()


def test_one_billing_report_shows_every_stored_field_but_the_outbox_and_decisions() -> None:
    """The answer is its model: a field added to the report must be added here on purpose."""
    from schemas.api import BillingLine, BillingReportDetail, ReportHistoryEntry, SubscriptionPeaks
    from schemas.report import HistoryEntry, Report, ReportLine, SubscriptionUsage

    stored = set(Report.model_fields) - {"id"} - HIDDEN_FROM_READERS
    added = {"report_id", "report_status", "status_label", "status_code", "history_total"}
    assert set(BillingReportDetail.model_fields) == stored | added
    assert set(BillingLine.model_fields) == set(ReportLine.model_fields) | {"discrepancy_state"}
    assert set(ReportHistoryEntry.model_fields) == set(HistoryEntry.model_fields)
    assert set(SubscriptionPeaks.model_fields) == set(SubscriptionUsage.model_fields)
