"""Logs a machine can search: one JSON object a line, with the ids of what is being worked on.

``LMP_LOG_FORMAT`` picks the format of every process and command: ``text`` (the default,
as before), ``json``, or ``auto`` (json when stderr is not a terminal). Whatever the
format, every record logged while a batch or a message is being worked on carries the
fields set here (``bound``): processor, instance, topic, partition, offset (the batch's
first and last), message id, report id, and the trace id of the current span. In text they
are appended as ``key=value``; in JSON they are keys of the object.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import os
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, TextIO

from opentelemetry.trace import get_current_span

FORMATS = ("text", "json", "auto")
ENV_VAR = "LMP_LOG_FORMAT"
FIELDS = (
    "processor",
    "instance",
    "topic",
    "partition",
    "offset",
    "last_offset",
    "message_id",
    "report_id",
)

_fields: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "lmp_log_fields", default=None
)
_process: dict[str, Any] = {}


def format_from_environment(stream: TextIO | None = None) -> str:
    """``LMP_LOG_FORMAT`` resolved to ``text`` or ``json`` (unset: text)."""
    given = os.environ.get(ENV_VAR, "").strip().lower() or "text"
    if given not in FORMATS:
        raise ValueError(f"{ENV_VAR}: {given!r} is not a log format; one of {', '.join(FORMATS)}")
    if given == "auto":
        stream = stream if stream is not None else sys.stderr
        return "text" if stream.isatty() else "json"
    return given


def set_process(**fields: Any) -> None:
    """Fields of every line this process logs (processor, instance)."""
    _process.update({k: v for k, v in fields.items() if v not in (None, "")})


@contextlib.contextmanager
def bound(**fields: Any) -> Iterator[None]:
    """Add ``fields`` (None ones left out) to every record logged inside the block."""
    current = _fields.get()
    merged = dict(current) if current else {}
    merged.update({k: v for k, v in fields.items() if v is not None})
    token = _fields.set(merged)
    try:
        yield
    finally:
        _fields.reset(token)


def fields() -> dict[str, Any]:
    """The fields a record logged now gets."""
    found: dict[str, Any] = dict(_process)
    current = _fields.get()
    if current:
        found.update(current)
    span_context = get_current_span().get_span_context()
    trace_id = format(span_context.trace_id, "032x") if span_context.is_valid else None
    if trace_id is not None:
        found["trace_id"] = trace_id
    return found


class ContextFilter(logging.Filter):
    """Puts ``fields()`` on each record (``record.lmp``), for either formatter."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "lmp"):
            record.lmp = fields()
        return True


class TextFormatter(logging.Formatter):
    """The line the handler's own formatter writes, with the context's fields appended
    as ``key=value``."""

    def __init__(self, inner: logging.Formatter) -> None:
        super().__init__()
        self.inner = inner

    def format(self, record: logging.LogRecord) -> str:
        line = self.inner.format(record)
        extra: dict[str, Any] = getattr(record, "lmp", None) or {}
        if not extra:
            return line
        return line + " " + " ".join(f"{k}={v}" for k, v in extra.items())


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, the context's fields,
    and the exception's text when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(getattr(record, "lmp", None) or {})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, default=str)


def apply(handler: logging.Handler, kind: str, text_format: str) -> None:
    """Give ``handler`` the chosen format and the context's fields (text keeps the
    handler's own formatter, faust's included, and appends the fields)."""
    current = handler.formatter
    if kind == "json":
        if not isinstance(current, JsonFormatter):
            handler.setFormatter(JsonFormatter())
    elif not isinstance(current, TextFormatter):
        inner = current if current is not None else logging.Formatter(text_format)
        if isinstance(inner, JsonFormatter):
            inner = logging.Formatter(text_format)
        handler.setFormatter(TextFormatter(inner))
    if not any(isinstance(f, ContextFilter) for f in handler.filters):
        handler.addFilter(ContextFilter())
