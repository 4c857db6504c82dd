"""Connecting to MongoDB: the client options every store is built with, and the driver
(PyMongo's async client by default, or motor,
which MongoDB deprecated but the project's users named and may still select)."""

from __future__ import annotations

from typing import Any

from services.adapters.store.mongo import Store
from services.settings import MongoDriver, Settings


def durability(settings: Settings) -> dict[str, Any]:
    """The client options that make an acknowledged write survive a failover and the
    reads after it see it (docs/scale.md, "MongoDB as a replica set"); they win over the URI's."""
    concern = settings.mongodb_write_concern
    return {
        "w": int(concern) if concern.isdigit() else concern,
        "wTimeoutMS": int(settings.mongodb_timeout_seconds * 1000),
        "readConcernLevel": settings.mongodb_read_concern,
        "retryWrites": settings.mongodb_retry_writes,
        "readPreference": "primary",
    }


def connect(settings: Settings) -> Store:
    """Build the store on the configured driver (PyMongo's async by default, or motor)."""
    client: Any
    timeout_ms = int(settings.mongodb_timeout_seconds * 1000)
    options: dict[str, Any] = {
        "tz_aware": True,
        "socketTimeoutMS": timeout_ms,
        "serverSelectionTimeoutMS": timeout_ms,
        "connectTimeoutMS": min(timeout_ms, 10_000),
        **durability(settings),
    }
    if settings.mongodb_driver is MongoDriver.MOTOR:
        from motor.motor_asyncio import AsyncIOMotorClient

        client = AsyncIOMotorClient(settings.mongodb_uri, **options)
    else:
        from pymongo import AsyncMongoClient

        client = AsyncMongoClient(settings.mongodb_uri, **options)
    return Store(
        client,
        settings.mongodb_database,
        settings.mongodb_driver,
        list_total_seconds=settings.api_list_total_seconds,
    )
