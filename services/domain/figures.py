"""Line figures: units, over-provisioning, discrepancies, subtotals and the total."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from schemas.report import Report, ReportLine
from services.domain.money import AmountOutOfRange, exact, round_money

CENT = Decimal("0.01")
HUNDRED = Decimal(100)
MAX_LINE_UNITS = 2**63 - 1
"""What a line's units may sum to: the database stores them as 64-bit integers."""


def overprovisioned_pct(provisioned: int, used: int | None) -> Decimal | None:
    """(provisioned - used) / provisioned x 100, two decimals; unknown without used units."""
    if used is None:
        return None
    if provisioned == 0:
        return Decimal("0.00")
    return (Decimal(provisioned - used) / Decimal(provisioned) * HUNDRED).quantize(
        CENT, rounding=ROUND_HALF_UP
    )


def subtotal(
    chargeable: int, unit_price: Decimal | None, margin: Decimal | None, currency: str | None
) -> Decimal | None:
    """chargeable x unit price x (1 - channel margin), half-up to the currency's minor unit."""
    if unit_price is None or margin is None:
        return None
    with exact():
        amount = Decimal(chargeable) * unit_price * (Decimal(1) - margin)
    return round_money(amount, currency)


def has_discrepancy(line: ReportLine, threshold_pct: Decimal) -> bool:
    """Chargeable differs from provisioned, or over-provisioning above the threshold."""
    if line.chargeable_units != line.provisioned_units:
        return True
    return line.overprovisioned_pct is not None and line.overprovisioned_pct > threshold_pct


def is_unexplained(line: ReportLine) -> bool:
    return unexplained(line.discrepancy, line.partner_comment)


def unexplained(discrepancy: bool, partner_comment: str | None) -> bool:
    """A discrepancy the partner has not commented on (a blank comment explains nothing)."""
    return discrepancy and not (partner_comment or "").strip()


def recompute_line(line: ReportLine, threshold_pct: Decimal, currency: str | None) -> ReportLine:
    """Derive every figure of a line from its subscriptions and its edits."""
    provisioned = sum(sub.provisioned_units for sub in line.subscriptions)
    reported = [sub.used_units for sub in line.subscriptions if sub.used_units is not None]
    used = sum(reported) if reported else None
    if max(provisioned, used or 0, line.chargeable_units) > MAX_LINE_UNITS:
        raise AmountOutOfRange(f"units of {line.product_id} exceed {MAX_LINE_UNITS}")
    chargeable = (
        line.chargeable_units
        if line.chargeable_set_by_partner
        else (used if used is not None else provisioned)
    )
    figures = line.model_copy(
        update={
            "provisioned_units": provisioned,
            "used_units": used,
            "overprovisioned_pct": overprovisioned_pct(provisioned, used),
            "chargeable_units": chargeable,
            "subtotal": subtotal(chargeable, line.unit_price, line.channel_margin, currency),
        }
    )
    figures.discrepancy = has_discrepancy(figures, threshold_pct)
    return figures


def recompute_report(report: Report) -> Report:
    """Every line's figures and the report's total."""
    threshold = report.overprovision_threshold_pct or Decimal(0)
    lines = [recompute_line(line, threshold, report.currency) for line in report.lines]
    total = money_sum([line.subtotal for line in lines], report.currency) if lines else None
    return report.model_copy(update={"lines": lines, "total_amount": total})


def money_sum(amounts: list[Decimal | None], currency: str | None) -> Decimal | None:
    """The sum in the currency's minor unit; unknown (None) when any amount is unknown."""
    if any(a is None for a in amounts):
        return None
    with exact():
        total = sum((a for a in amounts if a is not None), Decimal(0))
    return round_money(total, currency)
