"""The review workflow's unit tests share these: one opened report (AV: 100 provisioned,
80 used; EDR: 10 provisioned), its prices and promotions, an action of each kind on it,
and the context an action is decided in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from pydantic import BaseModel

from schemas.accounts import PartnerAccount
from schemas.actions import (
    Actor,
    DistributorDraftSaved,
    DistributorPricesReset,
    DistributorReportRejected,
    DistributorSubmittedToTrendMicro,
    PartnerDraftSaved,
    PartnerLineEdit,
    PartnerReportSubmitted,
    TrendMicroReportCompleted,
    TrendMicroReportReturned,
)
from schemas.pricing import PriceListed, PromoEditableField, PromoKind, PromotionPublished
from schemas.report import Report, ReportStatus
from schemas.usage import UsageReported
from services.domain.usage import UsageRecord, apply_usage, attach_account, new_report
from services.domain.workflow import (
    ActionContext,
)

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
RID = "PA:2026-10"
PARTNER = Actor(account_id="PA", user_id="alice")
DISTRIBUTOR = Actor(account_id="D1", user_id="dan")
TM = Actor(account_id="trendmicro", user_id="ops")
PRICES = {
    "AV": PriceListed(
        region="EMEA",
        product_id="AV",
        currency="EUR",
        unit_price=Decimal("2.50"),
        channel_margin=Decimal("0.20"),
        promo_editable_field=PromoEditableField.UNIT_PRICE,
    ),
    "EDR": PriceListed(
        region="EMEA",
        product_id="EDR",
        currency="EUR",
        unit_price=Decimal("7.00"),
        channel_margin=Decimal("0.10"),
        promo_editable_field=PromoEditableField.UNIT_PRICE,
    ),
}
PROMOS = {
    "BID-1": PromotionPublished(
        code="BID-1",
        kind=PromoKind.BID_DESK_NUMBER,
        region="EMEA",
        product_ids=["AV"],
        valid_from=NOW - timedelta(days=30),
        valid_until=NOW + timedelta(days=30),
    ),
    "OLD": PromotionPublished(
        code="OLD",
        kind=PromoKind.PROMOTE_CODE,
        region="EMEA",
        product_ids=["AV"],
        valid_from=NOW - timedelta(days=90),
        valid_until=NOW - timedelta(days=1),
    ),
    "APAC": PromotionPublished(
        code="APAC",
        kind=PromoKind.PROMOTE_CODE,
        region="APAC",
        product_ids=["AV"],
        valid_from=NOW - timedelta(days=9),
        valid_until=NOW + timedelta(days=9),
    ),
}


def opened_report(status: ReportStatus = ReportStatus.MSP_PREPARING) -> Report:
    def usage(product: str, prov: int, used: int | None) -> UsageRecord:
        return UsageRecord(
            f"u-{product}",
            UsageReported(
                partner_id="PA",
                cycle="2026-10",
                product_id=product,
                subscription_id="S1",
                provisioned_units=prov,
                used_units=used,
                observed_at=NOW,
            ),
        )

    report = apply_usage(
        new_report("PA", "2026-10", NOW, "u0"), [usage("AV", 100, 80), usage("EDR", 10, None)], NOW
    ).report
    account = PartnerAccount(
        partner_id="PA",
        name="Acme",
        distributor_id="D1",
        region="EMEA",
        currency="EUR",
        auto_submit_days=5,
    )
    report = attach_account(report, account, NOW).report
    return report.model_copy(update={"status": status})


def ctx(
    message_id: str = "m1", action_type: str = "test", payload_hash: str = "h1"
) -> ActionContext:
    return ActionContext(
        message_id=message_id,
        payload_hash=payload_hash,
        action_type=action_type,
        now=NOW,
        prices=PRICES,
        promotions=PROMOS,
    )


EXPLAINED = [PartnerLineEdit(product_id="AV", comment="20 seats reserved for a new customer")]

ACTIONS: dict[str, BaseModel] = {
    "partner draft": PartnerDraftSaved(report_id=RID, actor=PARTNER, lines=EXPLAINED),
    "partner submit": PartnerReportSubmitted(report_id=RID, actor=PARTNER, lines=EXPLAINED),
    "distributor draft": DistributorDraftSaved(report_id=RID, actor=DISTRIBUTOR, po_number="PO-1"),
    "prices reset": DistributorPricesReset(report_id=RID, actor=DISTRIBUTOR),
    "reject": DistributorReportRejected(report_id=RID, actor=DISTRIBUTOR, reasons=["AV too high"]),
    "submit to TM": DistributorSubmittedToTrendMicro(
        report_id=RID, actor=DISTRIBUTOR, po_number="PO-1"
    ),
    "TM returned": TrendMicroReportReturned(report_id=RID, actor=TM, reason="PO unknown"),
    "TM completed": TrendMicroReportCompleted(report_id=RID, actor=TM),
}
