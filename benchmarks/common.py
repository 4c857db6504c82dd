"""What the benchmarks share: the servers (embedded unless env points elsewhere), memory."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from services.settings import PROJECT_ROOT
from tooling.infra.process import free_port


@contextmanager
def servers(home: Path) -> Iterator[tuple[str, str]]:
    from tooling.infra.kafka_server import KafkaServer
    from tooling.infra.mongo_server import MongoServer
    from tooling.settings import ToolingSettings

    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "")
    uri = os.environ.get("MONGODB_URI", "")
    started: list[KafkaServer | MongoServer] = []
    if not bootstrap:
        kafka = KafkaServer(
            PROJECT_ROOT / ".lmp" / "cache", home / "kafka", free_port(), free_port()
        )
        kafka.start()
        kafka.wait_ready()
        started.append(kafka)
        bootstrap = kafka.bootstrap_servers
    if not uri:
        mongo = MongoServer(
            PROJECT_ROOT / ".lmp" / "cache",
            home / "mongo",
            free_port(),
            ToolingSettings().mongo_server,
        )
        mongo.start()
        mongo.wait_ready()
        started.append(mongo)
        uri = mongo.uri
    try:
        yield bootstrap, uri
    finally:
        for server in reversed(started):
            server.stop()


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")
