"""The usage rules of the pure core: peaks, totals, opening, late usage."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from schemas.accounts import PartnerAccount
from schemas.report import ReportStatus
from services.domain.calendar import automatic_submission_deadline, retention_expiry
from services.domain.figures import overprovisioned_pct, subtotal
from services.domain.usage import UsageRecord, apply_usage, attach_account, new_report
from tests.builders import account_model, usage_record

pytestmark = pytest.mark.unit

NOW = datetime(2026, 10, 20, 12, 0, tzinfo=UTC)


def usage(
    sub: str, prov: int, used: int | None, product: str = "P-1", msg: str | None = None
) -> UsageRecord:
    return usage_record(sub, prov, used, product=product, observed_at=NOW, id_=msg)


def account(days: int = 5, threshold: str = "0") -> PartnerAccount:
    return account_model(days=days, threshold=threshold, name="Acme MSP")


def test_line_totals_are_the_sum_of_each_subscriptions_peak() -> None:
    report = new_report("PA", "2026-10", NOW, "m0")
    records = [usage("s1", 10, 4), usage("s1", 12, 3), usage("s2", 5, 5), usage("s1", 8, 6)]
    line = apply_usage(report, records, NOW).report.lines[0]
    assert (line.provisioned_units, line.used_units) == (12 + 5, 6 + 5)
    assert line.chargeable_units == 11
    assert line.overprovisioned_pct == Decimal("35.29")
    assert line.discrepancy is True


def test_any_order_and_any_duplication_gives_the_same_figures() -> None:
    records = [usage(f"s{i % 3}", 10 + i, i, product=f"P-{i % 2}") for i in range(9)]
    expected = apply_usage(new_report("PA", "2026-10", NOW, "m"), records, NOW).report.lines
    rng = random.Random(7)
    for _ in range(20):
        shuffled = records + rng.sample(records, 4)
        rng.shuffle(shuffled)
        report = new_report("PA", "2026-10", NOW, "m")
        for start in range(0, len(shuffled), 3):
            chunk = shuffled[start : start + 3]
            report = apply_usage(report, chunk, NOW).report
        assert report.lines == expected


def test_redelivered_usage_changes_nothing() -> None:
    first = apply_usage(new_report("PA", "2026-10", NOW, "m"), [usage("s1", 10, 2)], NOW)
    again = apply_usage(first.report, [usage("s1", 10, 2)], NOW)
    assert again.changed is False
    assert again.report.version == first.report.version


def test_products_without_used_units_charge_provisioned_and_have_no_percentage() -> None:
    line = apply_usage(
        new_report("PA", "2026-10", NOW, "m"), [usage("s1", 7, None)], NOW
    ).report.lines[0]
    assert line.used_units is None
    assert line.overprovisioned_pct is None
    assert line.chargeable_units == 7
    assert line.discrepancy is False


def test_zero_units_on_a_new_subscription_still_opens_the_report() -> None:
    outcome = apply_usage(new_report("PA", "2026-10", NOW, "m"), [usage("s1", 0, None)], NOW)
    assert outcome.changed is True
    assert outcome.report.lines[0].subscriptions[0].subscription_id == "s1"


def test_attaching_the_account_sets_deadline_and_announces_the_report_once() -> None:
    report = apply_usage(new_report("PA", "2026-10", NOW, "m"), [usage("s1", 10, 10)], NOW).report
    attached = attach_account(report, account(days=7), NOW)
    assert attached.report.deadline == datetime(2026, 11, 8, tzinfo=UTC)
    assert attached.report.distributor_id == "D1"
    assert [e.type for e in attached.events] == ["lmp.report.opened"]
    assert attached.events[0].id == "PA:2026-10/opened"
    assert attach_account(attached.report, account(days=1), NOW).events == []


def test_threshold_decides_whether_overprovisioning_is_a_discrepancy() -> None:
    report = apply_usage(new_report("PA", "2026-10", NOW, "m"), [usage("s1", 100, 95)], NOW).report
    report = report.model_copy(
        update={
            "lines": [
                report.lines[0].model_copy(
                    update={"chargeable_units": 100, "chargeable_set_by_partner": True}
                )
            ]
        }
    )
    lenient = attach_account(report, account(threshold="10"), NOW).report
    strict = attach_account(report, account(threshold="0"), NOW).report
    assert lenient.lines[0].discrepancy is False
    assert strict.lines[0].discrepancy is True


def test_late_usage_is_kept_flagged_and_announced_without_changing_figures() -> None:
    report = apply_usage(new_report("PA", "2026-10", NOW, "m"), [usage("s1", 10, 4)], NOW).report
    submitted = report.model_copy(update={"status": ReportStatus.UNDER_REVIEW})
    late = apply_usage(submitted, [usage("s1", 15, 9, msg="late-1")], NOW)
    line = late.report.lines[0]
    assert (line.provisioned_units, line.used_units, line.chargeable_units) == (10, 4, 4)
    assert line.late_usage is True
    assert line.subscriptions[0].late_provisioned_units == 15
    assert [e.id for e in late.events] == ["PA:2026-10/late-usage/late-1"]
    assert late.report.history[-1].message_id == "late-1"
    assert apply_usage(late.report, [usage("s1", 15, 9, msg="late-1")], NOW).changed is False


@pytest.mark.parametrize(
    ("provisioned", "used", "expected"),
    [(3, 2, "33.33"), (3, 1, "66.67"), (10, 10, "0.00"), (0, 0, "0.00"), (4, 5, "-25.00")],
)
def test_overprovisioned_percentage_has_two_decimals(
    provisioned: int, used: int, expected: str
) -> None:
    assert overprovisioned_pct(provisioned, used) == Decimal(expected)


def test_subtotal_is_exact_decimal_rounded_to_the_currency_minor_unit() -> None:
    assert subtotal(3, Decimal("19.99"), Decimal("0.15"), "EUR") == Decimal("50.97")
    assert subtotal(1, Decimal("0.10"), Decimal("0"), "EUR") == Decimal("0.10")
    assert str(subtotal(3, Decimal("19.99"), Decimal("0.15"), "JPY")) == "51"
    assert str(subtotal(3, Decimal("19.99"), Decimal("0.15"), "KWD")) == "50.975"
    assert subtotal(5, None, Decimal("0.1"), "EUR") is None


def test_deadline_and_retention_are_utc_calendar_arithmetic() -> None:
    assert automatic_submission_deadline("2026-12", 5) == datetime(2027, 1, 6, tzinfo=UTC)
    assert retention_expiry("2026-10") == datetime(2028, 11, 1, tzinfo=UTC)
