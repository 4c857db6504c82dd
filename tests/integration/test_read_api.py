"""The read API against the real database: filters, paging, scoping, CSV, the partner view."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import ClientSession
from aiohttp.test_utils import TestServer
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from openapi_spec_validator import validate as validate_openapi

from schemas.accounts import DistributorAccount, PartnerAccount, RegionSettings
from schemas.api import Role
from schemas.report import ActorKind, HistoryEntry, HistoryRecord, ReportStatus, SubmissionKind
from services.adapters.store import Store
from services.adapters.store.bounds import history_key
from services.api.auth import new_key
from services.api.run import api_context
from services.api.server import build_api
from tests.builders import GAMMA_NAME, report
from tests.harness import Servers
from tests.integration.read_api_support import seeded_store

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
PAGED = 230

DATA_SET = [
    report("P-ACME", "2026-10", ReportStatus.UNDER_REVIEW, SubmissionKind.AUTOMATIC_WITH_PENALTIES),
    report("P-BETA", "2026-10", ReportStatus.UNDER_REVIEW, SubmissionKind.MANUAL, comment="ok"),
    report(
        "P-GAMMA",
        "2026-10",
        ReportStatus.UNDER_REVIEW,
        SubmissionKind.AUTOMATIC_WITH_PENALTIES,
        po_number='PO-7, "rush"',
    ),
    report("P-EQ", "2026-10", ReportStatus.MSP_PREPARING, comment="=HYPERLINK()"),
    report("P-ACME", "2026-09", ReportStatus.SUBMITTED_TO_TRENDMICRO, SubmissionKind.MANUAL),
    report("P-BETA", "2026-09", ReportStatus.REJECTED, SubmissionKind.MANUAL),
    report("P-ACME", "2025-10", ReportStatus.COMPLETED, SubmissionKind.MANUAL),
    report(
        "P-DELTA", "2026-10", ReportStatus.UNDER_REVIEW, SubmissionKind.AUTOMATIC_WITH_PENALTIES
    ),
    *(report(f"P-BULK-{i:03d}", "2026-08", ReportStatus.MSP_PREPARING) for i in range(PAGED)),
]


@dataclass
class Api:
    client: ClientSession
    base: str
    store: Store
    keys: dict[str, str]

    async def get(
        self, path: str, key: str | None = "d1", lang: str | None = None, **params: Any
    ) -> tuple[int, Any, dict[str, str]]:
        headers = {}
        if key is not None:
            headers["Authorization"] = f"Bearer {self.keys.get(key, key)}"
        if lang:
            headers["Accept-Language"] = lang
        async with self.client.get(
            self.base + path, params=_multi(params), headers=headers
        ) as resp:
            body = await resp.text()
            json_types = ("application/json", "application/problem+json")
            parsed = await resp.json(content_type=None) if resp.content_type in json_types else body
            return resp.status, parsed, dict(resp.headers)


def _multi(params: dict[str, Any]) -> list[tuple[str, str]]:
    out = []
    for name, value in params.items():
        for item in value if isinstance(value, list) else [value]:
            out.append((name, str(item)))
    return out


@pytest.fixture(scope="module")
async def api(servers: Servers) -> AsyncIterator[Api]:
    settings, store = await seeded_store(servers, "lmp_api_", DATA_SET, NOW)
    for distributor in ("D1", "D2"):
        await store.save_distributor(
            DistributorAccount(distributor_id=distributor, name=distributor, region="EU"), NOW
        )
    keys = {}
    for label, role, account in (
        ("d1", Role.DISTRIBUTOR, "D1"),
        ("ops", Role.OPERATIONS, None),
        ("acme", Role.PARTNER, "P-ACME"),
        ("revoked", Role.OPERATIONS, None),
    ):
        plaintext, stored = new_key(role, account, label, NOW)
        await store.save_api_key(stored)
        keys[label] = plaintext
        if label == "revoked":
            await store.revoke_api_key(stored.key_id, NOW)
    ctx = api_context(settings)
    ctx.clock = lambda: NOW
    server = TestServer(build_api(ctx))
    await server.start_server()
    try:
        async with ClientSession() as client:
            yield Api(client, str(server.make_url("")), store, keys)
    finally:
        await server.close()
        await ctx.store.close()
        await store.close()


def ids(page: dict[str, Any]) -> list[str]:
    return [item["report_id"] for item in page["items"]]


def parse_csv(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


async def test_which_of_my_partners_reports_for_october_are_under_review_with_penalties(
    api: Api,
) -> None:
    status, page, headers = await api.get(
        "/v1/billing-reports", cycle="2026-10", status="automatic_submission_penalties"
    )
    assert status == 200
    assert ids(page) == ["P-ACME:2026-10", "P-GAMMA:2026-10"]
    assert page["total"] == 2
    first = page["items"][0]
    assert first["status_label"] == "Automatic submission (Penalties)"
    assert first["status_code"] == 1
    assert first["total_amount"] == "158.80"
    assert headers["Content-Language"] == "en"
    assert headers["Vary"] == "Accept-Language"


async def test_export_of_the_same_query_is_csv_with_exact_figures_and_quoting(api: Api) -> None:
    status, text, headers = await api.get(
        "/v1/billing-reports.csv", cycle="2026-10", status="automatic_submission_penalties"
    )
    assert status == 200
    assert headers["Content-Type"].startswith("text/csv")
    rows = parse_csv(text)
    assert rows[0][:3] == ["Report", "Report cycle", "Partner ID"]
    assert [r[0] for r in rows[1:]] == ["P-ACME:2026-10", "P-GAMMA:2026-10"]
    gamma = dict(zip(rows[0], rows[2], strict=True))
    assert gamma["Partner"] == GAMMA_NAME
    assert gamma["PO number"] == 'PO-7, "rush"'
    assert gamma["Total amount"] == "158.80"
    assert gamma["Status"] == "Automatic submission (Penalties)"
    assert '"Gamma, ""Quoted"" Ltd"' in text
    assert text.endswith("\r\n")


async def test_csv_and_labels_in_french(api: Api) -> None:
    _, text, headers = await api.get(
        "/v1/billing-reports.csv",
        lang="fr-FR,fr;q=0.9,en;q=0.5",
        cycle="2026-10",
        status="automatic_submission_penalties",
    )
    rows = parse_csv(text)
    assert headers["Content-Language"] == "fr"
    assert rows[0][:2] == ["Rapport", "Cycle de rapports"]
    assert rows[1][rows[0].index("État")] == "Soumission automatique (pénalités)"
    _, page, _ = await api.get("/v1/billing-reports", lang="de, fr;q=0.3", cycle="2026-09")
    assert {i["status_label"] for i in page["items"]} == {
        "Soumis à Trend Micro",
        "Rejeté (renvoyé au partenaire)",
    }


async def test_formula_like_text_is_neutralised_in_csv(api: Api) -> None:
    _, text, _ = await api.get("/v1/billing-reports.csv", partner="formula")
    rows = parse_csv(text)
    assert rows[1][rows[0].index("Partner")] == "'=Formula Inc"
    _, one, _ = await api.get("/v1/billing-reports/P-EQ:2026-10.csv")
    lines = parse_csv(one)
    assert lines[1][lines[0].index("Partner comment")] == "'=HYPERLINK()"


async def test_partner_search_on_id_and_name(api: Api) -> None:
    _, by_name, _ = await api.get("/v1/billing-reports", partner="acme cl")
    assert ids(by_name) == ["P-ACME:2026-10", "P-ACME:2026-09", "P-ACME:2025-10"]
    _, by_quote, _ = await api.get("/v1/billing-reports", partner='"quoted"')
    assert ids(by_quote) == ["P-GAMMA:2026-10"]
    _, by_id, _ = await api.get("/v1/billing-reports", partner="p-bet")
    assert ids(by_id) == ["P-BETA:2026-10", "P-BETA:2026-09"]
    _, other, _ = await api.get("/v1/billing-reports", partner="delta")
    assert other["total"] == 0
    _, everyone, _ = await api.get("/v1/billing-reports", partner="all", page_size=1)
    assert everyone["total"] == 7 + PAGED


async def test_cycle_range_status_sets_and_sorting(api: Api) -> None:
    _, ranged, _ = await api.get(
        "/v1/billing-reports", cycle_from="2026-09", cycle_to="2026-10", sort="partner_id"
    )
    assert ids(ranged) == [
        "P-ACME:2026-10",
        "P-ACME:2026-09",
        "P-BETA:2026-10",
        "P-BETA:2026-09",
        "P-EQ:2026-10",
        "P-GAMMA:2026-10",
    ]
    _, closed, _ = await api.get("/v1/billing-reports", status=["rejected", "completed"])
    assert ids(closed) == ["P-BETA:2026-09", "P-ACME:2025-10"]
    _, mixed, _ = await api.get(
        "/v1/billing-reports", cycle="2026-10", status="manual_submission,msp_preparing"
    )
    assert ids(mixed) == ["P-BETA:2026-10", "P-EQ:2026-10"]
    _, review, _ = await api.get("/v1/billing-reports", status="under_review")
    assert ids(review) == ["P-ACME:2026-10", "P-BETA:2026-10", "P-GAMMA:2026-10"]


async def test_paging_covers_every_report_once(api: Api) -> None:
    seen: list[str] = []
    for number in (1, 2, 3):
        status, page, _ = await api.get(
            "/v1/billing-reports", cycle="2026-08", page=number, page_size=100
        )
        assert status == 200
        assert (page["total"], page["pages"], page["page"]) == (PAGED, 3, number)
        seen += ids(page)
    assert len(seen) == PAGED
    assert seen == sorted(seen)
    assert len(set(seen)) == PAGED
    _, beyond, _ = await api.get("/v1/billing-reports", cycle="2026-08", page=4, page_size=100)
    assert (beyond["items"], beyond["total"]) == ([], PAGED)


@pytest.mark.parametrize(
    ("params", "names"),
    [
        ({"status": "bogus"}, "status"),
        ({"status": ""}, "status"),
        ({"page_size": "0"}, "page_size"),
        ({"page": "0"}, "page"),
        ({"cycle": "2026-13"}, "cycle"),
        ({"colour": "blue"}, "colour"),
        ({"page": "99999999999999999999"}, "page"),
    ],
)
async def test_bad_queries_say_what_is_wrong(api: Api, params: dict[str, str], names: str) -> None:
    status, body, headers = await api.get("/v1/billing-reports", **params)
    assert status == 400
    assert headers["Content-Type"].startswith("application/problem+json")
    assert (body["status"], body["title"], body["code"]) == (400, "Bad Request", "bad_request")
    assert body["type"] == "about:blank"
    assert names in body["detail"]


async def test_cycle_filters_combine_and_a_contradiction_is_an_empty_list(api: Api) -> None:
    _, both, _ = await api.get(
        "/v1/billing-reports", cycle="2026-10", cycle_from="2026-09", sort="partner_id"
    )
    _, one, _ = await api.get("/v1/billing-reports", cycle="2026-10", sort="partner_id")
    assert ids(both) == ids(one) != []
    status, none, _ = await api.get("/v1/billing-reports", cycle="2026-10", cycle_from="2026-11")
    assert (status, none["total"]) == (200, 0)
    status, empty, _ = await api.get(
        "/v1/billing-reports", cycle_from="2026-10", cycle_to="2026-09"
    )
    assert (status, empty["items"]) == (200, [])


async def test_time_zone_and_page_size_are_preferences_never_refusals(api: Api) -> None:
    status, page, headers = await api.get("/v1/billing-reports", tz="Mars/Olympus_Mons")
    assert (status, headers["Content-Time-Zone"]) == (200, "UTC")
    assert page["items"][0]["updated_at"].endswith("+00:00")
    for odd in ("America", "../../etc/passwd", "Europe/Paris\\x", ""):
        assert (await api.get("/v1/billing-reports", tz=odd))[0] == 200
    _, _, paris = await api.get("/v1/billing-reports", tz="Europe/Paris")
    assert paris["Content-Time-Zone"] == "Europe/Paris"
    status, big, _ = await api.get("/v1/billing-reports", page_size=100_000)
    assert (status, big["page_size"], len(big["items"])) == (200, 500, big["total"])


async def test_authentication_and_scoping(api: Api) -> None:
    status, body, headers = await api.get("/v1/billing-reports", key=None)
    assert (status, body["code"], body["title"]) == (401, "unauthorized", "Unauthorized")
    assert "API key is required" in body["detail"]
    assert headers["WWW-Authenticate"] == "Bearer"
    status, body, _ = await api.get("/v1/billing-reports", key="lmp_nothere_secret")
    assert (status, body["detail"]) == (401, "unknown API key")
    tampered = api.keys["d1"][:-2] + "xx"
    assert (await api.get("/v1/billing-reports", key=tampered))[0] == 401
    status, body, _ = await api.get("/v1/billing-reports", key="revoked")
    assert status == 401
    assert "revoked" in body["detail"]
    status, body, _ = await api.get("/v1/billing-reports", key="acme")
    assert (status, body["code"]) == (403, "forbidden")
    assert "/v1/usage-reports" in body["detail"]
    status, body, _ = await api.get("/v1/billing-reports/P-DELTA:2026-10")
    assert status == 403
    assert "does not review reports of partner P-DELTA" in body["detail"]
    status, _, _ = await api.get("/v1/billing-reports/P-DELTA:2026-10.csv")
    assert status == 403
    status, body, _ = await api.get("/v1/billing-reports/P-NOBODY:2026-10")
    assert (status, body["code"], body["status"]) == (404, "not_found", 404)
    _, everything, _ = await api.get("/v1/billing-reports", key="ops", cycle="2026-10")
    assert "P-DELTA:2026-10" in ids(everything)
    _, mine, _ = await api.get("/v1/billing-reports", cycle="2026-10")
    assert "P-DELTA:2026-10" not in ids(mine)


async def test_one_report_in_full_in_the_callers_time_zone(api: Api) -> None:
    status, body, _ = await api.get("/v1/billing-reports/P-GAMMA:2026-10", tz="Europe/Paris")
    assert status == 200
    assert body["report_id"] == "P-GAMMA:2026-10"
    assert body["status"] == "automatic_submission_penalties"
    assert body["report_status"] == "under_review"
    assert body["deadline"] == "2026-11-06T01:00:00+01:00"
    a = body["lines"][0]
    assert (a["provisioned_units"], a["chargeable_units"], a["overprovisioned_pct"]) == (
        15,
        13,
        "13.33",
    )
    assert a["discrepancy_state"] == "unexplained"
    assert a["subtotal"] == "98.80"
    assert body["total_amount"] == "158.80"
    assert body["history"][0]["action"] == "report-opened"
    assert "outbox" not in body
    _, utc_body, _ = await api.get("/v1/billing-reports/P-GAMMA:2026-10")
    assert utc_body["deadline"] == "2026-11-06T00:00:00+00:00"


async def test_one_report_as_csv(api: Api) -> None:
    status, text, headers = await api.get("/v1/billing-reports/P-BETA:2026-10.csv")
    assert status == 200
    assert 'filename="P-BETA_2026-10.csv"' in headers["Content-Disposition"]
    rows = parse_csv(text)
    header, a, b = rows
    line_a = dict(zip(header, a, strict=True))
    assert line_a["Product"] == "PROD-A"
    assert line_a["Discrepancy"] == "explained"
    assert (line_a["Unit price"], line_a["Channel margin"], line_a["Subtotal"]) == (
        "8.00",
        "0.05",
        "98.80",
    )
    assert dict(zip(header, b, strict=True))["Used units"] == ""


async def test_partner_view_last_twelve_months_or_a_year(api: Api) -> None:
    status, body, _ = await api.get("/v1/usage-reports", key="acme")
    assert status == 200
    assert (body["from_cycle"], body["to_cycle"]) == ("2025-12", "2026-11")
    assert [i["report_id"] for i in body["items"]] == ["P-ACME:2026-10", "P-ACME:2026-09"]
    assert [i["status_label"] for i in body["items"]] == ["Under review", "Approved"]
    assert body["items"][0]["unexplained_discrepancies"] == 1
    assert body["items"][0]["editable"] is False
    _, year, _ = await api.get("/v1/usage-reports", key="acme", year=2025)
    assert [i["report_id"] for i in year["items"]] == ["P-ACME:2025-10"]
    _, fr, _ = await api.get("/v1/usage-reports", key="acme", lang="fr")
    assert fr["items"][1]["status_label"] == "Approuvé"


async def test_partner_sees_its_usage_report_without_pricing(api: Api) -> None:
    status, body, _ = await api.get("/v1/usage-reports/P-ACME:2026-10", key="acme")
    assert status == 200
    assert body["status_label"] == "Under review"
    assert set(body["lines"][0]) >= {"product_id", "chargeable_units", "discrepancy_state"}
    assert "unit_price" not in body["lines"][0]
    assert "total_amount" not in body
    status, body, _ = await api.get("/v1/usage-reports/P-BETA:2026-10", key="acme")
    assert status == 403
    assert "P-BETA's report" in body["detail"]
    status, _, _ = await api.get("/v1/usage-reports", key="acme", partner_id="P-BETA")
    assert status == 403


async def test_distributor_and_operations_read_a_partners_usage_reports(api: Api) -> None:
    status, body, _ = await api.get("/v1/usage-reports", partner_id="P-BETA")
    assert status == 200
    assert [i["report_id"] for i in body["items"]] == ["P-BETA:2026-10", "P-BETA:2026-09"]
    status, body, _ = await api.get("/v1/usage-reports", partner_id="P-DELTA")
    assert (status, body["items"]) == (200, [])
    status, body, _ = await api.get("/v1/usage-reports")
    assert (status, body["code"]) == (403, "forbidden")
    assert "name the partner with partner_id" in body["detail"]
    status, body, _ = await api.get("/v1/usage-reports", key="ops", partner_id="P-DELTA")
    assert [i["report_id"] for i in body["items"]] == ["P-DELTA:2026-10"]


async def test_health_readiness_openapi_and_metrics(api: Api) -> None:
    assert (await api.get("/health", key=None))[:2] == (200, {"status": "ok"})
    status, body, _ = await api.get("/ready", key=None)
    assert status == 200
    assert body["checks"] == {"database": "ok", "kafka": "ok"}
    status, doc, _ = await api.get("/openapi.json", key=None)
    assert status == 200
    assert doc["openapi"].startswith("3.")
    params = {p["name"] for p in doc["paths"]["/v1/billing-reports"]["get"]["parameters"]}
    assert {"cycle", "cycle_from", "cycle_to", "status", "partner", "page", "sort"} <= params
    status, text, _ = await api.get("/metrics", key=None)
    assert status == 200
    assert (
        'lmp_reports{status="under_review",submission_kind="automatic_with_penalties"} 3.0' in text
    )
    assert f'lmp_reports{{status="msp_preparing",submission_kind=""}} {PAGED + 1}.0' in text
    assert 'lmp_api_requests_total{route="/v1/billing-reports",status="200"}' in text


async def test_a_partner_without_access_to_usage_reports_is_told_so(api: Api) -> None:
    closed_region = RegionSettings(region="NORTH", usage_reports=False)
    await api.store.save_region(closed_region, NOW)
    for partner_id, region, access in (("P-NOACCESS", "EU", False), ("P-NORTH", "NORTH", True)):
        await api.store.save_partner(
            PartnerAccount(
                partner_id=partner_id,
                name=partner_id,
                distributor_id="D1",
                region=region,
                currency="EUR",
                usage_reports=access,
            ),
            NOW,
        )
        plaintext, stored = new_key(Role.PARTNER, partner_id, partner_id, NOW)
        await api.store.save_api_key(stored)
        api.keys[partner_id] = plaintext
        status, body, _ = await api.get("/v1/usage-reports", key=partner_id)
        assert status == 403, body
        assert "no access to usage reports" in body["detail"]
    closed = report("P-NOACCESS", "2026-10", ReportStatus.MSP_PREPARING).model_copy(
        update={"partner_review": False}
    )
    await api.store.reports.insert_one(closed.to_document())
    status, body, _ = await api.get("/v1/usage-reports/P-NOACCESS:2026-10", key="P-NOACCESS")
    assert status == 403
    status, body, _ = await api.get("/v1/billing-reports/P-NOACCESS:2026-10")
    assert status == 200, body


ANSWERS: list[tuple[str, int, str, dict[str, Any]]] = [
    ("/v1/billing-reports", 200, "/v1/billing-reports", {"cycle": "2026-10"}),
    ("/v1/billing-reports", 400, "/v1/billing-reports", {"status": "bogus"}),
    ("/v1/billing-reports", 401, "/v1/billing-reports", {"key": None}),
    ("/v1/billing-reports", 403, "/v1/billing-reports", {"key": "acme"}),
    ("/v1/billing-reports.csv", 200, "/v1/billing-reports.csv", {"lang": "fr"}),
    ("/v1/billing-reports/{report_id}.csv", 200, "/v1/billing-reports/P-BETA:2026-10.csv", {}),
    (
        "/v1/billing-reports/{report_id}",
        200,
        "/v1/billing-reports/P-GAMMA:2026-10",
        {"tz": "Asia/Tokyo"},
    ),
    ("/v1/billing-reports/{report_id}", 403, "/v1/billing-reports/P-DELTA:2026-10", {}),
    ("/v1/billing-reports/{report_id}", 404, "/v1/billing-reports/P-NOBODY:2026-10", {}),
    (
        "/v1/billing-reports/{report_id}/history",
        200,
        "/v1/billing-reports/P-GAMMA:2026-10/history",
        {"page_size": "1", "tz": "Asia/Tokyo"},
    ),
    (
        "/v1/billing-reports/{report_id}/history",
        400,
        "/v1/billing-reports/P-GAMMA:2026-10/history",
        {"page": "0"},
    ),
    (
        "/v1/billing-reports/{report_id}/history",
        403,
        "/v1/billing-reports/P-DELTA:2026-10/history",
        {},
    ),
    (
        "/v1/billing-reports/{report_id}/history",
        404,
        "/v1/billing-reports/P-NOBODY:2026-10/history",
        {},
    ),
    ("/v1/usage-reports", 200, "/v1/usage-reports", {"key": "acme"}),
    ("/v1/usage-reports", 403, "/v1/usage-reports", {}),
    ("/v1/usage-reports", 400, "/v1/usage-reports", {"year": "1999"}),
    ("/v1/usage-reports/{report_id}", 200, "/v1/usage-reports/P-ACME:2026-10", {"key": "acme"}),
    ("/health", 200, "/health", {"key": None}),
    ("/ready", 200, "/ready", {"key": None}),
    ("/metrics", 200, "/metrics", {"key": None}),
    ("/openapi.json", 200, "/openapi.json", {"key": None}),
]


async def test_the_openapi_document_is_valid_and_describes_every_real_answer(api: Api) -> None:
    _, doc, _ = await api.get("/openapi.json", key=None)
    validate_openapi(doc)
    answered = set()
    for template, status, path, params in ANSWERS:
        got, body, headers = await api.get(path, **params)
        assert got == status, (path, body)
        declared = doc["paths"][template]["get"]["responses"][str(status)]["content"]
        media = headers["Content-Type"].split(";")[0]
        assert media in declared, (path, media)
        schema = {**declared[media]["schema"], "components": doc["components"]}
        Draft202012Validator(schema).validate(body)
        answered.add(template)
        if template == "/v1/billing-reports/{report_id}" and status == 200:
            with pytest.raises(ValidationError, match="outbox"):
                Draft202012Validator(schema).validate({**body, "outbox": []})
    assert answered == set(doc["paths"])


async def test_one_report_shows_its_whole_history_also_what_moved_out_of_it(api: Api) -> None:
    """A long report keeps its oldest history entries outside its document
    (docs/bounded-reports.md); the reader still sees every entry, in order, once."""
    long = report("P-ACME", "2024-01", ReportStatus.MSP_PREPARING)
    entries = [
        HistoryEntry(at=NOW, actor_kind=ActorKind.PARTNER, action=f"step-{n}") for n in range(5)
    ]
    kept = long.model_copy(update={"history": entries[3:], "history_archived": 3})
    await api.store.reports.insert_one(kept.to_document())
    moved = [
        HistoryRecord(key=history_key(long.id, n), report_id=long.id, seq=n, entry=entries[n])
        for n in range(3)
    ]
    await api.store.archive([], [moved[2], moved[0], moved[1], moved[0]])
    status, body, _ = await api.get(f"/v1/billing-reports/{long.id}", key="ops")
    assert status == 200
    assert [h["action"] for h in body["history"]] == [f"step-{n}" for n in range(5)]
    assert body["history_total"] == 5
    pages = []
    for page in (1, 2, 3):
        status, body, _ = await api.get(
            f"/v1/billing-reports/{long.id}/history?page={page}&page_size=2", key="ops"
        )
        assert status == 200
        assert (body["total"], body["pages"]) == (5, 3)
        pages.append([h["action"] for h in body["items"]])
    assert pages == [["step-0", "step-1"], ["step-2", "step-3"], ["step-4"]]
