"""The topic contract as JSON Schemas, generated from the models the codec decodes with.

One schema per message type and one of the report document, each with ``$schema``
(JSON Schema 2020-12) and a stable ``$id`` under ``ID_BASE``, plus ``index.json``
naming them. Inbound types (``direction: in`` in topics.yaml) are described in
validation mode, as what ``codec.decode`` accepts: the envelope of
``InboundCloudEvent`` with ``type`` pinned and ``data`` the type's model. Outbound types
are described in serialization mode, as what the processors write. Every inbound
schema carries one complete example event (``examples``), coherent with the others: the
examples together open and price report ``EXAMPLE_REPORT`` (docs/contract.md).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, create_model
from pydantic.json_schema import JsonSchemaMode

from schemas.envelope import CloudEvent, InboundCloudEvent
from schemas.registry import MESSAGE_TYPES
from schemas.report import Report
from services.adapters import record_keys as keys
from services.adapters.catalogue import Catalogue
from services.domain.calendar import cycle_end, cycle_of, cycle_start

DIALECT = "https://json-schema.org/draft/2020-12/schema"
ID_BASE = "https://lmp-billing.example/schemas/"
"""Identifiers, not addresses: ``.example`` is reserved (RFC 2606) and never resolves."""
INDEX = "index.json"
REPORT_SCHEMA = "report.json"

EXAMPLE_CYCLE = "2026-11"
EXAMPLE_PARTNER = "P-1001"
EXAMPLE_REPORT = f"{EXAMPLE_PARTNER}:{EXAMPLE_CYCLE}"
EXAMPLE_TIME = "2026-11-20T09:30:00Z"
EXAMPLE_SOURCE = "urn:lmp-billing:example"

EXAMPLE_WALK = (
    "lmp.account.distributor",
    "lmp.account.partner",
    "lmp.account.region",
    "lmp.pricing.price",
    "lmp.usage.reported",
    "lmp.partner.report-submitted",
)
"""Examples that, published in this order, open report ``P-1001:<cycle>`` and price it.

The usage opens the report (the accounts complete it); list prices are applied when the
partner submits (SPEC section 3), so the walk ends with the partner's submission: the
report is then under review with the list price on its line (25 x 10.00 x 0.8 = 200.00
EUR). The region's setting is optional (a region without one gives access)."""


@dataclass(frozen=True)
class MessageContract:
    """One message type: where it travels and which way."""

    type: str
    topic: str
    direction: Literal["in", "out"]
    key: str

    @property
    def inbound(self) -> bool:
        return self.direction == "in"

    @property
    def file(self) -> str:
        return f"{self.type}.json"


def schema_id(file: str) -> str:
    return ID_BASE + file


def messages(catalogue: Catalogue) -> list[MessageContract]:
    """Every type of the catalogue (contract names, no namespace), sorted by type."""
    found = [
        MessageContract(t, catalogue.contract_name(topic.name), topic.direction, topic.key)
        for topic in catalogue.topics.values()
        for t in topic.types
    ]
    return sorted(found, key=lambda m: m.type)


def inbound_types(catalogue: Catalogue) -> list[str]:
    return [m.type for m in messages(catalogue) if m.inbound]


def event_model(message: MessageContract) -> type[BaseModel]:
    """The envelope the codec reads (or writes) with ``type`` pinned and ``data`` typed."""
    data = MESSAGE_TYPES[message.type]
    base: type[BaseModel] = InboundCloudEvent if message.inbound else CloudEvent[data]  # type: ignore[valid-type]
    words = message.type.replace("-", ".").split(".")
    summary = (data.__doc__ or "").strip().split("\n\n")[0]
    pinned: Any = Literal[message.type]
    model: type[BaseModel] = create_model(
        "".join(w.capitalize() for w in words) + "Event",
        __base__=base,
        __doc__=f"{message.type} on {message.topic} ({message.direction}bound): {summary}",
        type=(pinned, ...),
        data=(data, ...),
    )
    return model


def message_schema(message: MessageContract) -> dict[str, Any]:
    mode: JsonSchemaMode = "validation" if message.inbound else "serialization"
    body = event_model(message).model_json_schema(mode=mode)
    body.pop("title", None)
    schema: dict[str, Any] = {
        "$schema": DIALECT,
        "$id": schema_id(message.file),
        "title": message.type,
        **body,
    }
    if message.inbound:
        schema["examples"] = [example_event(message.type)]
    return schema


def report_schema() -> dict[str, Any]:
    return {"$schema": DIALECT, "$id": schema_id(REPORT_SCHEMA), **Report.model_json_schema()}


def index(catalogue: Catalogue) -> dict[str, Any]:
    return {
        "description": "lmp-billing topic contract: one JSON Schema per CloudEvents type "
        "(inbound: what the processors accept; outbound: what they write) and the report "
        "document. Regenerate with `lmp-billing schemas export`; see docs/contract.md.",
        "messages": [
            {
                "type": m.type,
                "direction": m.direction,
                "topic": m.topic,
                "key": m.key,
                "$id": schema_id(m.file),
                "file": m.file,
            }
            for m in messages(catalogue)
        ],
        "documents": [{"name": "report", "$id": schema_id(REPORT_SCHEMA), "file": REPORT_SCHEMA}],
    }


