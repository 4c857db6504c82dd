"""The read API's HTTP contract over the in-memory store: problem details, credentials,
methods, and report ids that no path or header can be broken by."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import pytest
from aiohttp import ClientSession
from aiohttp.test_utils import TestServer
from pymongo.errors import ServerSelectionTimeoutError
from yarl import URL

from schemas.api import Role
from schemas.report import ActorKind, HistoryEntry, HistoryRecord, Report, ReportStatus
from services.adapters.store.bounds import history_key
from services.adapters.store.memory import MemoryStore
from services.api.answers import content_disposition
from services.api.auth import new_key
from services.api.context import ApiContext
from services.api.server import build_api
from tests.builders import report

pytestmark = pytest.mark.unit

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)
ODD_PARTNERS = ['P-"Q', "P-CR\r\nLF", "Pärtner/Ünï", "P-%41", "P;x=1,y"]


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    text: str

    def json(self) -> Any:
        import json

        return json.loads(self.text)


@dataclass
class Api:
    client: ClientSession
    base: URL
    keys: dict[str, str]
    store: MemoryStore

    async def call(
        self, raw_path: str, method: str = "GET", headers: dict[str, str] | None = None
    ) -> Answer:
        """``raw_path`` is sent as written (percent-encoding included)."""
        url = URL(str(self.base).rstrip("/") + raw_path, encoded=True)
        async with self.client.request(method, url, headers=headers or {}) as resp:
            return Answer(resp.status, dict(resp.headers), await resp.text())

    async def get(self, raw_path: str, key: str = "ops") -> Answer:
        return await self.call(raw_path, headers={"Authorization": f"Bearer {self.keys[key]}"})


class FlakyStore(MemoryStore):
    """A store whose database has gone away for one report read."""

    async def read_report(self, report_id: str, recent: int | None = None) -> Report | None:
        if report_id.startswith("P-AWAY"):
            raise ServerSelectionTimeoutError("no servers found yet")
        return await super().read_report(report_id, recent)


@pytest.fixture
async def api() -> AsyncIterator[Api]:
    store = FlakyStore()
    reports = [report(p, "2026-09", ReportStatus.MSP_PREPARING) for p in ODD_PARTNERS]
    await store.save_reports([(r, None) for r in reports])
    keys = {}
    for label, role, account in (("ops", Role.OPERATIONS, None), ("d1", Role.DISTRIBUTOR, "D1")):
        plaintext, stored = new_key(role, account, label, NOW)
        await store.save_api_key(stored)
        keys[label] = plaintext

    async def no_lag() -> list[tuple[str, str, int]]:
        return []

    async def kafka_ready() -> None:
        return None

    ctx = ApiContext(store=store, clock=lambda: NOW, lag=no_lag, kafka_ready=kafka_ready)
    server = TestServer(build_api(ctx))
    await server.start_server()
    try:
        async with ClientSession() as client:
            yield Api(client, server.make_url(""), keys, store)
    finally:
        await server.close()


def assert_problem(answer: Answer, status: int, code: str) -> dict[str, Any]:
    assert answer.status == status, answer.text
    assert answer.headers["Content-Type"] == "application/problem+json; charset=utf-8"
    body = answer.json()
    assert set(body) == {"type", "title", "status", "detail", "code"}
    assert (body["type"], body["status"], body["code"]) == ("about:blank", status, code)
    assert body["title"]
    assert body["detail"]
    return dict(body)


async def test_errors_are_problem_details_with_a_readable_detail(api: Api) -> None:
    missing = assert_problem(await api.call("/v1/billing-reports"), 401, "unauthorized")
    assert missing["title"] == "Unauthorized"
    assert "API key is required" in missing["detail"]
    bad = assert_problem(await api.get("/v1/billing-reports?page=0"), 400, "bad_request")
    assert bad["title"] == "Bad Request"
    assert bad["detail"].startswith("page:")
    nowhere = assert_problem(await api.get("/v1/nowhere"), 404, "not_found")
    assert "/openapi.json" in nowhere["detail"]


async def test_a_database_that_is_away_is_a_503_to_retry(api: Api) -> None:
    answer = await api.get("/v1/billing-reports/P-AWAY:2026-09")
    assert_problem(answer, 503, "unavailable")
    assert answer.headers["Retry-After"] == "5"


@pytest.mark.parametrize(
    ("authorization", "api_key", "why"),
    [
        ("ops", "d1", "different keys"),
        ("ops", "", "X-API-Key is empty"),
        ("ops", "lmp_nothere_secret", "different keys"),
        ("Basic b3BzOnNlY3JldA==", "ops", "Bearer"),
        ("Bearer", "ops", "Bearer"),
        (None, "lmp_nothere_secret", "unknown API key"),
    ],
)
async def test_two_credentials_must_name_one_key(
    api: Api, authorization: str | None, api_key: str, why: str
) -> None:
    headers = {"X-API-Key": api.keys.get(api_key, api_key)}
    if authorization is not None:
        given = api.keys.get(authorization)
        headers["Authorization"] = f"Bearer {given}" if given else authorization
    answer = await api.call("/v1/billing-reports", headers=headers)
    problem = assert_problem(answer, 401, "unauthorized")
    assert why in problem["detail"]
    assert answer.headers["WWW-Authenticate"] == "Bearer"


async def test_the_same_key_in_both_headers_or_either_alone_is_accepted(api: Api) -> None:
    key = api.keys["ops"]
    for headers in (
        {"Authorization": f"Bearer {key}", "X-API-Key": key},
        {"Authorization": f"bearer  {key} "},
        {"X-API-Key": key},
    ):
        assert (await api.call("/v1/billing-reports", headers=headers)).status == 200


@pytest.mark.parametrize(
    "path", ["/v1/billing-reports", "/v1/billing-reports/P-%22Q:2026-09.csv", "/health"]
)
@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE", "TRACE", "QUERY"])
async def test_undeclared_methods_are_405_with_allow(api: Api, path: str, method: str) -> None:
    answer = await api.call(path, method)
    problem = assert_problem(answer, 405, "method_not_allowed")
    assert answer.headers["Allow"] == "GET, HEAD, OPTIONS"
    assert method in problem["detail"]


async def test_options_says_what_a_path_takes_and_head_is_get_without_a_body(api: Api) -> None:
    options = await api.call("/v1/billing-reports", "OPTIONS")
    assert (options.status, options.headers["Allow"], options.text) == (
        204,
        "GET, HEAD, OPTIONS",
        "",
    )
    key = {"Authorization": f"Bearer {api.keys['ops']}"}
    head = await api.call("/v1/billing-reports", "HEAD", headers=key)
    assert (head.status, head.text) == (200, "")
    assert head.headers["Content-Type"].startswith("application/json")


@pytest.mark.parametrize("partner", ODD_PARTNERS)
async def test_any_report_id_reads_and_downloads_with_a_safe_file_name(
    api: Api, partner: str
) -> None:
    from urllib.parse import quote

    path = quote(f"{partner}:2026-09", safe="")
    one = await api.get(f"/v1/billing-reports/{path}")
    assert one.status == 200, one.text
    assert one.json()["partner_id"] == partner
    download = await api.get(f"/v1/billing-reports/{path}.csv")
    assert download.status == 200, download.text
    disposition = download.headers["Content-Disposition"]
    fallback = disposition.split('filename="', 1)[1].split('"', 1)[0]
    assert fallback.isascii()
    assert not set(fallback) & set('"\\/\r\n:;%')
    assert disposition.endswith("filename*=UTF-8''" + quote(f"{partner}_2026-09.csv", safe=""))


@pytest.mark.parametrize(
    "raw",
    ["%22%0D%0A:2026-09", "%ZZ:2026-09", "%00:2026-09", "%E2%80%AE:2026-09", "%FF%FE", "a%2F..%2F"],
)
async def test_ids_that_name_no_report_are_a_well_formed_404(api: Api, raw: str) -> None:
    for suffix in ("", ".csv"):
        assert_problem(await api.get(f"/v1/billing-reports/{raw}{suffix}"), 404, "not_found")


def test_a_download_name_is_ascii_with_the_exact_name_beside_it() -> None:
    assert content_disposition('a"b\r\nc/ü.csv') == (
        "attachment; filename=\"a_b__c__.csv\"; filename*=UTF-8''a%22b%0D%0Ac%2F%C3%BC.csv"
    )
    assert content_disposition("P-ACME_2026-10.csv") == (
        "attachment; filename=\"P-ACME_2026-10.csv\"; filename*=UTF-8''P-ACME_2026-10.csv"
    )
    assert 'filename="download"' in content_disposition("...")


async def long_history(store: MemoryStore, moved: int, inline: int, partner: str = "P-LONG") -> str:
    """A report whose oldest ``moved`` history entries were moved out of its document."""
    long = report(partner, "2026-09", ReportStatus.MSP_PREPARING)
    entries = [
        HistoryEntry(at=NOW, actor_kind=ActorKind.PARTNER, action=f"step-{n}")
        for n in range(moved + inline)
    ]
    kept = long.model_copy(update={"history": entries[moved:], "history_archived": moved})
    await store.save_reports([(kept, None)])
    records = [
        HistoryRecord(key=history_key(long.id, n), report_id=long.id, seq=n, entry=entries[n])
        for n in range(moved)
    ]
    await store.archive([], records)
    return long.id


async def test_a_report_shows_its_latest_history_and_how_long_the_whole_is(api: Api) -> None:
    rid = await long_history(api.store, 100, 30)
    body = (await api.get(f"/v1/billing-reports/{rid}")).json()
    assert body["history_total"] == 130
    assert [h["action"] for h in body["history"]] == [f"step-{n}" for n in range(80, 130)]
    short = (
        await api.get(f"/v1/billing-reports/{await long_history(api.store, 0, 3, 'P-SHORT')}")
    ).json()
    assert (short["history_total"], len(short["history"])) == (3, 3)


async def test_the_whole_history_pages_oldest_first_moved_and_inline_each_once(api: Api) -> None:
    rid = await long_history(api.store, 100, 30)
    seen: list[str] = []
    for page in range(1, 6):
        answer = await api.get(f"/v1/billing-reports/{rid}/history?page={page}&page_size=29")
        assert answer.status == 200, answer.text
        body = answer.json()
        assert (body["page"], body["page_size"], body["total"], body["pages"]) == (page, 29, 130, 5)
        seen += [h["action"] for h in body["items"]]
    assert seen == [f"step-{n}" for n in range(130)]
    past = (await api.get(f"/v1/billing-reports/{rid}/history?page=9")).json()
    assert (past["items"], past["total"], past["page_size"]) == ([], 130, 50)
    capped = (await api.get(f"/v1/billing-reports/{rid}/history?page_size=100000")).json()
    assert capped["page_size"] == 500
    assert len(capped["items"]) == 130


async def test_history_pages_answer_like_the_report_they_belong_to(api: Api) -> None:
    rid = await long_history(api.store, 2, 2)
    assert_problem(await api.call(f"/v1/billing-reports/{rid}/history"), 401, "unauthorized")
    assert_problem(await api.get("/v1/billing-reports/P-NONE:2026-09/history"), 404, "not_found")
    bad = assert_problem(
        await api.get(f"/v1/billing-reports/{rid}/history?page=0"), 400, "bad_request"
    )
    assert bad["detail"].startswith("page:")
    assert_problem(await api.get(f"/v1/billing-reports/{rid}/history?sort=x"), 400, "bad_request")
    d1 = await api.get(f"/v1/billing-reports/{rid}/history", key="d1")
    assert d1.status == 200  # P-LONG's distributor is D1, as for the report itself
    assert (await api.get(f"/v1/billing-reports/{rid}", key="d1")).status == 200


async def test_a_list_walked_by_cursor_gives_every_report_once_in_order(api: Api) -> None:
    await api.store.save_reports(
        [
            (report(f"P-{n:02d}", f"2026-{1 + n % 3:02d}", ReportStatus.MSP_PREPARING), None)
            for n in range(20)
        ]
    )
    whole = (await api.get("/v1/billing-reports?sort=deadline&page_size=500")).json()
    assert whole["next_cursor"] is None
    path = "/v1/billing-reports?sort=deadline&page_size=7"
    answer = await api.get(path)
    seen, pages, cursors = [], [], []
    while True:
        body = answer.json()
        seen += [item["report_id"] for item in body["items"]]
        pages.append((body["page"], body["total"], body["pages"]))
        if body["next_cursor"] is None:
            assert "Link" not in answer.headers
            break
        cursors.append(body["next_cursor"])
        link = answer.headers["Link"]
        assert link.startswith("</v1/billing-reports?")
        assert link.endswith('>; rel="next"')
        assert "page=" not in link.replace("page_size=", "")
        answer = await api.get(link[1 : link.index(">")])
        assert answer.status == 200, answer.text
    assert seen == [item["report_id"] for item in whole["items"]]
    assert pages == [(n, 25, 4) for n in range(1, 5)]
    second = (await api.get(path + "&page=2")).json()
    assert [i["report_id"] for i in second["items"]] == seen[7:14]
    assert second["next_cursor"] == cursors[1]


async def test_a_cursor_names_a_place_in_the_order_even_of_no_report(api: Api) -> None:
    order = [i["report_id"] for i in (await api.get("/v1/billing-reports")).json()["items"]]
    after = quote(order[1], safe="")
    body = (await api.get(f"/v1/billing-reports?cursor=2~-~{after}&page=9")).json()
    assert [i["report_id"] for i in body["items"]] == order[2:]
    assert (body["page"], body["total"], body["next_cursor"]) == (1, 5, None)
    nobody = await api.get("/v1/billing-reports?cursor=0~-~P-NOBODY:2026-09")
    assert [i["report_id"] for i in nobody.json()["items"]] == [
        rid for rid in order if rid > "P-NOBODY:2026-09"
    ]
    for bad in ("0~-~", "x~-~P:2026-09", "0~~P:2026-09", "0~-~P:2026-13", "0-P:2026-09"):
        problem = assert_problem(
            await api.get(f"/v1/billing-reports?cursor={bad}"), 400, "bad_request"
        )
        assert problem["detail"].startswith("cursor")


async def test_any_report_id_makes_a_cursor_and_a_link_that_lead_on(api: Api) -> None:
    answer, seen = await api.get("/v1/billing-reports?page_size=1&sort=-updated_at"), []
    while True:
        assert answer.status == 200, answer.text
        body = answer.json()
        seen += [item["report_id"] for item in body["items"]]
        if body["next_cursor"] is None:
            break
        link = answer.headers["Link"]
        assert "\r" not in link
        assert "\n" not in link
        cursor = quote(body["next_cursor"], safe="")
        path = f"/v1/billing-reports?page_size=1&sort=-updated_at&cursor={cursor}"
        by_cursor = (await api.get(path)).json()
        answer = await api.get(link[1 : link.index(">")])
        assert answer.json() == by_cursor
    assert sorted(seen) == sorted(f"{p}:2026-09" for p in ODD_PARTNERS)
