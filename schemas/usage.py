"""Usage published by upstream provisioning systems (``lmp.usage.v1``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from schemas.common import Cycle, Identifier, InboundUnits, Timestamp


class UsageReported(BaseModel):
    """One snapshot of one subscription's units; values are peaks-so-far, never deltas."""

    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "examples": [
                {
                    "partner_id": "P-1001",
                    "cycle": "2026-11",
                    "product_id": "TM-WFBS",
                    "subscription_id": "SUB-1001-01",
                    "provisioned_units": 25,
                    "used_units": 25,
                    "observed_at": "2026-11-20T09:30:00Z",
                }
            ]
        },
    )

    partner_id: Identifier
    cycle: Cycle
    product_id: Identifier
    subscription_id: Identifier
    provisioned_units: InboundUnits
    used_units: InboundUnits | None = None
    observed_at: Timestamp