def _text(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2) + "\n"


def render(catalogue: Catalogue) -> dict[str, str]:
    """File name -> text of every schema file, exactly as ``export`` writes them."""
    files = {m.file: _text(message_schema(m)) for m in messages(catalogue)}
    files[REPORT_SCHEMA] = _text(report_schema())
    files[INDEX] = _text(index(catalogue))
    return files


def export(catalogue: Catalogue, directory: Path) -> list[str]:
    """Write every schema file; remove message schemas of types no longer in the contract."""
    files = render(catalogue)
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("lmp.*.json"):
        if stale.name not in files:
            stale.unlink()
    for name, text in files.items():
        (directory / name).write_text(text)
    return sorted(files)


# examples -------------------------------------------------------------------


def _subject(message_type: str, data: dict[str, Any]) -> str | None:
    """The report id where there is one (SPEC section 5), else the record's key."""
    if "report_id" in data:
        return str(data["report_id"])
    keys: dict[str, Callable[[dict[str, Any]], object]] = {
        "lmp.usage.reported": lambda d: f"{d['partner_id']}:{d['cycle']}",
        "lmp.account.partner": lambda d: d["partner_id"],
        "lmp.account.distributor": lambda d: d["distributor_id"],
        "lmp.account.region": lambda d: f"region/{d['region']}",
        "lmp.pricing.price": lambda d: f"{d['region']}/{d['product_id']}",
        "lmp.pricing.promotion": lambda d: d["code"],
    }
    key = keys.get(message_type)
    return str(key(data)) if key else None


def _event(message_type: str, time: str, data: dict[str, Any]) -> dict[str, Any]:
    digest = hashlib.sha256(json.dumps([time, data], sort_keys=True).encode()).hexdigest()
    return {
        "specversion": "1.0",
        "id": f"example-{digest[:20]}",
        "source": EXAMPLE_SOURCE,
        "type": message_type,
        "time": time,
        "subject": _subject(message_type, data),
        "datacontenttype": "application/json",
        "data": data,
    }


def example_event(message_type: str) -> dict[str, Any]:
    """The example event of an inbound type: its model's first ``examples`` entry in a
    structured-mode envelope (dated ``EXAMPLE_TIME``, cycle ``EXAMPLE_CYCLE``)."""
    data = MESSAGE_TYPES[message_type].model_json_schema()["examples"][0]
    return _event(message_type, EXAMPLE_TIME, data)


def is_cycle(text: str) -> bool:
    """``YYYY-MM`` as ``schemas.common.Cycle`` reads it, in a year whose dates exist."""
    shaped = re.fullmatch(r"[0-9]{4}-(0[1-9]|1[0-2])", text) is not None
    return shaped and "0001" <= text[:4] <= "9998"


def record_key(event: dict[str, Any]) -> str:
    """The Kafka key an example is published under: the one rule ``lmp-billing publish``
    follows (``record_keys``), applied to the example's data."""
    return keys.record_key(MESSAGE_TYPES[event["type"]].model_validate(event["data"]))


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


FRESH_TIMES: dict[str, Callable[[datetime, str], datetime]] = {
    "observed_at": lambda now, _cycle: now,
    "valid_from": lambda _now, cycle: cycle_start(cycle),
    "valid_until": lambda _now, cycle: cycle_end(cycle) + timedelta(days=60),
}
"""How each date-time of the examples' data is set when an example is printed."""


def _in_cycle(value: Any, cycle: str) -> Any:
    if isinstance(value, dict):
        return {k: _in_cycle(v, cycle) for k, v in value.items()}
    if isinstance(value, list):
        return [_in_cycle(v, cycle) for v in value]
    if isinstance(value, str) and (value == EXAMPLE_CYCLE or value.endswith(":" + EXAMPLE_CYCLE)):
        return value.removesuffix(EXAMPLE_CYCLE) + cycle
    return value


def current_example(message_type: str, now: datetime, cycle: str | None = None) -> dict[str, Any]:
    """The example of ``message_type`` as of ``now``: in ``cycle`` (default: the current
    one), its times now or around that cycle, its id derived from its content.

    A fixed date would rot: a report of a past cycle is past its deadline (the timer
    submits it at once) and, two years on, past its retention."""
    target = cycle or cycle_of(now)
    stamp = now.astimezone(UTC).replace(microsecond=0)
    data = _in_cycle(example_event(message_type)["data"], target)
    for name, when in FRESH_TIMES.items():
        if name in data:
            data[name] = _iso(when(stamp, target))
    return _event(message_type, _iso(stamp), data)


def example_line(message_type: str, now: datetime, cycle: str | None = None) -> str:
    """One line of JSON: what ``lmp-billing example`` prints."""
    return json.dumps(current_example(message_type, now, cycle), separators=(",", ":"))
