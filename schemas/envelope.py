"""The CloudEvents 1.0 structured-mode envelope every topic carries."""

from __future__ import annotations

from functools import cache
from typing import Annotated, Any, Generic, Literal, TypeVar, Union

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter, create_model

from schemas.common import Timestamp

DataT = TypeVar("DataT")


class CloudEvent(BaseModel, Generic[DataT]):
    """Envelope; inbound copies are read tolerantly (unknown attributes are kept).

    Written, every attribute is present (``time`` included), which its JSON Schema in
    serialization mode states as required."""

    model_config = ConfigDict(extra="allow", json_schema_serialization_defaults_required=True)

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
    be there with their JSON types (CloudEvents 1.0): ``specversion`` "1.0".

    ``time`` is optional, as in CloudEvents; when present it is an RFC 3339 string (a
    number is not a time, whatever it would parse to). When absent the decoder sets it to
    the Kafka record's timestamp (``services.adapters.codec.decode``), so it is None only
    for a record that has no timestamp either."""

    specversion: Literal["1.0"]
    time: Timestamp | None = None  # type: ignore[assignment]


RawCloudEvent = InboundCloudEvent
"""Envelope checked, data not yet matched to its type's model."""


@cache
def typed_envelopes(types: frozenset[str]) -> TypeAdapter[Any] | None:
    """One validator of an envelope of any of ``types`` together with its data model:
    each type's envelope is ``InboundCloudEvent`` with ``type`` pinned and ``data`` its
    model, told apart by ``type``. Made once per set of types (a topic's); None when
    none of them has a model."""
    from schemas.registry import MESSAGE_TYPES

    envelopes = tuple(
        create_model(
            f"Inbound[{name}]",
            __base__=InboundCloudEvent,
            type=(Literal[name], ...),  # type: ignore[arg-type]
            data=(MESSAGE_TYPES[name], ...),
        )
        for name in sorted(types)
        if name in MESSAGE_TYPES
    )
    if not envelopes:
        return None
    if len(envelopes) == 1:
        return TypeAdapter(envelopes[0])
    union: Any = Annotated[Union[envelopes], Field(discriminator="type")]  # noqa: UP007
    return TypeAdapter(union)
