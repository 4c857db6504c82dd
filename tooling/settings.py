"""The development tooling's own settings: the embedded servers' ports and layout.

Read from the same environment as the product's (``LMP_*``); the product never reads them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ToolingSettings(BaseSettings):
    """Where and how the embedded servers run (``tooling.infra.local.LocalInfra``)."""

    model_config = SettingsConfigDict(env_prefix="LMP_", extra="ignore")

    kafka_port: int = Field(default=9092, description="where the embedded broker listens")
    kafka_controller_port: int = Field(
        default=9093, description="the embedded broker's KRaft controller port"
    )
    kafka_brokers: int = Field(
        default=1,
        ge=1,
        description="nodes of the embedded Kafka: 1, or a cluster of 3 or more (node i "
        "listens on kafka_port + 2i and kafka_controller_port + 2i)",
    )
    mongodb_port: int = Field(
        default=27017, description="where the embedded database server listens"
    )
    mongo_server: Literal["secantusd-rs", "secantusd-py"] = Field(
        default="secantusd-rs", description="the embedded MongoDB-wire server"
    )


def cache_dir(home: Path) -> Path:
    """The download/build cache of the embedded servers under ``home`` (LMP_HOME)."""
    return home / "cache"
