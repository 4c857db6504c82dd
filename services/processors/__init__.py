"""Every processor the system runs, by name."""

from __future__ import annotations

from services.app import ProcessorSpec


def registry() -> dict[str, ProcessorSpec]:
    from services.processors import accounts, usage

    return {spec.name: spec for spec in (usage.PROCESSOR, accounts.PROCESSOR)}
