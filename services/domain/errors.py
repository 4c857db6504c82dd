"""Named refusals: an action is well-formed but not allowed; the reason is for a person."""

from __future__ import annotations


class Refused(Exception):
    """The action is not applied; ``reason`` explains why in plain words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class WrongStatus(Refused):
    pass


class NotAuthorized(Refused):
    pass


class ValidationFailed(Refused):
    pass


class UnknownReport(Refused):
    pass
