"""A message delivered again is answered as it was the first time, never decided twice."""

from __future__ import annotations

from schemas.report import Decision, Report


class ConflictingDuplicate(Exception):
    """The message id was applied before with a different payload."""


def recorded_decision(
    report: Report | None, topic: str, message_id: str, payload_hash: str
) -> Decision | None:
    """The answer already given to this message (its topic and id) on this report, if any.

    The same id with another payload is not the same request: ``ConflictingDuplicate``.
    """
    if report is None:
        return None
    for decision in report.decisions:
        if decision.message_id == message_id and decision.topic == topic:
            if decision.payload_hash != payload_hash:
                raise ConflictingDuplicate(message_id)
            return decision
    return None
