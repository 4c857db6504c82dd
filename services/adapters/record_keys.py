"""The key of an inbound record, as the ``key`` of its topic in topics.yaml names it.

Upstream systems key their records so: the key keeps one partner's usage, or one
report's actions, on one partition (in order), and on a compacted topic it is what a
tombstone withdraws (``region/<region>`` a region's settings, ``<region>/<product>`` a
list price; see the accounts and pricing processors).
"""

from __future__ import annotations

from pydantic import BaseModel

from schemas.accounts import DistributorAccount, PartnerAccount, RegionSettings
from schemas.pricing import PriceListed, PromotionPublished
from schemas.usage import UsageReported


def record_key(data: BaseModel) -> str:
    """The record key of an inbound message whose data is ``data``.

    ``partner_id`` (usage), ``account_id`` (a partner's or distributor's id, or
    ``region/<region>``), ``product_or_code_id`` (``<region>/<product>`` or the code),
    ``report_id`` (every action and answer about a report).
    """
    if isinstance(data, UsageReported | PartnerAccount):
        return data.partner_id
    if isinstance(data, DistributorAccount):
        return data.distributor_id
    if isinstance(data, RegionSettings):
        return f"region/{data.region}"
    if isinstance(data, PriceListed):
        return f"{data.region}/{data.product_id}"
    if isinstance(data, PromotionPublished):
        return data.code
    report_id = getattr(data, "report_id", None)
    if isinstance(report_id, str) and report_id:
        return report_id
    raise KeyError(f"no record key is defined for {type(data).__name__}")
