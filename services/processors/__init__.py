"""Every processor the system runs, by name."""

from __future__ import annotations

from services.runtime.context import ProcessorSpec


def registry() -> dict[str, ProcessorSpec]:
    from services.processors import accounts, actions, pricing, timer, usage

    specs = (
        usage.PROCESSOR,
        accounts.PROCESSOR,
        pricing.PROCESSOR,
        actions.PARTNER_ACTIONS,
        actions.DISTRIBUTOR_ACTIONS,
        actions.TRENDMICRO_RESPONSES,
        timer.PROCESSOR,
    )
    return {spec.name: spec for spec in specs}
