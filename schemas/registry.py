"""Every message type of the topic contract and the model of its ``data``."""

from __future__ import annotations

from pydantic import BaseModel

from schemas import accounts, actions, events, pricing, usage

MESSAGE_TYPES: dict[str, type[BaseModel]] = {
    "lmp.usage.reported": usage.UsageReported,
    "lmp.account.partner": accounts.PartnerAccount,
    "lmp.account.distributor": accounts.DistributorAccount,
    "lmp.account.region": accounts.RegionSettings,
    "lmp.pricing.price": pricing.PriceListed,
    "lmp.pricing.promotion": pricing.PromotionPublished,
    "lmp.partner.draft-saved": actions.PartnerDraftSaved,
    "lmp.partner.report-submitted": actions.PartnerReportSubmitted,
    "lmp.distributor.draft-saved": actions.DistributorDraftSaved,
    "lmp.distributor.prices-reset": actions.DistributorPricesReset,
    "lmp.distributor.report-rejected": actions.DistributorReportRejected,
    "lmp.distributor.submitted-to-trendmicro": actions.DistributorSubmittedToTrendMicro,
    "lmp.trendmicro.report-returned": actions.TrendMicroReportReturned,
    "lmp.trendmicro.report-completed": actions.TrendMicroReportCompleted,
    "lmp.billing.submitted": events.BillingSubmitted,
    "lmp.report.opened": events.ReportEvent,
    "lmp.report.draft-saved": events.ReportEvent,
    "lmp.report.submitted": events.ReportEvent,
    "lmp.report.rejected": events.ReportEvent,
    "lmp.report.submitted-to-trendmicro": events.ReportEvent,
    "lmp.report.returned": events.ReportEvent,
    "lmp.report.completed": events.ReportEvent,
    "lmp.report.late-usage": events.LateUsage,
    "lmp.report.deadline-reminder": events.DeadlineReminder,
    "lmp.action.rejected": events.ActionRejected,
    "lmp.penalty.assessed": events.PenaltyAssessed,
    "lmp.dead-letter": events.DeadLetter,
}
