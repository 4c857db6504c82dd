"""Usage published by upstream provisioning systems (``lmp.usage.v1``)."""

from __future__ import annotations

from pydantic import AwareDatetime, BaseModel, ConfigDict

from schemas.common import Cycle, Identifier, InboundUnits


class UsageReported(BaseModel):
    """One snapshot of one subscription's units; values are peaks-so-far, never deltas."""

    model_config = ConfigDict(extra="ignore")

    partner_id: Identifier
    cycle: Cycle
    product_id: Identifier
    subscription_id: Identifier
    provisioned_units: InboundUnits
    used_units: InboundUnits | None = None
    observed_at: AwareDatetime
