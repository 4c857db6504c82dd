# Over 300 lines: one generator (routes -> document -> pydantic schemas tidied), read together.
"""The OpenAPI 3.1 document of the read API, generated from its route table.

Each route names the pydantic models its handler takes (the query) and answers (every
status with its own body), so the document is pydantic's JSON schema of the very models
the handlers serialize; nothing about a body is written twice. The document is built from
the route table alone (no server, no database): ``lmp-billing openapi export`` writes it,
and ``docs/openapi.json`` is its committed copy.
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
PROBLEM_MEDIA = "application/problem+json"
DEFAULT_SERVER = "/"
"""The document's server: relative, so it names the API that serves it (RFC 3986 resolves
``/`` against the document's own URL). ``lmp-billing openapi export --server URL`` writes
an absolute one for a client generated elsewhere."""

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

TAGS = (
    ("billing-reports", "The distributor's and operations' billing reports: list, CSV, one."),
    ("usage-reports", "The partner's usage reports (distributor and operations name the partner)."),
    ("service", "The API's own endpoints, without a key: liveness, readiness, metrics, this."),
)

REPORT_ID_PATTERN = r"^[\s\S]{1,192}:[0-9]{4}-(0[1-9]|1[0-2])$"
"""A report id: the partner id (any characters), ':', and the cycle (``YYYY-MM``)."""


@dataclass(frozen=True)
class Body:
    """One answer of a route: its media type and, for JSON, the model it serializes."""

    description: str
    model: type[BaseModel] | None = None
    media: str = "application/json"
    schema: tuple[tuple[str, str], ...] = (("type", "string"),)
    """The schema of a body that is not a model (CSV, text)."""
    headers: tuple[str, ...] = ()
    """Names of ``HEADERS`` this answer always carries."""
    sometimes: tuple[str, ...] = ()
    """Names of ``HEADERS`` this answer carries when it has something to say in them."""


@dataclass(frozen=True)
class Route:
    """A GET endpoint as the router and the document both see it."""

    path: str
    handler: Handler
    operation_id: str
    tag: str
    summary: str
    ok: Body
    description: str = ""
    query: type[BaseModel] | None = None
    without: frozenset[str] = frozenset()
    """Fields of ``query`` this route does not take (the CSV export has no page)."""
    keyed: bool = True
    """Needs an API key; takes ``Accept-Language``."""
    zoned: bool = True
    """A keyed route whose answer has times: takes ``tz``."""
    database: bool = True
    """Reads the database: a 503 problem when it does not answer."""
    others: tuple[tuple[int, Body], ...] = ()

    @property
    def template(self) -> str:
        """The path as OpenAPI writes it: ``{report_id}``, without aiohttp's pattern."""
        return re.sub(r"\{(\w+):[^}]*\}", r"{\1}", self.path)


HEADERS: dict[str, dict[str, Any]] = {
    "Content-Language": {
        "description": "the language of labels and CSV columns: en or fr",
        "schema": {"type": "string", "enum": ["en", "fr"]},
    },
    "Content-Time-Zone": {
        "description": "the IANA time zone the answer's times are written in: `tz`, or UTC",
        "schema": {"type": "string", "examples": ["Europe/Paris"]},
    },
    "Content-Disposition": {
        "description": "attachment; an ASCII `filename` (unsafe characters replaced by '_') "
        "and the exact `filename*` (RFC 6266, RFC 5987)",
        "schema": {"type": "string"},
    },
    "WWW-Authenticate": {
        "description": "Bearer: the scheme a key is sent with",
        "schema": {"type": "string", "const": "Bearer"},
    },
    "Retry-After": {
        "description": "seconds to wait before asking again",
        "schema": {"type": "string", "pattern": "^[0-9]+$"},
    },
    "Allow": {
        "description": "the methods the path takes",
        "schema": {"type": "string", "examples": ["GET, HEAD, OPTIONS"]},
    },
    "Link": {
        "description": "the next page (RFC 8288), when there is one: this request with "
        "`cursor` set to the answer's next_cursor, relative to the URL asked",
        "schema": {
            "type": "string",
            "examples": [
                '</v1/billing-reports?cycle=2026-10&cursor=50~-~P123:2026-10>; rel="next"'
            ],
        },
    },
}


