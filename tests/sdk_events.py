"""The official CloudEvents SDK's side of the contract tests: our records as its events."""

from __future__ import annotations

import json
from collections.abc import Callable

from cloudevents.core.bindings.kafka import KafkaMessage
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent as SdkEvent
from dateutil.parser import isoparse

Convert = Callable[[SdkEvent, JSONFormat], KafkaMessage]
"""The SDK's ``to_binary`` or ``to_structured``."""


def sdk_event(value: bytes) -> SdkEvent:
    """A structured CloudEvent (the harness's bytes) as the SDK's event."""
    body = json.loads(value)
    data = body.pop("data")
    attributes = {k: v for k, v in body.items() if v is not None}
    attributes["time"] = isoparse(attributes["time"])
    return SdkEvent(attributes=attributes, data=data)
