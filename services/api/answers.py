"""How answers are sent: a model serialized once by pydantic-core, the language and time
zone said, and a download's file name that any report id keeps well formed."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from aiohttp import web
from pydantic import BaseModel
from pydantic_core import to_json

from services.domain.labels import Language

CSV_CONTENT_TYPE = "text/csv; charset=utf-8"
TIME_ZONE_HEADER = "Content-Time-Zone"
"""The IANA time zone an answer's times are written in (``tz``, or UTC)."""

_UNSAFE_IN_FALLBACK = re.compile(r"[^A-Za-z0-9._-]")
_ATTR_CHARS = "!#$&+-.^_`|~"
"""RFC 5987 ``attr-char`` beyond letters and digits: left as they are in ``filename*``."""


def answer_headers(lang: Language, tz: ZoneInfo | None = None) -> dict[str, str]:
    headers = {"Content-Language": lang, "Vary": "Accept-Language"}
    if tz is not None:
        headers[TIME_ZONE_HEADER] = tz.key
    return headers


def json_answer(
    model: BaseModel | dict[str, Any], lang: Language, tz: ZoneInfo | None = None
) -> web.Response:
    """A model (or JSON values) serialized in one pass by pydantic-core, straight to bytes."""
    return web.Response(
        body=to_json(model),
        content_type="application/json",
        charset="utf-8",
        headers=answer_headers(lang, tz),
    )


def content_disposition(filename: str) -> str:
    """``attachment`` with the name twice (RFC 6266): an ASCII ``filename`` every client
    reads, unsafe characters (quotes, CR/LF, '/', '\\', ':', anything not ASCII) replaced
    by '_', and ``filename*`` with the exact name, UTF-8 and percent-encoded (RFC 5987).
    Nothing of the name can end the header or the quoted string."""
    fallback = _UNSAFE_IN_FALLBACK.sub("_", filename).lstrip(".") or "download"
    exact = quote(filename, safe=_ATTR_CHARS)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{exact}"


def csv_headers(filename: str, lang: Language, tz: ZoneInfo | None = None) -> dict[str, str]:
    return {
        "Content-Type": CSV_CONTENT_TYPE,
        "Content-Disposition": content_disposition(filename),
        **answer_headers(lang, tz),
    }
