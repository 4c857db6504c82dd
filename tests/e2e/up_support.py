"""`lmp-billing up` as the e2e tests start it: embedded servers on ports of their own."""

from __future__ import annotations

import os
from pathlib import Path

from tests.conftest import CACHE
from tooling.infra.process import free_port


def up_environment(tmp_path: Path, group_prefix: str) -> tuple[dict[str, str], int]:
    """The environment of an `up` whose servers and API take free ports, its home under
    ``tmp_path`` (the built servers shared), and its Kafka port."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "cache").symlink_to(CACHE)
    kafka_port = free_port()
    env = {
        **os.environ,
        "LMP_HOME": str(home),
        "LMP_KAFKA_PORT": str(kafka_port),
        "LMP_KAFKA_CONTROLLER_PORT": str(free_port()),
        "LMP_MONGODB_PORT": str(free_port()),
        "LMP_API_PORT": str(free_port()),
        "LMP_CONSUMER_GROUP_PREFIX": group_prefix,
    }
    for name in ("KAFKA_BOOTSTRAP_SERVERS", "MONGODB_URI", "LMP_TOPIC_NAMESPACE", "API"):
        env.pop(name, None)
    return env, kafka_port
