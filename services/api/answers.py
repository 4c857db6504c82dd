"""How answers are sent: a model serialized once by pydantic-core, and the language said."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import BaseModel
from pydantic_core import to_json

from services.api.labels import Language

CSV_CONTENT_TYPE = "text/csv; charset=utf-8"


def language_headers(lang: Language) -> dict[str, str]:
    return {"Content-Language": lang, "Vary": "Accept-Language"}


def json_answer(model: BaseModel | dict[str, Any], lang: Language) -> web.Response:
    """A model (or JSON values) serialized in one pass by pydantic-core, straight to bytes."""
    return web.Response(
        body=to_json(model),
        content_type="application/json",
        charset="utf-8",
        headers=language_headers(lang),
    )


def csv_headers(filename: str, lang: Language) -> dict[str, str]:
    return {
        "Content-Type": CSV_CONTENT_TYPE,
        "Content-Disposition": f'attachment; filename="{filename}"',
        **language_headers(lang),
    }
