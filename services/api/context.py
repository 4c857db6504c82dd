"""What every handler of the read API shares: the store, the clock, keys, partners' access
to usage reports, the partner directory, metrics."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime

from aiohttp import web

from services.adapters.kafka_probes import LagRow
from services.adapters.store import StoreProtocol
from services.api.auth import KnownKeys
from services.api.directory import PartnerDirectory
from services.api.metrics import ApiMetrics
from services.api.recent import RecentlyRead
from services.domain.usage import has_usage_reports


@dataclass
class ApiContext:
    store: StoreProtocol
    clock: Callable[[], datetime]
    lag: Callable[[], Awaitable[list[LagRow]]]
    kafka_ready: Callable[[], Awaitable[None]]
    page_size_max: int = 500
    key_cache_seconds: float = 0.0
    metrics: ApiMetrics = field(default_factory=ApiMetrics)
    partners: PartnerDirectory = field(init=False)
    keys: KnownKeys = field(init=False)
    usage_access: RecentlyRead[str, bool] = field(init=False)
    """Whether a partner may read its usage reports (None: it has no account yet), read
    as often as keys are: its account type or region changes show within that interval."""

    def __post_init__(self) -> None:
        self.partners = PartnerDirectory(self.store.partner_directory)
        self.keys = KnownKeys(self.store.load_api_key, self.key_cache_seconds)
        self.usage_access = RecentlyRead(self._usage_access, self.key_cache_seconds)

    async def _usage_access(self, partner_id: str) -> bool | None:
        account = (await self.store.load_partners([partner_id])).get(partner_id)
        if account is None:
            return None
        region = (await self.store.load_regions([account.region])).get(account.region)
        return has_usage_reports(account, region)


CONTEXT = web.AppKey("context", ApiContext)
