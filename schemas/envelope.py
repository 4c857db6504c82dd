"""The CloudEvents 1.0 structured-mode envelope every topic carries."""

from __future__ import annotations

from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, Strict

DataT = TypeVar("DataT")


class CloudEvent(BaseModel, Generic[DataT]):
    """Envelope; inbound copies are read tolerantly (unknown attributes are kept)."""

    model_config = ConfigDict(extra="allow")

    specversion: Literal["1.0"] = "1.0"
    id: str = Field(min_length=1, max_length=300)
    source: str = Field(min_length=1)
    type: str = Field(min_length=1)
    time: AwareDatetime
    subject: str | None = None
    datacontenttype: str = "application/json"
    data: DataT


class InboundCloudEvent(CloudEvent[dict[str, Any]]):
    """An envelope as it arrives: unknown attributes are kept, but the required ones must
    be there with their JSON types (CloudEvents 1.0): ``specversion`` "1.0", ``time`` an
    RFC 3339 string — a number is not a time, whatever it would parse to."""

    specversion: Literal["1.0"]
    time: Annotated[AwareDatetime, Strict()]


RawCloudEvent = InboundCloudEvent
"""Envelope checked, data not yet matched to its type's model."""
