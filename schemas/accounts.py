"""Partner and distributor accounts (``lmp.accounts.v1``, compacted)."""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field

from schemas.common import Identifier, Percentage


class PartnerAccount(BaseModel):
    """An MSP partner, its distributor and the settings its reports follow."""

    model_config = ConfigDict(extra="ignore")

    partner_id: Identifier
    name: str = Field(min_length=1, max_length=300)
    distributor_id: Identifier
    region: Identifier
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    auto_submit_days: int = Field(default=5, ge=0, le=60)
    overprovision_threshold_pct: Percentage = Field(default=Decimal("0"), ge=0)


class DistributorAccount(BaseModel):
    """A distributor; it reviews the reports of the partners that name it."""

    model_config = ConfigDict(extra="ignore")

    distributor_id: Identifier
    name: str = Field(min_length=1, max_length=300)
    region: Identifier
