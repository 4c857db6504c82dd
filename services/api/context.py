"""What every handler of the read API shares: the store, the clock, keys, partners, metrics."""

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

    def __post_init__(self) -> None:
        self.partners = PartnerDirectory(self.store.partner_directory)
        self.keys = KnownKeys(self.store.load_api_key, self.key_cache_seconds)


CONTEXT = web.AppKey("context", ApiContext)
