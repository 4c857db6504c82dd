"""The read API keeps its OpenAPI document's word, against the real database: schemathesis
with every check finds nothing, a client generated from the document reads a report, and
report ids no path or header can be broken by."""

from __future__ import annotations

import asyncio
import importlib
import json
import shutil
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from aiohttp import ClientSession
from aiohttp.test_utils import TestServer
from yarl import URL

from schemas.api import Role
from schemas.report import ReportStatus, SubmissionKind
from services.api.auth import new_key
from services.api.run import api_context
from services.api.server import build_api
from services.cli.openapi import document_text
from services.settings import PROJECT_ROOT
from tests.builders import report
from tests.harness import Servers, unique
from tests.integration.read_api_support import seeded_store

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
ODD_PARTNERS = ['P-"Q', "P-CR\r\nLF", "Pärtner/Ünï", "P-%41", "P;x=1,y"]
SEEDED = [
    report("P-ACME", "2026-10", ReportStatus.UNDER_REVIEW, SubmissionKind.AUTOMATIC_WITH_PENALTIES),
    report("P-BETA", "2026-10", ReportStatus.UNDER_REVIEW, SubmissionKind.MANUAL, comment="ok"),
    report("P-ACME", "2026-09", ReportStatus.COMPLETED, SubmissionKind.MANUAL),
    *(report(p, "2026-09", ReportStatus.MSP_PREPARING) for p in ODD_PARTNERS),
]

MAX_EXAMPLES = 30
"""Test cases per operation and phase: enough to meet every parameter rule, and the whole
run stays near a minute on two busy cores."""
SCHEMATHESIS_SECONDS = 240


@dataclass
class LiveApi:
    base: str
    key: str


@pytest.fixture(scope="module")
async def live(servers: Servers) -> AsyncIterator[LiveApi]:
    settings, store = await seeded_store(servers, "lmp_contract_", SEEDED, NOW)
    plaintext, stored = new_key(Role.OPERATIONS, None, "contract tests", NOW)
    await store.save_api_key(stored)
    ctx = api_context(settings)
    ctx.clock = lambda: NOW
    server = TestServer(build_api(ctx))
    await server.start_server()
    try:
        yield LiveApi(str(server.make_url("")).rstrip("/"), plaintext)
    finally:
        await server.close()
        await ctx.store.close()
        await store.close()


