"""Traces across processors: W3C trace context in, child spans per stage, trace context out.

Off unless the standard OpenTelemetry variables ask for it (``OTEL_TRACES_EXPORTER`` other
than ``none``, or ``OTEL_EXPORTER_OTLP_ENDPOINT``/``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``):
then ``configure`` installs the SDK with a batching OTLP/HTTP exporter, itself configured by
the ``OTEL_*`` variables (sampler, endpoint, headers, resource). While off, every helper
here returns a shared null context manager and ``traceparent`` answers None: no span
objects, no context switches, and outbound events are the bytes they always were.

Where spans come from (docs/observability.md):

- ``batch``: one span per batch a processor applies. A batch whose records all carry one
  trace (a single action, typically) continues that trace; any other batch is a trace of
  its own with a link to each record's context (at most ``MAX_LINKS``).
- ``stage``: decode, save, publish, dead-letter: children of the batch span.
- ``decide``: one per report (the unit of work), continuing the trace of the report's
  first message when the handler names them (``reports``), linked to the others'; and
  one per action (``record``) continuing the action's own trace, so the events a message
  causes carry its trace id even in a batch of many.
- ``traceparent``: the context an event is stamped with when it is decided
  (``services.adapters.codec.outbox_entry``), stored with the outbox entry, so a replay
  or a sweep publishes the same bytes.
- ``replayed``: a redelivered action's span, linked to the trace of its first decision.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, cast

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Link, SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import SpanProcessor
    from opentelemetry.sdk.trace.export import SpanExporter


class InboundMessage(Protocol):
    """What tracing reads of a consumed record (``services.adapters.codec.InboundMessage``):
    its decoding when done, else its headers. Structural, so that tracing sits below the
    adapters that import it."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def headers(self) -> Sequence[tuple[str, bytes]]: ...
    @property
    def decoded(self) -> Any: ...

    trace: object


TRACER_NAME = "lmp-billing"
MAX_LINKS = 128
"""Links a batch span keeps to its records' traces (the first ones)."""

_NULL: contextlib.AbstractContextManager[None] = contextlib.nullcontext()
_PROPAGATOR = TraceContextTextMapPropagator()
_tracer: trace.Tracer | None = None


def enabled() -> bool:
    """Whether spans are being recorded in this process."""
    return _tracer is not None


def tracer() -> trace.Tracer | None:
    """The tracer spans are recorded with, None while off."""
    return _tracer


