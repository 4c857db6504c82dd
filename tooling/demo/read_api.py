"""The read API client: health, the key check and paged billing-report lists."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import aiohttp
from pydantic import ValidationError

from schemas.api import BillingReportSummary, BillingStatus, Page
from tooling.demo.errors import DemoError


class ReadApi:
    """The read API as the demo uses it: JSON pages, read with an operations key."""

    def __init__(self, session: aiohttp.ClientSession, base: str) -> None:
        self._session = session
        self.base = base.rstrip("/")
        self.key = ""

    async def health(self) -> None:
        try:
            async with self._session.get(f"{self.base}/health") as resp:
                if resp.status != 200:
                    raise DemoError(f"the read API at {self.base} answered /health {resp.status}")
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise DemoError(
                f"the read API at {self.base} does not answer ({exc!r}): is the system running "
                "(`lmp-billing up`, or `lmp-billing api`)? --api points the demo elsewhere"
            ) from exc

    async def check_key(self, cycle: str) -> None:
        """One small list query: the key is known to the API's database, or a clear error."""
        await self._get("/v1/billing-reports", [("cycle", cycle), ("page_size", "1")])

    async def billing_reports(
        self, cycle: str, partner: str | None = None, statuses: Iterable[BillingStatus] = ()
    ) -> list[BillingReportSummary]:
        """Every row of a list query, page after page."""
        rows: list[BillingReportSummary] = []
        page = 1
        while True:
            params = [("cycle", cycle), ("page_size", "500"), ("page", str(page))]
            params += [("partner", partner)] if partner else []
            params += [("status", s.value) for s in statuses]
            body = await self._get("/v1/billing-reports", params)
            try:
                answer = Page.model_validate(body)
            except ValidationError as exc:
                raise DemoError(
                    f"GET /v1/billing-reports answered an unexpected page: {exc}"
                ) from exc
            rows += answer.items
            if page >= answer.pages:
                return rows
            page += 1

    async def _get(self, path: str, params: list[tuple[str, str]]) -> Any:
        url = self.base + path
        headers = {"Authorization": f"Bearer {self.key}"}
        try:
            async with self._session.get(url, params=params, headers=headers) as resp:
                body = await resp.json(content_type=None)
                if resp.status == 401:
                    why = body.get("detail") if isinstance(body, dict) else body
                    raise DemoError(
                        f"the read API at {self.base} refused the key ({why}): "
                        "does it serve the same database (MONGODB_URI, MONGODB_DATABASE)?"
                    )
                if resp.status != 200:
                    raise DemoError(f"GET {path} answered {resp.status}: {body}")
                return body
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise DemoError(f"the read API at {self.base} failed on GET {path}: {exc!r}") from exc