async def test_schemathesis_with_every_check_finds_nothing(live: LiveApi, tmp_path: Path) -> None:
    """Every phase (examples, coverage, fuzzing, stateful) and every check, against the
    document the API serves, with an operations key (it may read every report)."""
    st = Path(sys.executable).parent / "st"
    process = await asyncio.create_subprocess_exec(
        str(st),
        "run",
        f"{live.base}/openapi.json",
        "--checks",
        "all",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--workers",
        "1",
        "--generation-database",
        "none",
        "--request-timeout",
        "20",
        "--no-color",
        "-H",
        f"Authorization: Bearer {live.key}",
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        out, _ = await asyncio.wait_for(process.communicate(), SCHEMATHESIS_SECONDS)
    except TimeoutError:
        process.kill()
        await process.wait()
        pytest.fail(f"schemathesis did not finish within {SCHEMATHESIS_SECONDS} s")
    text = out.decode(errors="replace")
    summary = text[text.rfind("SUMMARY") :] if "SUMMARY" in text else text[-4000:]
    assert process.returncode == 0, text[-12000:]
    assert "No issues found" in summary, summary
    print(summary)


def _generator() -> str:
    """openapi-python-client: beside this Python, in ``.venv/codegen`` (its typer pin
    clashes with ours, so scripts/bootstrap.sh gives it a virtualenv of its own), or on PATH."""
    for candidate in (
        Path(sys.executable).parent / "openapi-python-client",
        PROJECT_ROOT / ".venv" / "codegen" / "bin" / "openapi-python-client",
    ):
        if candidate.exists():
            return str(candidate)
    found = shutil.which("openapi-python-client")
    if found is None:
        pytest.fail("openapi-python-client is not installed (scripts/bootstrap.sh: .venv/codegen)")
    return found


async def test_a_client_generated_from_the_document_reads_a_report(
    live: LiveApi, tmp_path: Path
) -> None:
    document = tmp_path / "openapi.json"
    document.write_text(document_text(), encoding="utf-8")
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"post_hooks": []}))
    package = unique("lmp_client_")
    process = await asyncio.create_subprocess_exec(
        _generator(),
        "generate",
        "--path",
        str(document),
        "--output-path",
        str(tmp_path / package),
        "--meta",
        "none",
        "--config",
        str(config),
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(process.communicate(), 120)
    generated = out.decode(errors="replace")
    assert process.returncode == 0, generated
    assert "Warning" not in generated, generated

    sys.path.insert(0, str(tmp_path))
    try:
        client_module: Any = importlib.import_module(package)
        reports: Any = importlib.import_module(f"{package}.api.billing_reports")
        models: Any = importlib.import_module(f"{package}.models")
    finally:
        sys.path.remove(str(tmp_path))
    importlib.import_module(f"{package}.api.billing_reports.get_billing_report")
    importlib.import_module(f"{package}.api.billing_reports.list_billing_reports")

    async with client_module.AuthenticatedClient(base_url=live.base, token=live.key) as client:
        one = await reports.get_billing_report.asyncio(
            "P-ACME:2026-10", client=client, tz="Europe/Paris"
        )
        assert isinstance(one, models.BillingReportDetail), one
        assert (one.report_id, one.partner_id, one.cycle) == ("P-ACME:2026-10", "P-ACME", "2026-10")
        assert one.status == models.BillingStatus.AUTOMATIC_SUBMISSION_PENALTIES
        assert one.total_amount == "158.80"
        assert [line.product_id for line in one.lines] == ["PROD-A", "PROD-B"]
        assert one.deadline == "2026-11-06T01:00:00+01:00"

        page = await reports.list_billing_reports.asyncio(
            client=client, cycle="2026-10", sort=models.SortKey.PARTNER_ID
        )
        assert isinstance(page, models.Page), page
        assert [item.report_id for item in page.items] == ["P-ACME:2026-10", "P-BETA:2026-10"]

        odd = await reports.get_billing_report.asyncio('P-"Q:2026-09', client=client)
        assert isinstance(odd, models.BillingReportDetail), odd

        missing = await reports.get_billing_report.asyncio("P-NOBODY:2026-10", client=client)
        assert isinstance(missing, models.Problem), missing
        assert (missing.status, missing.code) == (404, "not_found")


async def _raw(live: LiveApi, path: str) -> tuple[int, dict[str, str], str]:
    url = URL(live.base + path, encoded=True)
    async with (
        ClientSession() as session,
        session.get(url, headers={"X-API-Key": live.key}) as resp,
    ):
        return resp.status, dict(resp.headers), await resp.text()


@pytest.mark.parametrize("partner", ODD_PARTNERS)
async def test_any_stored_report_id_reads_and_downloads(live: LiveApi, partner: str) -> None:
    path = "/v1/billing-reports/" + quote(f"{partner}:2026-09", safe="")
    status, _, body = await _raw(live, path)
    assert status == 200, body
    assert json.loads(body)["partner_id"] == partner
    status, headers, body = await _raw(live, path + ".csv")
    assert status == 200, body
    disposition = headers["Content-Disposition"]
    fallback = disposition.split('filename="', 1)[1].split('"', 1)[0]
    assert fallback.isascii()
    assert not set(fallback) & set('"\\/\r\n:;%')
    assert disposition.endswith("filename*=UTF-8''" + quote(f"{partner}_2026-09.csv", safe=""))


@pytest.mark.parametrize(
    "raw", ["%22%0D%0A:2026-09", "%ZZ:2026-09", "%00:2026-09", "%E2%80%AE%0A:2026-09", "%FF%FE"]
)
async def test_ids_that_name_no_report_are_a_well_formed_404(live: LiveApi, raw: str) -> None:
    for suffix in ("", ".csv"):
        status, headers, body = await _raw(live, f"/v1/billing-reports/{raw}{suffix}")
        assert status == 404, body
        assert headers["Content-Type"].startswith("application/problem+json")
        assert json.loads(body)["code"] == "not_found"