def wanted(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether the ``OTEL_*`` variables ask for traces to be exported."""
    exporter = environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporter == "none" or environ.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return False
    return bool(
        exporter
        or environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        or environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    )


def configure(service: str, instance: str = "", *, environ: Mapping[str, str] = os.environ) -> bool:
    """The SDK with an OTLP/HTTP exporter when ``wanted``; returns whether tracing is on."""
    if not wanted(environ):
        return False
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

    exporter: SpanExporter
    chosen = environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if chosen == "console":
        exporter = ConsoleSpanExporter()
    elif chosen == DROP:
        exporter = dropping()
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter()
    install(BatchSpanProcessor(exporter), service, instance)
    return True


DROP = "lmp-drop"
"""``OTEL_TRACES_EXPORTER=lmp-drop``: every span recorded and batched, then dropped (the
benchmarks' and the tests' tracing-on runs, exporting to nowhere)."""


def dropping() -> SpanExporter:
    """An exporter that drops every span it is handed."""
    from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

    class Dropping(SpanExporter):  # type: ignore[misc,unused-ignore]  # the SDK's base is untyped here
        def export(self, _spans: Any) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    return Dropping()


def install(processor: SpanProcessor, service: str, instance: str = "") -> trace.Tracer:
    """Record spans into ``processor`` from now on (tests pass an in-memory exporter's)."""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider

    global _tracer
    attributes = {"service.name": f"lmp-billing-{service}"}
    if instance:
        attributes["service.instance.id"] = instance
    provider = TracerProvider(resource=Resource.create(attributes))
    provider.add_span_processor(processor)
    _tracer = provider.get_tracer(TRACER_NAME)
    return _tracer


def uninstall() -> None:
    """Back to off (tests)."""
    global _tracer
    _tracer = None


# inbound ---------------------------------------------------------------------


def extract(traceparent: object, tracestate: object = None) -> otel_context.Context | None:
    """The remote context a ``traceparent`` (and ``tracestate``) names; None if invalid."""
    if not isinstance(traceparent, str):
        return None
    carrier = {"traceparent": traceparent}
    if isinstance(tracestate, str):
        carrier["tracestate"] = tracestate
    ctx = _PROPAGATOR.extract(carrier)
    span_context = trace.get_current_span(ctx).get_span_context()
    return ctx if span_context.is_valid else None


def inbound(message: InboundMessage) -> otel_context.Context | None:
    """A record's trace context: the CloudEvents ``traceparent`` extension attribute of
    its decoded envelope (structured mode, or ``ce_traceparent`` in binary mode). Read
    once a record and kept on it (``trace``): the batch span, its report's decision and
    its events all look at it, and parsing was most of what tracing cost a record."""
    held = message.trace
    if held is not None:
        return held if isinstance(held, otel_context.Context) else None
    found = _inbound(message)
    message.trace = found if found is not None else _NO_CONTEXT
    return found


_NO_CONTEXT = object()
"""Kept on a record whose trace context was looked for and not found."""


def _inbound(message: InboundMessage) -> otel_context.Context | None:
    envelope = getattr(message.decoded, "envelope", None)  # a Decoded's, not a Poison's
    if envelope is not None:
        extra = envelope.model_extra or {}
        return extract(extra.get("traceparent"), extra.get("tracestate"))
    for name, raw in message.headers:
        if name.lower() == "ce_traceparent":
            return extract(raw.decode("utf-8", errors="replace"))
    return None


# spans -----------------------------------------------------------------------


def _span_context(ctx: otel_context.Context) -> trace.SpanContext:
    return trace.get_current_span(ctx).get_span_context()


@contextlib.contextmanager
def _batch(name: str, batch: Sequence[InboundMessage]) -> Iterator[None]:
    assert _tracer is not None
    contexts = [c for c in (inbound(m) for m in batch) if c is not None]
    traces = {_span_context(c).trace_id for c in contexts}
    parent: otel_context.Context | None = None
    links: list[Link] = []
    if len(traces) == 1 and len(contexts) == len(batch):
        parent = contexts[0]
    else:
        links = [Link(_span_context(c)) for c in contexts[:MAX_LINKS]]
    first = batch[0] if batch else None
    attributes: dict[str, Any] = {
        "lmp.processor": name,
        "messaging.system": "kafka",
        "messaging.operation": "process",
        "messaging.batch.message_count": len(batch),
    }
    if first is not None:
        attributes["messaging.destination.name"] = first.topic
        attributes["messaging.kafka.destination.partition"] = first.partition
        attributes["messaging.kafka.message.offset"] = first.offset
    with _tracer.start_as_current_span(
        f"{name} process",
        context=parent if parent is not None else otel_context.Context(),
        kind=SpanKind.CONSUMER,
        links=links,
        attributes=attributes,
    ):
        yield


def batch(name: str, messages: Sequence[InboundMessage]) -> contextlib.AbstractContextManager[None]:
    """The span of one batch a processor applies (see the module's docstring)."""
    if _tracer is None:
        return _NULL
    return _batch(name, messages)


def _start(
    tracer: trace.Tracer, name: str, **kwargs: Any
) -> contextlib.AbstractContextManager[Any]:
    """``tracer.start_as_current_span``, typed (the API's decorator leaves it untyped)."""
    return cast(
        "contextlib.AbstractContextManager[Any]", tracer.start_as_current_span(name, **kwargs)
    )


def stage(name: str, **attributes: Any) -> contextlib.AbstractContextManager[Any]:
    """A child span of whatever is current (decode, save, publish...)."""
    if _tracer is None:
        return _NULL
    return _start(_tracer, name, attributes=attributes)


def root(name: str, **attributes: Any) -> contextlib.AbstractContextManager[Any]:
    """A span starting a trace of its own (a timer's pass)."""
    if _tracer is None:
        return _NULL
    return _start(_tracer, name, context=otel_context.Context(), attributes=attributes)


def record(
    name: str, ctx: otel_context.Context | None, **attributes: Any
) -> contextlib.AbstractContextManager[Any]:
    """A span continuing a record's own trace ``ctx`` (the current span when None), with
    a link to the batch span it runs in when that is another trace."""
    if _tracer is None:
        return _NULL
    links: list[Link] = []
    if ctx is not None:
        current = trace.get_current_span().get_span_context()
        if current.is_valid and current.trace_id == _span_context(ctx).trace_id:
            ctx = None  # already in the record's trace: a child of the current span
        elif current.is_valid:
            links.append(Link(current))
    return _start(_tracer, name, context=ctx, links=links, attributes=attributes)


_reports: contextvars.ContextVar[Mapping[str, list[otel_context.Context]] | None] = (
    contextvars.ContextVar("lmp_report_contexts", default=None)
)


@contextlib.contextmanager
def _reports_of(by_report: Mapping[str, Sequence[Any]]) -> Iterator[None]:
    # The trace contexts only, never the messages: a task started meanwhile (a driver's
    # connection, a producer's sender) keeps a copy of this context for its whole life.
    contexts = {
        rid: found
        for rid, items in by_report.items()
        if (found := [c for c in (inbound(i.message) for i in items[:MAX_LINKS]) if c is not None])
    }
    token = _reports.set(contexts)
    try:
        yield
    finally:
        _reports.reset(token)


def reports(by_report: Mapping[str, Sequence[Any]]) -> contextlib.AbstractContextManager[None]:
    """While deciding, each report's decision continues the trace of its first message
    (``Decoded``) in ``by_report``, linked to the others' (``decide``)."""
    if _tracer is None:
        return _NULL
    return _reports_of(by_report)


def decide(report_id: str) -> contextlib.AbstractContextManager[Any]:
    """The span deciding one report: in the trace of the report's first message when the
    handler named them (``reports``), else a child of the current span (a timer's pass)."""
    if _tracer is None:
        return _NULL
    attributes: dict[str, Any] = {"lmp.report_id": report_id}
    contexts = (_reports.get() or {}).get(report_id)
    if not contexts:
        return _start(_tracer, "decide", attributes=attributes)
    first, *others = contexts
    span = record("decide", first, **attributes)
    if others:
        return _with_links(span, others)
    return span


@contextlib.contextmanager
def _with_links(
    span: contextlib.AbstractContextManager[Any], others: list[otel_context.Context]
) -> Iterator[Any]:
    with span as current:
        for ctx in others:
            current.add_link(_span_context(ctx))
        yield current


def message_context(item: Any) -> otel_context.Context | None:
    """The trace context of a decoded message (``Decoded``), None when tracing is off."""
    if _tracer is None:
        return None
    return inbound(item.message)


def replayed(item: Any, first_values: Iterable[str]) -> None:
    """A redelivered action answered from its recorded decision: a span in the redelivery's
    trace, linked to the trace of the first decision (read from the stored events)."""
    if _tracer is None:
        return
    links = []
    for value in first_values:
        first = stored_traceparent(value)
        if first is not None:
            links.append(Link(_span_context(first), {"lmp.link": "first-decision"}))
            break
    with _tracer.start_as_current_span(
        "replay recorded decision",
        context=inbound(item.message),
        links=links,
        attributes={"lmp.message_id": item.envelope.id, "lmp.outcome": "replayed"},
    ):
        pass


def stored_traceparent(value: str) -> otel_context.Context | None:
    """The context stamped on a stored outbound event (its ``traceparent`` attribute)."""
    if '"traceparent"' not in value:
        return None
    try:
        parsed = json.loads(value)
    except ValueError:
        return None
    if not isinstance(parsed, dict):
        return None
    return extract(parsed.get("traceparent"), parsed.get("tracestate"))


def interval(name: str, start_ns: int, end_ns: int, **attributes: Any) -> None:
    """A child span of the current one that ran from ``start_ns`` to ``end_ns``."""
    if _tracer is None:
        return
    span = _tracer.start_span(name, start_time=start_ns, attributes=attributes)
    span.end(end_time=end_ns)


# outbound --------------------------------------------------------------------


def traceparent() -> dict[str, str]:
    """The current span's context as CloudEvents distributed-tracing attributes
    (``traceparent``, and ``tracestate`` when there is one); empty when off or no span."""
    if _tracer is None:
        return {}
    span_context = trace.get_current_span().get_span_context()
    if not span_context.is_valid:
        return {}
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return carrier


def trace_id() -> str | None:
    """The current trace id in hex (logs), None when off or outside a span."""
    if _tracer is None:
        return None
    span_context = trace.get_current_span().get_span_context()
    return format(span_context.trace_id, "032x") if span_context.is_valid else None
