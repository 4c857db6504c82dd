"""Connecting to MongoDB: the client options every store is built with, and the driver
(motor by default, or PyMongo's async client)."""

from __future__ import annotations

from typing import Any

from services.adapters.store.mongo import Store
from services.settings import MongoDriver, Settings


def durability(settings: Settings) -> dict[str, Any]:
    """The client options that make an acknowledged write survive a failover and the
    reads after it see it (README, "Running at scale"); they win over the URI's."""
    concern = settings.mongodb_write_concern
    return {
        "w": int(concern) if concern.isdigit() else concern,
        "wTimeoutMS": int(settings.mongodb_timeout_seconds * 1000),
        "readConcernLevel": settings.mongodb_read_concern,
        "retryWrites": settings.mongodb_retry_writes,
        "readPreference": "primary",
    }


def connect(settings: Settings) -> Store:
    """Build the store on the configured driver (motor by default, or PyMongo's async)."""
    client: Any
    timeout_ms = int(settings.mongodb_timeout_seconds * 1000)
    options: dict[str, Any] = {
        "tz_aware": True,
        "socketTimeoutMS": timeout_ms,
        "serverSelectionTimeoutMS": timeout_ms,
        "connectTimeoutMS": min(timeout_ms, 10_000),
        **durability(settings),
    }
    if settings.mongodb_driver is MongoDriver.PYMONGO:
        from pymongo import AsyncMongoClient

        client = AsyncMongoClient(settings.mongodb_uri, **options)
    else:
        from motor.motor_asyncio import AsyncIOMotorClient

        client = AsyncIOMotorClient(settings.mongodb_uri, **options)
    return Store(client, settings.mongodb_database, settings.mongodb_driver)
