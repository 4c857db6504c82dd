"""A read API's database as the integration tests seed it: reports and the known partners."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from schemas.accounts import PartnerAccount
from schemas.report import Report
from services.adapters.store import Store, connect
from services.settings import Settings
from tests.builders import PARTNERS
from tests.harness import Servers, unique


async def seeded_store(
    servers: Servers, database_prefix: str, reports: Sequence[Report], now: datetime
) -> tuple[Settings, Store]:
    """A database of its own holding ``reports`` and every partner of ``PARTNERS``."""
    settings = Settings(
        KAFKA_BOOTSTRAP_SERVERS=servers.bootstrap_servers,
        MONGODB_URI=servers.mongodb_uri,
        MONGODB_DATABASE=unique(database_prefix),
    )
    store = connect(settings)
    await store.ensure_indexes()
    await store.reports.insert_many([r.to_document() for r in reports])
    for partner_id, (name, distributor) in PARTNERS.items():
        await store.save_partner(
            PartnerAccount(
                partner_id=partner_id,
                name=name,
                distributor_id=distributor,
                region="EU",
                currency="EUR",
            ),
            now,
        )
    return settings, store