def _problem(description: str, *headers: str) -> Body:
    return Body(description, Problem, media=PROBLEM_MEDIA, headers=headers)


_BAD_REQUEST = (
    400,
    _problem(
        "a query parameter is not valid (a type, a pattern, a bound, an unknown parameter); "
        "`detail` names it"
    ),
)
_UNAUTHORIZED = (
    401,
    _problem(
        "no API key; an unknown, malformed or revoked one; an Authorization that is not "
        "`Bearer <key>`; or Authorization and X-API-Key naming different keys",
        "WWW-Authenticate",
    ),
)
_FORBIDDEN = (403, _problem("the key's role or account may not see this; `detail` says why"))
_NOT_FOUND = (404, _problem("no such report (or none this path can name)"))
_FAILED = (500, _problem("the server failed to answer; its log says why"))
_UNAVAILABLE = (
    503,
    _problem("the database does not answer; ask again after Retry-After", "Retry-After"),
)

_TZ = {
    "name": "tz",
    "in": "query",
    "required": False,
    "description": "IANA time zone the answer's times are written in (they are stored in UTC), "
    "e.g. Europe/Paris. A preference, like Accept-Language: a name this server does not "
    "know is answered in UTC, never refused. Every time carries its UTC offset, and the "
    "Content-Time-Zone header names the zone used.",
    "schema": {"type": "string", "default": "UTC", "examples": ["Europe/Paris"]},
}
_LANGUAGE = {
    "name": "Accept-Language",
    "in": "header",
    "required": False,
    "description": "en (default) or fr, with the usual q-values: status labels and CSV columns. "
    "Any other language is answered in English; Content-Language names the one used.",
    "schema": {"type": "string", "examples": ["fr-FR,fr;q=0.9,en;q=0.5"]},
}
_REPORT_ID = {
    "name": "report_id",
    "in": "path",
    "required": True,
    "description": "`<partner id>:<cycle>`; percent-encode what a path segment cannot hold",
    "schema": {
        "type": "string",
        "pattern": REPORT_ID_PATTERN,
        "maxLength": 200,
        "examples": ["P123:2026-10"],
    },
}
_SECURITY: list[dict[str, list[str]]] = [{"apiKey": []}, {"bearer": []}]

_METHODS_NOTE = (
    "Every path takes GET, HEAD (GET without the body) and OPTIONS (204, with `Allow`); "
    "any other method is answered 405 with `Allow` (components.responses.MethodNotAllowed), "
    "and an unknown path 404, both as problem details."
)


def _responses(route: Route) -> list[tuple[int, Body]]:
    answers = [(200, route.ok), *route.others]
    if route.query is not None:
        answers.append(_BAD_REQUEST)
    if route.keyed:
        answers += [_UNAUTHORIZED, _FORBIDDEN]
    if "{report_id" in route.path:
        answers.append(_NOT_FOUND)
    answers.append(_FAILED)
    if route.database and all(status != 503 for status, _ in answers):
        answers.append(_UNAVAILABLE)
    return sorted(answers, key=lambda answer: answer[0])


def _answer_headers(route: Route, status: int, body: Body) -> tuple[str, ...]:
    if status == 200 and route.keyed:
        zone = ("Content-Time-Zone",) if route.zoned else ()
        return ("Content-Language", *zone, *body.headers)
    return body.headers


