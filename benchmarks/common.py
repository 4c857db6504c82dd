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
        SERVER_PIDS["broker"] = kafka.process.pid() or 0
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
        SERVER_PIDS["database"] = mongo.process.pid() or 0
        uri = mongo.uri
    try:
        yield bootstrap, uri
    finally:
        for server in reversed(started):
            server.stop()


SERVER_PIDS: dict[str, int] = {}
"""The embedded servers ``servers`` started, by role ("broker", "database"): what the
benchmarks charge the servers' CPU to (empty for servers started elsewhere)."""


def cpu_seconds(pid: int) -> float:
    """User plus system CPU of a process (all its threads) so far; 0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def server_cpu() -> dict[str, float]:
    """CPU seconds of each embedded server so far."""
    return {role: cpu_seconds(pid) for role, pid in SERVER_PIDS.items()}


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")
