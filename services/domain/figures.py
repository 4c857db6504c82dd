"""Line figures: units, over-provisioning, discrepancies, subtotals and the total."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from schemas.report import Report, ReportLine

CENT = Decimal("0.01")
HUNDRED = Decimal(100)


def overprovisioned_pct(provisioned: int, used: int | None) -> Decimal | None:
    """(provisioned - used) / provisioned x 100, two decimals; unknown without used units."""
    if used is None:
        return None
    if provisioned == 0:
        return Decimal("0.00")
    return (Decimal(provisioned - used) / Decimal(provisioned) * HUNDRED).quantize(
        CENT, rounding=ROUND_HALF_UP
    )


def subtotal(chargeable: int, unit_price: Decimal | None, margin: Decimal | None) -> Decimal | None:
    """chargeable x unit price x (1 - channel margin), rounded half-up to the cent."""
    if unit_price is None or margin is None:
        return None
    return (Decimal(chargeable) * unit_price * (Decimal(1) - margin)).quantize(
        CENT, rounding=ROUND_HALF_UP
    )


def has_discrepancy(line: ReportLine, threshold_pct: Decimal) -> bool:
    """Chargeable differs from provisioned, or over-provisioning above the threshold."""
    if line.chargeable_units != line.provisioned_units:
        return True
    return line.overprovisioned_pct is not None and line.overprovisioned_pct > threshold_pct


def is_unexplained(line: ReportLine) -> bool:
    return line.discrepancy and not (line.partner_comment or "").strip()


def default_chargeable(line: ReportLine) -> int:
    """Used units where the product reports them, else provisioned."""
    return line.used_units if line.used_units is not None else line.provisioned_units


def recompute_line(line: ReportLine, threshold_pct: Decimal) -> ReportLine:
    """Derive every figure of a line from its subscriptions and its edits."""
    provisioned = sum(sub.provisioned_units for sub in line.subscriptions)
    reported = [sub.used_units for sub in line.subscriptions if sub.used_units is not None]
    used = sum(reported) if reported else None
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
            "subtotal": subtotal(chargeable, line.unit_price, line.channel_margin),
        }
    )
    figures.discrepancy = has_discrepancy(figures, threshold_pct)
    return figures


def recompute_report(report: Report) -> Report:
    """Every line's figures and the report's total."""
    threshold = report.overprovision_threshold_pct or Decimal(0)
    lines = [recompute_line(line, threshold) for line in report.lines]
    subtotals = [line.subtotal for line in lines]
    total = (
        None
        if any(s is None for s in subtotals) or not lines
        else sum((s for s in subtotals if s is not None), Decimal("0.00"))
    )
    return report.model_copy(update={"lines": lines, "total_amount": total})
