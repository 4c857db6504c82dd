"""What people are shown things as: the read API's labels in English and French (and which
of the two a caller gets), and the status names refusals give.

Each label is written once as its (English, French) pair, so a translation is reviewed
beside its original; the tables by language are built from the pairs at import.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal, TypeVar

from schemas.report import ReportStatus, StatusCode
from schemas.status import BillingStatus

Language = Literal["en", "fr"]
LANGUAGES: tuple[Language, ...] = ("en", "fr")

K = TypeVar("K")


def _by_language(pairs: Mapping[K, tuple[str, str]]) -> dict[Language, dict[K, str]]:
    return {
        lang: {key: names[i] for key, names in pairs.items()} for i, lang in enumerate(LANGUAGES)
    }


def _columns(pairs: tuple[tuple[str, str], ...]) -> dict[Language, list[str]]:
    return {lang: [names[i] for names in pairs] for i, lang in enumerate(LANGUAGES)}


BILLING_STATUS_LABELS = _by_language(
    {
        BillingStatus.MSP_PREPARING: ("MSP preparing", "Préparation du MSP"),
        BillingStatus.UNDER_REVIEW: ("Under review", "En cours de vérification"),
        BillingStatus.MANUAL_SUBMISSION: ("Manual submission", "Soumission manuelle"),
        BillingStatus.AUTOMATIC_SUBMISSION: (
            "Automatic submission (no penalties)",
            "Soumission automatique (sans pénalités)",
        ),
        BillingStatus.AUTOMATIC_SUBMISSION_PENALTIES: (
            "Automatic submission (Penalties)",
            "Soumission automatique (pénalités)",
        ),
        BillingStatus.RETURNED_BY_TRENDMICRO: (
            "Returned by Trend Micro",
            "Renvoyé par Trend Micro",
        ),
        BillingStatus.REJECTED: (
            "Rejected (Returned to partner)",
            "Rejeté (renvoyé au partenaire)",
        ),
        BillingStatus.SUBMITTED_TO_TRENDMICRO: ("Submitted to Trend Micro", "Soumis à Trend Micro"),
        BillingStatus.COMPLETED: ("Completed", "Terminé"),
    }
)

PARTNER_STATUS_LABELS = _by_language(
    {
        StatusCode.MSP_PREPARING: (
            "MSP preparing",
            "Préparation du fournisseur de services gérés (MSP)",
        ),
        StatusCode.UNDER_REVIEW: ("Under review", "En cours de vérification"),
        StatusCode.APPROVED: ("Approved", "Approuvé"),
        StatusCode.REJECTED: ("Rejected", "Rejeté"),
    }
)

REPORT_STATUS_NAMES = {
    ReportStatus.MSP_PREPARING: "MSP preparing",
    ReportStatus.UNDER_REVIEW: "Under review",
    ReportStatus.REJECTED: "Rejected",
    ReportStatus.SUBMITTED_TO_TRENDMICRO: "Submitted to Trend Micro",
    ReportStatus.RETURNED_BY_TRENDMICRO: "Returned by Trend Micro",
    ReportStatus.COMPLETED: "Completed",
}
"""A report's status as a refusal names it ("cannot submit: the report is Completed")."""

DISCREPANCY_LABELS = _by_language(
    {
        "none": ("", ""),
        "explained": ("explained", "justifiée"),
        "unexplained": ("unexplained", "non justifiée"),
    }
)

LIST_COLUMNS = _columns(
    (
        ("Report", "Rapport"),
        ("Report cycle", "Cycle de rapports"),
        ("Partner ID", "ID partenaire"),
        ("Partner", "Partenaire"),
        ("Distributor", "Distributeur"),
        ("Status", "État"),
        ("Status code", "Code d'état"),
        ("Submission kind", "Type de soumission"),
        ("PO number", "Numéro de bon de commande"),
        ("Currency", "Devise"),
        ("Total amount", "Montant total"),
        ("Deadline", "Date limite"),
        ("Updated", "Mis à jour"),
    )
)

LINE_COLUMNS = _columns(
    (
        ("Report", "Rapport"),
        ("Report cycle", "Cycle de rapports"),
        ("Partner ID", "ID partenaire"),
        ("Status", "État"),
        ("Product", "Produit"),
        ("Provisioned units", "Unités fournies"),
        ("Used units", "Unités utilisées"),
        ("Over-provisioned %", "Surprovisionnement %"),
        ("Chargeable units", "Unités facturables"),
        ("Discrepancy", "Divergence"),
        ("Partner comment", "Commentaire du partenaire"),
        ("Unit price", "Prix unitaire"),
        ("Channel margin", "Marge du canal"),
        ("Promo code", "Code promotionnel"),
        ("Subtotal", "Sous-total"),
        ("Currency", "Devise"),
        ("Total amount", "Montant total"),
        ("PO number", "Numéro de bon de commande"),
    )
)


def negotiate_language(accept_language: str | None) -> Language:
    """The best of English and French for an ``Accept-Language`` header; English by default."""
    best: tuple[float, Language] = (0.0, "en")
    for part in (accept_language or "").split(","):
        tag, _, params = part.strip().partition(";")
        primary = tag.strip().lower().split("-")[0]
        if primary == "*":
            primary = "en"
        if primary not in LANGUAGES:
            continue
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if quality > best[0]:
            best = (quality, primary)
    return best[1]
