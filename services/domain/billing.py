"""The outbound billing projection: a report as Trend Micro receives it."""

from __future__ import annotations

from schemas.events import BillingLine, BillingSubmitted
from schemas.report import Report


def billing_report(report: Report) -> BillingSubmitted:
    """The whole billing report as Trend Micro receives it."""
    return BillingSubmitted(
        report_id=report.id,
        partner_id=report.partner_id,
        partner_name=report.partner_name,
        distributor_id=report.distributor_id,
        region=report.region,
        currency=report.currency,
        cycle=report.cycle,
        po_number=report.po_number or "",
        submission_kind=report.submission_kind,
        comments_to_trendmicro=report.comments_to_trendmicro,
        lines=[
            BillingLine(
                product_id=line.product_id,
                provisioned_units=line.provisioned_units,
                used_units=line.used_units,
                overprovisioned_pct=line.overprovisioned_pct,
                chargeable_units=line.chargeable_units,
                partner_comment=line.partner_comment,
                unit_price=line.unit_price,
                channel_margin=line.channel_margin,
                promo_code=line.promo_code,
                subtotal=line.subtotal,
            )
            for line in report.lines
        ],
        total_amount=report.total_amount,
        version=report.version,
    )
