"""Who may act on a report: a partner on its own, a distributor on its partners'."""

from __future__ import annotations

from typing import assert_never

from schemas.actions import (
    Action,
    DistributorDraftSaved,
    DistributorPricesReset,
    DistributorReportRejected,
    DistributorSubmittedToTrendMicro,
    PartnerDraftSaved,
    PartnerReportSubmitted,
    TrendMicroReportCompleted,
    TrendMicroReportReturned,
)
from schemas.report import ActorKind, Report
from services.domain.errors import NotAuthorized


def authorize(report: Report, kind: ActorKind, account_id: str) -> None:
    """A partner acts on its own reports, a distributor on its partners' reports.

    Trend Micro is authorized by the topic its responses arrive on.
    """
    if kind is ActorKind.PARTNER and account_id != report.partner_id:
        raise NotAuthorized(f"partner {account_id} may not act on {report.partner_id}'s report")
    if kind is ActorKind.DISTRIBUTOR and account_id != report.distributor_id:
        raise NotAuthorized(
            f"distributor {account_id} does not review reports of partner {report.partner_id}"
        )


def actor_kind(action: Action) -> ActorKind:
    """Who takes ``action``: a partner, a distributor or Trend Micro."""
    match action:
        case PartnerDraftSaved() | PartnerReportSubmitted():
            return ActorKind.PARTNER
        case (
            DistributorDraftSaved()
            | DistributorPricesReset()
            | DistributorReportRejected()
            | DistributorSubmittedToTrendMicro()
        ):
            return ActorKind.DISTRIBUTOR
        case TrendMicroReportReturned() | TrendMicroReportCompleted():
            return ActorKind.TRENDMICRO
    assert_never(action)


def authorize_action(report: Report, action: Action) -> None:
    """Refuse ``action`` (``NotAuthorized``) unless its actor may take it on ``report``."""
    kind = actor_kind(action)
    authorize(report, kind, action.actor.account_id)
    if kind is ActorKind.PARTNER and not report.partner_review:
        raise NotAuthorized(
            f"partner {report.partner_id} has no access to usage reports (its account type "
            "or region): the report is submitted automatically at its deadline"
        )
