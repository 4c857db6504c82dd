"""The OpenAPI document: built without a server, complete for a generator, committed."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from openapi_spec_validator import validate as validate_openapi

from services.api.openapi import REPORT_ID_PATTERN
from services.cli.openapi import COMMITTED, document_text
from services.settings import PROJECT_ROOT

pytestmark = pytest.mark.unit

ERRORS = {"400", "401", "403", "404", "500", "503"}


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return dict(json.loads(document_text()))


def operations(document: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(path, item["get"]) for path, item in document["paths"].items()]


def test_the_committed_document_is_the_one_the_code_builds() -> None:
    committed = PROJECT_ROOT / COMMITTED
    assert committed.read_text(encoding="utf-8") == document_text(), (
        f"{COMMITTED} differs from the read API's route table and models: regenerate it with "
        f"`lmp-billing openapi export {COMMITTED}` and commit the result"
    )


def test_the_document_is_valid_openapi_3_1_with_a_server(document: dict[str, Any]) -> None:
    validate_openapi(document)
    assert document["openapi"] == "3.1.0"
    assert document["servers"] == [{"url": "/", "description": "the API serving this document"}]
    assert json.loads(document_text("https://billing.example/"))["servers"][0]["url"] == (
        "https://billing.example/"
    )


def test_every_operation_has_a_name_a_tag_and_problem_details_for_its_errors(
    document: dict[str, Any],
) -> None:
    names = [op["operationId"] for _, op in operations(document)]
    assert names == [
        "listBillingReports",
        "exportBillingReportsCsv",
        "exportBillingReportCsv",
        "getBillingReport",
        "listBillingReportHistory",
        "listUsageReports",
        "getUsageReport",
        "getHealth",
        "getReadiness",
        "getMetrics",
        "getOpenapiDocument",
    ]
    tags = {tag["name"] for tag in document["tags"]}
    for path, op in operations(document):
        assert len(op["tags"]) == 1, path
        assert op["tags"][0] in tags, path
        for status, answer in op["responses"].items():
            if status in ERRORS and not (path == "/ready" and status == "503"):
                assert list(answer["content"]) == ["application/problem+json"], (path, status)
                assert answer["content"]["application/problem+json"]["schema"] == {
                    "$ref": "#/components/schemas/Problem"
                }
        if "security" in op:
            assert {"401", "403"} <= set(op["responses"]), path
            assert op["responses"]["401"]["headers"]["WWW-Authenticate"]["required"]
    problem = document["components"]["schemas"]["Problem"]
    assert set(problem["required"]) == {"type", "title", "status", "detail", "code"}
    allow = document["components"]["responses"]["MethodNotAllowed"]["headers"]["Allow"]
    assert allow["required"]


def test_parameters_state_their_rules(document: dict[str, Any]) -> None:
    listing = dict(operations(document))["/v1/billing-reports"]
    params = {p["name"]: p for p in listing["parameters"]}
    assert params["cycle"]["schema"]["pattern"] == r"^[0-9]{4}-(0[1-9]|1[0-2])$"
    assert "all of them apply" in params["cycle"]["description"]
    assert "ceiling is used" in params["page_size"]["description"]
    assert "never refused" in params["tz"]["description"]
    assert all("null" not in json.dumps(p["schema"]) for p in params.values())
    usage = dict(operations(document))["/v1/usage-reports"]
    assert "without it they are answered 403" in usage["description"]
    one = dict(operations(document))["/v1/billing-reports/{report_id}"]
    report_id = one["parameters"][0]
    assert report_id["schema"]["pattern"] == REPORT_ID_PATTERN
    for good in ("P123:2026-10", 'P-"Q\r\n/ü:2026-01'):
        assert re.fullmatch(REPORT_ID_PATTERN, good)
    for bad in ("P123", "P123:2026-13", ":2026-10"):
        assert not re.fullmatch(REPORT_ID_PATTERN, bad)


def test_export_writes_the_file_and_stdout(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from services.cli import main

    target = tmp_path / "out" / "openapi.json"
    assert main(["openapi", "export", str(target)]) == 0
    assert target.read_text(encoding="utf-8") == document_text()
    capsys.readouterr()
    assert main(["openapi", "export", "-", "--server", "http://api:8080"]) == 0
    assert json.loads(capsys.readouterr().out)["servers"][0]["url"] == "http://api:8080"