def _content(
    body: Body, headers: tuple[str, ...], sometimes: tuple[str, ...] = ()
) -> dict[str, Any]:
    schema = {"$ref": REF.format(model=body.model.__name__)} if body.model else dict(body.schema)
    answer: dict[str, Any] = {"description": body.description}
    if headers or sometimes:
        answer["headers"] = {name: {**HEADERS[name], "required": True} for name in headers}
        answer["headers"] |= {name: {**HEADERS[name], "required": False} for name in sometimes}
    answer["content"] = {body.media: {"schema": schema}}
    return answer


def _without_null(prop: dict[str, Any]) -> dict[str, Any]:
    """A query parameter is absent or a string: ``X | None`` is written as ``X``."""
    options = prop.get("anyOf")
    if options and {"type": "null"} in options:
        rest = [o for o in options if o != {"type": "null"}]
        prop = {k: v for k, v in prop.items() if k != "anyOf"}
        prop = {**(rest[0] if len(rest) == 1 else {"anyOf": rest}), **prop}
        if prop.get("default", ...) is None:
            del prop["default"]
    return prop


def _query_parameters(route: Route, definitions: dict[str, Any]) -> list[dict[str, Any]]:
    if route.query is None:
        return []
    schema = definitions[route.query.__name__]
    params = []
    for name, prop in schema["properties"].items():
        if name in route.without:
            continue
        prop = _without_null(prop)
        param: dict[str, Any] = {"name": name, "in": "query"}
        if prop.get("description"):
            param["description"] = prop["description"]
        param["required"] = name in schema.get("required", [])
        param["schema"] = {k: v for k, v in prop.items() if k not in ("description", "title")}
        if prop.get("type") == "array":
            param["explode"] = True
        params.append(param)
    return params


def _operation(route: Route, definitions: dict[str, Any]) -> dict[str, Any]:
    params = _query_parameters(route, definitions)
    if "{report_id" in route.path:
        params.insert(0, _REPORT_ID)
    operation: dict[str, Any] = {
        "operationId": route.operation_id,
        "tags": [route.tag],
        "summary": route.summary,
    }
    if route.description:
        operation["description"] = route.description
    if route.keyed:
        operation["security"] = _SECURITY
        params += [_TZ, _LANGUAGE] if route.zoned else [_LANGUAGE]
    if params:
        operation["parameters"] = params
    operation["responses"] = {
        str(status): _content(body, _answer_headers(route, status, body), body.sometimes)
        for status, body in _responses(route)
    }
    return operation


def _info() -> dict[str, Any]:
    return {
        "title": "lmp-billing read API",
        "version": "1",
        "description": (
            "Billing reports for distributors and operations, usage reports for partners. "
            "Every /v1 answer is scoped to the API key's role and account; send the key as "
            "`Authorization: Bearer <key>` or `X-API-Key` (both at once only if they name "
            "the same key). Every error is problem details (RFC 9457, "
            "`application/problem+json`): `type`, `title`, `status`, `detail` (for a person) "
            f"and `code` (for a program). {_METHODS_NOTE} More in docs/api.md."
        ),
    }


@cache
def openapi_document(routes: tuple[Route, ...], server: str = DEFAULT_SERVER) -> dict[str, Any]:
    """The document of ``routes``, served from ``server`` (default: relative ``/``)."""
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
        "info": _info(),
        "servers": [
            {
                "url": server,
                "description": "the API serving this document"
                if server == DEFAULT_SERVER
                else "the read API",
            }
        ],
        "tags": [{"name": name, "description": text} for name, text in TAGS],
        "paths": {route.template: {"get": _operation(route, schemas)} for route in routes},
        "components": {
            "schemas": schemas,
            "responses": {
                "MethodNotAllowed": _content(
                    Body(
                        "a method the path does not take; Allow names those it does",
                        Problem,
                        media=PROBLEM_MEDIA,
                    ),
                    ("Allow",),
                ),
            },
            "securitySchemes": {
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
                "bearer": {"type": "http", "scheme": "bearer"},
            },
        },
    }
