"""The OpenAPI 3.1 document of the read API, generated from its route table.

Each route names the pydantic models its handler takes (the query) and answers (every
status with its own body), so the document is pydantic's JSON schema of the very models
the handlers serialize; nothing about a body is written twice.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

from aiohttp import web
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from schemas.api import Problem

REF = "#/components/schemas/{model}"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Body:
    """One answer of a route: its media type and, for JSON, the model it serializes."""

    description: str
    model: type[BaseModel] | None = None
    media: str = "application/json"
    schema: tuple[tuple[str, str], ...] = (("type", "string"),)
    """The schema of a body that is not a model (CSV, text)."""


@dataclass(frozen=True)
class Route:
    """A GET endpoint as the router and the document both see it."""

    path: str
    handler: Handler
    summary: str
    ok: Body
    query: type[BaseModel] | None = None
    without: frozenset[str] = frozenset()
    """Fields of ``query`` this route does not take (the CSV export has no page)."""
    keyed: bool = True
    """Needs an API key; takes ``tz`` and ``Accept-Language``."""
    others: tuple[tuple[int, Body], ...] = ()

    @property
    def template(self) -> str:
        """The path as OpenAPI writes it: ``{report_id}``, without aiohttp's pattern."""
        return re.sub(r"\{(\w+):[^}]*\}", r"{\1}", self.path)


def _problem(description: str) -> Body:
    return Body(description, Problem)


_KEYED_ERRORS = (
    (400, _problem("the query is not valid; the message names the parameter")),
    (401, _problem("no API key, or an unknown or revoked one")),
    (403, _problem("the key's role or account may not see this")),
)
_NOT_FOUND = (404, _problem("no such report"))
_FAILED = (500, _problem("the server failed to answer; its log says why"))

_TZ = {
    "name": "tz",
    "in": "query",
    "required": False,
    "description": "IANA time zone the times are rendered in (stored in UTC); default UTC",
    "schema": {"type": "string", "default": "UTC", "examples": ["Europe/Paris"]},
}
_LANGUAGE = {
    "name": "Accept-Language",
    "in": "header",
    "required": False,
    "description": "en (default) or fr: status names and CSV columns",
    "schema": {"type": "string"},
}
_SECURITY: list[dict[str, list[str]]] = [{"apiKey": []}, {"bearer": []}]


def _responses(route: Route) -> list[tuple[int, Body]]:
    answers = [(200, route.ok), *route.others]
    if route.keyed:
        answers += _KEYED_ERRORS
    if "{report_id" in route.path:
        answers.append(_NOT_FOUND)
    return [*answers, _FAILED]


def _content(body: Body) -> dict[str, Any]:
    schema = {"$ref": REF.format(model=body.model.__name__)} if body.model else dict(body.schema)
    return {"description": body.description, "content": {body.media: {"schema": schema}}}


def _query_parameters(route: Route, definitions: dict[str, Any]) -> list[dict[str, Any]]:
    if route.query is None:
        return []
    schema = definitions[route.query.__name__]
    params = []
    for name, prop in schema["properties"].items():
        if name in route.without:
            continue
        param: dict[str, Any] = {
            "name": name,
            "in": "query",
            "required": name in schema.get("required", []),
            "schema": {k: v for k, v in prop.items() if k != "description"},
        }
        if prop.get("description"):
            param["description"] = prop["description"]
        if prop.get("type") == "array":
            param["explode"] = True
        params.append(param)
    return params


def _operation(route: Route, definitions: dict[str, Any]) -> dict[str, Any]:
    params = _query_parameters(route, definitions)
    if "{report_id" in route.path:
        params.append(
            {
                "name": "report_id",
                "in": "path",
                "required": True,
                "schema": {"type": "string", "examples": ["P123:2026-10"]},
            }
        )
    operation: dict[str, Any] = {"summary": route.summary}
    if route.keyed:
        operation["security"] = _SECURITY
        params += [_TZ, _LANGUAGE]
    if params:
        operation["parameters"] = params
    operation["responses"] = {str(status): _content(body) for status, body in _responses(route)}
    return operation


@cache
def openapi_document(routes: tuple[Route, ...]) -> dict[str, Any]:
    answers = {body.model for route in routes for _, body in _responses(route) if body.model}
    queries = {route.query for route in routes if route.query}
    _, definitions = models_json_schema(
        [(model, "serialization") for model in sorted(answers, key=lambda m: m.__name__)]
        + [(model, "validation") for model in sorted(queries, key=lambda m: m.__name__)],
        ref_template=REF,
    )
    schemas = definitions["$defs"]
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "lmp-billing read API",
            "version": "1",
            "description": "Billing reports for distributors and operations, usage reports "
            "for partners. Every answer is scoped to the API key's role and account.",
        },
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
                "bearer": {"type": "http", "scheme": "bearer"},
            },
        },
        "paths": {route.template: {"get": _operation(route, schemas)} for route in routes},
    }
