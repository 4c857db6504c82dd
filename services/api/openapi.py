"""The OpenAPI 3.1 document of the read API, built from the same pydantic models it uses."""

from __future__ import annotations

from functools import cache
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from schemas.api import (
    BillingReportSummary,
    Page,
    Problem,
    ReportQuery,
    UsageQuery,
    UsageReportDetail,
    UsageReportList,
)
from schemas.report import Report

REF = "#/components/schemas/{model}"

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
_REPORT_ID = {
    "name": "report_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "examples": ["P123:2026-10"]},
}


def _query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    schema = model.model_json_schema(ref_template=REF)
    params = []
    for name, prop in schema["properties"].items():
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


def _json(ref: str, description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": REF.format(model=ref)}}},
    }


_CSV = {"description": "CSV (RFC 4180)", "content": {"text/csv": {"schema": {"type": "string"}}}}
_ERRORS = {
    "400": _json("Problem", "the query is not valid; the message says which parameter"),
    "401": _json("Problem", "no API key, or an unknown or revoked one"),
    "403": _json("Problem", "the key's role or account may not see this"),
}


def _operation(summary: str, params: list[dict[str, Any]], ok: dict[str, Any]) -> dict[str, Any]:
    responses = {"200": ok, **_ERRORS}
    if _REPORT_ID in params:
        responses["404"] = _json("Problem", "no such report")
    return {
        "summary": summary,
        "security": [{"apiKey": []}, {"bearer": []}],
        "parameters": [*params, _TZ, _LANGUAGE],
        "responses": responses,
    }


@cache
def openapi_document() -> dict[str, Any]:
    _, definitions = models_json_schema(
        [
            (model, "serialization")
            for model in (
                Page,
                BillingReportSummary,
                UsageReportList,
                UsageReportDetail,
                Problem,
                Report,
            )
        ],
        ref_template=REF,
    )
    report_query = _query_parameters(ReportQuery)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "lmp-billing read API",
            "version": "1",
            "description": "Billing reports for distributors and operations, usage reports "
            "for partners. Every answer is scoped to the API key's role and account.",
        },
        "components": {
            "schemas": definitions["$defs"],
            "securitySchemes": {
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
                "bearer": {"type": "http", "scheme": "bearer"},
            },
        },
        "paths": {
            "/v1/billing-reports": {
                "get": _operation(
                    "List billing reports (distributor, operations)",
                    report_query,
                    _json("Page", "one page of reports and the total"),
                )
            },
            "/v1/billing-reports.csv": {
                "get": _operation(
                    "Export every report of a list query as CSV, streamed",
                    [p for p in report_query if p["name"] not in ("page", "page_size")],
                    _CSV,
                )
            },
            "/v1/billing-reports/{report_id}": {
                "get": _operation(
                    "One billing report in full: lines, discrepancies, prices, totals, history",
                    [_REPORT_ID],
                    _json(
                        "Report",
                        "the report document, with `report_id` for `_id`, `status` in the "
                        "distributor's names (see the list's status filter), `report_status`, "
                        "`status_label`, `status_code`, and each line's `discrepancy_state`; "
                        "without the outbox",
                    ),
                )
            },
            "/v1/billing-reports/{report_id}.csv": {
                "get": _operation("One billing report's lines as CSV", [_REPORT_ID], _CSV)
            },
            "/v1/usage-reports": {
                "get": _operation(
                    "The partner's usage reports: the last 12 months, or one year",
                    _query_parameters(UsageQuery),
                    _json("UsageReportList", "usage reports, newest cycle first"),
                )
            },
            "/v1/usage-reports/{report_id}": {
                "get": _operation(
                    "One usage report as the partner sees it (no pricing)",
                    [_REPORT_ID],
                    _json("UsageReportDetail", "the usage report"),
                )
            },
            "/health": {
                "get": {"summary": "Liveness", "responses": {"200": {"description": "up"}}}
            },
            "/ready": {
                "get": {
                    "summary": "Readiness: the database answers",
                    "responses": {
                        "200": {"description": "ready"},
                        "503": {"description": "not ready"},
                    },
                }
            },
            "/metrics": {
                "get": {
                    "summary": "Prometheus metrics",
                    "responses": {"200": {"description": "text exposition format"}},
                }
            },
        },
    }
