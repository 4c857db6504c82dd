"""Partner and distributor accounts and regional settings (``lmp.accounts.v1``, compacted)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, Strict, StrictBool

from schemas.common import CurrencyCode, Identifier, Threshold


class PartnerAccount(BaseModel):
    """An MSP partner, its distributor and the settings its reports follow."""

    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "examples": [
                {
                    "partner_id": "P-1001",
                    "name": "Northwind Managed Services",
                    "distributor_id": "D-EMEA",
                    "region": "EMEA",
                    "currency": "EUR",
                    "auto_submit_days": 5,
                    "overprovision_threshold_pct": "10",
                    "usage_reports": True,
                }
            ]
        },
    )

    partner_id: Identifier
    name: str = Field(min_length=1, max_length=300)
    distributor_id: Identifier
    region: Identifier
    currency: CurrencyCode
    auto_submit_days: Annotated[int, Strict()] = Field(default=5, ge=0, le=60)
    overprovision_threshold_pct: Threshold = Field(default=Decimal("0"))
    usage_reports: StrictBool = Field(
        default=True,
        description="whether the partner's account type has access to usage reports; "
        "without it the report skips the partner's review (SPEC section 4)",
    )


class DistributorAccount(BaseModel):
    """A distributor; it reviews the reports of the partners that name it."""

    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "examples": [
                {"distributor_id": "D-EMEA", "name": "EMEA Distribution GmbH", "region": "EMEA"}
            ]
        },
    )

    distributor_id: Identifier
    name: str = Field(min_length=1, max_length=300)
    region: Identifier


class RegionSettings(BaseModel):
    """A region's settings; keyed ``region/<region>`` on the accounts topic."""

    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={"examples": [{"region": "EMEA", "usage_reports": True}]},
    )

    region: Identifier
    usage_reports: StrictBool = Field(
        default=True, description="whether partners of the region have access to usage reports"
    )
